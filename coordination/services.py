"""The supply-request lifecycle: draft -> submitted -> approved -> dispatched -> received, with rejected and
cancelled.  Each function is one transaction that locks the request, then the stock it touches (always in
that order, so concurrent transitions queue instead of deadlocking), checks the caller's right from
``nations.access``, changes the rows, and writes the timeline event (and ledger movement) with them.

Which status each move leaves and reaches, who may make it, who hears of it and on whose behalf it is audited
come from the lifecycle table (``coordination.lifecycle``); ``make_transition`` is the one entry point the API
and the browser call for any row of it.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, InsufficientStock, InvalidTransition
from core.prepared import prepared_statements
from core.validation import ZERO_OR_MORE, whole_number, whole_number_error
from inventory.models import Item, LogisticsCenter, MovementKind, Stock
from inventory.services import get_or_create_stock, lock_stock, post_movement
from nations import access, audit
from nations.models import AuditEntry, Nation

from . import events, lifecycle, requisition_state
from . import priority as priorities
from .lifecycle import Transition
from .models import (
    DeliveryStatus,
    Discrepancy,
    DiscrepancyKind,
    DiscrepancyResolution,
    EventType,
    Notification,
    Priority,
    RequestEvent,
    RequestStatus,
    Severity,
    Shipment,
    Shortfall,
    SupplyRequest,
    WebhookDelivery,
    WebhookEndpoint,
)


def _lock_request(request: SupplyRequest | QuerySet) -> SupplyRequest:
    """The request's row locked, with its nations, item, centers and author for the messages and the answer.

    `request` is a request, or a queryset of one (the API passes the caller's visible rows narrowed to the id: one
    read both checks that the caller may see it and locks it; SupplyRequest.DoesNotExist when it is not there).
    Only the request row is locked (of=self)."""
    rows = request if isinstance(request, QuerySet) else SupplyRequest.objects.filter(pk=request.pk)
    with prepared_statements():  # the same read for every transition: planned once per connection
        return (
            rows.select_for_update(of=("self",))
            .select_related(
                "requesting_nation", "supplying_nation", "item", "source_center", "destination_center", "created_by"
            )
            .get()
        )


def _lock_for(action: str, request: SupplyRequest | QuerySet, actor) -> tuple[SupplyRequest, Transition]:
    """The request locked, once `actor` may make `action` on it and its status allows it (the table's row)."""
    row = lifecycle.transition(action)
    request = _lock_request(request)
    access.require(actor, row.permission, request)  # the author is refused here too (separation of duties)
    if request.status not in row.sources:
        raise InvalidTransition(
            _("%(request)s is %(status)s; it cannot be %(to_status)s.")
            % {
                "request": request,
                "status": request.get_status_display().lower(),
                "to_status": RequestStatus(row.target).label.lower(),
            }
        )
    return request, row


def _record(
    request: SupplyRequest,
    row: Transition,
    *,
    actor,
    comment: str = "",
    quantity: int | None = None,
    extra_fields: tuple[str, ...] = (),
) -> RequestEvent:
    """Move `request` to the row's target: the status, the timeline and audit entries, and the row's event.

    On PostgreSQL the request's row, its timeline row and its audit entry are written by one statement
    (``_MOVE_SQL``): every transition runs this, and three ORM statements cost several times the Python that
    composing one does.  SQLite, which cannot write inside WITH, saves the three rows in turn."""
    from_status = request.status
    request.status = row.target
    request.version += 1  # the row is locked (``_lock_for``): no other transaction bumps it meanwhile
    request.updated_at = now = timezone.now()
    event = RequestEvent(
        request=request,
        at=now,
        from_status=from_status,
        to_status=row.target,
        actor=actor,
        comment=comment or "",
        quantity=quantity,
    )
    entry = audit.request_transition_entry(event, acting_nation_id=row.acting_nation_id(request))
    names = ("status", "version", "updated_at", *extra_fields)
    if connection.vendor != "postgresql":  # SQLite (the laptop's default) has no UPDATE or INSERT inside WITH
        request.save(update_fields=names)
        event.save()
        entry.details["event"] = event.pk
        entry.save(force_insert=True)
    else:
        _move_in_one_statement(request, event, entry, names)
    if row.event:
        events.request_event(request, row.event, comment=comment or "")
    return event


def _move_in_one_statement(request: SupplyRequest, event: RequestEvent, entry: AuditEntry, names) -> None:
    """``_MOVE_SQL``: the request's `names` fields, its timeline row and its audit entry, written together."""
    fields = [SupplyRequest._meta.get_field(name) for name in names]
    moved = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in fields)
    event_columns, event_placeholders, event_values = _insert_values(event)
    # the entry names its timeline row, whose id only the INSERT knows
    entry_columns, entry_placeholders, entry_values = _insert_values(
        entry, placeholders={"details": "jsonb_set(%s::jsonb, '{event}', to_jsonb(event.id))"}
    )
    with connection.cursor() as cursor:
        cursor.execute(
            _MOVE_SQL.format(
                moved=moved,
                event_columns=event_columns,
                event_values=event_placeholders,
                entry_columns=entry_columns,
                entry_values=entry_placeholders,
            ),
            [
                *(f.get_db_prep_save(getattr(request, f.attname), connection) for f in fields),
                request.pk,
                *event_values,
                *entry_values,
            ],
        )
        event.pk = cursor.fetchone()[0]


