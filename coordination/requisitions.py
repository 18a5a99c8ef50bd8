"""Requisitions: a nation's list of needs for one destination, sourced line by line into supply requests.

- ``create_requisition``: a draft with its lines (or submitted at once);
- ``submit_requisition``: each line becomes one or more submitted supply requests to supplying nations, chosen by
  the requester (``SourceChoice``) or automatically (``plan_sources``); whatever cannot be sourced stays
  outstanding on its line;
- ``resource_lines``: the outstanding of chosen lines (refused, approved short, received short, never sourced) is
  sourced again, in one action;
- ``cancel_lines`` gives up what is outstanding; ``cancel_requisition`` withdraws a draft.

Each is one transaction that locks the requisition row first (so two re-sourcings of one requisition queue, and
none can source what the other just sourced); the supply requests they raise are written set-based (one INSERT
each for the requests, their timeline and their audit entries), so a 500-line requisition is a handful of
statements, not thousands.  A line's figures are read from its requests (``requisition_state``); the requisition
closes when every line is received or cancelled.

Who may: the requesting nation's logistics officers (the rules registered below, the requests' own rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import CharField, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce, Concat, LPad
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import Conflict, InvalidTransition
from core.validation import whole_number_error
from inventory.models import Item, ItemSubstitute, LogisticsCenter, ReleaseList, Stock
from nations import access, audit
from nations.access import Party
from nations.models import Nation

from . import events, requisition_state
from . import priority as priorities
from .models import (
    RequestEvent,
    RequestStatus,
    Requisition,
    RequisitionLine,
    RequisitionStatus,
    SupplyRequest,
    Urgency,
)
from .sourcing import great_circle_km

MAX_LINES = 2000  # a requisition is one unit's resupply, not a catalog: beyond this, split it


@dataclass(frozen=True)
class SourceChoice:
    """The requester's choice for a line: `quantity` from `supplying_nation`'s stock at `source_center`, of the
    line's item or of `item` (one of its substitutes, when the line allows them)."""

    supplying_nation: Nation
    source_center: LogisticsCenter
    quantity: int
    item: Item | None = None


@dataclass(frozen=True)
class LineInput:
    item: Item
    quantity: int
    required_by: date | None = None
    allow_substitutes: bool = False
    sources: tuple[SourceChoice, ...] | None = None  # None: sourced automatically on submit


@dataclass
class Allocation:
    """`quantity` of `stock` (its nation, center and item) for `line`; `substitute_for` when it stands in."""

    line: RequisitionLine
    stock: Stock
    quantity: int
    distance_km: float
    substitute_for: Item | None = None


@dataclass
class SourcingPlan:
    allocations: list[Allocation] = field(default_factory=list)
    uncovered: dict[int, int] = field(default_factory=dict)  # line number -> what no source could give
    requests: list[SupplyRequest] = field(default_factory=list)  # those raised for the allocations, once raised


# --- rules ---------------------------------------------------------------------------------------------------------

RULES = {
    "requisition.create": gettext_lazy("Only the requesting nation's logistics officers raise its requisitions."),
    "requisition.submit": gettext_lazy("You may not submit this requisition."),
    "requisition.resource": gettext_lazy("You may not re-source this requisition."),
    "requisition.cancel": gettext_lazy("You may not cancel this requisition."),
}


def register_rules() -> None:
    """Called once when the app is ready: the requester's party on the requisition's nation."""
    for action, refusal in RULES.items():
        access.register(
            action,
            access.Rule(allows=lambda p, r: access.holds_party(p, Party.REQUESTER, r), refusal=refusal),
        )


def sees_whole(user, requisition: Requisition) -> bool:
    """Whether `user` sees every line of `requisition`, every request of them and its backorders: its nation's
    officers, its destination's operators, coordinators, administrators.  A supplier sees only its part (the
    lines addressed to it, its own requests of them).  The own terms of ``visibility.requisition_line``, for one
    requisition already fetched (no query)."""
    p = access.profile(user)
    return (
        p.superuser
        or p.coordinator
        or requisition.requesting_nation_id in p.officer_nations
        or requisition.destination_center_id in p.operated_centers
    )


# --- creating and submitting ---------------------------------------------------------------------------------------


