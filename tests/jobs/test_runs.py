"""Reconciliation runs: who may start one, a run completing in eager mode with its progress and totals, no two
live runs over the same centers, stale runs failed by the next, a center done once per run, the per-center
lock on PostgreSQL, and ``manage.py reconcile``.

Without REDIS_URL Celery is eager: the run's tasks execute in-process when the transaction that queued them
commits.  Inside a test's transaction that commit never happens, so tests that want the run to execute wrap the
start in ``django_capture_on_commit_callbacks(execute=True)``, and tests that want it left unfinished do not.
"""

import hashlib
import io
import threading
from datetime import timedelta
from unittest import mock

import psycopg
import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from coordination import runs, tasks
from coordination.models import (
    CenterReconciliation,
    Discrepancy,
    DiscrepancyKind,
    Notification,
    PoolSummary,
    ReconciliationRun,
    RunStatus,
    Shortfall,
    ShortfallKind,
)
from coordination.reconciliation import CenterBusy, _lock_center, reconcile_center
from inventory.models import Stock

from .conftest import build_world, make_stock, token_client

RUNS = "/api/v1/reconciliations/"


def _tamper(world):
    """One ledger mismatch and one below-safety shortfall at MLC-A, one below-safety shortfall at NAT-B.

    Without a single movement: tests with ``transaction=True`` end with a flush, which on SQLite deletes row
    by row and so trips the ledger's append-only trigger (PostgreSQL truncates)."""
    stock = make_stock(world, 0, safety_level=20)
    Stock.objects.filter(pk=stock.pk).update(on_hand=2)
    make_stock(world, 0, nation=world.ita, center=world.nat_b, safety_level=5)
    return stock


# --- who may start a run ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "center", "expected"),
    [
        ("coordinator", None, 202),
        ("coordinator", "MLC-A", 202),
        ("coordinator", "NAT-B", 202),
        ("mlc_a_operator", "MLC-A", 202),
        ("mlc_a_operator", "NAT-B", 403),  # not their center
        ("mlc_a_operator", None, 403),  # not every center
        ("fra_logistics", None, 403),
        ("fra_logistics", "MLC-A", 403),
        ("deu_liaison", "MLC-A", 403),
        ("no_role", None, 403),
    ],
)
def test_who_may_start_a_run_through_the_api(
    world, as_user, user, center, expected, django_capture_on_commit_callbacks
):
    payload = {"center": center} if center else {}
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(user).post(RUNS, payload, format="json")

    assert response.status_code == expected, response.content
    if expected == 202:
        body = response.json()
        assert (body["center"], body["started_by"], body["trigger"]) == (center, user.replace("_", "-"), "api")
        assert ReconciliationRun.objects.get().status == RunStatus.SUCCEEDED
    else:
        assert response["Content-Type"].startswith("application/problem+json")
        assert not ReconciliationRun.objects.exists()


def test_a_national_system_may_not_start_a_run(world):
    response = token_client(world.users["fra_system"]).post(RUNS, {"center": "MLC-A"}, format="json")
    assert response.status_code == 403
    assert not ReconciliationRun.objects.exists()


def test_anonymous_callers_may_not_start_a_run(world):
    from rest_framework.test import APIClient

    assert APIClient().post(RUNS, {}, format="json").status_code == 401
    assert not ReconciliationRun.objects.exists()


def test_an_unknown_center_is_a_validation_error(world, as_user):
    response = as_user("coordinator").post(RUNS, {"center": "NOWHERE"}, format="json")
    assert response.status_code == 400
    assert "center" in {e["field"] for e in response.json()["errors"]}
    assert not ReconciliationRun.objects.exists()


def test_the_service_refuses_whoever_may_not_start_it(world):
    with pytest.raises(PermissionDenied):
        runs.start_reconciliation(user=world.users["fra_logistics"])
    with pytest.raises(PermissionDenied):
        runs.start_reconciliation(user=world.users["mlc_a_operator"], center=world.nat_b)
    assert not ReconciliationRun.objects.exists()


# --- a run to completion --------------------------------------------------------------------------------------


