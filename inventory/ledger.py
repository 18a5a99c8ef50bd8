"""The tamper-evident ledger: every movement carries a SHA-256 hash chained over the previous movement of its stock.

Canonical form (version 1) of a movement, one line of UTF-8 text, fields joined by ``|``::

    alliance-ledger/1|<prev_hash, 64 lowercase hex>|<stock id>|<kind>|<quantity>|<balance_after>
        |<occurred_at>|<recorded_at>|<actor id>|<request id, empty when none>|<reason>

(on one line).  Integers are plain decimal (``-`` when negative); the two times are whole microseconds since
1970-01-01T00:00:00Z.  ``reason`` is the only free text and comes last, so a ``|`` inside it cannot shift a field.

- ``Movement.hash`` = SHA-256 of that line; ``Movement.prev_hash`` = the hash of the previous movement of the same
  stock (by id), or :data:`GENESIS` (32 zero bytes) for its first movement.
- ``Stock.ledger_head`` = the hash of the stock's newest movement (GENESIS while it has none).  It is written with
  the movement under the stock's row lock (``services.post_movement``), so finding the previous hash costs no query,
  and dropping or rewriting the newest movement cannot go unnoticed.

PostgreSQL computes the same line with ``concat_ws`` and ``sha256(convert_to(..., 'UTF8'))`` (:data:`HASH_SQL`), so
verification there is one set-based statement per center; on SQLite (the no-services default) it runs in Python.
Verification reports, per stock, the first broken link:

- ``hash_mismatch``: a movement's fields no longer give its stored hash (it was edited);
- ``broken_link``: a movement's ``prev_hash`` is not the hash of the movement before it (one was deleted, inserted
  or reordered before it);
- ``head_mismatch``: the stock's ``ledger_head`` is not the hash of its newest movement (the newest was deleted,
  or one was appended behind the portal's back).

What it proves: a row changed, removed or added with the SQL of an ordinary write (or with the append-only trigger
disabled) is found.  Someone who rewrites a whole chain consistently, stock head included, is not: for that the
heads must be compared with a copy kept outside the database (``verify_ledger --digest`` prints one value that
covers every head).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import GENESIS, LedgerCheckpoint, LogisticsCenter, Movement, Stock

VERSION = "alliance-ledger/1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

HASH_MISMATCH = "hash_mismatch"
BROKEN_LINK = "broken_link"
HEAD_MISMATCH = "head_mismatch"
PROBLEM_LABELS = {
    HASH_MISMATCH: _("hash mismatch: the movement was changed"),
    BROKEN_LINK: _("broken link: a movement before it was removed or inserted"),
    HEAD_MISMATCH: _("head mismatch: the newest movement was removed or one was added"),
}
# When one stock shows several problems, the first by movement id is reported; on one movement, this order.
_PROBLEM_RANK = {HASH_MISMATCH: 1, BROKEN_LINK: 2, HEAD_MISMATCH: 3}


# --- the canonical form ---------------------------------------------------------------------------------------


def epoch_microseconds(moment: datetime) -> int:
    """Whole microseconds since 1970-01-01 UTC; a naive time is taken in the default zone, as Django stores it."""
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return (moment - _EPOCH) // _MICROSECOND


def canonical_line(
    prev_hex: str,
    stock_id: int,
    kind: str,
    quantity: int,
    balance_after: int,
    occurred_us: int,
    recorded_us: int,
    actor_id: int,
    request_id: int | None,
    reason: str,
) -> str:
    """The canonical form from raw values (times already in microseconds); the bulk writers call this."""
    return (
        f"{VERSION}|{prev_hex}|{stock_id}|{kind}|{quantity}|{balance_after}|{occurred_us}|{recorded_us}|"
        f"{actor_id}|{'' if request_id is None else request_id}|{reason}"
    )


def line_hash(line: str) -> bytes:
    return hashlib.sha256(line.encode("utf-8")).digest()


def canonical_form(movement, prev_hash: bytes | None = None) -> str:
    """The canonical line of a movement (model instance), chained on `prev_hash` (default: its own)."""
    prev = bytes(movement.prev_hash if prev_hash is None else prev_hash)
    kind = getattr(movement.kind, "value", movement.kind)
    return canonical_line(
        prev.hex(),
        movement.stock_id,
        kind,
        movement.quantity,
        movement.balance_after,
        epoch_microseconds(movement.occurred_at),
        epoch_microseconds(movement.recorded_at),
        movement.actor_id,
        movement.request_id,
        movement.reason,
    )


def seal(movement, prev_hash: bytes) -> bytes:
    """Chain a movement not yet written onto `prev_hash`: set its prev_hash and hash; return the hash (the stock's
    new head).  Every field must already hold what will be stored."""
    movement.prev_hash = bytes(prev_hash)
    movement.hash = line_hash(canonical_form(movement))
    return movement.hash


def seal_chain(movements: Iterable, head: bytes) -> bytes:
    """Seal movements of one stock in the order they will be inserted (ids ascending); return the new head."""
    for movement in movements:
        head = seal(movement, head)
    return head


# PostgreSQL's form of canonical_line over a movement row aliased `m`.  concat_ws skips NULLs, so the one nullable
# column is turned into '' first; EXTRACT(EPOCH ...) is numeric (exact) from PostgreSQL 14, Django's minimum.
HASH_SQL = f"""sha256(convert_to(concat_ws('|', '{VERSION}', encode(m.prev_hash, 'hex'), m.stock_id, m.kind,
    m.quantity, m.balance_after, (EXTRACT(EPOCH FROM m.occurred_at) * 1000000)::bigint,
    (EXTRACT(EPOCH FROM m.recorded_at) * 1000000)::bigint, m.actor_id, COALESCE(m.request_id::text, ''),
    m.reason), 'UTF8'))"""


# --- verification -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokenLink:
    """The first broken link of one stock's chain.  `movement_id` is None for a head mismatch of a stock without
    movements; `expected` is what the chain says the stored value should be, `found` what is stored (hex)."""

    stock_id: int
    movement_id: int | None
    problem: str
    expected: str
    found: str

    @property
    def label(self) -> str:
        return str(PROBLEM_LABELS[self.problem])


@dataclass
class LedgerReport:
    """What one verification looked at and found."""

    stocks: int = 0  # stocks whose whole chain and head were verified
    movements: int = 0  # movements re-hashed
    broken: list[BrokenLink] = field(default_factory=list)
    last_movement_id: int = 0  # the newest movement id the verification could see
    seconds: float = 0.0

    def add(self, other: LedgerReport) -> None:
        self.stocks += other.stocks
        self.movements += other.movements
        self.broken.extend(other.broken)
        self.last_movement_id = max(self.last_movement_id, other.last_movement_id)
        self.seconds += other.seconds


_GENESIS_SQL = "'\\x" + GENESIS.hex() + "'::bytea"
# Per stock, its first problem: by movement id, then hash before link before head (stocks without movements last).
_FIRSTS_SQL = """
    firsts AS (
        SELECT DISTINCT ON (stock_id) stock_id, movement_id, problem, expected, found
        FROM problems ORDER BY stock_id, movement_id NULLS LAST, rank
    )"""
_BROKEN_JSON_SQL = """(SELECT COALESCE(json_agg(json_build_array(stock_id, movement_id, problem, encode(expected, 'hex'),
                                                        encode(found, 'hex')) ORDER BY stock_id), '[]')
              FROM firsts)"""


def _chain_problems(chain: str) -> str:
    return f"""
        SELECT stock_id, id AS movement_id, 1 AS rank, '{HASH_MISMATCH}' AS problem, recomputed AS expected,
               hash AS found
        FROM {chain} WHERE hash <> recomputed
        UNION ALL
        SELECT stock_id, id, 2, '{BROKEN_LINK}', COALESCE(before, {_GENESIS_SQL}), prev_hash
        FROM {chain} WHERE prev_hash <> COALESCE(before, {_GENESIS_SQL})"""


def _scoped_sql(scope: str) -> str:
    """One statement (so one snapshot: a movement and the head written with it are seen together) that re-hashes
    the whole chains, and checks the heads, of the stocks `scope` selects (columns id, ledger_head; by center they
    come from an index that carries both).  Each chain is read through the (stock, id) index, stock by stock in id
    order (the window inside the lateral subquery keeps PostgreSQL from turning it into a scan of the whole ledger).
    One row: stocks, movements, newest movement id, broken links (JSON)."""
    return f"""
    WITH heads AS MATERIALIZED (
        SELECT scope.id AS stock_id, scope.ledger_head FROM ({scope}) scope ORDER BY scope.id
    ), chain AS MATERIALIZED (
        SELECT c.* FROM heads h CROSS JOIN LATERAL (
            SELECT m.stock_id, m.id, m.hash, m.prev_hash, LAG(m.hash) OVER (ORDER BY m.id) AS before,
                   LEAD(m.id) OVER (ORDER BY m.id) AS next_id, {HASH_SQL} AS recomputed
            FROM inventory_movement m WHERE m.stock_id = h.stock_id) c
    ), problems AS ({_chain_problems("chain")}
        UNION ALL
        SELECT h.stock_id, newest.id, 3, '{HEAD_MISMATCH}', COALESCE(newest.hash, {_GENESIS_SQL}), h.ledger_head
        FROM heads h LEFT JOIN chain newest ON newest.stock_id = h.stock_id AND newest.next_id IS NULL
        WHERE h.ledger_head <> COALESCE(newest.hash, {_GENESIS_SQL})
    ), {_FIRSTS_SQL}
    SELECT (SELECT COUNT(*) FROM heads), (SELECT COUNT(*) FROM chain),
           (SELECT COALESCE(MAX(id), 0) FROM inventory_movement), {_BROKEN_JSON_SQL}
    """


# Every chain at once: one ordered pass over the whole ledger keeps only the rows that break and each stock's newest
# (for its head), instead of one index scan per stock.
_EVERYTHING_SQL = f"""
    WITH kept AS MATERIALIZED (
        SELECT * FROM (
            SELECT m.stock_id, m.id, m.hash, m.prev_hash, LAG(m.hash) OVER w AS before, LEAD(m.id) OVER w AS next_id,
                   {HASH_SQL} AS recomputed
            FROM inventory_movement m WINDOW w AS (PARTITION BY m.stock_id ORDER BY m.id)) c
        WHERE c.hash <> c.recomputed OR c.prev_hash <> COALESCE(c.before, {_GENESIS_SQL}) OR c.next_id IS NULL
    ), problems AS ({_chain_problems("kept")}
        UNION ALL
        SELECT s.id, newest.id, 3, '{HEAD_MISMATCH}', COALESCE(newest.hash, {_GENESIS_SQL}), s.ledger_head
        FROM inventory_stock s LEFT JOIN kept newest ON newest.stock_id = s.id AND newest.next_id IS NULL
        WHERE s.ledger_head <> COALESCE(newest.hash, {_GENESIS_SQL})
    ), {_FIRSTS_SQL}
    SELECT (SELECT COUNT(*) FROM inventory_stock), (SELECT COUNT(*) FROM inventory_movement),
           (SELECT COALESCE(MAX(id), 0) FROM inventory_movement), {_BROKEN_JSON_SQL}
    """


def _verify_sql(sql: str, params: dict) -> LedgerReport:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        stocks, movements, last_id, broken = cursor.fetchone()
    if isinstance(broken, str):  # a driver that leaves json as text
        broken = json.loads(broken)
    return LedgerReport(
        stocks=stocks, movements=movements, last_movement_id=last_id, broken=[BrokenLink(*row) for row in broken]
    )


def _verify_python(stock_rows: list[tuple[int, bytes]]) -> LedgerReport:
    """The same checks in Python, for SQLite: the chains and heads of `stock_rows`, (id, ledger_head) pairs.  Reads
    each stock's movements in id order; call it inside a transaction, so stocks and movements are one snapshot."""
    report = LedgerReport(stocks=len(stock_rows))
    heads = {stock_id: bytes(head) for stock_id, head in stock_rows}
    first: dict[int, tuple] = {}  # stock -> (movement id, rank, BrokenLink)
    newest: dict[int, tuple[int, bytes]] = {}
    previous: dict[int, bytes] = {}

    def found(link: BrokenLink) -> None:
        key = (link.movement_id if link.movement_id is not None else float("inf"), _PROBLEM_RANK[link.problem])
        if link.stock_id not in first or key < first[link.stock_id][:2]:
            first[link.stock_id] = (*key, link)

    ids = sorted(heads)
    fields = [
        "id",
        "stock_id",
        "kind",
        "quantity",
        "balance_after",
        "occurred_at",
        "recorded_at",
        "actor_id",
        "request_id",
        "reason",
        "prev_hash",
        "hash",
    ]
    for start in range(0, len(ids), 500):  # SQLite limits the parameters of one statement
        batch = ids[start : start + 500]
        rows = Movement.objects.filter(stock_id__in=batch).order_by("stock_id", "id").values_list(*fields)
        for row in rows.iterator(chunk_size=5000):
            movement_id, stock_id = row[0], row[1]
            stored, prev = bytes(row[11]), bytes(row[10])
            newest[stock_id] = (movement_id, stored)
            report.movements += 1
            line = canonical_line(
                prev.hex(),
                stock_id,
                row[2],
                row[3],
                row[4],
                epoch_microseconds(row[5]),
                epoch_microseconds(row[6]),
                row[7],
                row[8],
                row[9],
            )
            recomputed = line_hash(line)
            if recomputed != stored:
                found(BrokenLink(stock_id, movement_id, HASH_MISMATCH, recomputed.hex(), stored.hex()))
            before = previous.get(stock_id, GENESIS)
            if prev != before:
                found(BrokenLink(stock_id, movement_id, BROKEN_LINK, before.hex(), prev.hex()))
            previous[stock_id] = stored
    for stock_id, head in heads.items():
        movement_id, stored = newest.get(stock_id, (None, GENESIS))
        if head != stored:
            found(BrokenLink(stock_id, movement_id, HEAD_MISMATCH, stored.hex(), head.hex()))
    report.broken = [first[stock_id][2] for stock_id in sorted(first)]
    report.last_movement_id = Movement.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return report