def _line_errors(index: int, line: LineInput, today: date) -> dict[str, str]:
    errors = {}
    if error := whole_number_error(line.quantity):
        errors[f"lines[{index}].quantity"] = error
    if line.required_by and line.required_by < today:
        errors[f"lines[{index}].required_by"] = _("The required delivery date is in the past.")
    return errors


@transaction.atomic
def create_requisition(
    *,
    requester,
    requesting_nation: Nation,
    destination_center: LogisticsCenter,
    required_by: date,
    justification: str,
    lines: list[LineInput],
    urgency: str = Urgency.C,
    submit: bool = False,
) -> Requisition:
    """Raise a requisition as a draft, or submitted at once (``submit``: sourced as ``submit_requisition``).

    Its priority designator is the nation's force activity designator (now) read with `urgency`.  Refused: by
    anyone but the nation's logistics officers; bad input (no lines, more than MAX_LINES, an NSN twice, a quantity
    that is not a positive whole number, a date in the past) changes nothing and names every faulty field."""
    draft = Requisition(
        requesting_nation=requesting_nation,
        destination_center=destination_center,
        required_by=required_by,
        urgency=urgency,
        justification=(justification or "").strip(),
        created_by=requester,
    )
    access.require(requester, "requisition.create", draft)
    today = timezone.localdate()
    errors: dict[str, str] = {}
    if urgency not in Urgency.values:
        errors["urgency"] = _("Choose one of %(choices)s.") % {"choices": ", ".join(Urgency.values)}
    if not draft.justification:
        errors["justification"] = _("Say why the supplies are needed.")
    if required_by and required_by < today:
        errors["required_by"] = _("The required delivery date is in the past.")
    if not lines:
        errors["lines"] = _("A requisition needs at least one line.")
    elif len(lines) > MAX_LINES:
        errors["lines"] = _("A requisition holds at most %(n)s lines; split it.") % {"n": MAX_LINES}
    seen: dict[int, int] = {}
    for index, line in enumerate(lines):
        errors.update(_line_errors(index, line, today))
        if line.item.pk in seen:
            errors[f"lines[{index}].nsn"] = _("%(nsn)s is on line %(n)s already: put the quantities on one line.") % {
                "nsn": line.item.nsn,
                "n": seen[line.item.pk] + 1,
            }
        seen.setdefault(line.item.pk, index)
    if errors:
        raise ValidationError(errors)
    draft.activity_designator = requesting_nation.activity_designator
    draft.priority_designator = priorities.designator(draft.activity_designator, urgency)
    draft.save()
    draft.reference = f"RQN-{draft.pk:06d}"
    draft.save(update_fields=["reference"])
    RequisitionLine.objects.bulk_create(
        [
            RequisitionLine(
                requisition=draft,
                number=number,
                item=line.item,
                quantity=line.quantity,
                required_by=line.required_by,
                allow_substitutes=line.allow_substitutes,
            )
            for number, line in enumerate(lines, start=1)
        ]
    )
    if submit:
        choices = {n: list(line.sources) for n, line in enumerate(lines, start=1) if line.sources is not None}
        return submit_requisition(requisition=draft, actor=requester, choices=choices)
    return draft


def _lock(requisition: Requisition, action: str, actor, *, statuses: tuple[str, ...]) -> Requisition:
    locked = (
        Requisition.objects.select_for_update(of=("self",))
        .select_related("requesting_nation", "destination_center")
        .get(pk=requisition.pk)
    )
    access.require(actor, action, locked)
    if locked.status not in statuses:
        raise InvalidTransition(
            _("%(requisition)s is %(status)s.") % {"requisition": locked, "status": locked.get_status_display().lower()}
        )
    return locked


def _bump(requisition: Requisition, *fields: str) -> None:
    requisition.version = F("version") + 1
    requisition.save(update_fields=["version", "updated_at", *fields])
    requisition.refresh_from_db(fields=["version"])


@transaction.atomic
def submit_requisition(
    *, requisition: Requisition, actor, choices: dict[int, list[SourceChoice]] | None = None
) -> Requisition:
    """Source every line and send the requests to the supplying nations' liaison officers: the requester's
    choices for the lines named in `choices` (line number -> sources), the automatic plan for the others.
    What no source covers stays outstanding on its line (the requisition is open; re-source it later)."""
    requisition = _lock(requisition, "requisition.submit", actor, statuses=(RequisitionStatus.DRAFT,))
    lines = list(requisition.lines.select_related("item"))
    plan = plan_sources(requisition, [(line, line.quantity) for line in lines], choices=choices or {})
    plan.requests = raise_requests(requisition, plan.allocations, actor=actor)
    requisition.status = RequisitionStatus.OPEN
    requisition.submitted_at = timezone.now()
    _bump(requisition, "status", "submitted_at")
    requisition.plan = plan  # what was sourced and what was not, for the caller's answer
    return requisition