def test_an_eager_run_completes_every_center_with_its_findings(world, as_user, django_capture_on_commit_callbacks):
    _tamper(world)

    with django_capture_on_commit_callbacks(execute=True):
        response = as_user("coordinator").post(RUNS, {}, format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "queued"  # as recorded when the request answered

    # read by the coordinator: a nation's officers see counts of their own flags only (tests/coordination/test_run_visibility.py)
    body = as_user("coordinator").get(f"{RUNS}{response.json()['id']}/").json()
    assert body["status"] == "succeeded"
    assert body["centers_total"] == body["centers_done"] == 2
    assert body["progress_percent"] == 100
    assert body["started_at"] and body["finished_at"] and body["error"] == ""
    assert body["findings"][DiscrepancyKind.LEDGER_MISMATCH] == 1
    assert body["findings"][ShortfallKind.BELOW_SAFETY] == 2
    assert body["findings"]["pool_items"] == 2

    run = ReconciliationRun.objects.get()
    per_center = {r.center_id: r.findings for r in CenterReconciliation.objects.filter(run=run)}
    assert set(per_center) == {world.mlc_a.pk, world.nat_b.pk}
    totals = {kind: sum(f.get(kind, 0) for f in per_center.values()) for kind in run.findings}
    assert totals == run.findings
    assert per_center[world.nat_b.pk][ShortfallKind.BELOW_SAFETY] == 1


def test_a_one_center_run_reconciles_that_center_only(world, django_capture_on_commit_callbacks):
    _tamper(world)

    with django_capture_on_commit_callbacks(execute=True):
        run = runs.start_reconciliation(user=world.users["mlc_a_operator"], center=world.mlc_a, trigger="browser")
    run.refresh_from_db()

    assert (run.status, run.centers_total, run.centers_done) == (RunStatus.SUCCEEDED, 1, 1)
    assert set(Shortfall.objects.values_list("center__code", flat=True)) == {"MLC-A"}
    assert [r.center_id for r in run.center_results.all()] == [world.mlc_a.pk]


def test_the_scheduled_task_starts_a_run_unless_one_is_going(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run_id = tasks.scheduled_reconciliation.delay().get()
    run = ReconciliationRun.objects.get(pk=run_id)
    assert (run.trigger, run.started_by, run.status) == ("schedule", None, RunStatus.SUCCEEDED)

    ReconciliationRun.objects.create(status=RunStatus.RUNNING, centers_total=2)  # another one is going
    assert tasks.scheduled_reconciliation.delay().get() == 0
    assert ReconciliationRun.objects.count() == 2


# --- no overlapping runs ------------------------------------------------------------------------------------------


def test_a_second_start_while_one_is_unfinished_is_a_409(world, as_user):
    first = as_user("coordinator").post(RUNS, {}, format="json")  # never executed: the test never commits
    assert first.status_code == 202
    assert ReconciliationRun.objects.get().status == RunStatus.QUEUED

    second = as_user("coordinator").post(RUNS, {}, format="json")
    assert second.status_code == 409
    assert second["Content-Type"].startswith("application/problem+json")
    assert second.json()["code"] == "run_in_progress"
    assert f"#{first.json()['id']}" in second.json()["detail"]

    # an alliance-wide run covers every center, so a one-center run overlaps it too
    assert as_user("mlc_a_operator").post(RUNS, {"center": "MLC-A"}, format="json").status_code == 409
    with pytest.raises(runs.RunInProgress):
        runs.start_reconciliation(trigger="schedule")
    assert ReconciliationRun.objects.count() == 1


def test_one_center_runs_overlap_only_on_the_same_center(world, as_user):
    assert as_user("mlc_a_operator").post(RUNS, {"center": "MLC-A"}, format="json").status_code == 202

    assert as_user("coordinator").post(RUNS, {"center": "MLC-A"}, format="json").status_code == 409
    assert as_user("coordinator").post(RUNS, {}, format="json").status_code == 409  # all centers includes MLC-A
    assert as_user("nat_b_operator").post(RUNS, {"center": "NAT-B"}, format="json").status_code == 202
    assert ReconciliationRun.objects.count() == 2


def test_a_finished_run_does_not_block_the_next(world, as_user, django_capture_on_commit_callbacks):
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assert as_user("coordinator").post(RUNS, {}, format="json").status_code == 202
    assert list(ReconciliationRun.objects.values_list("status", flat=True)) == [RunStatus.SUCCEEDED] * 2


# --- runs whose worker died ------------------------------------------------------------------------------------


def _backdate(run, seconds):
    ReconciliationRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(seconds=seconds))


def test_fail_stale_runs_marks_an_old_unfinished_run_failed(world, settings):
    settings.RECONCILE_STALE_SECONDS = 30
    stale_running = ReconciliationRun.objects.create(status=RunStatus.RUNNING, centers_total=2, centers_done=1)
    stale_queued = ReconciliationRun.objects.create(status=RunStatus.QUEUED, centers_total=2)
    fresh = ReconciliationRun.objects.create(status=RunStatus.RUNNING, centers_total=2)
    finished = ReconciliationRun.objects.create(
        status=RunStatus.SUCCEEDED, centers_total=2, centers_done=2, finished_at=timezone.now()
    )
    for run in (stale_running, stale_queued, finished):
        _backdate(run, 60)
    _backdate(fresh, 10)

    assert runs.fail_stale_runs() == 2

    for run in (stale_running, stale_queued):
        run.refresh_from_db()
        assert run.status == RunStatus.FAILED
        assert run.finished_at is not None and "Abandoned" in run.error
    fresh.refresh_from_db()
    finished.refresh_from_db()
    assert (fresh.status, fresh.finished_at) == (RunStatus.RUNNING, None)
    assert (finished.status, finished.error) == (RunStatus.SUCCEEDED, "")
    assert runs.fail_stale_runs() == 0


def test_a_run_that_died_part_way_is_failed_by_the_next_which_completes_the_work(
    world, settings, clock, django_capture_on_commit_callbacks
):
    settings.RECONCILE_STALE_SECONDS = 30
    _tamper(world)
    dead = runs.start_reconciliation(trigger="schedule")  # queued; its on_commit never fires
    assert runs.begin_run(dead.pk) == [world.mlc_a.pk, world.nat_b.pk]
    runs.work_center(dead.pk, world.mlc_a.pk)  # then the worker died
    dead.refresh_from_db()
    assert (dead.status, dead.centers_done) == (RunStatus.RUNNING, 1)

    with pytest.raises(runs.RunInProgress):  # not stale yet
        runs.start_reconciliation(trigger="schedule")

    _backdate(dead, 60)
    with django_capture_on_commit_callbacks(execute=True):
        again = runs.start_reconciliation(trigger="schedule")

    dead.refresh_from_db()
    again.refresh_from_db()
    assert dead.status == RunStatus.FAILED
    assert (again.status, again.centers_done, again.centers_total) == (RunStatus.SUCCEEDED, 2, 2)
    # the same findings as one uninterrupted run: one open flag each, nothing doubled
    assert Discrepancy.objects.filter(kind=DiscrepancyKind.LEDGER_MISMATCH).count() == 1
    assert Shortfall.objects.filter(kind=ShortfallKind.BELOW_SAFETY).count() == 2
    assert again.findings[DiscrepancyKind.LEDGER_MISMATCH] == 1
    assert again.findings[ShortfallKind.BELOW_SAFETY] == 2

    # the dead run's last task, delivered late, finds its run finished and does nothing
    runs.work_center(dead.pk, world.nat_b.pk)
    assert runs.begin_run(dead.pk) is None
    dead.refresh_from_db()
    assert (dead.status, dead.centers_done) == (RunStatus.FAILED, 1)


# --- each center once per run --------------------------------------------------------------------------------


def test_work_center_twice_for_the_same_run_and_center_does_nothing_the_second_time(world):
    _tamper(world)
    run = runs.start_reconciliation(trigger="schedule")
    assert runs.begin_run(run.pk) == [world.mlc_a.pk, world.nat_b.pk]

    with mock.patch("coordination.runs.reconcile_center", wraps=reconcile_center) as pass_:
        runs.work_center(run.pk, world.mlc_a.pk)
        seen = Discrepancy.objects.get().last_seen
        runs.work_center(run.pk, world.mlc_a.pk)  # a redelivered task
    assert pass_.call_count == 1

    assert CenterReconciliation.objects.filter(run=run).count() == 1
    run.refresh_from_db()
    assert (run.status, run.centers_done) == (RunStatus.RUNNING, 1)
    assert Discrepancy.objects.get().last_seen == seen
    assert runs.begin_run(run.pk) == [world.nat_b.pk]  # only what is left

    runs.work_center(run.pk, world.nat_b.pk)
    finished = runs.finish_run(run.pk)
    assert (finished.status, finished.centers_done) == (RunStatus.SUCCEEDED, 2)
    assert runs.finish_run(run.pk).finished_at == finished.finished_at  # finishing twice changes nothing


def test_a_duplicate_delivery_that_finishes_the_center_first_makes_the_other_return_quietly(world):
    make_stock(world, 0, safety_level=5)  # a new critical shortfall: would notify
    run = runs.start_reconciliation(trigger="schedule")
    runs.begin_run(run.pk)

    def duplicate_finishes_meanwhile(center_id, *, now):
        findings = reconcile_center(center_id, now=now)
        # the other delivery of the same task records this center while this one is still working
        CenterReconciliation.objects.create(
            run_id=run.pk, center_id=center_id, findings=findings.counts, started_at=now, finished_at=now
        )
        ReconciliationRun.objects.filter(pk=run.pk).update(centers_done=F("centers_done") + 1)
        return findings

    with mock.patch("coordination.runs.reconcile_center", side_effect=duplicate_finishes_meanwhile):
        runs.work_center(run.pk, world.mlc_a.pk)  # no error

    run.refresh_from_db()
    assert run.centers_done == 1
    assert CenterReconciliation.objects.filter(run=run).count() == 1
    assert not Notification.objects.exists()  # the duplicate does not announce the shortfall a second time


def test_a_center_that_fails_is_recorded_and_the_run_fails(world):
    run = runs.start_reconciliation(trigger="schedule")
    runs.begin_run(run.pk)

    with mock.patch(
        "coordination.runs.reconcile_center",
        side_effect=[RuntimeError("disk full"), mock.DEFAULT],
        wraps=reconcile_center,
    ):
        runs.work_center(run.pk, world.mlc_a.pk)
        runs.work_center(run.pk, world.nat_b.pk)
    finished = runs.finish_run(run.pk)

    assert finished.status == RunStatus.FAILED
    assert f"center {world.mlc_a.pk}: RuntimeError: disk full" in finished.error
    assert finished.centers_done == 2


# --- the per-center lock (PostgreSQL) ----------------------------------------------------------------------------


def _center_lock_key(center_id: int) -> int:
    return int.from_bytes(hashlib.sha256(f"reconcile-center:{center_id}".encode()).digest()[:8], "big", signed=True)


def _other_connection() -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        autocommit=True,
    )


