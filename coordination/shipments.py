"""Shipments: approved requests dispatched together from one source center to one destination (``SHP-000123``).

- ``dispatch_shipment``: several approved requests of one supplying nation, one source center and one destination,
  each dispatched through the lifecycle's own ``dispatch_request`` (its right, its state, its ledger movement, its
  timeline), then recorded as one shipment: how it travels, by whom, when it left and when it is due.  All or none.
- Arrival: the receipt of the shipment's last request sets its ``arrived_at`` (``services.receive_request``).
- Reads: which requests a caller names (``requests_named``), in transit and overdue (``overdue_condition``: not
  arrived ``ARRIVAL_OVERDUE_TOLERANCE_HOURS`` after its expected arrival), inbound and outbound for a viewer, and the
  filterset the page and the API share.

Who may: whoever may dispatch every one of its requests (the supplier's logistics officers, the source center's
operators).  Who sees a shipment: ``nations.access.visibility.shipment``; inside it, each viewer sees only the
requests they may see (a request of another requesting nation travelling with theirs is not shown).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import django_filters
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import BooleanField, Case, F, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import Conflict, InvalidTransition
from core.filters import CodeFilter, PortalFilterSet, StrictBooleanFilter
from inventory.filters import center_choices
from inventory.models import Stock
from inventory.services import lock_stocks
from nations import access
from nations.access import visibility
from nations.filters import nation_choices

from . import events, services
from .models import RequestStatus, Shipment, SupplyRequest, TransportMode

MAX_REQUESTS = 200  # one convoy's load list; beyond this, split it
MAX_CARRIER = 200  # Shipment.carrier's length
REFERENCE_PREFIX = "REQ-"


# --- dispatching together ------------------------------------------------------------------------------------------


def _input_errors(*, mode: str, carrier: str, departed_at: datetime, expected_arrival: datetime | None) -> dict:
    errors = {}
    if mode not in TransportMode.values:
        errors["mode"] = _("Choose one of %(choices)s.") % {"choices": ", ".join(TransportMode.values)}
    if len(carrier) > MAX_CARRIER:
        errors["carrier"] = _("At most %(n)s characters.") % {"n": MAX_CARRIER}
    if expected_arrival is None:
        errors["expected_arrival"] = _("Say when the shipment is expected to arrive.")
    elif expected_arrival < departed_at:
        errors["expected_arrival"] = _("The expected arrival is before the departure.")
    return errors


def _mixed(requests: list[SupplyRequest]) -> str:
    """Why `requests` cannot travel together (several suppliers, sources or destinations: named), or ""."""
    parts = []
    for field, label in (
        ("supplying_nation", _("supplying nations")),
        ("source_center", _("source centers")),
        ("destination_center", _("destinations")),
    ):
        codes = sorted({getattr(r, field).code for r in requests})
        if len(codes) > 1:
            parts.append(f"{label} {', '.join(codes)}")
    if not parts:
        return ""
    return _("These requests do not travel together: %(differences)s.") % {"differences": "; ".join(parts)}


@transaction.atomic
def dispatch_shipment(
    *,
    requests: Iterable[SupplyRequest],
    actor,
    mode: str,
    carrier: str = "",
    departed_at: datetime | None = None,
    expected_arrival: datetime,
    comment: str = "",
) -> Shipment:
    """Dispatch approved `requests` together as one shipment (one may travel alone), all or none.

    They must share the supplying nation, the source center and the destination (else 400 naming the differences);
    the expected arrival must not be before the departure (`departed_at`, now when not given: 400); the actor must
    be allowed to dispatch every one of them (403) and every one must be approved (409).  Any refusal changes
    nothing.  Each request goes through ``services.dispatch_request`` (its stock's movement, its timeline and
    notices), then the shipment is recorded and linked to them, and the destination is told once
    (``events.shipment_dispatched``).

    Lock order: the requests by id, then their supplier stocks by id (``dispatch_request`` locks each again, which
    it already holds), so two shipments sharing requests or stocks queue instead of deadlocking."""
    ids = sorted({r.pk for r in requests})
    carrier = (carrier or "").strip()
    departed_at = departed_at or timezone.now()
    errors = _input_errors(mode=mode, carrier=carrier, departed_at=departed_at, expected_arrival=expected_arrival)
    if not ids:
        errors["requests"] = _("Choose at least one approved request.")
    elif len(ids) > MAX_REQUESTS:
        errors["requests"] = _("At most %(n)s requests travel in one shipment.") % {"n": MAX_REQUESTS}
    if errors:
        raise ValidationError(errors)
    locked = list(
        SupplyRequest.objects.select_for_update(of=("self",))
        .select_related("requesting_nation", "supplying_nation", "item", "source_center", "destination_center")
        .filter(pk__in=ids)
        .order_by("pk")
    )
    if mixed := _mixed(locked):
        raise ValidationError({"requests": mixed})
    for request in locked:  # every right first: a refusal names the first request refused, nothing is done
        access.require(actor, "request.dispatch", request)
    not_approved = [r for r in locked if r.status != RequestStatus.APPROVED]
    if not_approved:
        raise InvalidTransition(
            _("Only approved requests are dispatched; not %(requests)s.")
            % {"requests": ", ".join(f"{r.reference} ({r.get_status_display().lower()})" for r in not_approved)}
        )
    first = locked[0]
    items = {r.item_id for r in locked}
    stock_ids = Stock.objects.filter(
        nation_id=first.supplying_nation_id, center_id=first.source_center_id, item_id__in=items
    ).values_list("pk", flat=True)
    lock_stocks(*stock_ids)
    with events.told_by_shipment():  # one notice for the shipment, not one per request as well
        dispatched = [services.dispatch_request(request=r, actor=actor, comment=comment) for r in locked]
    shipment = Shipment.objects.create(
        shipping_nation=first.supplying_nation,
        source_center=first.source_center,
        destination_center=first.destination_center,
        mode=mode,
        carrier=carrier,
        departed_at=departed_at,
        expected_arrival=expected_arrival,
        created_by=actor,
    )
    shipment.reference = f"SHP-{shipment.pk:06d}"
    shipment.save(update_fields=["reference"])
    SupplyRequest.objects.filter(pk__in=ids).update(
        shipment=shipment, version=F("version") + 1, updated_at=timezone.now()
    )
    for request in dispatched:
        request.shipment = shipment
    events.shipment_dispatched(shipment, dispatched)
    return shipment


@dataclass(frozen=True)
class Receipt:
    """How receiving one request of a shipment went: ``error`` is the refusal, empty when it was received."""

    request: SupplyRequest
    error: str = ""


def receive_shipment(*, shipment: Shipment, actor, comment: str = "") -> list[Receipt]:
    """Receive in full every request of `shipment` still dispatched that `actor` may receive (the requesting
    nation's logistics officers, the destination's operators), each through ``services.receive_request`` in a
    transaction of its own: a refusal is that request's answer alone.  What arrived short is received request by
    request instead (its page), so that the difference is recorded as a discrepancy.  The receipt of the last one
    is the shipment's arrival.  Conflict when the actor has nothing left to receive in it."""
    waiting = list(
        SupplyRequest.objects.visible_to(actor)
        .filter(shipment=shipment, status=RequestStatus.DISPATCHED)
        .select_related("requesting_nation", "item", "source_center", "destination_center")
        .order_by("pk")
    )
    mine = [r for r in waiting if access.can(actor, "request.receive", r)]
    if not mine:
        raise Conflict(_("Nothing in %(shipment)s is left for you to receive.") % {"shipment": shipment.reference})
    receipts = []
    with events.batched():  # one look-up of who is told, one hand-off of the sending
        for request in mine:
            try:
                services.receive_request(request=request, actor=actor, comment=comment)
            except (PermissionDenied, Conflict, ValidationError) as refused:
                message = getattr(refused, "message", None) or " ".join(getattr(refused, "messages", [str(refused)]))
                receipts.append(Receipt(request, str(message)))
            else:
                receipts.append(Receipt(request))
    return receipts


