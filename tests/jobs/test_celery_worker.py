"""A real Celery worker (prefork, 2 processes) on the real Redis broker executes reconciliation runs started through
the API, and a worker killed in the middle of a run leaves a run that the next run marks failed and that running
again completes with the findings of an uninterrupted run.

The worker is a subprocess (``celery -A config worker``) on the test database and on a queue of the test's own in
the Redis database reserved for these tests (REDIS_DB; other sessions on the machine may run the same tests at the
same time, hence the queue), to which this process sends.  The data are a small
``generate_scale`` data set, which holds deliberate inconsistencies of every kind.  What a run should find is
computed here directly (every center reconciled in one transaction that is then rolled back), so the comparison
is with an uninterrupted pass on the same data.  Every wait is bounded; every worker's process group is killed
when its test ends, however it ends.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlparse, urlunparse

import pytest
import redis
from django.db import connection, transaction
from django.utils import timezone
from kombu import pools as kombu_pools
from rest_framework.test import APIClient

from config.celery import app as celery_app
from coordination.ledger_check import check_center_ledger
from coordination.models import CenterReconciliation, Discrepancy, ReconciliationRun, RunStatus, Shortfall
from coordination.reconciliation import reconcile_center
from inventory.models import LogisticsCenter
from nations import access
from nations.roles import Role
from portal.management.commands.generate_scale import ScaleSpec, generate_scale
from tests.conftest import redis_url
from tests.factories import UserFactory

# xdist_group: the tests that start Celery workers share Redis database 8, so they run on one xdist worker
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("celery-broker"),
]

ROOT = Path(__file__).resolve().parents[2]
VENV_CELERY = ROOT / ".venv" / "bin" / "celery"
CELERY = [str(VENV_CELERY)] if VENV_CELERY.exists() else [sys.executable, "-m", "celery"]
REDIS_DB = 8  # the Redis database for the tests that start Celery workers (each on a queue of its own)
RUNS = "/api/v1/reconciliations/"
FINISHED = {RunStatus.SUCCEEDED, RunStatus.FAILED}
# Six centers with data: enough for a run to be caught half-way when each pass is held open for HOLD_SECONDS.
SCALE = dict(nations=5, centers=6, items=100, stocks=1500, movements=4500, seed=8)
HOLD_SECONDS = 2.5
STALE_SECONDS = 2
RUN_TIMEOUT = 60  # seconds a run may take from the API call to its end
READY_TIMEOUT = 60  # seconds a worker may take to start


# --- broker and worker ------------------------------------------------------------------------------------------


def _reconfigure_celery(**conf) -> None:
    """Point this process's Celery app at other settings.  The app caches its broker connection pool, producer pool
    and result backend on first use, so those are dropped too (as Celery and kombu themselves do after a fork)."""
    celery_app.conf.update(**conf)
    kombu_pools.reset()  # closes and forgets the pooled broker connections and producers
    celery_app._after_fork()  # the app forgets its references to them
    celery_app._backend_cache = None
    celery_app._local.__dict__.pop("backend", None)


@dataclass
class Broker:
    url: str
    queue: str  # this test's own queue
    client: redis.Redis

    def queued(self) -> int:
        return self.client.llen(self.queue)

    def unacknowledged(self) -> int:
        """Messages of this queue delivered to a worker and not acknowledged yet (kombu keeps those of every queue
        of the database in one hash, each as [message, exchange, routing key])."""
        return sum(1 for raw in self.client.hvals("unacked") if json.loads(raw)[2] == self.queue)


@pytest.fixture
def broker(settings) -> Iterator[Broker]:
    """Redis database REDIS_DB as the broker and result backend of this process, with a queue of this test's own
    (the API's ``delay`` goes there instead of running in-process); the previous configuration afterwards."""
    url = urlunparse(urlparse(redis_url())._replace(path=f"/{REDIS_DB}"))
    queue = f"test-worker-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(url)
    saved = {key: celery_app.conf[key] for key in ("broker_url", "result_backend", "task_always_eager",
                                                   "task_default_queue")}  # fmt: skip
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = url
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    _reconfigure_celery(broker_url=url, result_backend=url, task_always_eager=False, task_default_queue=queue)
    try:
        yield Broker(url, queue, client)
    finally:
        _reconfigure_celery(**saved)
        client.delete(queue)
        client.close()


def _test_database_url() -> str:
    """The test database (pytest-django's test_<name>) as a URL, for the worker subprocess."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{host}{port}/{db['NAME']}"


@dataclass
class Worker:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool processes, with no warm shutdown."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def _die_with_parent() -> None:
    """In the worker's main process, before exec: SIGKILL it when the process that started it dies (Linux), so a
    killed test run cannot leave a worker behind; its pool processes stop when their parent does."""
    with suppress(AttributeError, OSError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@contextmanager
def celery_worker(
    broker: Broker, log_path: Path, *, app: str = "config", options: tuple[str, ...] = (), **environment: str
) -> Iterator[Worker]:
    """``celery -A <app> worker --pool prefork --concurrency 2 [options]`` on the test database and the test's broker
    and queue (CELERY_QUEUE), in its own process group; yields once it is ready, and kills the group when the block
    ends."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=_test_database_url(),
        REDIS_URL=broker.url,
        CELERY_QUEUE=broker.queue,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
        **environment,
    )
    command = [
        *CELERY, "-A", app, "worker", "--pool", "prefork", "--concurrency", "2", "--loglevel", "INFO",
        "--hostname", f"test-{uuid.uuid4().hex[:8]}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
        *options,
    ]  # fmt: skip
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    worker = Worker(process, log_path)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while " ready." not in worker.log():
            if process.poll() is not None:
                pytest.fail(f"the Celery worker exited with {process.returncode} before it was ready:\n{worker.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the Celery worker was not ready within {READY_TIMEOUT} s:\n{worker.tail()}")
            time.sleep(0.2)
        yield worker
    finally:
        worker.kill()