@transaction.atomic
def resource_lines(
    *,
    requisition: Requisition,
    actor,
    numbers: list[int] | None = None,
    choices: dict[int, list[SourceChoice]] | None = None,
) -> SourcingPlan:
    """Source again what is outstanding on the lines `numbers` (all lines when None): refused, approved short,
    received short or never sourced.  Automatic sourcing leaves out the nations that refused the line before.
    Conflict when none of the lines has anything outstanding."""
    requisition = _lock(requisition, "requisition.resource", actor, statuses=(RequisitionStatus.OPEN,))
    lines = requisition_state.with_figures(requisition.lines.select_related("item"))
    if numbers is not None:
        lines = lines.filter(number__in=numbers)
    needs = [(line, line.outstanding) for line in lines if line.outstanding > 0]
    if not needs:
        raise Conflict(_("Nothing is outstanding on these lines."))
    refused = {}
    for line_id, nation_id in SupplyRequest.objects.filter(
        requisition_line__in=[line for line, _q in needs], status=RequestStatus.REJECTED
    ).values_list("requisition_line_id", "supplying_nation_id"):
        refused.setdefault(line_id, set()).add(nation_id)
    plan = plan_sources(requisition, needs, choices=choices or {}, refused=refused)
    plan.requests = raise_requests(requisition, plan.allocations, actor=actor)
    _bump(requisition)
    return plan


@transaction.atomic
def cancel_lines(*, requisition: Requisition, actor, numbers: list[int] | None = None) -> int:
    """Give up what is outstanding on the lines `numbers` (all when None); the requisition closes if nothing else
    is in flight.  Returns the quantity given up.  Conflict when nothing is outstanding."""
    requisition = _lock(requisition, "requisition.cancel", actor, statuses=(RequisitionStatus.OPEN,))
    lines = requisition_state.with_figures(requisition.lines.all())
    if numbers is not None:
        lines = lines.filter(number__in=numbers)
    given_up = {line.pk: line.outstanding for line in lines if line.outstanding > 0}
    if not given_up:
        raise Conflict(_("Nothing is outstanding on these lines."))
    for line_id, quantity in given_up.items():
        RequisitionLine.objects.filter(pk=line_id).update(cancelled=F("cancelled") + quantity)
    _bump(requisition)
    requisition_state.close_if_done(requisition.pk, actor=actor)
    return sum(given_up.values())


@transaction.atomic
def cancel_requisition(*, requisition: Requisition, actor) -> Requisition:
    """Withdraw a draft (an open requisition gives up its outstanding lines instead: ``cancel_lines``)."""
    requisition = _lock(requisition, "requisition.cancel", actor, statuses=(RequisitionStatus.DRAFT,))
    requisition.status = RequisitionStatus.CANCELLED
    requisition.closed_at = timezone.now()
    _bump(requisition, "status", "closed_at")
    return requisition


# --- sourcing ------------------------------------------------------------------------------------------------------


def substitutes_of(item_ids) -> dict[int, list[int]]:
    """item id -> the ids of the items that may stand in for it (declared one way, or two ways from the other)."""
    found: dict[int, list[int]] = {}
    for item_id, substitute_id, two_way in ItemSubstitute.objects.filter(
        Q(item_id__in=item_ids) | Q(substitute_id__in=item_ids, two_way=True)
    ).values_list("item_id", "substitute_id", "two_way"):
        if item_id in item_ids:
            found.setdefault(item_id, []).append(substitute_id)
        if two_way and substitute_id in item_ids:
            found.setdefault(substitute_id, []).append(item_id)
    return found


