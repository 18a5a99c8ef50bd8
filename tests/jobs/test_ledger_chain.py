"""The tamper-evident ledger (inventory/ledger.py): every writer leaves chains that verify; an edit made behind the
portal's back (raw SQL with the append-only trigger disabled) is found by ``manage.py verify_ledger`` and by a
reconciliation run, at the right first broken link; the run's check is incremental but covers new movements and
every head each run and every old movement within LEDGER_VERIFY_SLICES runs; concurrent writers still make one
valid chain.

Tests without a ``postgres`` mark run on whatever database the suite uses (on SQLite verification runs in
Python); on PostgreSQL they run both the set-based SQL check and the Python one, which must agree.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import threading
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, connections, transaction
from django.urls import reverse
from django.utils import timezone

from coordination import runs, services
from coordination.models import Discrepancy, DiscrepancyKind, DiscrepancyResolution, ReconciliationRun, Severity
from inventory import ledger
from inventory.ledger import BROKEN_LINK, GENESIS, HASH_MISMATCH, HEAD_MISMATCH
from inventory.models import LedgerCheckpoint, Movement, MovementKind, Stock
from inventory.services import issue_stock, lock_stock, post_movement, receive_stock, record_stock_report
from portal.management.commands.generate_scale import ScaleSpec, generate_scale
from tests.factories import stock_with

from .conftest import build_world, fuel_request, make_stock, move, session_client

APPEND_ONLY = importlib.import_module("inventory.migrations.0003_movement_append_only")
FILL = importlib.import_module("inventory.migrations.0008_ledger_hash_chain_fill")
KIND = DiscrepancyKind.LEDGER_CHAIN


def engines() -> list[str | None]:
    """The default engine, and on PostgreSQL the Python one as well."""
    return [None, "python"] if connection.vendor == "postgresql" else [None]


def broken(report) -> list[tuple[int, int | None, str]]:
    return [(link.stock_id, link.movement_id, link.problem) for link in report.broken]


def assert_clean(**scope) -> ledger.LedgerReport:
    for engine in engines():
        report = ledger.verify_chains(engine=engine, **scope)
        assert report.broken == [], (engine, report.broken)
    return report


@contextmanager
def append_only_lifted():
    """What an intruder with the table owner's rights does first: lift the append-only trigger (re-installed
    after).  PostgreSQL: disabled within the test's transaction; SQLite: dropped and created again."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending foreign-key checks may block ALTER TABLE
            cursor.execute("ALTER TABLE inventory_movement DISABLE TRIGGER inventory_movement_append_only")
        else:
            for statement in APPEND_ONLY.SQLITE_REMOVE:
                cursor.execute(statement)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("ALTER TABLE inventory_movement ENABLE TRIGGER inventory_movement_append_only")
            else:
                for statement in APPEND_ONLY.SQLITE_INSTALL:
                    cursor.execute(statement)


def raw(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@pytest.fixture
def reconcile(django_capture_on_commit_callbacks):
    """``reconcile(center=None)``: one run, executed in-process now (eager Celery, on-commit callbacks run)."""

    def run_once(center=None) -> ReconciliationRun:
        with django_capture_on_commit_callbacks(execute=True):
            run = runs.start_reconciliation(center=center, trigger="command")
        run.refresh_from_db()
        assert run.status == "succeeded", run.error
        return run

    return run_once


@pytest.fixture
def ledger_world(world):
    """FRA's fuel at MLC-A with four movements (a receipt, two issues, a receipt), and two other stocks."""
    stock = make_stock(world, 100, item=world.fuel)
    move(world, stock, -10)
    move(world, stock, -20)
    move(world, stock, 5)
    ids = list(stock.movements.order_by("id").values_list("id", flat=True))
    other = make_stock(world, 7, nation=world.deu, item=world.fuel)
    far = make_stock(world, 3, nation=world.ita, center=world.nat_b, item=world.rations)
    return SimpleNamespace(world=world, stock=stock, ids=ids, other=other, far=far)


# --- the canonical form ---------------------------------------------------------------------------------------


def test_the_canonical_form_of_version_1_is_pinned():
    """Stored hashes depend on this exact text: changing it needs a new version, never an edit."""
    movement = Movement(
        stock_id=7,
        kind=MovementKind.ISSUE,
        quantity=-3,
        balance_after=12,
        actor_id=5,
        request_id=None,
        occurred_at=dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC),
        recorded_at=dt.datetime(2026, 1, 2, 3, 4, 6, tzinfo=dt.UTC),
        reason="a|b é",
    )
    line = ledger.canonical_form(movement, GENESIS)
    assert line == ("alliance-ledger/1|" + "0" * 64 + "|7|issue|-3|12|1767323045123456|1767323046000000|5||a|b é")
    sealed = ledger.seal(movement, GENESIS)
    assert sealed == movement.hash == hashlib.sha256(line.encode("utf-8")).digest()
    assert movement.prev_hash == GENESIS
    # the previous hash and the request enter the form
    movement.request_id = 42
    assert ledger.canonical_form(movement, sealed).startswith(f"alliance-ledger/1|{sealed.hex()}|7|")
    assert ledger.canonical_form(movement, sealed).endswith("|5|42|a|b é")