# --- reads ---------------------------------------------------------------------------------------------------------


def requests_named(*, user, names: Iterable[str | int]) -> list[SupplyRequest]:
    """The requests `names` designate (ids, or ``REQ-000123`` references, in any case), among those `user` may see.

    A name that designates none of them is bad input (400), in the same words whether the request does not exist or
    is another nation's: its existence is not leaked."""
    ids: set[int] = set()
    references: set[str] = set()
    unknown: list[str] = []
    for name in names:
        text = str(name).strip()
        if text.isdigit():
            ids.add(int(text))
        elif text.upper().startswith(REFERENCE_PREFIX):
            references.add(text.upper())
        else:
            unknown.append(text)
    found = list(
        SupplyRequest.objects.visible_to(user)
        .filter(Q(pk__in=ids) | Q(reference__in=references))
        .select_related("requesting_nation", "supplying_nation", "item", "source_center", "destination_center")
    )
    unknown += [str(pk) for pk in sorted(ids - {r.pk for r in found})]
    unknown += sorted(references - {r.reference for r in found})
    if unknown:
        raise ValidationError({"requests": _("No request you may see is %(names)s.") % {"names": ", ".join(unknown)}})
    return found


def overdue_since(now: datetime | None = None) -> datetime:
    """A shipment expected to arrive before this time and not arrived is overdue."""
    return (now or timezone.now()) - timedelta(hours=settings.ARRIVAL_OVERDUE_TOLERANCE_HOURS)


IN_TRANSIT = Q(arrived_at__isnull=True)


