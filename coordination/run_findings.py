"""What a reconciliation run's counts of findings show to whom (audit finding 12).

A run counts every flag at every center it passes, whoever's stock it is: told to a nation's officers, "4 stocks
below safety at NAT-B" is news about stock they may not see.  Administrators, coordinators and center operators
see the run's counts as recorded; anyone else sees counts of the flags they may see (the flags' own visibility
rule, ``visible_to``) among those the run found.

Which flags a run found is read from the flags themselves: a center's pass at time T (its result's ``started_at``)
raises or keeps every flag it finds and resolves at T every open flag it no longer finds, so the flags it found
at that center are those with ``first_seen <= T`` and not resolved by T.  One query for a page of runs, whatever
its length; pool totals (``pool_items``, every nation's items) are not shown to a nation.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import F, Q
from django.db.models.functions import Coalesce

from nations import access

from .models import CenterReconciliation, Discrepancy, DiscrepancyKind, ReconciliationRun, Shortfall, ShortfallKind

# the flag kinds a run counts (a short receipt is raised by the receipt, not by a run)
RUN_SHORTFALL_KINDS = list(ShortfallKind.values)
RUN_DISCREPANCY_KINDS = [k for k in DiscrepancyKind.values if k != DiscrepancyKind.SHORT_RECEIPT]


def sees_whole_runs(user) -> bool:
    """Administrators, coordinators and center operators read a run's counts as recorded."""
    if access.sees_everything(user):
        return True
    p = access.profile(user)
    return p.coordinator or bool(p.operated_centers)


def disclose_findings(runs: Iterable[ReconciliationRun], user) -> None:
    """Replace, on these (unsaved, displayed) rows, each run's counts by what `user` may see of them."""
    runs = list(runs)
    if not runs or sees_whole_runs(user):
        return
    for run in runs:
        if not run.is_finished:  # totals are written when the run finishes: none before
            run.findings = {}
    counted = [run for run in runs if run.findings]
    visible = _visible_counts([run.pk for run in counted], user) if counted else {}
    for run in counted:
        kinds = [k for k in run.findings if k in RUN_SHORTFALL_KINDS or k in RUN_DISCREPANCY_KINDS]
        run.findings = {k: visible.get((run.pk, k), 0) for k in kinds}


def _visible_counts(run_ids: list[int], user) -> dict[tuple[int, str], int]:
    """{(run id, kind): flags `user` may see among those the run found}, in one query."""
    fields = ("kind", "at_center", "first_seen", "resolved_at")
    shortfalls = (
        Shortfall.objects.visible_to(user)
        .filter(kind__in=RUN_SHORTFALL_KINDS)
        .annotate(at_center=F("center_id"))
        .values(*fields)
        .order_by()
    )
    # a stock's flag was found at the stock's center, a request's at its source center (where dispatch is overdue)
    discrepancies = (
        Discrepancy.objects.visible_to(user)
        .filter(kind__in=RUN_DISCREPANCY_KINDS)
        .filter(Q(stock__isnull=False) | Q(request__isnull=False))
        .annotate(at_center=Coalesce("stock__center_id", "request__source_center_id"))
        .values(*fields)
        .order_by()
    )
    try:
        flags_sql, flags_params = shortfalls.union(discrepancies, all=True).query.sql_with_params()
    except EmptyResultSet:  # the user may see no flag at all
        return {}
    results = CenterReconciliation._meta.db_table
    placeholders = ", ".join(["%s"] * len(run_ids))
    sql = f"""
        SELECT r.run_id, f.kind, COUNT(*)
        FROM {results} r
        JOIN ({flags_sql}) f
          ON f.at_center = r.center_id AND f.first_seen <= r.started_at
         AND (f.resolved_at IS NULL OR f.resolved_at > r.started_at)
        WHERE r.run_id IN ({placeholders}) AND r.error = ''
        GROUP BY r.run_id, f.kind
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*flags_params, *run_ids])
        return {(run_id, kind): n for run_id, kind, n in cursor.fetchall()}