def test_a_naive_time_is_read_in_the_default_zone_as_django_stores_it():
    aware = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    assert ledger.epoch_microseconds(aware.replace(tzinfo=None)) == ledger.epoch_microseconds(aware)
    assert ledger.epoch_microseconds(dt.datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=dt.UTC)) == 1


@pytest.mark.postgres
def test_postgresql_computes_the_same_hash_as_python(world):
    """The set-based check is only sound if both sides build the same line: awkward text, signs, microseconds."""
    stock = make_stock(world, 50, item=world.fuel)
    odd = "Ré-éxpédié | \\x00 'quoted' \"double\" \n newline ✈️ %s %(x)s"
    with transaction.atomic():
        post_movement(
            stock=lock_stock(stock.pk),
            kind=MovementKind.ADJUSTMENT,
            quantity=-7,
            actor=world.seeder,
            reason=odd,
            occurred_at=dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
        )
    request = fuel_request(world)
    with transaction.atomic():
        post_movement(
            stock=lock_stock(stock.pk),
            kind=MovementKind.TRANSFER_IN,
            quantity=3,
            actor=world.seeder,
            request=request,
            reason="",
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT m.id, m.hash, {ledger.HASH_SQL} FROM inventory_movement m WHERE m.stock_id = %s", [stock.pk]
        )
        rows = cursor.fetchall()
    assert len(rows) == 3
    for movement_id, stored, computed in rows:
        assert bytes(stored) == bytes(computed), movement_id
    assert Movement.objects.filter(stock=stock, reason=odd).exists()
    assert_clean(stock_ids=[stock.pk])


# --- every writer makes chains that verify ----------------------------------------------------------------------


def test_post_movement_chains_each_movement_on_the_stocks_head(ledger_world):
    stock = Stock.objects.get(pk=ledger_world.stock.pk)
    chain = list(stock.movements.order_by("id").values_list("prev_hash", "hash"))
    assert bytes(chain[0][0]) == GENESIS
    for (_, before), (prev, _) in zip(chain, chain[1:], strict=False):
        assert bytes(prev) == bytes(before)
    assert bytes(stock.ledger_head) == bytes(chain[-1][1])
    report = assert_clean()
    assert report.stocks == 3 and report.movements == 6


def test_the_request_lifecycle_and_a_settled_count_leave_valid_chains(world):
    supplier = make_stock(world, 100, nation=world.deu, item=world.fuel)
    request = fuel_request(world, 30)
    services.approve_request(request=request, approver=world.users["deu_liaison"])
    services.dispatch_request(request=request, actor=world.users["deu_logistics"])
    services.receive_request(request=request, actor=world.users["fra_logistics"], quantity=25)  # short receipt
    issue_stock(stock=supplier, quantity=5, actor=world.users["deu_logistics"])
    receive_stock(stock=supplier, quantity=9, actor=world.users["deu_logistics"])
    receiver = Stock.objects.get(nation=world.fra, center=world.mlc_a, item=world.fuel)
    assert receiver.movements.count() == 1 and supplier.movements.count() == 4
    assert_clean()


def test_a_bulk_stock_report_creates_stocks_whose_empty_chains_verify(world):
    record_stock_report(
        nation=world.fra,
        center=world.mlc_a,
        submitted_by=world.users["fra_logistics"],
        lines=[{"nsn": world.fuel.nsn, "quantity": 12}, {"nsn": world.rations.nsn, "quantity": 0}],
    )
    stocks = Stock.objects.filter(nation=world.fra, center=world.mlc_a)
    assert stocks.count() == 2 and all(bytes(s.ledger_head) == GENESIS for s in stocks)
    assert assert_clean().stocks == 2