def _nothing_written():
    return not (Discrepancy.objects.exists() or Shortfall.objects.exists() or PoolSummary.objects.exists())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_center_locked_by_another_connection_is_busy_and_nothing_is_written(clock, monkeypatch):
    world = build_world()
    _tamper(world)
    run = runs.start_reconciliation(trigger="schedule")  # committed: runs in-process, eager
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    Discrepancy.objects.all().delete()
    Shortfall.objects.all().delete()
    PoolSummary.objects.all().delete()

    with _other_connection() as other:
        other.execute("SELECT pg_advisory_lock(%s)", [_center_lock_key(world.mlc_a.pk)])

        with pytest.raises(CenterBusy):
            reconcile_center(world.mlc_a.pk, now=clock.tick())
        assert _nothing_written()

        # through a run: the center's work raises (a worker's task retries it later) and records no progress
        busy_run = ReconciliationRun.objects.create(status=RunStatus.RUNNING, centers_total=2, trigger="test")
        with pytest.raises(CenterBusy):
            runs.work_center(busy_run.pk, world.mlc_a.pk)
        assert not CenterReconciliation.objects.filter(run=busy_run).exists()
        assert _nothing_written()
        # in-process (eager) the task waits a bounded while, then records the center as not reconciled
        monkeypatch.setattr(tasks, "EAGER_BUSY_ATTEMPTS", 2)
        tasks.reconcile_center.apply(args=(busy_run.pk, world.mlc_a.pk), throw=True)
        result = CenterReconciliation.objects.get(run=busy_run, center=world.mlc_a)
        assert "busy" in result.error
        assert _nothing_written()

        # another center is not held up
        reconcile_center(world.nat_b.pk, now=clock.tick())
        assert Shortfall.objects.filter(center=world.nat_b).count() == 1

        other.execute("SELECT pg_advisory_unlock(%s)", [_center_lock_key(world.mlc_a.pk)])

    findings = reconcile_center(world.mlc_a.pk, now=clock.tick())
    assert findings.counts[DiscrepancyKind.LEDGER_MISMATCH] == 1
    runs.work_center(busy_run.pk, world.mlc_a.pk)
    assert CenterReconciliation.objects.filter(run=busy_run).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_pass_in_progress_keeps_a_second_pass_off_the_same_center(clock):
    world = build_world()
    _tamper(world)
    holding, release = threading.Event(), threading.Event()
    failure = []

    def first_pass_holding_the_lock():
        try:
            with transaction.atomic():
                _lock_center(world.mlc_a.pk)  # what reconcile_center takes, held until this transaction ends
                holding.set()
                release.wait(30)
        except BaseException as exc:  # reported to the test thread
            failure.append(exc)
            holding.set()
        finally:
            connection.close()

    thread = threading.Thread(target=first_pass_holding_the_lock)
    thread.start()
    try:
        assert holding.wait(30)
        assert not failure
        with pytest.raises(CenterBusy):
            reconcile_center(world.mlc_a.pk, now=clock.tick())
        assert _nothing_written()
    finally:
        release.set()
        thread.join(30)
    assert not failure

    # the lock is per transaction: once the first pass ends, the center is free
    reconcile_center(world.mlc_a.pk, now=clock.tick())
    assert Discrepancy.objects.filter(kind=DiscrepancyKind.LEDGER_MISMATCH).count() == 1