# One statement for a transition's three rows; tables and columns come from the models (``_insert_values``).  A
# statement that starts with WITH gets django-pghistory's context like any write, so the history row the
# request's trigger writes names who and what made the change.
_MOVE_SQL = f"""
    WITH moved AS (
        UPDATE {SupplyRequest._meta.db_table} SET {{moved}} WHERE id = %s RETURNING id
    ), event AS (
        INSERT INTO {RequestEvent._meta.db_table} ({{event_columns}}) SELECT {{event_values}} FROM moved RETURNING id
    ), entry AS (
        INSERT INTO {AuditEntry._meta.db_table} ({{entry_columns}})
        SELECT {{entry_values}} FROM event RETURNING id
    )
    SELECT event.id FROM event, entry"""


def _insert_values(instance, *, placeholders: dict[str, str] | None = None) -> tuple[str, str, list]:
    """An unsaved row's columns (no primary key), their placeholders (``%s``, or the SQL `placeholders` gives for a
    column) and their values, as ``save()`` would write them."""
    fields = [f for f in instance._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    marks = ", ".join((placeholders or {}).get(f.column, "%s") for f in fields)
    return columns, marks, [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]


def _timeline(request: SupplyRequest, *, acting_nation_id: int, **fields) -> RequestEvent:
    """The request's timeline row, and its audit-log entry in the same transaction."""
    event = RequestEvent.objects.create(request=request, at=timezone.now(), **fields)
    audit.request_transition(event, acting_nation_id=acting_nation_id)
    return event


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
    priority_designator: int | None = None,
) -> SupplyRequest:
    """Raise a request as a draft (or submit it at once).  Only the requesting nation's logistics officers.

    Its priority designator is the requesting nation's force activity designator read with `priority` as the
    urgency of need (coordination/priority.py), unless given (a requisition's)."""
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
    if error := whole_number_error(quantity):
        errors["quantity"] = error
    if not justification or not justification.strip():
        errors["justification"] = _("Say why the supplies are needed.")
    if priority not in Priority.values:
        errors["priority"] = _("Choose one of %(choices)s.") % {"choices": ", ".join(Priority.values)}
    if required_by and required_by < timezone.localdate():
        errors["required_by"] = _("The required-by date is in the past.")
    if errors:
        raise ValidationError(errors)
    draft.priority_designator = priority_designator or priorities.designator(
        requesting_nation.activity_designator, priorities.URGENCY_OF_PRIORITY[priority]
    )
    draft.save()
    draft.reference = f"REQ-{draft.pk:06d}"
    draft.save(update_fields=["reference"])
    _timeline(
        draft,
        acting_nation_id=draft.requesting_nation_id,
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
    request, row = _lock_for("submit", request, actor)
    request.submitted_at = timezone.now()
    _record(request, row, actor=actor, comment=comment, extra_fields=("submitted_at",))
    return request


@transaction.atomic
def approve_request(
    *, request: SupplyRequest, approver, quantity: int | None = None, comment: str = ""
) -> SupplyRequest:
    """Approve (possibly a smaller quantity) and reserve it at the supplier's stock in the source center.

    Refused: by the request's author (separation of duties), by anyone but the supplying nation's liaison
    officers, from any status but submitted, and when less than `quantity` is available (nothing changes)."""
    request, row = _lock_for("approve", request, approver)
    quantity = request.quantity_requested if quantity is None else whole_number(quantity, field="quantity")
    if quantity > request.quantity_requested:
        raise ValidationError(
            {"quantity": _("Cannot approve more than the %(n)s requested.") % {"n": request.quantity_requested}}
        )
    request.quantity_approved = quantity
    request.approved_at = timezone.now()
    _record(
        request,
        row,
        actor=approver,
        comment=comment,
        quantity=quantity,
        extra_fields=("quantity_approved", "approved_at"),
    )
    # The supplier's stock is reserved last, in one statement that locks the row and checks what is available
    # under that lock (PostgreSQL re-checks the WHERE on the locked row): every other approval against it waits
    # for this lock, held for one UPDATE and the commit only.  No row updated is a refusal, which rolls back
    # everything above; the stock is read then only to say why.
    supplier = Stock.objects.filter(
        nation_id=request.supplying_nation_id, center_id=request.source_center_id, item_id=request.item_id
    )
    if supplier.filter(on_hand__gte=F("reserved") + quantity).update(
        reserved=F("reserved") + quantity, updated_at=timezone.now()
    ):
        return request
    stock = supplier.first()
    if stock is None:
        raise InsufficientStock(
            _("%(nation)s holds no %(nsn)s at %(center)s.")
            % {"nation": request.supplying_nation.code, "nsn": request.item.nsn, "center": request.source_center.code}
        )
    _refuse_unless_available(stock, quantity, request)
    raise InsufficientStock(_("The stock changed meanwhile; try again."))  # rare: it changed between the two statements


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
    request, row = _lock_for("reject", request, approver)
    _record(request, row, actor=approver, comment=reason.strip())
    return request


@transaction.atomic
def dispatch_request(*, request: SupplyRequest, actor, comment: str = "") -> SupplyRequest:
    """Issue the approved quantity from the supplier's stock: on_hand -= q, reserved -= q, one movement."""
    request, row = _lock_for("dispatch", request, actor)
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
    _record(request, row, actor=actor, comment=comment, quantity=quantity, extra_fields=("quantity_dispatched",))
    return request


@transaction.atomic
def receive_request(*, request: SupplyRequest, actor, quantity: int | None = None, comment: str = "") -> SupplyRequest:
    """Book what arrived into the requester's stock at the destination (created if missing).

    Less than dispatched is accepted and opens a short-receipt discrepancy; more is refused."""
    request, row = _lock_for("receive", request, actor)
    dispatched = request.quantity_dispatched
    quantity = dispatched if quantity is None else whole_number(quantity, field="quantity", accept=ZERO_OR_MORE)
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
    _record(request, row, actor=actor, comment=comment, quantity=quantity, extra_fields=("quantity_received",))
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
    if request.requisition_id:  # its line may be done now, and with it the requisition
        requisition_state.close_if_done(request.requisition_id, actor=actor)
    if request.shipment_id:  # the receipt of its last request is the shipment's arrival (its row locked last)
        shipment = Shipment.objects.select_for_update().get(pk=request.shipment_id)
        travelling = shipment.requests.exclude(status__in=[RequestStatus.RECEIVED, RequestStatus.CANCELLED])
        if shipment.arrived_at is None and not travelling.exists():
            shipment.arrived_at = timezone.now()
            shipment.version = F("version") + 1
            shipment.save(update_fields=["arrived_at", "version", "updated_at"])
    return request


@transaction.atomic
def cancel_request(*, request: SupplyRequest, actor, comment: str = "") -> SupplyRequest:
    """Withdraw a draft, submitted or approved request; an approved one gives back its reservation."""
    request, row = _lock_for("cancel", request, actor)
    if request.status == RequestStatus.APPROVED:
        stock = lock_stock(_supplier_stock(request).pk)
        stock.reserved = max(stock.reserved - request.quantity_approved, 0)
        stock.save(update_fields=["reserved", "updated_at"])
    _record(request, row, actor=actor, comment=comment)
    return request


def make_transition(*, action: str, request: SupplyRequest | QuerySet, actor, **inputs) -> SupplyRequest:
    """Make the lifecycle table's transition `action` on `request` through its service (the API's and the
    browser's one way in); `inputs` are the row's fields the caller gave.  KeyError for an unknown action.
    `request` may be the caller's visible rows narrowed to one (``_lock_request``)."""
    row = lifecycle.transition(action)
    service = globals()[row.service]
    return service(request=request, **{row.actor: actor}, **inputs)


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
def acknowledge_flags(*, flags: list[Shortfall] | list[Discrepancy], user) -> int:
    """Acknowledge several flags of one model at once, all or none: each must be the user's to acknowledge (the
    rule of ``acknowledge_flag``; load their ``stock``), else PermissionDenied and nothing changes.  Flags
    acknowledged already keep who and when.  Rows are locked in primary-key order.  Returns how many were
    acknowledged now."""
    if not flags:
        return 0
    (model,) = {type(flag) for flag in flags}
    for flag in flags:
        access.require(user, "flag.acknowledge", flag)
    ids = list(
        model.objects.select_for_update()
        .filter(pk__in=[flag.pk for flag in flags], acknowledged_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    now = timezone.now()
    return model.objects.filter(pk__in=ids).update(acknowledged_at=now, acknowledged_by=user, updated_at=now)


@transaction.atomic
def resolve_count_discrepancy(*, discrepancy: Discrepancy, user, accept: bool, comment: str = "") -> Discrepancy:
    """Settle a count that differs from the books (the owning nation's logistics officers).

    Accept: the count was right, so the books move by (counted - book balance at the count's time), as one
    count-correction movement.  Reject: the count was wrong; the books stay.  Either way the count is settled
    and reconciliation does not raise it again."""
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


def mark_notifications_read(*, user, ids=None) -> int:
    """Mark `user`'s unread notifications read (those of `ids` only, when given); returns how many changed.
    Only the addressee's own are ever touched: they are taken through visibility, whatever `ids` holds."""
    notes = Notification.objects.visible_to(user).filter(read_at__isnull=True)
    if ids is not None:
        notes = notes.filter(pk__in=ids)
    return notes.update(read_at=timezone.now())


class WebhookLimitReached(Conflict):
    """The nation already has as many webhook endpoints as it may (answers 409)."""

    code = "webhook_limit"


def register_webhook(
    *, nation: Nation, owner, url: str, secret: str, events: list[str] | None = None, active: bool = True
) -> WebhookEndpoint:
    """Register an endpoint for `nation`: at most ``WEBHOOK_MAX_ENDPOINTS_PER_NATION`` each, so that one nation
    cannot fan every event out to many targets.  The URL is checked by the caller (the serializer) and again at
    each delivery."""
    limit = settings.WEBHOOK_MAX_ENDPOINTS_PER_NATION
    with transaction.atomic():
        # the nation's row lock makes concurrent registrations count one after the other
        Nation.objects.select_for_update().get(pk=nation.pk)
        if WebhookEndpoint.objects.filter(nation=nation).count() >= limit:
            message = _("%(nation)s already has %(limit)d webhook endpoints, the most a nation may register.")
            raise WebhookLimitReached(message % {"nation": nation.code, "limit": limit})
        return WebhookEndpoint.objects.create(
            nation=nation, owner=owner, url=url, secret=secret, events=events or [], active=active
        )


def ping_webhook(*, endpoint: WebhookEndpoint, actor) -> WebhookDelivery:
    """Send `endpoint` one signed test delivery now (event ``ping``) and answer how it went: the integrator sees at
    once whether the URL, the network path and their signature check work.  One attempt, no retries; the address
    is checked as for every delivery (webhook_targets)."""
    from .webhooks import attempt_delivery

    payload = events.envelope(
        EventType.PING, {"endpoint": endpoint.pk, "nation": endpoint.nation.code, "url": endpoint.url}
    )
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event=EventType.PING, payload=payload, next_attempt_at=timezone.now()
    )
    attempted = attempt_delivery(delivery.pk) or delivery
    if attempted.status == DeliveryStatus.PENDING:  # failed once: a ping is not retried
        WebhookDelivery.objects.filter(pk=attempted.pk, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None
        )
    attempted.refresh_from_db()
    return attempted


def redeliver_webhook(*, delivery: WebhookDelivery, actor) -> WebhookDelivery:
    """Send a past delivery again, as a new delivery with the same event and the same payload (a receiver that
    lost it, or rejected it while broken, gets it once more; it keeps its own deduplication by the payload)."""
    with transaction.atomic():
        again = WebhookDelivery.objects.create(
            endpoint=delivery.endpoint,
            event=delivery.event,
            payload=delivery.payload,
            next_attempt_at=timezone.now(),
        )
        events.queue_deliveries([again.pk])
    return again