def test_the_test_factories_chain_like_the_service(db):
    stock = stock_with(25)
    assert bytes(stock.ledger_head) == bytes(stock.movements.get().hash)
    assert_clean(stock_ids=[stock.pk])


def test_seed_demo_writes_chains_that_verify(db):
    call_command("seed_demo", verbosity=0, password="demo-password-for-tests")
    report = assert_clean()
    assert report.movements == Movement.objects.count() > 1000
    assert report.stocks == Stock.objects.count()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_generate_scale_chains_everything_except_its_deliberate_breaks(reconcile):
    summary = generate_scale(ScaleSpec(seed=5, nations=5, centers=4, items=200, stocks=2000, movements=6000))
    expected = sorted(summary.ledger_chain_breaks)
    assert {problem for _, _, problem in expected} == {HASH_MISMATCH, BROKEN_LINK, HEAD_MISMATCH}
    for engine in engines():
        report = ledger.verify_chains(engine=engine)
        assert broken(report) == expected, engine
        assert report.movements == summary.movements and report.stocks == summary.stocks
    # a reconciliation run flags exactly those stocks
    run = reconcile()
    assert run.findings[KIND] == len(expected)
    flagged = Discrepancy.objects.filter(kind=KIND, resolved_at__isnull=True)
    assert sorted((d.stock_id, d.details["movement_id"], d.details["problem"]) for d in flagged) == expected


def test_the_data_migration_chains_movements_written_before_it(ledger_world):
    """0008 computes the chains of existing movements and the heads of their stocks (here after wiping them)."""
    with append_only_lifted():
        raw("UPDATE inventory_movement SET prev_hash = %s, hash = %s", [GENESIS, GENESIS])
    raw("UPDATE inventory_stock SET ledger_head = %s", [GENESIS])
    assert ledger.verify_chains().broken  # wiped: broken

    schema_editor = SimpleNamespace(
        connection=connection, execute=lambda sql, params=(): connection.cursor().execute(sql, params)
    )
    FILL.fill(django_apps, schema_editor)

    assert_clean()
    # and the trigger is back: the ledger is append-only again
    with pytest.raises(IntegrityError), transaction.atomic():
        Movement.objects.filter(pk=ledger_world.ids[0]).update(reason="rewritten")


# --- the database refuses a movement without its seal ---------------------------------------------------------


