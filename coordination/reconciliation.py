"""Reconciliation and shortfall flagging for one center, as set-based SQL.

Each check is one statement over the center's rows (no Python loop over stocks), written to run on
PostgreSQL and on SQLite (the embedded default).  Discrepancies (a few hundred) are upserted as flags:
``INSERT … SELECT … ON CONFLICT (subject) WHERE open DO UPDATE`` keeps one open flag per subject with its
first and last sighting, and an ``UPDATE`` then resolves the open flags of that kind at the center that this
pass did not see again.  Shortfalls on stocks and the pool summary (over a hundred thousand rows, nearly all
unchanged from one pass to the next) are staged in a temporary table and only the differences written; the
center's ``CenterPass`` row records the pass, which is the last sighting of every flag still open there.
Acknowledgement is never touched, so it survives later runs.

The pass over a center runs in one transaction under a per-center lock, so two runs never work on the same
center at once and a pass that dies leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import clocks
from .models import CenterPass, DiscrepancyKind, RequestStatus, Severity, Shortfall, ShortfallKind

STOCK = "inventory_stock"
MOVEMENT = "inventory_movement"
COUNT = "inventory_stockcount"
ITEM = "inventory_item"
REQUEST = "coordination_supplyrequest"
SHIPMENT = "coordination_shipment"
SHORTFALL = "coordination_shortfall"
DISCREPANCY = "coordination_discrepancy"
POOL = "coordination_poolsummary"
TARGET = "coordination_daysofsupplytarget"

CRITICAL_DAYS = 3  # PRODUCT.md: critical when nothing is available or under 3 days remain


class CenterBusy(Exception):
    """Another run holds this center's lock."""


@dataclass
class CenterFindings:
    """Findings of one pass at one center: open flags seen, per kind, and the ids of newly raised critical
    shortfalls (to notify)."""

    counts: dict[str, int] = field(default_factory=dict)
    new_critical_shortfalls: list[int] = field(default_factory=list)