def _use_sql(engine: str | None) -> bool:
    if engine not in (None, "sql", "python"):
        raise ValueError(f"unknown verification engine {engine!r}")
    if engine == "sql" and connection.vendor != "postgresql":
        raise ValueError("the SQL verification needs PostgreSQL")
    return engine == "sql" or (engine is None and connection.vendor == "postgresql")


def verify_chains(
    *, center_id: int | None = None, stock_ids: Iterable[int] | None = None, engine: str | None = None
) -> LedgerReport:
    """Verify, completely, the chains and heads of every stock, of the stocks of one center, or of the given stocks
    (each call one snapshot, except the whole ledger in Python, one center at a time).  `engine` forces "sql"
    (PostgreSQL) or "python"; by default SQL on PostgreSQL, Python elsewhere."""
    began = time.perf_counter()
    wanted = None if stock_ids is None else sorted(set(stock_ids))
    if _use_sql(engine) and center_id is None and wanted is None:
        report = _verify_sql(_EVERYTHING_SQL, {})
    elif center_id is None and wanted is None:
        report = LedgerReport()
        for center in LogisticsCenter.objects.order_by("pk").values_list("pk", flat=True):
            report.add(verify_chains(center_id=center, engine=engine))
        report.broken.sort(key=lambda link: link.stock_id)
    elif _use_sql(engine):
        stock_filter = "s.center_id = %(center)s" if center_id is not None else "TRUE"
        if wanted is not None:
            stock_filter += " AND s.id = ANY(%(stocks)s)"
        report = _verify_sql(
            _scoped_sql(f"SELECT s.id, s.ledger_head FROM inventory_stock s WHERE {stock_filter}"),
            {"center": center_id, "stocks": wanted},
        )
    else:
        with transaction.atomic():
            stocks = Stock.objects.all()
            if center_id is not None:
                stocks = stocks.filter(center_id=center_id)
            if wanted is not None:
                stocks = stocks.filter(pk__in=wanted)
            report = _verify_python(list(stocks.order_by("pk").values_list("pk", "ledger_head")))
    report.seconds = time.perf_counter() - began
    return report