def test_the_database_refuses_a_movement_without_a_sha256_seal(ledger_world):
    stock = ledger_world.stock
    base = dict(
        stock=stock,
        kind=MovementKind.RECEIPT,
        quantity=1,
        balance_after=76,
        actor=ledger_world.world.seeder,
        occurred_at=timezone.now(),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Movement.objects.bulk_create([Movement(**base)])  # never sealed: empty hashes
    short = Movement(**base)
    ledger.seal(short, stock.ledger_head)
    short.hash = short.hash[:16]
    with pytest.raises(IntegrityError), transaction.atomic():
        Movement.objects.bulk_create([short])
    with pytest.raises(IntegrityError), transaction.atomic():
        Stock.objects.filter(pk=stock.pk).update(ledger_head=b"\x01" * 31)
    sealed = Movement(**base)
    ledger.seal(sealed, stock.ledger_head)
    Movement.objects.bulk_create([sealed])  # the neighbour that is accepted


# --- tampering behind the portal's back -----------------------------------------------------------------------


def _forge(lw, *, valid: bool) -> int:
    """Append a movement by hand: sealed correctly on the head (but the head not moved), or with a made-up hash."""
    stock = Stock.objects.get(pk=lw.stock.pk)
    forged = Movement(
        stock=stock,
        kind=MovementKind.RECEIPT,
        quantity=500,
        balance_after=575,
        actor=lw.world.seeder,
        occurred_at=timezone.now(),
        reason="found stock",
    )
    ledger.seal(forged, stock.ledger_head)
    if not valid:
        forged.hash = hashlib.sha256(b"made up").digest()
    Movement.objects.bulk_create([forged])
    return forged.pk


def _rehash_edit(lw) -> None:
    """Edit the second movement and give it the hash of its new content (but not the rest of the chain)."""
    movement = Movement.objects.get(pk=lw.ids[1])
    movement.reason = "issued to the right unit"
    ledger.seal(movement, movement.prev_hash)
    raw(
        "UPDATE inventory_movement SET reason = %s, hash = %s WHERE id = %s",
        [movement.reason, movement.hash, movement.pk],
    )


TAMPERING = {
    # name: (what the intruder does, (index of the movement reported or a callable, problem))
    "quantity-changed": (
        lambda lw: raw(
            "UPDATE inventory_movement SET quantity = quantity - 5, balance_after = balance_after - 5 WHERE id = %s",
            [lw.ids[1]],
        ),
        lambda lw, result: (lw.ids[1], HASH_MISMATCH),
    ),
    "middle-movement-deleted": (
        lambda lw: raw("DELETE FROM inventory_movement WHERE id = %s", [lw.ids[1]]),
        lambda lw, result: (lw.ids[2], BROKEN_LINK),
    ),
    "first-movement-deleted": (
        lambda lw: raw("DELETE FROM inventory_movement WHERE id = %s", [lw.ids[0]]),
        lambda lw, result: (lw.ids[1], BROKEN_LINK),
    ),
    "last-movement-deleted": (
        lambda lw: raw("DELETE FROM inventory_movement WHERE id = %s", [lw.ids[3]]),
        lambda lw, result: (lw.ids[2], HEAD_MISMATCH),
    ),
    "forged-movement-with-a-valid-seal": (
        lambda lw: _forge(lw, valid=True),
        lambda lw, result: (result, HEAD_MISMATCH),
    ),
    "forged-movement-with-a-made-up-hash": (
        lambda lw: _forge(lw, valid=False),
        lambda lw, result: (result, HASH_MISMATCH),
    ),
    "edited-and-rehashed-movement": (lambda lw: _rehash_edit(lw), lambda lw, result: (lw.ids[2], BROKEN_LINK)),
    "stock-head-rewritten": (
        lambda lw: Stock.objects.filter(pk=lw.stock.pk).update(ledger_head=GENESIS),
        lambda lw, result: (lw.ids[3], HEAD_MISMATCH),
    ),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_is_found_by_verify_ledger_and_by_a_run_at_the_first_broken_link(
    ledger_world, settings, reconcile, case
):
    lw = ledger_world
    settings.LEDGER_VERIFY_SLICES = 1  # every chain re-hashed by every run (the rotation is tested below)
    first = reconcile()  # before: clean, and the checkpoint now covers every movement
    assert first.findings[KIND] == 0

    tamper, where = TAMPERING[case]
    with append_only_lifted():
        result = tamper(lw)
    movement_id, problem = where(lw, result)

    for engine in engines():
        assert broken(ledger.verify_chains(engine=engine)) == [(lw.stock.pk, movement_id, problem)], engine

    out = _verify_ledger_output(expect_exit=1)
    assert f"stock {lw.stock.pk}, movement {movement_id}: {problem}" in out
    assert "1 broken chains" in out and "3 stocks" in out

    run = reconcile()
    assert run.findings[KIND] == 1
    flag = Discrepancy.objects.get(kind=KIND, resolved_at__isnull=True)
    assert flag.stock_id == lw.stock.pk and flag.severity == Severity.CRITICAL
    assert flag.details["movement_id"] == movement_id and flag.details["problem"] == problem


def _verify_ledger_output(*args, expect_exit: int | None = None) -> str:
    from io import StringIO

    out = StringIO()
    if expect_exit is None:
        call_command("verify_ledger", *args, stdout=out)
    else:
        with pytest.raises(CommandError) as error:
            call_command("verify_ledger", *args, stdout=out)
        assert error.value.returncode == expect_exit, out.getvalue()
    return out.getvalue()


def test_only_the_broken_stock_is_reported_and_each_stock_once(ledger_world):
    lw = ledger_world
    with append_only_lifted():
        raw("UPDATE inventory_movement SET reason = 'x' WHERE id IN (%s, %s)", [lw.ids[1], lw.ids[2]])
        raw("DELETE FROM inventory_movement WHERE id = %s", [lw.ids[3]])
    # three problems on one stock: the first by movement id is reported
    assert broken(ledger.verify_chains()) == [(lw.stock.pk, lw.ids[1], HASH_MISMATCH)]
    assert_clean(stock_ids=[lw.other.pk, lw.far.pk])


def test_a_consistent_rewrite_of_a_whole_chain_is_invisible_inside_but_changes_the_heads_digest(ledger_world):
    """The limit of a hash chain kept in the same database, and the answer: a digest of the heads kept outside."""
    lw = ledger_world
    before = _verify_ledger_output("--digest")
    forged_id = _forge(lw, valid=True)
    Stock.objects.filter(pk=lw.stock.pk).update(ledger_head=Movement.objects.get(pk=forged_id).hash)
    after = _verify_ledger_output("--digest")
    assert "0 broken chains" in after
    digest = [line for line in before.splitlines() if line.startswith("heads digest")]
    assert digest and digest[0] not in after


# --- verify_ledger's arguments ----------------------------------------------------------------------------------


def test_verify_ledger_by_center_and_by_stock(ledger_world):
    lw = ledger_world
    with append_only_lifted():
        raw("UPDATE inventory_movement SET reason = 'x' WHERE id = %s", [lw.ids[0]])
    out = _verify_ledger_output("--center", "NAT-B")
    assert "verify_ledger: 1 stocks, 1 movements re-hashed, 0 broken chains" in out
    out = _verify_ledger_output("--center", "MLC-A", expect_exit=1)
    assert f"stock {lw.stock.pk}, movement {lw.ids[0]}: hash_mismatch" in out and "2 stocks" in out
    out = _verify_ledger_output("--stock", str(lw.other.pk))
    assert "1 stocks, 1 movements re-hashed, 0 broken chains" in out
    out = _verify_ledger_output("--stock", str(lw.other.pk), "--stock", str(lw.stock.pk), expect_exit=1)
    assert "2 stocks, 5 movements re-hashed, 1 broken chains (hash_mismatch 1)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--center", "NOWHERE"], "No logistics center with code 'NOWHERE'"),
        (["--stock", "999999"], "No stock with id 999999"),
        (["--center", "NAT-B", "--stock", "{stock}"], "No stock with id {stock} at NAT-B"),
        (["--stock", "{stock}", "--digest"], "--digest covers a whole center or the whole ledger"),
    ],
)
def test_verify_ledger_refuses_an_unknown_center_or_stock(ledger_world, args, message):
    stock = ledger_world.stock.pk
    with pytest.raises(CommandError, match=message.format(stock=stock)) as error:
        call_command("verify_ledger", *[a.format(stock=stock) for a in args])
    assert error.value.returncode == 2