def test_without_postgresql_the_lock_is_a_no_op(world, clock):
    if connection.vendor == "postgresql":
        pytest.skip("on PostgreSQL the lock is real (tested above)")
    with transaction.atomic():
        _lock_center(world.mlc_a.pk)
        reconcile_center(world.mlc_a.pk, now=clock.tick())  # nested in the same transaction: no deadlock


# --- manage.py reconcile -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_manage_reconcile_wait_shows_a_progress_bar_and_the_summary():
    world = build_world()
    _tamper(world)
    out = io.StringIO()

    call_command("reconcile", "--wait", stdout=out)

    run = ReconciliationRun.objects.get()
    text = out.getvalue()
    assert f"Reconciliation #{run.pk} queued (2 center(s))." in text
    assert "[" + "#" * 30 + "] 2/2 succeeded" in text
    summary = text.strip().splitlines()[-1]
    assert summary.startswith(f"#{run.pk} succeeded in ")
    assert "ledger_mismatch 1" in summary and "below_safety 2" in summary
    assert (run.trigger, run.started_by, run.status) == ("command", None, RunStatus.SUCCEEDED)


@pytest.mark.django_db(transaction=True)
def test_manage_reconcile_one_center_by_code():
    world = build_world()
    _tamper(world)
    out = io.StringIO()

    call_command("reconcile", "--center", "mlc-a", "--wait", stdout=out)

    run = ReconciliationRun.objects.get()
    assert run.center == world.mlc_a and run.status == RunStatus.SUCCEEDED
    assert "1/1 succeeded" in out.getvalue()
    assert not Shortfall.objects.filter(center=world.nat_b).exists()


def test_manage_reconcile_with_an_unknown_center_is_an_error(world):
    with pytest.raises(CommandError, match="No logistics center 'UNKNOWN'"):
        call_command("reconcile", "--center", "UNKNOWN", stdout=io.StringIO())
    assert not ReconciliationRun.objects.exists()


def test_manage_reconcile_refuses_while_a_run_is_going(world):
    ReconciliationRun.objects.create(status=RunStatus.RUNNING, centers_total=2)
    with pytest.raises(CommandError, match="still running"):
        call_command("reconcile", stdout=io.StringIO())
    assert ReconciliationRun.objects.count() == 1


def test_manage_reconcile_wait_gives_up_after_its_timeout(world):
    out = io.StringIO()
    # inside the test's transaction the queued run never starts
    with pytest.raises(CommandError, match="did not finish within 0 s \\(still queued\\)"):
        call_command("reconcile", "--wait", "--timeout", "0", stdout=out)
    assert "0/2 queued" in out.getvalue()