def _candidates(requisition: Requisition, item_ids) -> dict[int, list[tuple[float, Stock]]]:
    """item id -> the stocks offered to the requesting nation (shared, or released to it) by other nations,
    each with what it can spare (``spare`` > 0): available above its safety level, less what submitted requests
    already ask of it; nearest to the destination first.  One query for every item of the requisition."""
    destination = requisition.destination_center
    nation_id = requisition.requesting_nation_id
    # shared with the participants of a center the nation takes part in, or released to the nation by name
    offered = Q(shared=True, center__in=LogisticsCenter.objects.filter(participants=nation_id).values("pk")) | Q(
        release_list__in=ReleaseList.objects.filter(nations=nation_id).values("pk")
    )
    # what the donor is already asked for there and has not decided (a submitted request reserves nothing yet):
    # a plan does not ask a donor twice for the same spare
    asked = (
        SupplyRequest.objects.filter(
            status=RequestStatus.SUBMITTED,
            supplying_nation_id=OuterRef("nation_id"),
            source_center_id=OuterRef("center_id"),
            item_id=OuterRef("item_id"),
        )
        .order_by()
        .values("item_id")
        .annotate(total=Sum("quantity_requested"))
        .values("total")
    )
    stocks = (
        Stock.objects.filter(offered, item_id__in=item_ids)
        .exclude(nation_id=requisition.requesting_nation_id)
        .annotate(spare=F("on_hand") - F("reserved") - F("safety_level") - Coalesce(Subquery(asked), Value(0)))
        .filter(spare__gt=0)
        .select_related("nation", "center", "item")
    )
    distance: dict[int, float] = {}
    found: dict[int, list[tuple[float, Stock]]] = {}
    for stock in stocks:
        if stock.center_id not in distance:
            distance[stock.center_id] = round(
                great_circle_km(
                    destination.latitude, destination.longitude, stock.center.latitude, stock.center.longitude
                ),
                1,
            )
        found.setdefault(stock.item_id, []).append((distance[stock.center_id], stock))
    for options in found.values():
        options.sort(key=lambda o: (o[0], -o[1].spare, o[1].nation.code))
    return found


def plan_sources(
    requisition: Requisition,
    needs: list[tuple[RequisitionLine, int]],
    *,
    choices: dict[int, list[SourceChoice]],
    refused: dict[int, set[int]] | None = None,
) -> SourcingPlan:
    """Where each need (a line, a quantity) comes from, never below a donor's safety level.

    A line with the requester's `choices` takes exactly those (each checked against what that stock can spare;
    bad choices raise ValidationError naming the line).  Any other line is sourced automatically: the nearest
    source that covers it whole; when none does, nearest first, split across sources; then, if the line allows
    substitutes, its substitutes the same way for what the item itself could not cover.  Two lines of one item
    share the spare: one plan never counts a donor's stock twice.  `refused`: line id -> nations left out."""
    refused = refused or {}
    item_ids = {line.item_id for line, _q in needs}
    subs = substitutes_of(item_ids)
    candidates = _candidates(requisition, item_ids | {s for line, _q in needs for s in subs.get(line.item_id, [])})
    spare = {stock.pk: stock.spare for options in candidates.values() for _d, stock in options}
    plan = SourcingPlan()
    errors: dict[str, str] = {}
    for line, quantity in needs:
        if line.number in choices:
            errors.update(_take_chosen(plan, line, quantity, choices[line.number], candidates, spare, subs))
            continue
        excluded = refused.get(line.pk, set())
        left = _take_nearest(plan, line, quantity, candidates.get(line.item_id, []), spare, excluded)
        if left and line.allow_substitutes:
            for substitute_id in subs.get(line.item_id, []):
                left = _take_nearest(
                    plan, line, left, candidates.get(substitute_id, []), spare, excluded, substitute_for=line.item
                )
                if not left:
                    break
        if left:
            plan.uncovered[line.number] = left
    if errors:
        raise ValidationError(errors)
    return plan


def _take_nearest(plan, line, quantity, options, spare, excluded, *, substitute_for=None) -> int:
    """Take `quantity` from `options` (nearest first): the nearest that covers it whole, else split nearest first.
    Returns what is left."""
    usable = [(d, s) for d, s in options if spare[s.pk] > 0 and s.nation_id not in excluded]
    whole = next(((d, s) for d, s in usable if spare[s.pk] >= quantity), None)
    for distance, stock in [whole] if whole else usable:
        take = min(quantity, spare[stock.pk])
        spare[stock.pk] -= take
        quantity -= take
        plan.allocations.append(Allocation(line, stock, take, distance, substitute_for))
        if not quantity:
            break
    return quantity