# --- the run's incremental check ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tamper", "where"),
    [
        pytest.param(
            "UPDATE inventory_movement SET reason = 'rewritten' WHERE id = %s",
            (1, HASH_MISMATCH),
            id="old-movement-edited",
        ),
        pytest.param("DELETE FROM inventory_movement WHERE id = %s", (2, HEAD_MISMATCH), id="newest-deleted"),
    ],
)
def test_an_old_chain_broken_is_found_when_its_slice_comes_and_then_kept(
    ledger_world, settings, reconcile, tamper, where
):
    lw = ledger_world
    settings.LEDGER_VERIFY_SLICES = 4
    reconcile()  # pass 0 of each center: no checkpoint yet, so everything is verified
    target = {HASH_MISMATCH: lw.ids[1], HEAD_MISMATCH: lw.ids[3]}[where[1]]
    with append_only_lifted():
        raw(tamper, [target])

    found_at = []
    for _ in range(4):  # passes 1..4 re-hash slices 1, 2, 3, 0 of the center
        run = reconcile()
        found_at.append(run.findings[KIND])
    due = (lw.stock.pk % 4 - 1) % 4  # the index of the pass whose slice holds the stock
    assert found_at == [0] * due + [1] * (4 - due)  # found when its slice comes, then re-checked every run
    flag = Discrepancy.objects.get(kind=KIND, resolved_at__isnull=True)
    assert (flag.details["movement_id"], flag.details["problem"]) == (lw.ids[where[0]], where[1])
    assert LedgerCheckpoint.objects.get(center=lw.world.mlc_a).passes == 5