# The stocks a run's check covers at a center.  Three sets, not one OR: an IN inside an OR is planned as a subplan,
# re-run for every stock once the new movements outgrow work_mem.  The first check of a center covers all of it.
_RUN_SCOPE = """
        SELECT s.id, s.ledger_head FROM inventory_stock s
        WHERE s.center_id = %(center)s AND MOD(s.id, %(slices)s) = %(slice)s
        UNION
        SELECT s.id, s.ledger_head FROM inventory_stock s WHERE s.center_id = %(center)s AND s.id = ANY(%(recheck)s)
        UNION
        SELECT s.id, s.ledger_head FROM inventory_stock s WHERE s.center_id = %(center)s
            AND s.id IN (SELECT n.stock_id FROM inventory_movement n WHERE n.id > %(through)s)"""
_RUN_SCOPE_FIRST = "SELECT s.id, s.ledger_head FROM inventory_stock s WHERE s.center_id = %(center)s"


def lock_checkpoint(center_id: int):
    """The center's LedgerCheckpoint (created at zero: nothing verified yet), locked until the transaction ends;
    whoever holds it is the one checking that center's ledger."""
    LedgerCheckpoint.objects.get_or_create(center_id=center_id)
    return LedgerCheckpoint.objects.select_for_update().get(center_id=center_id)


