"""The supply-request lifecycle: draft -> submitted -> approved -> dispatched -> received, with rejected and
cancelled.  Each function is one transaction that locks the request, then the stock it touches (always in
that order, so concurrent transitions queue instead of deadlocking), checks the caller's right from
``nations.access``, changes the rows, and writes the timeline event (and ledger movement) with them.
"""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import InsufficientStock, InvalidTransition
from inventory.models import Item, LogisticsCenter, MovementKind, Stock
from inventory.services import get_or_create_stock, lock_stock, post_movement
from nations import access, audit
from nations.models import Nation

from . import events
from .models import (
    Discrepancy,
    DiscrepancyKind,
    EventType,
    Priority,
    RequestEvent,
    RequestStatus,
    Severity,
    SupplyRequest,
)


def _lock_request(request: SupplyRequest) -> SupplyRequest:
    # Only the request row is locked (of=self); its nations, item and centers come along for the messages.
    return (
        SupplyRequest.objects.select_for_update(of=("self",))
        .select_related("requesting_nation", "supplying_nation", "item", "source_center", "destination_center")
        .get(pk=request.pk)
    )


def _check_transition(request: SupplyRequest, to_status: str) -> None:
    if not request.can_move_to(to_status):
        raise InvalidTransition(
            _("%(request)s is %(status)s; it cannot be %(to_status)s.")
            % {
                "request": request,
                "status": request.get_status_display().lower(),
                "to_status": RequestStatus(to_status).label.lower(),
            }
        )


def _record(
    request: SupplyRequest,
    *,
    to_status: str,
    actor,
    comment: str = "",
    quantity: int | None = None,
    extra_fields: tuple[str, ...] = (),
) -> RequestEvent:
    from_status = request.status
    request.status = to_status
    request.version = F("version") + 1
    request.save(update_fields=["status", "version", "updated_at", *extra_fields])
    request.refresh_from_db(fields=["version"])
    return _timeline(
        request, from_status=from_status, to_status=to_status, actor=actor, comment=comment or "", quantity=quantity
    )


def _timeline(request: SupplyRequest, **fields) -> RequestEvent:
    """The request's timeline row, and its audit-log entry in the same transaction."""
    event = RequestEvent.objects.create(request=request, at=timezone.now(), **fields)
    audit.request_transition(event)
    return event