def _take_chosen(plan, line, quantity, chosen, candidates, spare, subs) -> dict[str, str]:
    errors: dict[str, str] = {}
    total = 0
    for k, choice in enumerate(chosen):
        key = f"lines[{line.number - 1}].sources[{k}]"
        item = choice.item or line.item
        if item.pk != line.item_id and (not line.allow_substitutes or item.pk not in subs.get(line.item_id, [])):
            errors[key] = _("%(nsn)s is not a substitute this line allows.") % {"nsn": item.nsn}
            continue
        if error := whole_number_error(choice.quantity):
            errors[key] = error
            continue
        stock = next(
            (
                s
                for _d, s in candidates.get(item.pk, [])
                if s.nation_id == choice.supplying_nation.pk and s.center_id == choice.source_center.pk
            ),
            None,
        )
        distance = next((d for d, s in candidates.get(item.pk, []) if s is stock), 0.0)
        if stock is None or spare[stock.pk] < choice.quantity:
            errors[key] = _("%(nation)s can spare only %(n)s of %(nsn)s at %(center)s.") % {
                "nation": choice.supplying_nation.code,
                "n": 0 if stock is None else spare[stock.pk],
                "nsn": item.nsn,
                "center": choice.source_center.code,
            }
            continue
        spare[stock.pk] -= choice.quantity
        total += choice.quantity
        substitute_for = line.item if item.pk != line.item_id else None
        plan.allocations.append(Allocation(line, stock, choice.quantity, distance, substitute_for))
    if total > quantity:
        errors[f"lines[{line.number - 1}].sources"] = _("The sources add up to %(total)s; the line needs %(n)s.") % {
            "total": total,
            "n": quantity,
        }
    elif total < quantity and not errors:
        plan.uncovered[line.number] = quantity - total
    return errors


# --- raising the requests --------------------------------------------------------------------------------------------

REFERENCE = Concat(Value("REQ-"), LPad(Cast("id", CharField()), 6, Value("0")))


def raise_requests(requisition: Requisition, allocations: list[Allocation], *, actor) -> list[SupplyRequest]:
    """One submitted supply request per allocation, with its timeline (created, submitted) and audit entries,
    written set-based; the suppliers' liaison officers are told (one notice per supplier) after commit."""
    if not allocations:
        return []
    now = timezone.now()
    designator = requisition.priority_designator
    requests = SupplyRequest.objects.bulk_create(
        [
            SupplyRequest(
                requesting_nation_id=requisition.requesting_nation_id,
                supplying_nation=a.stock.nation,
                item=a.stock.item,
                source_center=a.stock.center,
                destination_center=requisition.destination_center,
                quantity_requested=a.quantity,
                priority=priorities.priority_of(designator),
                priority_designator=designator,
                required_by=a.line.required_by or requisition.required_by,
                justification=f"{requisition.reference} line {a.line.number}: {requisition.justification}"[:2000],
                status=RequestStatus.SUBMITTED,
                submitted_at=now,
                created_by=actor,
                requisition=requisition,
                requisition_line=a.line,
                substitute_for=a.substitute_for,
            )
            for a in allocations
        ]
    )
    # REQ-000123 as create_request writes it (ids past 999,999 keep all their digits)
    SupplyRequest.objects.filter(pk__in=[r.pk for r in requests], pk__lt=1_000_000).update(reference=REFERENCE)
    SupplyRequest.objects.filter(pk__in=[r.pk for r in requests], pk__gte=1_000_000).update(
        reference=Concat(Value("REQ-"), Cast("id", CharField()))
    )
    for r in requests:
        r.reference = f"REQ-{r.pk:06d}"
    timeline = []
    for r in requests:
        timeline.append(
            RequestEvent(
                request=r,
                from_status="",
                to_status=RequestStatus.DRAFT,
                actor=actor,
                at=now,
                comment=RequestEvent.CREATED,
                quantity=r.quantity_requested,
            )
        )
        timeline.append(
            RequestEvent(
                request=r,
                from_status=RequestStatus.DRAFT,
                to_status=RequestStatus.SUBMITTED,
                actor=actor,
                at=now,
                comment=requisition.reference,
            )
        )
    timeline = RequestEvent.objects.bulk_create(timeline)
    audit.request_transitions(timeline, acting_nation_id=requisition.requesting_nation_id)
    events.requests_raised(requisition, requests)
    return requests
