"""Overdue clocks: how long a request may wait for each step, by priority group, and which flags a run raised.

Three clocks run on a submitted request (coordination/priority.py gives the standard times of its group):
- approval: decided within the group's ``approve`` hours of ``submitted_at``, or flagged ``overdue_approval``;
- dispatch: dispatched within the group's ``dispatch`` hours of ``approved_at``, or flagged ``overdue_dispatch``;
- arrival: its shipment received within ``ARRIVAL_OVERDUE_TOLERANCE_HOURS`` of its ``expected_arrival``, or each
  dispatched request in it flagged ``overdue_arrival``.
The reconciliation pass over the request's source center raises and resolves these flags in SQL
(coordination/reconciliation.py); this module gives it the cutoffs, and gives the end of a run the flags it raised,
so that whoever must act is told once per run (``events.notify_overdue``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef

from . import priority
from .models import CenterReconciliation, Discrepancy, DiscrepancyKind

APPROVE, DISPATCH = "approve", "dispatch"
CLOCKS = (APPROVE, DISPATCH)
OVERDUE_KINDS = (DiscrepancyKind.OVERDUE_APPROVAL, DiscrepancyKind.OVERDUE_DISPATCH, DiscrepancyKind.OVERDUE_ARRIVAL)
# the clock a request-step flag stands for
CLOCK_OF_KIND = {DiscrepancyKind.OVERDUE_APPROVAL: APPROVE, DiscrepancyKind.OVERDUE_DISPATCH: DISPATCH}

# the highest designator of each priority group (1: 01-03, 2: 04-08, 3: 09-15), read from priority.group
LAST_OF_GROUP = {g: max(d for d in range(1, 16) if priority.group(d) == g) for g in (1, 2, 3)}


def group_hours(group: int) -> dict[str, int]:
    """{'approve': hours, 'dispatch': hours} of a priority group (settings.PRIORITY_STANDARD_HOURS).  Group 3's
    dispatch time is ``DISPATCH_OVERDUE_DAYS``, the setting that governed every request before there were groups,
    read when asked so that changing that one setting still moves it."""
    hours = dict(settings.PRIORITY_STANDARD_HOURS[group])
    if group == 3:
        hours[DISPATCH] = settings.DISPATCH_OVERDUE_DAYS * 24
    return hours


def hours_for(priority_designator: int, clock: str) -> int:
    """The standard time of `clock` for a request of this designator, in hours."""
    return group_hours(priority.group(priority_designator))[clock]


def cutoffs(now: datetime) -> dict[str, datetime]:
    """The SQL parameters of the clocks at `now`: ``approve_before_<g>`` and ``dispatch_before_<g>`` (a request of
    group g submitted, or approved, before it is overdue) and ``arrival_before`` (a shipment expected before it is
    overdue)."""
    found = {
        f"{clock}_before_{g}": now - timedelta(hours=group_hours(g)[clock]) for g in LAST_OF_GROUP for clock in CLOCKS
    }
    found["arrival_before"] = now - timedelta(hours=settings.ARRIVAL_OVERDUE_TOLERANCE_HOURS)
    return found


def cutoff_sql(alias: str, clock: str) -> str:
    """SQL: the cutoff of `clock` for the request `alias`, by its designator's group (``cutoffs`` names the
    parameters)."""
    *firsts, last = LAST_OF_GROUP.items()
    whens = " ".join(f"WHEN {alias}.priority_designator <= {top} THEN %({clock}_before_{g})s" for g, top in firsts)
    return f"CASE {whens} ELSE %({clock}_before_{last[0]})s END"


def raised_by_run(run_id: int) -> list[int]:
    """The ids of the overdue flags that `run_id` raised (not those it found still open from before).

    A center's pass at time T inserts the flags it finds new with ``first_seen`` T, and T is its result's
    ``started_at``; request flags belong to the request's source center (whose pass finds them)."""
    passes = CenterReconciliation.objects.filter(
        run_id=run_id,
        error="",
        center_id=OuterRef("request__source_center_id"),
        started_at=OuterRef("first_seen"),
    )
    return list(
        Discrepancy.objects.filter(kind__in=OVERDUE_KINDS, request__isnull=False)
        .filter(Exists(passes))
        .order_by("id")
        .values_list("id", flat=True)
    )
