"""A Celery worker killed with SIGKILL in the middle of a reconciliation and in the middle of a webhook delivery:
both complete exactly once after the restart.

Two ways to die: the pool processes alone (the worker's main process sees them go, and with
``task_reject_on_worker_lost`` puts their tasks back on the queue at once), or the whole worker (its tasks were
delivered and not acknowledged, ``acks_late``; a new worker restores them once the visibility timeout has passed,
shortened here to seconds).  The workers are real (``celery worker``, prefork) on the test database and the Redis
database of tests/jobs/test_celery_worker.py, whose fixtures these tests reuse; the reconciliation is killed in a
center's pass that holds its transaction open (tests/jobs/celery_held_worker.py), the webhook delivery while the
receiver (a local HTTP server) holds the POST.

What "exactly once" means here:
- reconciliation: the same run finishes, succeeded, with the findings and open flags of an uninterrupted pass
  (no flag twice, no center counted twice) and no other run;
- webhooks: at least once on the wire, exactly once on record.  The POST cut off by the kill is sent again under
  the same ``X-Alliance-Delivery`` id, which is what receivers de-duplicate on; the delivery row ends delivered,
  once, with one attempt (the killed attempt's transaction was rolled back with its connection).
"""

from __future__ import annotations

import os
import signal

import psycopg
import pytest
from django.db import connection

from coordination import services, tasks
from coordination.models import (
    CenterReconciliation,
    DeliveryStatus,
    ReconciliationRun,
    RunStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from coordination.webhooks import DeliveryBusy, attempt_delivery
from inventory.models import LogisticsCenter
from tests.jobs.conftest import build_world, fuel_request, make_stock
from tests.jobs.test_celery_worker import (
    FINISHED,
    Worker,
    celery_worker,
    get_run,
    open_flags,
    start_run,
    uninterrupted_findings,
    wait_for_drained_queue,
    wait_for_run,
)

from .conftest import SlowReceiver, _test_database_url, children_of, wait_until

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("celery-broker"),  # the Redis database of the other real-worker tests
]

HOLD_SECONDS = 1.5  # each center's pass keeps its transaction open this long in the held worker
VISIBILITY_SECONDS = "3"  # the recovery worker restores tasks delivered this long ago and not acknowledged
DELIVERY_TIMEOUT = 60


def kill_pool(worker: Worker) -> list[int]:
    """SIGKILL the worker's pool processes, leaving its main process alive."""
    pool = children_of(worker.process.pid)
    assert pool, "the worker has no pool processes"
    for pid in pool:
        os.kill(pid, signal.SIGKILL)
    return pool


def a_pass_is_open() -> bool:
    """A worker's connection is inside a center's pass (its transaction open, held)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND state = 'idle in transaction' AND pid <> pg_backend_pid()")  # fmt: skip
        return cursor.fetchone()[0] > 0


def held_worker(broker, log_path):
    return celery_worker(broker, log_path, app="tests.jobs.celery_held_worker",
                         RECONCILE_TEST_HOLD_SECONDS=str(HOLD_SECONDS))  # fmt: skip


def kill_mid_pass(api, worker: Worker, run_id: int) -> None:
    """Wait until one center is done and another's pass is open, so the kill cuts a pass in half."""
    wait_for_run(api, run_id, lambda r: r["centers_done"] >= 1, worker, "one center done")
    wait_until(a_pass_is_open, 30, "a center's pass in progress")


def assert_completed_once(run: dict, expected_findings: dict, expected_flags: set, worker: Worker) -> None:
    centers = LogisticsCenter.objects.count()
    assert run["status"] == RunStatus.SUCCEEDED, (run, worker.tail())
    assert run["centers_done"] == run["centers_total"] == centers
    assert run["findings"] == expected_findings
    assert open_flags() == expected_flags
    assert CenterReconciliation.objects.filter(run_id=run["id"]).count() == centers
    assert list(ReconciliationRun.objects.values_list("pk", flat=True)) == [run["id"]]


# --- reconciliation --------------------------------------------------------------------------------------------


def test_a_reconciliation_whose_pool_processes_are_killed_completes_once(broker, coordinator_api, tmp_path):
    expected_findings, expected_flags = uninterrupted_findings()

    with held_worker(broker, tmp_path / "worker.log") as worker:
        run_id = start_run(coordinator_api)["id"]
        kill_mid_pass(coordinator_api, worker, run_id)
        killed = kill_pool(worker)
        # the main process replaces its pool and the requeued passes are done again by the new processes
        run = wait_for_run(coordinator_api, run_id, lambda r: r["status"] in FINISHED, worker, "finished")
        wait_for_drained_queue(broker, seconds=30)
        assert not set(children_of(worker.process.pid)) & set(killed)
        assert "WorkerLostError" in worker.log()

    assert_completed_once(run, expected_findings, expected_flags, worker)