def overdue_condition(now: datetime | None = None) -> Q:
    """Not arrived, `ARRIVAL_OVERDUE_TOLERANCE_HOURS` past its expected arrival."""
    return IN_TRANSIT & Q(expected_arrival__lt=overdue_since(now))


def is_overdue(shipment: Shipment, now: datetime | None = None) -> bool:
    """``overdue_condition`` for one shipment in memory."""
    return shipment.arrived_at is None and shipment.expected_arrival < overdue_since(now)


def _flag(condition: Q | None):
    if condition is None:
        return Value(False)
    return Case(When(condition, then=Value(True)), default=Value(False), output_field=BooleanField())


def _inbound(p: access.AccessProfile) -> Q | None:
    """Shipments coming to the profile: to a center it operates, or carrying a request of a nation it serves."""
    terms = []
    if p.operated_centers:
        terms.append(Q(destination_center_id__in=sorted(p.operated_centers)))
    if p.officer_nations:
        carrying = SupplyRequest.objects.filter(
            requesting_nation_id__in=sorted(p.officer_nations), shipment__isnull=False
        ).values("shipment_id")
        terms.append(Q(pk__in=carrying))
    return visibility.any_of(terms) if terms else None


def _outbound(p: access.AccessProfile) -> Q | None:
    """Shipments leaving from the profile: shipped by a nation it serves, or from a center it operates."""
    terms = []
    if p.officer_nations:
        terms.append(Q(shipping_nation_id__in=sorted(p.officer_nations)))
    if p.operated_centers:
        terms.append(Q(source_center_id__in=sorted(p.operated_centers)))
    return visibility.any_of(terms) if terms else None


def with_direction(shipments: QuerySet, user) -> QuerySet:
    """`shipments` with ``inbound`` and ``outbound`` for `user` (a coordinator's are neither)."""
    p = access.profile(user)
    return shipments.annotate(inbound=_flag(_inbound(p)), outbound=_flag(_outbound(p)))


# in transit first (soonest expected first), then those arrived (latest first)
IN_TRANSIT_FIRST = (
    Case(When(IN_TRANSIT, then=Value(0)), default=Value(1)).asc(),
    Case(When(IN_TRANSIT, then=F("expected_arrival"))).asc(nulls_last=True),
    F("arrived_at").desc(nulls_last=True),
    "-id",
)


DIRECTIONS = [("inbound", gettext_lazy("Inbound")), ("outbound", gettext_lazy("Outbound"))]


class ShipmentFilter(PortalFilterSet):
    """One filterset for the shipments page and ``/api/v1/shipments/``."""

    direction = django_filters.ChoiceFilter(
        choices=DIRECTIONS, method="filter_direction", label=gettext_lazy("Direction")
    )
    in_transit = StrictBooleanFilter(
        field_name="arrived_at", lookup_expr="isnull", label=gettext_lazy("In transit (not arrived)")
    )
    overdue = StrictBooleanFilter(method="filter_overdue", label=gettext_lazy("Overdue"))
    mode = django_filters.ChoiceFilter(choices=TransportMode.choices, label=gettext_lazy("Mode"))
    shipping_nation = CodeFilter(
        field_name="shipping_nation__code", choices=nation_choices, label=gettext_lazy("Shipping nation")
    )
    source_center = CodeFilter(
        field_name="source_center__code", choices=center_choices, label=gettext_lazy("Source center")
    )
    destination_center = CodeFilter(
        field_name="destination_center__code", choices=center_choices, label=gettext_lazy("Destination center")
    )
    reference = django_filters.CharFilter(lookup_expr="iexact", label=gettext_lazy("Reference"))

    class Meta:
        model = Shipment
        fields = [
            "direction",
            "in_transit",
            "overdue",
            "mode",
            "shipping_nation",
            "source_center",
            "destination_center",
            "reference",
            "updated_after",
        ]

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(overdue_condition()) if value else queryset.exclude(overdue_condition())

    def filter_direction(self, queryset, name, value):
        user = getattr(self.request, "user", None)
        if not value or user is None:
            return queryset
        condition = (_inbound if value == "inbound" else _outbound)(access.profile(user))
        return queryset.filter(condition) if condition is not None else queryset.none()


def dispatchable_requests(user) -> QuerySet:
    """The approved requests `user` may see and dispatch (the dispatch queue's condition), grouped by supplier,
    source and destination, the most pressing first within each."""
    p = access.profile(user)
    dispatcher = visibility.party_condition(p, access.Party.DISPATCHER)
    return (
        SupplyRequest.objects.visible_to(user)
        .filter(dispatcher, status=RequestStatus.APPROVED)
        .select_related("requesting_nation", "supplying_nation", "item", "source_center", "destination_center")
        .order_by(
            "supplying_nation__code",
            "source_center__code",
            "destination_center__code",
            "priority_designator",
            "required_by",
            "id",
        )
    )
