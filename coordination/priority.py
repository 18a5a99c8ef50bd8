"""Priorities that mean something: the UMMIPS priority designator and its standard times.

A requisition's (and its supply requests') priority designator, 01 (most pressing) to 15, comes from two facts:
the requesting force's activity designator (FAD I-V, how much the force matters to the operation now, set per
nation by the coordinators: ``Nation.activity_designator``) and the urgency of need (A: cannot perform the
mission, B: mission impaired, C: routine), through the matrix of the Uniform Materiel Movement and Issue
Priority System (DoD 4140.01-M):

            A    B    C
    FAD I   01   04   11
    FAD II  02   05   12
    FAD III 03   06   13
    FAD IV  07   09   14
    FAD V   08   10   15

Designators fall into three priority groups (01-03, 04-08, 09-15), each with standard times for the supplier's
decision and for dispatch after approval (``settings.PRIORITY_STANDARD_HOURS``); the reconciliation job flags a
request past its clock.  The queues sort by designator, then by required-by date.  The request's three-level
``priority`` (urgent, priority, routine) is the group, kept for the pages and API fields that already show it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from .models import Priority, Urgency

MATRIX: dict[int, dict[str, int]] = {
    1: {Urgency.A: 1, Urgency.B: 4, Urgency.C: 11},
    2: {Urgency.A: 2, Urgency.B: 5, Urgency.C: 12},
    3: {Urgency.A: 3, Urgency.B: 6, Urgency.C: 13},
    4: {Urgency.A: 7, Urgency.B: 9, Urgency.C: 14},
    5: {Urgency.A: 8, Urgency.B: 10, Urgency.C: 15},
}

# a request raised on its own states a priority, not an urgency: read as the urgency it names
URGENCY_OF_PRIORITY = {Priority.URGENT: Urgency.A, Priority.PRIORITY: Urgency.B, Priority.ROUTINE: Urgency.C}
PRIORITY_OF_GROUP = {1: Priority.URGENT, 2: Priority.PRIORITY, 3: Priority.ROUTINE}


def designator(activity_designator: int, urgency: str) -> int:
    """The priority designator (1-15) of a force of `activity_designator` (1-5) with `urgency` (A, B or C)."""
    return MATRIX[activity_designator][urgency]


def group(priority_designator: int) -> int:
    """The priority group (1, 2 or 3) of a designator."""
    if priority_designator <= 3:
        return 1
    return 2 if priority_designator <= 8 else 3


def priority_of(priority_designator: int) -> str:
    """The request's three-level priority of a designator: its group."""
    return PRIORITY_OF_GROUP[group(priority_designator)]


def standard_hours(priority_designator: int) -> dict[str, int]:
    """{'approve': hours, 'dispatch': hours}: the standard times of the designator's group."""
    return settings.PRIORITY_STANDARD_HOURS[group(priority_designator)]


def due(started: datetime, priority_designator: int, clock: str) -> datetime:
    """When `clock` ('approve' from submission, 'dispatch' from approval) runs out."""
    return started + timedelta(hours=standard_hours(priority_designator)[clock])


def label(priority_designator: int) -> str:
    """``07`` as the designator is written."""
    return f"{priority_designator:02d}"