def test_new_movements_are_checked_by_the_next_run_whatever_the_slice(ledger_world, settings, reconcile):
    lw = ledger_world
    settings.LEDGER_VERIFY_SLICES = 1000  # no rotation to speak of
    reconcile()
    checkpoint = LedgerCheckpoint.objects.get(center=lw.world.mlc_a)
    assert checkpoint.verified_through == Movement.objects.latest("id").pk

    fresh = move(lw.world, lw.other, 4)  # written after the checkpoint, edited before the next run
    forged = _forge(lw, valid=True)  # slipped in after the checkpoint (the head not moved)
    with append_only_lifted():
        raw("UPDATE inventory_movement SET quantity = 40, balance_after = 47 WHERE id = %s", [fresh.pk])
    run = reconcile()
    assert run.findings[KIND] == 2
    problems = {
        d.stock_id: (d.details["movement_id"], d.details["problem"]) for d in Discrepancy.objects.filter(kind=KIND)
    }
    assert problems == {lw.other.pk: (fresh.pk, HASH_MISMATCH), lw.stock.pk: (forged, HEAD_MISMATCH)}
    assert LedgerCheckpoint.objects.get(center=lw.world.mlc_a).verified_through == forged


def test_a_ledger_flag_is_kept_while_broken_acknowledged_by_its_nation_and_cleared_once_repaired(
    ledger_world, settings, reconcile
):
    lw = ledger_world
    settings.LEDGER_VERIFY_SLICES = 1000  # the flagged stock is re-checked whatever the slice
    reconcile()
    original = Movement.objects.get(pk=lw.ids[2]).quantity
    with append_only_lifted():
        raw("UPDATE inventory_movement SET quantity = -1 WHERE id = %s", [lw.ids[2]])
    settings.LEDGER_VERIFY_SLICES = 1
    reconcile()
    flag = Discrepancy.objects.get(kind=KIND)
    first_seen = flag.first_seen
    assert flag.stock.nation == lw.world.fra and flag.expected is None and flag.actual is None

    response = session_client(lw.world.users["fra_logistics"]).post(
        f"/api/v1/discrepancies/{flag.pk}/acknowledge/", format="json"
    )
    assert response.status_code == 200, response.content
    page = session_client(lw.world.users["fra_logistics"]).get(reverse("discrepancy-list")).content.decode()
    assert "Ledger hash chain broken" in page
    assert f"movement #{lw.ids[2]}: hash mismatch: the movement was changed" in page

    settings.LEDGER_VERIFY_SLICES = 1000
    run = reconcile()  # still broken: seen again, still acknowledged
    flag.refresh_from_db()
    assert run.findings[KIND] == 1 and flag.resolved_at is None
    assert flag.first_seen == first_seen and flag.last_seen > first_seen and flag.acknowledged_at is not None

    with append_only_lifted():  # the movement restored from a backup
        raw("UPDATE inventory_movement SET quantity = %s WHERE id = %s", [original, lw.ids[2]])
    run = reconcile()
    flag.refresh_from_db()
    assert run.findings[KIND] == 0
    assert flag.resolved_at is not None and flag.resolution == DiscrepancyResolution.CLEARED
    assert_clean()


def test_a_run_for_one_center_checks_only_that_centers_ledger(ledger_world, reconcile):
    lw = ledger_world
    with append_only_lifted():
        raw("UPDATE inventory_movement SET reason = 'x' WHERE stock_id = %s", [lw.far.pk])
    assert reconcile(center=lw.world.mlc_a).findings[KIND] == 0
    assert reconcile(center=lw.world.nat_b).findings[KIND] == 1


# --- concurrency ----------------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_on_one_stock_make_one_valid_chain(reconcile):
    """Threads, each on its own connection, post to one stock at once: the row lock orders them, each movement is
    chained on the one committed before it, and the result verifies."""
    world = build_world()
    stock = make_stock(world, 1000, item=world.fuel)
    actor = world.users["fra_logistics"]
    threads, per_thread, errors = 6, 5, []
    start = threading.Barrier(threads)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                if (n + i) % 2:
                    receive_stock(stock=stock, quantity=3, actor=actor, reason=f"thread {n} #{i}")
                else:
                    issue_stock(stock=stock, quantity=2, actor=actor, reason=f"thread {n} #{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert errors == []
    stock.refresh_from_db()
    movements = list(stock.movements.order_by("id"))
    assert len(movements) == 1 + threads * per_thread
    assert stock.on_hand == sum(m.quantity for m in movements) == movements[-1].balance_after
    assert_clean()
    assert reconcile().findings[KIND] == 0
