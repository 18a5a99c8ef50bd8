"""What a new request opens with when the user comes from a shortage: a stock (``?stock=``), a request whose
remainder is still needed (``?follow_up=``), or plain codes (``?nsn=&destination_center=&quantity=&requesting_nation=``).

A source the user may not use (not visible, not of a nation they raise requests for, or not there at all) gives an
empty form and one message, the same in every case, so that the answer never tells which."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from django.conf import settings
from django.template.defaultfilters import floatformat
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory.api.serializers import MAX_QUANTITY
from inventory.lookup import entry_of, item_for_entry
from inventory.models import LogisticsCenter, Stock

from .follow_up import remainder_of
from .models import DaysOfSupplyTarget, Priority, RequestStatus, Severity, Shortfall, SupplyRequest

# The required-by date a prefilled request proposes, in days from today, by priority: what an officer would ask
# of a supplier for an urgent, a priority and a routine need (the user can change it).
REQUIRED_WITHIN_DAYS = {Priority.URGENT: 3, Priority.PRIORITY: 7, Priority.ROUTINE: 14}

# The worst open shortfall of a stock sets the request's priority.
PRIORITY_FOR_SEVERITY = {Severity.CRITICAL: Priority.URGENT, Severity.WARNING: Priority.PRIORITY}


@dataclass
class Prefill:
    """The form's initial values, the nations sourcing must leave out, and what the page tells the user."""

    initial: dict = field(default_factory=dict)
    exclude_nation_ids: frozenset[int] = frozenset()
    notice: str = ""  # the prefill source was refused, or has nothing left to ask for
    source: str = ""  # what the form was filled from, in words
    follow_up: SupplyRequest | None = None


def required_by_for(priority: str) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=REQUIRED_WITHIN_DAYS[priority])


def target_days(nation_id: int, supply_class: str) -> int:
    """The nation's days-of-supply target for a supply class (``DEFAULT_DAYS_OF_SUPPLY_TARGET`` when it set none),
    as the shortfall job reads it."""
    days = (
        DaysOfSupplyTarget.objects.filter(nation_id=nation_id, supply_class=supply_class)
        .values_list("days", flat=True)
        .first()
    )
    return days or settings.DEFAULT_DAYS_OF_SUPPLY_TARGET


def restock_quantity(stock: Stock, days_target: int) -> int:
    """The quantity that brings the stock's available quantity back to its goal, rounded up, at least 1.

    The goal is the larger of its two floors, the ones the shortfall job flags: the safety level, and the days of
    supply the nation wants for the item's class at the stock's planning rate (``days_target × daily_consumption``,
    rounded up to whole units).  A stock already at its goal still proposes 1, as a starting point to edit: the user
    came to raise a request."""
    days_goal = math.ceil(days_target * stock.daily_consumption)
    goal = max(stock.safety_level, days_goal)
    return min(max(goal - stock.available, 1), MAX_QUANTITY)


def _refused() -> Prefill:
    return Prefill(
        notice=_(
            "The link you followed names nothing your nation can request supplies for: fill in the request yourself."
        )
    )