def test_a_reconciliation_whose_whole_worker_is_killed_completes_once_on_a_new_worker(
    broker, coordinator_api, tmp_path
):
    expected_findings, expected_flags = uninterrupted_findings()

    with held_worker(broker, tmp_path / "held-worker.log") as worker:
        run_id = start_run(coordinator_api)["id"]
        kill_mid_pass(coordinator_api, worker, run_id)
        worker.kill()
    assert broker.unacknowledged() >= 1, "the passes in progress are not acknowledged (acks_late)"
    interrupted = get_run(coordinator_api, run_id)
    assert interrupted["status"] == RunStatus.RUNNING
    assert interrupted["centers_done"] < interrupted["centers_total"]

    with celery_worker(broker, tmp_path / "worker.log", CELERY_VISIBILITY_TIMEOUT=VISIBILITY_SECONDS) as worker:
        run = wait_for_run(coordinator_api, run_id, lambda r: r["status"] in FINISHED, worker, "finished")
        wait_for_drained_queue(broker, seconds=30)

    assert_completed_once(run, expected_findings, expected_flags, worker)


# --- webhook delivery ---------------------------------------------------------------------------------------------


@pytest.fixture
def approval_delivery(broker, slow_receiver):
    """An approval whose webhook is queued on the test's broker (the receiver holds its first POST 4 s)."""
    world = build_world()
    WebhookEndpoint.objects.create(nation=world.fra, owner=world.users["fra_system"], url=slow_receiver.url,
                                   events=["request.approved"], secret="s" * 32)  # fmt: skip
    make_stock(world, 200, nation=world.deu, center=world.mlc_a, item=world.fuel, shared=True)
    request = fuel_request(world, 10)

    def approve() -> WebhookDelivery:
        services.approve_request(request=request, approver=world.users["deu_liaison"])  # queued after commit
        return WebhookDelivery.objects.get()

    return approve


def wait_for_delivered(delivery: WebhookDelivery, worker: Worker) -> WebhookDelivery:
    def delivered():
        if worker.process.poll() is not None:
            pytest.fail(f"the worker exited:\n{worker.tail()}")
        delivery.refresh_from_db()
        return delivery.status != DeliveryStatus.PENDING

    wait_until(delivered, DELIVERY_TIMEOUT, "the delivery finished", poll=0.1)
    return delivery


def assert_delivered_once(delivery: WebhookDelivery, receiver: SlowReceiver) -> None:
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.DELIVERED, 1, 204)
    assert WebhookDelivery.objects.count() == 1
    # on the wire: the cut-off POST and the one that succeeded, both with the same delivery id
    assert receiver.arrivals == {str(delivery.pk): 2}


def test_a_webhook_delivery_whose_pool_process_is_killed_is_delivered_once(
    broker, approval_delivery, slow_receiver, tmp_path
):
    with celery_worker(broker, tmp_path / "worker.log") as worker:
        delivery = approval_delivery()
        assert slow_receiver.arrived.wait(30), f"no POST reached the receiver:\n{worker.tail()}"
        kill_pool(worker)  # while the receiver holds the POST
        delivery = wait_for_delivered(delivery, worker)
        wait_for_drained_queue(broker, seconds=30)

    assert_delivered_once(delivery, slow_receiver)


def test_a_webhook_delivery_whose_whole_worker_is_killed_is_delivered_once_by_a_new_worker(
    broker, approval_delivery, slow_receiver, tmp_path
):
    with celery_worker(broker, tmp_path / "killed-worker.log") as worker:
        delivery = approval_delivery()
        assert slow_receiver.arrived.wait(30), f"no POST reached the receiver:\n{worker.tail()}"
        worker.kill()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)  # the killed attempt left nothing
    assert broker.unacknowledged() >= 1

    with celery_worker(broker, tmp_path / "worker.log", CELERY_VISIBILITY_TIMEOUT=VISIBILITY_SECONDS) as worker:
        delivery = wait_for_delivered(delivery, worker)
        wait_for_drained_queue(broker, seconds=30)

    assert_delivered_once(delivery, slow_receiver)


def test_a_delivery_whose_row_another_connection_holds_is_busy_not_dropped(slow_receiver):
    """While another sender holds the row (or a killed one's transaction is not rolled back yet) the attempt is
    refused as busy, so the task retries instead of returning as if the delivery were done."""
    world = build_world()
    slow_receiver.hold_seconds = 0
    WebhookEndpoint.objects.create(nation=world.fra, owner=world.users["fra_system"], url=slow_receiver.url,
                                   events=["request.approved"], secret="s" * 32)  # fmt: skip
    make_stock(world, 200, nation=world.deu, center=world.mlc_a, item=world.fuel, shared=True)
    services.approve_request(request=fuel_request(world, 10), approver=world.users["deu_liaison"])
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.PENDING, attempts=0)
    slow_receiver.arrivals.clear()

    with psycopg.connect(_test_database_url()) as other:
        other.execute(f"SELECT 1 FROM {WebhookDelivery._meta.db_table} WHERE id = %s FOR UPDATE", [delivery.pk])
        with pytest.raises(DeliveryBusy):
            attempt_delivery(delivery.pk)
        tasks.deliver_webhook.delay(delivery.pk)  # in-process: returns, leaving the row to its holder
        other.rollback()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)

    assert attempt_delivery(delivery.pk).status == DeliveryStatus.DELIVERED  # the lock gone, it is sent
    assert slow_receiver.arrivals == {str(delivery.pk): 1}