def _whole_positive(value, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValidationError({field: _("Enter a whole number greater than zero.")})
    return value


def _supplier_stock(request: SupplyRequest) -> Stock | None:
    return Stock.objects.filter(
        nation_id=request.supplying_nation_id, center_id=request.source_center_id, item_id=request.item_id
    ).first()


@transaction.atomic
def create_request(
    *,
    requester,
    requesting_nation: Nation,
    supplying_nation: Nation,
    item: Item,
    source_center: LogisticsCenter,
    destination_center: LogisticsCenter,
    quantity: int,
    required_by: date,
    justification: str,
    priority: str = Priority.ROUTINE,
    submit: bool = False,
) -> SupplyRequest:
    """Raise a request as a draft (or submit it at once).  Only the requesting nation's logistics officers."""
    draft = SupplyRequest(
        requesting_nation=requesting_nation,
        supplying_nation=supplying_nation,
        item=item,
        source_center=source_center,
        destination_center=destination_center,
        quantity_requested=quantity,
        required_by=required_by,
        justification=justification,
        priority=priority,
        created_by=requester,
    )
    access.require(requester, "request.create", draft)
    errors = {}
    if requesting_nation.pk == supplying_nation.pk:
        errors["supplying_nation"] = _("A nation cannot request supplies from itself.")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        errors["quantity"] = _("Enter a whole number greater than zero.")
    if not justification or not justification.strip():
        errors["justification"] = _("Say why the supplies are needed.")
    if priority not in Priority.values:
        errors["priority"] = _("Choose one of %(choices)s.") % {"choices": ", ".join(Priority.values)}
    if required_by and required_by < timezone.localdate():
        errors["required_by"] = _("The required-by date is in the past.")
    if errors:
        raise ValidationError(errors)
    draft.save()
    draft.reference = f"REQ-{draft.pk:06d}"
    draft.save(update_fields=["reference"])
    _timeline(
        draft,
        from_status="",
        to_status=RequestStatus.DRAFT,
        actor=requester,
        comment=RequestEvent.CREATED,
        quantity=quantity,
    )
    if submit:
        return submit_request(request=draft, actor=requester)
    return draft


@transaction.atomic
def submit_request(*, request: SupplyRequest, actor, comment: str = "") -> SupplyRequest:
    """Send a draft to the supplying nation's liaison officers."""
    request = _lock_request(request)
    access.require(actor, "request.submit", request)
    _check_transition(request, RequestStatus.SUBMITTED)
    _record(request, to_status=RequestStatus.SUBMITTED, actor=actor, comment=comment)
    events.request_event(request, EventType.REQUEST_SUBMITTED)
    return request


@transaction.atomic
def approve_request(
    *, request: SupplyRequest, approver, quantity: int | None = None, comment: str = ""
) -> SupplyRequest:
    """Approve (possibly a smaller quantity) and reserve it at the supplier's stock in the source center.

    Refused: by the request's author (separation of duties), by anyone but the supplying nation's liaison
    officers, from any status but submitted, and when less than `quantity` is available (nothing changes)."""
    request = _lock_request(request)
    if request.created_by_id == getattr(approver, "pk", None):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(_("Whoever raised a request cannot approve it."))
    access.require(approver, "request.approve", request)
    _check_transition(request, RequestStatus.APPROVED)
    quantity = request.quantity_requested if quantity is None else _whole_positive(quantity, "quantity")
    if quantity > request.quantity_requested:
        raise ValidationError(
            {"quantity": _("Cannot approve more than the %(n)s requested.") % {"n": request.quantity_requested}}
        )
    supplier = _supplier_stock(request)
    if supplier is None:
        raise InsufficientStock(
            _("%(nation)s holds no %(nsn)s at %(center)s.")
            % {"nation": request.supplying_nation.code, "nsn": request.item.nsn, "center": request.source_center.code}
        )
    _refuse_unless_available(supplier, quantity, request)  # early answer; decided again under the lock below
    request.quantity_approved = quantity
    request.approved_at = timezone.now()
    _record(
        request,
        to_status=RequestStatus.APPROVED,
        actor=approver,
        comment=comment,
        quantity=quantity,
        extra_fields=("quantity_approved", "approved_at"),
    )
    events.request_event(request, EventType.REQUEST_APPROVED)
    # The supplier's stock is locked last: every other approval against it waits for this lock, so it is held
    # for the check, one UPDATE and the commit only.  A refusal here rolls back everything above.
    stock = lock_stock(supplier.pk)
    _refuse_unless_available(stock, quantity, request)
    stock.reserved += quantity
    stock.save(update_fields=["reserved", "updated_at"])
    return request


def _refuse_unless_available(stock: Stock, quantity: int, request: SupplyRequest) -> None:
    if stock.available < quantity:
        raise InsufficientStock(
            _("Only %(available)s available at %(center)s; cannot reserve %(quantity)s.")
            % {"available": stock.available, "center": request.source_center.code, "quantity": quantity}
        )


@transaction.atomic
def reject_request(*, request: SupplyRequest, approver, reason: str) -> SupplyRequest:
    """Refuse a submitted request; a reason is required."""
    if not reason or not reason.strip():
        raise ValidationError({"reason": _("Give the reason for the refusal.")})
    request = _lock_request(request)
    access.require(approver, "request.reject", request)
    _check_transition(request, RequestStatus.REJECTED)
    _record(request, to_status=RequestStatus.REJECTED, actor=approver, comment=reason.strip())
    events.request_event(request, EventType.REQUEST_REJECTED)
    return request


@transaction.atomic
def dispatch_request(*, request: SupplyRequest, actor, comment: str = "") -> SupplyRequest:
    """Issue the approved quantity from the supplier's stock: on_hand -= q, reserved -= q, one movement."""
    request = _lock_request(request)
    access.require(actor, "request.dispatch", request)
    _check_transition(request, RequestStatus.DISPATCHED)
    quantity = request.quantity_approved
    stock = lock_stock(_supplier_stock(request).pk)
    if stock.reserved < quantity:  # only possible if the books were tampered with; reconciliation flags it
        raise InsufficientStock(
            _("The reservation of %(quantity)s is missing at %(center)s.")
            % {"quantity": quantity, "center": request.source_center.code}
        )
    stock.reserved -= quantity
    post_movement(
        stock=stock,
        kind=MovementKind.TRANSFER_OUT,
        quantity=-quantity,
        actor=actor,
        request=request,
        reason=f"Dispatched for {request.reference} to {request.destination_center.code}",
    )
    request.quantity_dispatched = quantity
    _record(
        request,
        to_status=RequestStatus.DISPATCHED,
        actor=actor,
        comment=comment,
        quantity=quantity,
        extra_fields=("quantity_dispatched",),
    )
    events.request_event(request, EventType.REQUEST_DISPATCHED)
    return request


@transaction.atomic
def receive_request(*, request: SupplyRequest, actor, quantity: int | None = None, comment: str = "") -> SupplyRequest:
    """Book what arrived into the requester's stock at the destination (created if missing).

    Less than dispatched is accepted and opens a short-receipt discrepancy; more is refused."""
    request = _lock_request(request)
    access.require(actor, "request.receive", request)
    _check_transition(request, RequestStatus.RECEIVED)
    dispatched = request.quantity_dispatched
    if quantity is None:
        quantity = dispatched
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
        raise ValidationError({"quantity": _("Enter a whole number, zero or more.")})
    if quantity > dispatched:
        raise ValidationError({"quantity": _("Cannot receive more than the %(n)s dispatched.") % {"n": dispatched}})
    if quantity > 0:
        stock = get_or_create_stock(
            nation=request.requesting_nation, center=request.destination_center, item=request.item
        )
        post_movement(
            stock=lock_stock(stock.pk),
            kind=MovementKind.TRANSFER_IN,
            quantity=quantity,
            actor=actor,
            request=request,
            reason=f"Received for {request.reference} from {request.source_center.code}",
        )
    request.quantity_received = quantity
    _record(
        request,
        to_status=RequestStatus.RECEIVED,
        actor=actor,
        comment=comment,
        quantity=quantity,
        extra_fields=("quantity_received",),
    )
    if quantity < dispatched:
        now = timezone.now()
        Discrepancy.objects.create(
            kind=DiscrepancyKind.SHORT_RECEIPT,
            request=request,
            expected=dispatched,
            actual=quantity,
            severity=Severity.CRITICAL if quantity == 0 else Severity.WARNING,
            first_seen=now,
            last_seen=now,
            details={"missing": dispatched - quantity},
        )
    events.request_event(request, EventType.REQUEST_RECEIVED)
    return request


@transaction.atomic
def cancel_request(*, request: SupplyRequest, actor, comment: str = "") -> SupplyRequest:
    """Withdraw a draft, submitted or approved request; an approved one gives back its reservation."""
    request = _lock_request(request)
    access.require(actor, "request.cancel", request)
    _check_transition(request, RequestStatus.CANCELLED)
    if request.status == RequestStatus.APPROVED:
        stock = lock_stock(_supplier_stock(request).pk)
        stock.reserved = max(stock.reserved - request.quantity_approved, 0)
        stock.save(update_fields=["reserved", "updated_at"])
    _record(request, to_status=RequestStatus.CANCELLED, actor=actor, comment=comment)
    return request


@transaction.atomic
def acknowledge_flag(*, flag, user):
    """Mark a shortfall or discrepancy as seen.  It stays acknowledged across later reconciliation runs."""
    access.require(user, "flag.acknowledge", flag)
    flag = type(flag).objects.select_for_update(of=("self",)).get(pk=flag.pk)
    if flag.acknowledged_at is None:
        flag.acknowledged_at = timezone.now()
        flag.acknowledged_by = user
        flag.save(update_fields=["acknowledged_at", "acknowledged_by", "updated_at"])
    return flag


@transaction.atomic
def resolve_count_discrepancy(*, discrepancy: Discrepancy, user, accept: bool, comment: str = "") -> Discrepancy:
    """Settle a count that differs from the books (the owning nation's logistics officers).

    Accept: the count was right, so the books move by (counted - book balance at the count's time), as one
    count-correction movement.  Reject: the count was wrong; the books stay.  Either way the count is settled
    and reconciliation does not raise it again."""
    from inventory.models import MovementKind

    from .models import DiscrepancyResolution

    # lock the discrepancy row only: PostgreSQL refuses FOR UPDATE on the nullable side of the outer join
    discrepancy = Discrepancy.objects.select_for_update(of=("self",)).select_related("stock").get(pk=discrepancy.pk)
    if discrepancy.kind != DiscrepancyKind.COUNT_MISMATCH or discrepancy.stock is None:
        raise InvalidTransition(_("Only count discrepancies are settled by accepting or rejecting the count."))
    access.require(user, "stock.adjust", discrepancy.stock)
    if discrepancy.resolved_at is not None:
        raise InvalidTransition(_("This discrepancy is already resolved."))
    movement = None
    if accept:
        delta = discrepancy.actual - discrepancy.expected
        if delta:
            movement = post_movement(
                stock=lock_stock(discrepancy.stock_id),
                kind=MovementKind.COUNT_CORRECTION,
                quantity=delta,
                actor=user,
                reason=f"Count #{discrepancy.count_id} accepted" + (f": {comment.strip()}" if comment.strip() else ""),
            )
    now = timezone.now()
    discrepancy.resolution = DiscrepancyResolution.COUNT_ACCEPTED if accept else DiscrepancyResolution.COUNT_REJECTED
    discrepancy.resolved_at = now
    discrepancy.resolved_by = user
    discrepancy.details = {**discrepancy.details, "comment": comment.strip()}
    discrepancy.save()
    audit.count_decided(discrepancy=discrepancy, user=user, accepted=accept, movement=movement, comment=comment.strip())
    return discrepancy