def _as_id(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def from_stock(user, stock_id: str, nations) -> Prefill:
    """Restock one of the user's nation's stocks: item, destination, nation, the quantity that restores it
    (``restock_quantity``), the priority of its worst open shortfall, and why, in words."""
    stock = (
        Stock.objects.visible_to(user)
        .filter(pk=_as_id(stock_id), nation__in=nations)
        .select_related("nation", "center", "item")
        .first()
    )
    if stock is None:
        return _refused()
    severities = set(
        Shortfall.objects.visible_to(user)
        .filter(stock=stock, resolved_at__isnull=True)
        .values_list("severity", flat=True)
    )
    priority = next((PRIORITY_FOR_SEVERITY[s] for s in (Severity.CRITICAL, Severity.WARNING) if s in severities), None)
    priority = priority or Priority.ROUTINE
    days = target_days(stock.nation_id, stock.item.supply_class)
    names = {"item": stock.item.name, "center": stock.center.code, "available": stock.available}
    if math.ceil(days * stock.daily_consumption) > stock.safety_level:
        justification = _(
            "Restore %(item)s at %(center)s to %(days)s days of supply: available %(available)s, "
            "consumption %(rate)s a day"
        ) % {**names, "days": days, "rate": floatformat(stock.daily_consumption, -2)}
    else:
        justification = _(
            "Restore %(item)s at %(center)s to its safety level: available %(available)s, safety %(safety)s"
        ) % {**names, "safety": stock.safety_level}
    return Prefill(
        initial={
            "requesting_nation": stock.nation.code,
            "nsn": entry_of(stock.item),
            "destination_center": stock.center.code,
            "quantity": restock_quantity(stock, days),
            "priority": priority,
            "required_by": required_by_for(priority),
            "justification": justification,
        },
        source=_("Filled in from your stock of %(item)s at %(center)s: check it before raising the request.") % names,
    )


def _remainder_justification(previous: SupplyRequest, remainder: int) -> str:
    names = {
        "reference": previous.reference,
        "supplier": previous.supplying_nation.code,
        "remainder": remainder,
        "requested": previous.quantity_requested,
    }
    if previous.status == RequestStatus.REJECTED:
        head = _("Remainder of %(reference)s: rejected by %(supplier)s, %(remainder)s still needed.") % names
    elif previous.status == RequestStatus.RECEIVED:
        head = _("Remainder of %(reference)s: %(received)s of %(dispatched)s received, %(remainder)s still needed.") % {
            **names,
            "received": previous.quantity_received,
            "dispatched": previous.quantity_dispatched,
        }
    else:
        head = _(
            "Remainder of %(reference)s: %(supplier)s approved %(approved)s of %(requested)s, "
            "%(remainder)s still needed."
        ) % {**names, "approved": previous.quantity_approved}
    return f"{head}\n{previous.justification}"[:2000]


def from_request(user, request_id: str, nations) -> Prefill:
    """Raise what a request left outstanding (``remainder_of``) from another source: its item, destination, nation,
    priority and required-by date (a date already past becomes the standard one for its priority); sourcing leaves
    out the nation that supplied, or refused, the first one."""
    previous = (
        SupplyRequest.objects.visible_to(user)
        .filter(pk=_as_id(request_id), requesting_nation__in=nations)
        .select_related("requesting_nation", "supplying_nation", "item", "destination_center")
        .first()
    )
    if previous is None:
        return _refused()
    remainder = remainder_of(previous)
    required_by = previous.required_by
    if required_by <= timezone.localdate():
        required_by = required_by_for(previous.priority)
    prefill = Prefill(
        initial={
            "requesting_nation": previous.requesting_nation.code,
            "nsn": entry_of(previous.item),
            "destination_center": previous.destination_center.code,
            "priority": previous.priority,
            "required_by": required_by,
        },
        exclude_nation_ids=frozenset({previous.supplying_nation_id}),
        follow_up=previous,
    )
    if remainder:
        prefill.initial["quantity"] = remainder
        prefill.initial["justification"] = _remainder_justification(previous, remainder)
        prefill.source = _("Filled in for the remainder of %(reference)s, from another source than %(supplier)s.") % {
            "reference": previous.reference,
            "supplier": previous.supplying_nation.code,
        }
    else:
        prefill.notice = _("%(reference)s has nothing outstanding: choose the quantity yourself.") % {
            "reference": previous.reference
        }
    return prefill


def from_codes(query, nations) -> dict:
    """Initial values from plain codes in the query string; a value that names nothing usable is left out."""
    initial = {}
    item = item_for_entry(query.get("nsn", ""))
    if item is not None:
        initial["nsn"] = entry_of(item)
    center = query.get("destination_center", "")
    if center and LogisticsCenter.objects.filter(code=center).exists():
        initial["destination_center"] = center
    nation = query.get("requesting_nation", "")
    if nation and nations.filter(code=nation).exists():
        initial["requesting_nation"] = nation
    quantity = _as_id(query.get("quantity"))
    if quantity is not None and 1 <= quantity <= MAX_QUANTITY:
        initial["quantity"] = quantity
    return initial


def prefill_for(user, query, nations) -> Prefill:
    """The new-request form's prefill from the query string: a follow-up, else a stock, then plain codes on top
    (a link may name a stock and still set the quantity it wants)."""
    if query.get("follow_up"):
        prefill = from_request(user, query["follow_up"], nations)
    elif query.get("stock"):
        prefill = from_stock(user, query["stock"], nations)
    else:
        prefill = Prefill()
    prefill.initial.update(from_codes(query, nations))
    return prefill


def excluded_suppliers(user, follow_up_id: str | None, nations) -> frozenset[int]:
    """The nation a follow-up's first request went to, when the user may raise its remainder (else none)."""
    if not follow_up_id:
        return frozenset()
    supplier = (
        SupplyRequest.objects.visible_to(user)
        .filter(pk=_as_id(follow_up_id), requesting_nation__in=nations)
        .values_list("supplying_nation_id", flat=True)
        .first()
    )
    return frozenset({supplier}) if supplier else frozenset()