# --- data, API and expectations -----------------------------------------------------------------------------------


@pytest.fixture
def scale_data(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    summary = generate_scale(ScaleSpec(**SCALE))
    # the data hold something of every kind for the runs to find
    assert summary.ledger_mismatch_stock_ids and summary.reservation_mismatch_stock_ids
    assert summary.count_mismatch_count_ids and summary.overdue_request_ids
    return summary


@pytest.fixture
def coordinator_api(scale_data) -> APIClient:
    user = UserFactory(username="worker-test-coordinator")
    access.grant_role(user, Role.COORDINATOR)
    client = APIClient()
    client.force_login(user)
    return client


def open_flags() -> set[tuple]:
    """Every open discrepancy and shortfall by what it says (not by id or timestamps)."""
    discrepancies = Discrepancy.objects.filter(resolved_at__isnull=True).values_list(
        "kind", "stock_id", "request_id", "count_id", "expected", "actual", "severity"
    )
    shortfalls = Shortfall.objects.filter(resolved_at__isnull=True).values_list(
        "kind", "stock_id", "center_id", "item_id", "available", "threshold", "days_of_supply", "severity"
    )
    return {("discrepancy", *row) for row in discrepancies} | {("shortfall", *row) for row in shortfalls}


def uninterrupted_findings() -> tuple[dict[str, int], set[tuple]]:
    """What a run finds on the current data when nothing interrupts it: every center reconciled in order, totalled
    like a run, with the open flags that leaves; all in a transaction that is rolled back, so it leaves no trace."""
    now = timezone.now()
    totals: Counter = Counter()
    with transaction.atomic():
        for center_id in LogisticsCenter.objects.order_by("pk").values_list("pk", flat=True):
            totals.update(reconcile_center(center_id, now=now).counts)
            totals.update(check_center_ledger(center_id, now=now))
        flags = open_flags()
        transaction.set_rollback(True)
    return dict(totals), flags


def start_run(api: APIClient) -> dict:
    response = api.post(RUNS, {}, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def get_run(api: APIClient, run_id: int) -> dict:
    response = api.get(f"{RUNS}{run_id}/")
    assert response.status_code == 200, response.content
    return response.json()


def wait_for_run(api: APIClient, run_id: int, until: Callable[[dict], bool], worker: Worker, what: str) -> dict:
    """Poll the run through the API until `until(run)`, for RUN_TIMEOUT seconds at most."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        run = get_run(api, run_id)
        if until(run):
            return run
        if worker.process.poll() is not None:
            pytest.fail(
                f"the worker exited ({worker.process.returncode}) while waiting for {what}: {run}\n{worker.tail()}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"run #{run_id} not {what} within {RUN_TIMEOUT} s: {run}\n{worker.tail()}")
        time.sleep(0.1)


def wait_for_drained_queue(broker: Broker, seconds: float) -> None:
    """Until the test's queue holds no message, queued or delivered and unacknowledged, for `seconds` at most."""
    deadline = time.monotonic() + seconds
    while broker.queued() or broker.unacknowledged():
        if time.monotonic() > deadline:
            pytest.fail(f"the queue still holds {broker.queued()} queued and {broker.unacknowledged()} "
                        f"unacknowledged messages after {seconds} s")  # fmt: skip
        time.sleep(0.25)


# --- tests --------------------------------------------------------------------------------------------------------


def test_real_worker_executes_a_run_started_through_the_api_to_completion(broker, coordinator_api, tmp_path):
    expected_findings, expected_flags = uninterrupted_findings()
    centers = LogisticsCenter.objects.count()

    with celery_worker(broker, tmp_path / "worker.log") as worker:
        queued = start_run(coordinator_api)
        assert queued["status"] == RunStatus.QUEUED
        run = wait_for_run(coordinator_api, queued["id"], lambda r: r["status"] in FINISHED, worker, "finished")

    assert run["status"] == RunStatus.SUCCEEDED, (run, worker.tail())
    assert run["error"] == ""
    assert run["centers_done"] == run["centers_total"] == centers
    assert run["findings"] == expected_findings
    assert open_flags() == expected_flags
    # the work was done by the worker's tasks, one per center, and not in this process
    log = worker.log()
    assert log.count("coordination.tasks.reconcile_center[") >= centers
    assert "coordination.tasks.finish_reconciliation[" in log
    assert CenterReconciliation.objects.filter(run_id=run["id"]).count() == centers


def test_worker_killed_mid_run_leaves_a_run_the_next_run_fails_and_rerunning_finds_the_same(
    broker, coordinator_api, tmp_path, settings
):
    settings.RECONCILE_STALE_SECONDS = STALE_SECONDS
    expected_findings, expected_flags = uninterrupted_findings()
    centers = LogisticsCenter.objects.count()

    # 1. A worker whose passes each hold their transaction open for HOLD_SECONDS, killed once a center is done.
    held = celery_worker(broker, tmp_path / "held-worker.log", app="tests.jobs.celery_held_worker",
                         RECONCILE_TEST_HOLD_SECONDS=str(HOLD_SECONDS), RECONCILE_STALE_SECONDS=str(STALE_SECONDS))  # fmt: skip
    with held as worker:
        first = start_run(coordinator_api)
        wait_for_run(coordinator_api, first["id"], lambda r: r["centers_done"] >= 1, worker, "one center done")
        worker.kill()
    assert broker.unacknowledged() >= 1, "the killed worker's tasks in progress are not acknowledged (acks_late)"

    time.sleep(0.5)  # a commit the worker sent just before it died has landed by now
    killed = get_run(coordinator_api, first["id"])
    time.sleep(0.5)
    assert get_run(coordinator_api, first["id"]) == killed, "nothing works on the run once its worker is dead"
    assert killed["status"] == RunStatus.RUNNING
    assert 1 <= killed["centers_done"] < killed["centers_total"] == centers
    done_before_kill = CenterReconciliation.objects.filter(run_id=first["id"]).count()
    assert done_before_kill == killed["centers_done"]

    # 2. Once it has shown no progress for RECONCILE_STALE_SECONDS, the next run marks it failed.
    time.sleep(STALE_SECONDS + 0.5)
    second = start_run(coordinator_api)
    assert second["id"] != first["id"]
    abandoned = get_run(coordinator_api, first["id"])
    assert abandoned["status"] == RunStatus.FAILED
    assert "Abandoned" in abandoned["error"]

    # 3. A new worker completes the new run with the findings of an uninterrupted run.  It also receives the
    # dead worker's unacknowledged tasks again (visibility timeout of a few seconds here), which find their run
    # finished and do nothing.
    recovery = celery_worker(broker, tmp_path / "worker.log", RECONCILE_STALE_SECONDS=str(STALE_SECONDS),
                             CELERY_VISIBILITY_TIMEOUT="5")  # fmt: skip
    with recovery as worker:
        run = wait_for_run(coordinator_api, second["id"], lambda r: r["status"] in FINISHED, worker, "finished")
        wait_for_drained_queue(broker, seconds=30)

    assert run["status"] == RunStatus.SUCCEEDED, (run, worker.tail())
    assert run["centers_done"] == run["centers_total"] == centers
    assert run["findings"] == expected_findings
    assert open_flags() == expected_flags
    # no double effects on the abandoned run
    assert ReconciliationRun.objects.get(pk=first["id"]).status == RunStatus.FAILED
    assert CenterReconciliation.objects.filter(run_id=first["id"]).count() == done_before_kill