def _lock_center(center_id: int) -> None:
    """Take the center's lock for this transaction, or raise CenterBusy at once."""
    if connection.vendor != "postgresql":
        return  # SQLite: one writer at a time already
    key = int.from_bytes(hashlib.sha256(f"reconcile-center:{center_id}".encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [key])
        if not cursor.fetchone()[0]:
            raise CenterBusy(f"center {center_id} is being reconciled by another run")


def _execute(sql: str, params: dict) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


# --- discrepancies --------------------------------------------------------------------------------------------


def _upsert_stock_discrepancies(kind: str, findings_sql: str, params: dict) -> int:
    """`findings_sql` selects (stock_id, count_id, expected, actual, severity) for the center."""
    return _execute(
        f"""
        INSERT INTO {DISCREPANCY} (kind, stock_id, request_id, count_id, expected, actual, severity,
                                  first_seen, last_seen, updated_at, details, resolution)
        SELECT %(kind)s, f.stock_id, NULL, f.count_id, f.expected, f.actual, f.severity,
               %(now)s, %(now)s, %(changed)s, '{{}}', ''
        FROM ({findings_sql}) f WHERE 1 = 1
        -- the conflict target repeats each partial unique index's predicate exactly (SQLite requires it)
        ON CONFLICT (kind, stock_id) WHERE (request_id IS NULL AND resolved_at IS NULL)
        DO UPDATE SET last_seen = excluded.last_seen, updated_at = excluded.updated_at,
                      expected = excluded.expected, actual = excluded.actual,
                      severity = excluded.severity, count_id = excluded.count_id
    """,
        {**params, "kind": kind},
    )


def _resolve_unseen_stock_discrepancies(kind: str, params: dict) -> None:
    _execute(
        f"""
        UPDATE {DISCREPANCY} SET resolved_at = %(now)s, resolution = 'cleared', updated_at = %(changed)s
        WHERE kind = %(kind)s AND resolved_at IS NULL AND request_id IS NULL AND last_seen < %(now)s
          AND stock_id IN (SELECT id FROM {STOCK} WHERE center_id = %(center)s)
    """,
        {**params, "kind": kind},
    )


# A center's movements are one range of the (center, stock) index, which carries the quantity: each stock's sum is
# read in one ordered pass over that range (movements carry their stock's center for this; inventory/0012).
LEDGER_FINDINGS = f"""
    SELECT s.id AS stock_id, CAST(NULL AS BIGINT) AS count_id, COALESCE(m.total, 0) AS expected,
           s.on_hand AS actual, '{Severity.CRITICAL}' AS severity
    FROM {STOCK} s
    LEFT JOIN (SELECT mv.stock_id, SUM(mv.quantity) AS total FROM {MOVEMENT} mv
               WHERE mv.center_id = %(center)s GROUP BY mv.stock_id) m ON m.stock_id = s.id
    WHERE s.center_id = %(center)s AND s.on_hand <> COALESCE(m.total, 0)
"""

RESERVATION_FINDINGS = f"""
    SELECT s.id AS stock_id, CAST(NULL AS BIGINT) AS count_id, COALESCE(r.total, 0) AS expected, s.reserved AS actual,
           '{Severity.CRITICAL}' AS severity
    FROM {STOCK} s
    LEFT JOIN (SELECT supplying_nation_id, item_id, SUM(quantity_approved) AS total
               FROM {REQUEST} WHERE source_center_id = %(center)s AND status = '{RequestStatus.APPROVED}'
               GROUP BY supplying_nation_id, item_id) r
           ON r.supplying_nation_id = s.nation_id AND r.item_id = s.item_id
    WHERE s.center_id = %(center)s AND s.reserved <> COALESCE(r.total, 0)
"""

# The latest count of each stock against the book balance at the count's time (the movements that had
# happened by then).  A count a user already accepted or rejected is settled and not raised again.
COUNT_FINDINGS = f"""
    SELECT l.stock_id, l.count_id, l.book AS expected, l.counted_quantity AS actual,
           CASE WHEN l.counted_quantity = 0 OR l.book = 0 THEN '{Severity.CRITICAL}'
                ELSE '{Severity.WARNING}' END AS severity
    FROM (
        SELECT c.id AS count_id, c.stock_id, c.counted_quantity,
               COALESCE((SELECT SUM(mv.quantity) FROM {MOVEMENT} mv
                         WHERE mv.stock_id = c.stock_id AND mv.occurred_at <= c.counted_at), 0) AS book,
               ROW_NUMBER() OVER (PARTITION BY c.stock_id ORDER BY c.counted_at DESC, c.id DESC) AS rn
        FROM {COUNT} c JOIN {STOCK} s ON s.id = c.stock_id
        WHERE s.center_id = %(center)s
    ) l
    WHERE l.rn = 1 AND l.counted_quantity <> l.book
      AND NOT EXISTS (SELECT 1 FROM {DISCREPANCY} d WHERE d.count_id = l.count_id
                      AND d.resolution IN ('count_accepted', 'count_rejected'))
"""


# The clocks (coordination/clocks.py): a request past its step's standard time, by its designator's group, is flagged
# at its source center, one flag per request and clock; `expected` is the quantity waiting for that step.
OVERDUE_FINDINGS = {
    DiscrepancyKind.OVERDUE_APPROVAL: (
        "r.quantity_requested",
        "",
        f"r.status = '{RequestStatus.SUBMITTED}' AND r.submitted_at < {clocks.cutoff_sql('r', clocks.APPROVE)}",
    ),
    DiscrepancyKind.OVERDUE_DISPATCH: (
        "r.quantity_approved",
        "",
        f"r.status = '{RequestStatus.APPROVED}' AND r.approved_at < {clocks.cutoff_sql('r', clocks.DISPATCH)}",
    ),
    # a dispatched request whose shipment is past its expected arrival plus the tolerance, and not arrived
    DiscrepancyKind.OVERDUE_ARRIVAL: (
        "r.quantity_dispatched",
        f"JOIN {SHIPMENT} sh ON sh.id = r.shipment_id",
        f"r.status = '{RequestStatus.DISPATCHED}' AND sh.arrived_at IS NULL AND sh.expected_arrival < %(arrival_before)s",
    ),
}


def _overdue_requests(kind: str, params: dict) -> int:
    """Raise or keep the `kind` flags of this center's requests past their clock; resolve those no longer found
    (the request moved on: decided, dispatched, received, cancelled)."""
    expected, join, condition = OVERDUE_FINDINGS[kind]
    seen = _execute(
        f"""
        INSERT INTO {DISCREPANCY} (kind, stock_id, request_id, count_id, expected, actual, severity,
                                  first_seen, last_seen, updated_at, details, resolution)
        SELECT %(kind)s, NULL, r.id, NULL, {expected}, 0,
               CASE WHEN r.required_by < %(today)s THEN '{Severity.CRITICAL}' ELSE '{Severity.WARNING}' END,
               %(now)s, %(now)s, %(changed)s, '{{}}', ''
        FROM {REQUEST} r {join}
        WHERE r.source_center_id = %(center)s AND {condition}
        -- the conflict target repeats each partial unique index's predicate exactly (SQLite requires it)
        ON CONFLICT (kind, request_id) WHERE (request_id IS NOT NULL AND resolved_at IS NULL)
        DO UPDATE SET last_seen = excluded.last_seen, updated_at = excluded.updated_at,
                      severity = excluded.severity, expected = excluded.expected
    """,
        {**params, "kind": kind},
    )
    _execute(
        f"""
        UPDATE {DISCREPANCY} SET resolved_at = %(now)s, resolution = 'cleared', updated_at = %(changed)s
        WHERE kind = %(kind)s AND resolved_at IS NULL AND last_seen < %(now)s
          AND request_id IN (SELECT id FROM {REQUEST} WHERE source_center_id = %(center)s)
    """,
        {**params, "kind": kind},
    )
    return seen


# --- pool summary -----------------------------------------------------------------------------------------------

# Grouped by item alone (the center is fixed): PostgreSQL then sizes the groups right and hashes them, where grouping
# by (center, item) made it expect ten times the groups and sort the center's stocks first (twice the time).
POOL_FINDINGS = f"""
    SELECT CAST(%(center)s AS BIGINT) AS center_id, item_id, SUM(on_hand) AS on_hand, SUM(reserved) AS reserved,
           SUM(on_hand - reserved) AS available,
           SUM(CASE WHEN shared THEN on_hand - reserved ELSE 0 END) AS shared_available, COUNT(*) AS nations
    FROM {STOCK} WHERE center_id = %(center)s
    GROUP BY item_id
"""
POOL_FIGURES = ("on_hand", "reserved", "available", "shared_available", "nations")


def _refresh_pool(params: dict) -> int:
    """Bring the center's pool rows to the figures of its stocks, writing only the rows that differ."""
    found = _stage(POOL_FINDINGS, params)
    changed = ", ".join(f"{c} = f.{c}" for c in POOL_FIGURES)
    _execute(
        f"""
        UPDATE {POOL} SET {changed}, refreshed_at = %(now)s
        FROM {FINDINGS} f
        WHERE {POOL}.center_id = %(center)s AND {POOL}.center_id = f.center_id AND {POOL}.item_id = f.item_id
          AND ({_distinct(POOL, POOL_FIGURES)})
    """,
        params,
    )
    _execute(
        f"""
        INSERT INTO {POOL} (center_id, item_id, {", ".join(POOL_FIGURES)}, refreshed_at)
        SELECT f.center_id, f.item_id, {", ".join("f." + c for c in POOL_FIGURES)}, %(now)s FROM {FINDINGS} f
        WHERE NOT EXISTS (SELECT 1 FROM {POOL} p WHERE p.center_id = %(center)s AND p.center_id = f.center_id
                          AND p.item_id = f.item_id)
    """,
        params,
    )
    _execute(
        f"""
        DELETE FROM {POOL} WHERE center_id = %(center)s
          AND NOT EXISTS (SELECT 1 FROM {FINDINGS} f WHERE f.item_id = {POOL}.item_id)
    """,
        params,
    )
    return found


# --- findings staged in a temporary table --------------------------------------------------------------------
# A check's findings are computed once into FINDINGS; the flag (or pool) table is then compared with them and only
# the differences are written: new flags inserted, changed figures updated, flags not found again resolved.  Open
# flags whose figures did not change are not rewritten: at 1,000,000 stocks a pass finds about 134,000 shortfalls,
# nearly all the same as 15 minutes before, and restamping them was half the pass (bench/RESULTS-reconcile.md).

FINDINGS = "reconciliation_findings"


def _stage(findings_sql: str, params: dict) -> int:
    """(Re)create the temporary FINDINGS table from `findings_sql`; returns its row count."""
    _execute(f"DROP TABLE IF EXISTS {FINDINGS}", {})
    _execute(f"CREATE TEMPORARY TABLE {FINDINGS} AS {findings_sql}", params)
    if connection.vendor == "postgresql":
        # autovacuum never sees temporary tables: without statistics the planner takes the findings for a
        # thousand-odd rows of unknown shape and joins them to the flags by scanning every open flag
        _execute(f"ANALYZE {FINDINGS}", {})
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {FINDINGS}")
        return cursor.fetchone()[0]


def _distinct(table: str, columns: tuple[str, ...]) -> str:
    """SQL true when any of `columns` differs between `table` and the staged findings `f` (NULL-safe, and
    written the same way on PostgreSQL and SQLite)."""
    if connection.vendor == "postgresql":
        return " OR ".join(f"{table}.{c} IS DISTINCT FROM f.{c}" for c in columns)
    return " OR ".join(f"{table}.{c} IS NOT f.{c}" for c in columns)


# --- shortfalls -----------------------------------------------------------------------------------------------


def _days_expr(alias: str = "s") -> str:
    # `* 1.0` keeps SQLite from integer division; PostgreSQL computes in numeric either way.
    return f"(({alias}.on_hand - {alias}.reserved) * 1.0 / {alias}.daily_consumption)"


def _severity_expr(alias: str = "s") -> str:
    return (
        f"CASE WHEN {alias}.on_hand - {alias}.reserved <= 0 OR ({alias}.daily_consumption > 0 AND "
        f"{_days_expr(alias)} < {CRITICAL_DAYS}) THEN '{Severity.CRITICAL}' ELSE '{Severity.WARNING}' END"
    )


def _days_or_null(alias: str = "s") -> str:
    return f"CASE WHEN {alias}.daily_consumption > 0 THEN {_days_expr(alias)} END"


BELOW_SAFETY_FINDINGS = f"""
    SELECT s.id AS stock_id, s.nation_id, s.center_id, s.item_id, s.on_hand - s.reserved AS available,
           s.safety_level AS threshold, {_days_or_null()} AS days_of_supply, {_severity_expr()} AS severity, s.shared
    FROM {STOCK} s
    WHERE s.center_id = %(center)s AND s.on_hand - s.reserved < s.safety_level
"""

LOW_DAYS_FINDINGS = f"""
    SELECT s.id AS stock_id, s.nation_id, s.center_id, s.item_id, s.on_hand - s.reserved AS available,
           COALESCE(t.days, %(default_days)s) AS threshold, {_days_expr()} AS days_of_supply,
           {_severity_expr()} AS severity, s.shared
    FROM {STOCK} s
    JOIN {ITEM} i ON i.id = s.item_id
    LEFT JOIN {TARGET} t ON t.nation_id = s.nation_id AND t.supply_class = i.supply_class
    WHERE s.center_id = %(center)s AND s.daily_consumption > 0
      -- available / consumption < target, multiplied out: no division for the stocks that are not short
      AND s.on_hand - s.reserved < COALESCE(t.days, %(default_days)s) * s.daily_consumption
"""


SHORTFALL_FIGURES = ("available", "threshold", "days_of_supply", "severity", "shared")
STOCK_SUBJECT = ("stock_id",)
POOL_SUBJECT = ("center_id", "item_id")  # unmet demand is a flag on a center's pool of an item


# The probe above looks at this center's flags only (so it reads them from the center index). A stock moved here from
# another center (possible while it has no movements) may still hold an open flag there, which the other center's
# pass has not resolved yet: the one-open-flag-per-stock key then takes that flag over, with its center and figures.
# The conflict target repeats the partial unique index's predicate exactly (SQLite requires it).
_TAKE_OVER_MOVED_STOCKS_FLAG = f"""
        ON CONFLICT (kind, stock_id) WHERE (resolved_at IS NULL AND stock_id IS NOT NULL)
        DO UPDATE SET center_id = excluded.center_id, nation_id = excluded.nation_id, item_id = excluded.item_id,
                      {", ".join(f"{c} = excluded.{c}" for c in SHORTFALL_FIGURES)},
                      last_seen = excluded.last_seen, updated_at = excluded.updated_at"""


def _flag_shortfalls(kind: str, findings_sql: str, subject: tuple[str, ...], params: dict) -> int:
    """Raise, update and resolve the center's `kind` shortfalls to match `findings_sql`, which selects the
    subject columns, nation_id, center_id, item_id and the figures; only differences are written."""
    found = _stage(
        f"""
        SELECT f.stock_id, f.nation_id, f.center_id, f.item_id, f.available, f.threshold,
               ROUND(f.days_of_supply, 2) AS days_of_supply, f.severity, f.shared
        FROM ({findings_sql}) f
    """,
        params,
    )
    params = {**params, "kind": kind}
    same_subject = " AND ".join(f"{{flag}}.{c} = f.{c}" for c in subject)
    changed = ", ".join(f"{c} = f.{c}" for c in SHORTFALL_FIGURES)
    _execute(
        f"""
        UPDATE {SHORTFALL} SET {changed}, last_seen = %(now)s, updated_at = %(changed)s
        FROM {FINDINGS} f
        WHERE {SHORTFALL}.center_id = %(center)s AND {SHORTFALL}.kind = %(kind)s
          AND {same_subject.format(flag=SHORTFALL)} AND {SHORTFALL}.resolved_at IS NULL AND ({_distinct(SHORTFALL, SHORTFALL_FIGURES)})
    """,
        params,
    )
    _execute(
        f"""
        INSERT INTO {SHORTFALL} (kind, stock_id, nation_id, center_id, item_id, {", ".join(SHORTFALL_FIGURES)},
                                first_seen, last_seen, updated_at, details)
        SELECT %(kind)s, f.stock_id, f.nation_id, f.center_id, f.item_id,
               {", ".join("f." + c for c in SHORTFALL_FIGURES)}, %(now)s, %(now)s, %(changed)s, '{{}}'
        FROM {FINDINGS} f
        WHERE NOT EXISTS (SELECT 1 FROM {SHORTFALL} o WHERE o.center_id = %(center)s AND o.kind = %(kind)s
                          AND {same_subject.format(flag="o")} AND o.resolved_at IS NULL)
        {_TAKE_OVER_MOVED_STOCKS_FLAG if subject == STOCK_SUBJECT else ""}
    """,
        params,
    )
    _execute(
        f"""
        UPDATE {SHORTFALL} SET resolved_at = %(now)s, updated_at = %(changed)s, last_seen = {_last_sighting(params)}
        WHERE center_id = %(center)s AND kind = %(kind)s AND resolved_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM {FINDINGS} f WHERE {same_subject.format(flag=SHORTFALL)})
    """,
        params,
    )
    return found


def _last_sighting(params: dict) -> str:
    """A resolving shortfall was last seen by the center's previous pass (or when its row was last written)."""
    if params["previous_pass"] is None:
        return "last_seen"
    return "CASE WHEN last_seen < %(previous_pass)s THEN %(previous_pass)s ELSE last_seen END"


# Submitted (not yet approved) demand on this center's pool above what is shared and available there.
UNMET_DEMAND_FINDINGS = f"""
    SELECT CAST(NULL AS BIGINT) AS stock_id, CAST(NULL AS BIGINT) AS nation_id, d.center_id, d.item_id,
           COALESCE(p.shared_available, 0) AS available, d.demand AS threshold,
           CAST(NULL AS NUMERIC) AS days_of_supply,
           CASE WHEN COALESCE(p.shared_available, 0) <= 0 THEN '{Severity.CRITICAL}'
                ELSE '{Severity.WARNING}' END AS severity,
           (1 = 0) AS shared  -- a pool has no shared flag of its own
    FROM (SELECT source_center_id AS center_id, item_id, SUM(quantity_requested) AS demand
          FROM {REQUEST} WHERE source_center_id = %(center)s AND status = '{RequestStatus.SUBMITTED}'
          GROUP BY source_center_id, item_id) d
    LEFT JOIN {POOL} p ON p.center_id = d.center_id AND p.item_id = d.item_id
    WHERE d.demand > COALESCE(p.shared_available, 0)
"""


def _previous_pass(center_id: int):
    return CenterPass.objects.filter(center_id=center_id).values_list("passed_at", flat=True).first()


def _record_pass(center_id: int, now: datetime) -> None:
    CenterPass.objects.update_or_create(center_id=center_id, defaults={"passed_at": now})


# --- one pass -------------------------------------------------------------------------------------------------


def reconcile_center(center_id: int, *, now: datetime) -> CenterFindings:
    """Run every check and shortfall rule at one center, in one transaction under the center's lock.

    `now` must grow from one pass to the next: flags not seen at `now` are resolved."""
    ops = connection.ops  # raw SQL gets values in the backend's own format (SQLite stores text)
    params = {
        "center": center_id,
        "now": ops.adapt_datetimefield_value(now),
        "today": ops.adapt_datefield_value(now.date()),
        **{name: ops.adapt_datetimefield_value(cutoff) for name, cutoff in clocks.cutoffs(now).items()},
        "default_days": settings.DEFAULT_DAYS_OF_SUPPLY_TARGET,
    }
    findings = CenterFindings()
    with transaction.atomic():
        _lock_center(center_id)
        # rows are stamped as changed now, inside the transaction, not at `now` (when the pass began, maybe long
        # before its transaction): a sync cursor never passes a running transaction's start (core/api/pagination.py)
        params["changed"] = ops.adapt_datetimefield_value(timezone.now())
        previous = _previous_pass(center_id)
        params["previous_pass"] = None if previous is None else ops.adapt_datetimefield_value(previous)
        counts = findings.counts
        for kind, sql in (
            (DiscrepancyKind.LEDGER_MISMATCH, LEDGER_FINDINGS),
            (DiscrepancyKind.RESERVATION_MISMATCH, RESERVATION_FINDINGS),
            (DiscrepancyKind.COUNT_MISMATCH, COUNT_FINDINGS),
        ):
            counts[kind] = _upsert_stock_discrepancies(kind, sql, params)
            _resolve_unseen_stock_discrepancies(kind, params)
        for kind in clocks.OVERDUE_KINDS:
            counts[kind] = _overdue_requests(kind, params)
        counts["pool_items"] = _refresh_pool(params)
        for kind, sql, subject in (
            (ShortfallKind.BELOW_SAFETY, BELOW_SAFETY_FINDINGS, STOCK_SUBJECT),
            (ShortfallKind.LOW_DAYS_OF_SUPPLY, LOW_DAYS_FINDINGS, STOCK_SUBJECT),
            (ShortfallKind.UNMET_DEMAND, UNMET_DEMAND_FINDINGS, POOL_SUBJECT),
        ):
            counts[kind] = _flag_shortfalls(kind, sql, subject, params)
        _execute(f"DROP TABLE IF EXISTS {FINDINGS}", {})
        _record_pass(center_id, now)
        findings.new_critical_shortfalls = list(
            Shortfall.objects.filter(center_id=center_id, first_seen=now, severity=Severity.CRITICAL).values_list(
                "id", flat=True
            )
        )
    findings.counts = {str(k): v for k, v in counts.items()}
    return findings