def verify_center_for_run(
    center_id: int, *, recheck: Iterable[int] = (), slices: int | None = None, engine: str | None = None
) -> LedgerReport:
    """The ledger check of one center in a reconciliation run: incremental, so a run stays cheap.  It verifies the
    whole chain and the head of

    - every stock with a movement newer than the center's checkpoint (the newest id the last run could see), so a
      movement written, edited or slipped in since then is checked at once;
    - the stocks in `recheck` (those with an open ledger flag, so a flag stays while broken and clears once not);
    - one stock in `slices`, in turn (stock id modulo `slices`; LEDGER_VERIFY_SLICES by default), so any edit,
      deletion or insertion anywhere is found within `slices` runs.

    A movement committed after a later one was seen (ids are taken before commit) is left to the rotation.

    The center's checkpoint row is locked for the check (:func:`lock_checkpoint`), so two runs never check one
    center at once, and then advanced.  ``verify_chains`` (``manage.py verify_ledger``) re-hashes everything."""
    began = time.perf_counter()
    slices = int(settings.LEDGER_VERIFY_SLICES if slices is None else slices)
    if slices < 1:
        raise ValueError("slices must be 1 or more")
    recheck = sorted(set(recheck))
    with transaction.atomic():
        checkpoint = lock_checkpoint(center_id)
        slice_ = checkpoint.passes % slices
        through = checkpoint.verified_through
        if _use_sql(engine):
            report = _verify_sql(
                _scoped_sql(_RUN_SCOPE_FIRST if through == 0 else _RUN_SCOPE),
                {"center": center_id, "slices": slices, "slice": slice_, "recheck": recheck, "through": through},
            )
        else:
            fresh = set(
                Movement.objects.filter(id__gt=through, stock__center_id=center_id).values_list("stock_id", flat=True)
            )
            rechecked = set(recheck)
            stocks = [
                (stock_id, head)
                for stock_id, head in Stock.objects.filter(center_id=center_id)
                .order_by("pk")
                .values_list("pk", "ledger_head")
                if stock_id % slices == slice_ or stock_id in fresh or stock_id in rechecked
            ]
            report = _verify_python(stocks)
        checkpoint.verified_through = max(through, report.last_movement_id)
        checkpoint.passes += 1
        checkpoint.checked_at = timezone.now()
        checkpoint.save()
    report.seconds = time.perf_counter() - began
    return report


def heads_digest(*, center_id: int | None = None) -> tuple[int, str]:
    """(stocks, SHA-256 over every stock's id and head in id order): one value to keep outside the database and
    compare later, since a consistent rewrite of a whole chain and its head is invisible from inside."""
    digest = hashlib.sha256()
    stocks = Stock.objects.order_by("pk")
    if center_id is not None:
        stocks = stocks.filter(center_id=center_id)
    count = 0
    for stock_id, head in stocks.values_list("pk", "ledger_head").iterator(chunk_size=20000):
        digest.update(f"{stock_id}:{bytes(head).hex()}\n".encode())
        count += 1
    return count, digest.hexdigest()
