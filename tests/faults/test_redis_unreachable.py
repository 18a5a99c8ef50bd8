"""Redis unreachable: the API keeps serving reads and writes, /readyz says ``degraded``, and the work queued while
Redis was down runs once it is back.

The portal (gunicorn) and a Celery worker with its embedded beat use a Redis server that the test starts on a free
port and kills (SIGKILL) in the middle, then starts again on the same port; the machine's shared Redis is not
touched.  While it is down, a write's background work cannot be queued: the rows that describe the work (a
queued reconciliation run, a pending webhook delivery) are committed with the change, and the beat's sweeps
(every JOBS_SWEEP_SECONDS, for work waiting JOBS_REQUEUE_AFTER_SECONDS; shortened here) queue it after recovery.
"""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone

from config.cache import FailSoftRedisCache
from coordination import runs
from coordination.models import (
    DeliveryStatus,
    Notification,
    ReconciliationRun,
    RunStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from inventory.models import LogisticsCenter, Stock
from nations.tokens import issue_token
from tests.api.conftest import build_scenario
from tests.api.helpers import submitted_request
from tests.jobs.test_celery_worker import Broker, celery_worker

from .conftest import Portal, _test_database_url, portal_server, wait_until

SWEEP_SECONDS = 1
REQUEUE_AFTER_SECONDS = 2
RECOVERY_TIMEOUT = 60  # seconds for the queued work to finish once Redis is back
FAST = 3.0  # seconds: an answer while Redis is down may pay a refused connection or two, not a timeout


def token_of(user) -> str:
    return issue_token(user=user, name="faults", expires_in_days=1)[1]


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.xdist_group("faults")
def test_with_redis_down_the_api_serves_readyz_says_degraded_and_queued_work_runs_after_recovery(
    redis_server, slow_receiver, tmp_path
):
    slow_receiver.hold_seconds = 0
    world = build_scenario()
    WebhookEndpoint.objects.create(nation=world.fra, owner=world.users["fra_system"], url=slow_receiver.url,
                                   events=["request.approved"], secret="s" * 32)  # fmt: skip
    request = submitted_request(world, quantity=7)
    world.users["fra_logistics"].email = "fra.logistics@example.org"  # to be told of the approval by email
    world.users["fra_logistics"].save(update_fields=["email"])
    fra_system, deu_liaison, coordinator = (token_of(world.users[name])
                                            for name in ("fra_system", "deu_liaison", "coordinator"))  # fmt: skip
    queue = f"test-faults-{uuid.uuid4().hex[:12]}"
    url = redis_server.url(0)
    sweeps = dict(JOBS_SWEEP_SECONDS=str(SWEEP_SECONDS), JOBS_REQUEUE_AFTER_SECONDS=str(REQUEUE_AFTER_SECONDS))
    broker = Broker(url, queue, redis.Redis.from_url(url))
    worker_options = ("--beat", "--schedule", str(tmp_path / "beat-schedule"))

    with (
        portal_server(
            _test_database_url(), tmp_path / "gunicorn.log", REDIS_URL=url, CELERY_QUEUE=queue, **sweeps
        ) as portal,
        celery_worker(broker, tmp_path / "worker.log", options=worker_options, **sweeps) as worker,
    ):
        assert portal.request("GET", "/readyz").json()["status"] == "ready"

        redis_server.kill()

        # /readyz: still 200 (the pod keeps receiving traffic), but degraded, saying why
        ready = portal.request("GET", "/readyz")
        assert ready.status == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["database"] == "ok"
        assert "Error" in ready.json()["checks"]["broker"]
        assert portal.request("GET", "/healthz").status == 200

        # reads, throttled through the (unreachable) Redis cache: served, and quickly
        for _ in range(5):
            answer, seconds = timed(portal, "GET", "/api/v1/stocks/?center=MLC-A", token=fra_system)
            assert answer.status == 200, answer.body[:300]
            assert seconds < FAST
        # a write whose webhook and emails cannot be queued: done, and its delivery row waits
        answer, seconds = timed(portal, "POST", f"/api/v1/requests/{request.pk}/approve/", {"quantity": 7},
                                token=deu_liaison, Idempotency_Key=str(uuid.uuid4()))  # fmt: skip
        assert answer.status == 200, answer.body[:300]
        assert seconds < FAST
        assert Stock.objects.get(pk=world.stocks["deu_shared"].pk).reserved == 7
        assert Notification.objects.filter(event="request.approved").exists()  # the in-app notices are there
        # the email, which no row tracks, went out in-process (the console backend writes to the portal's log)
        assert "To: fra.logistics@example.org" in portal.log_path.read_text()
        delivery = WebhookDelivery.objects.get(event="request.approved")
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)
        # a reconciliation started now: accepted and recorded as queued
        answer, seconds = timed(portal, "POST", "/api/v1/reconciliations/", {}, token=coordinator)
        assert answer.status == 202, answer.body[:300]
        assert answer.json()["status"] == RunStatus.QUEUED
        run_id = answer.json()["id"]
        assert ReconciliationRun.objects.get(pk=run_id).status == RunStatus.QUEUED
        assert slow_receiver.arrivals == {}

        redis_server.start()

        def run_finished():
            run = ReconciliationRun.objects.get(pk=run_id)
            if worker.process.poll() is not None:
                pytest.fail(f"the worker died:\n{worker.tail()}")
            return run if run.is_finished else None

        run = wait_until(run_finished, RECOVERY_TIMEOUT, "the queued run finished after recovery", poll=0.25)
        assert run.status == RunStatus.SUCCEEDED, (run.error, worker.tail())
        assert run.centers_done == run.centers_total == LogisticsCenter.objects.count()
        wait_until(lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.DELIVERED,
                   RECOVERY_TIMEOUT, "the pending delivery sent after recovery", poll=0.25)  # fmt: skip
        delivery.refresh_from_db()
        assert delivery.attempts == 1
        assert slow_receiver.arrivals == {str(delivery.pk): 1}
        assert ReconciliationRun.objects.count() == 1
        assert portal.request("GET", "/readyz").json()["status"] == "ready"


def timed(portal: Portal, method: str, path: str, body=None, **kwargs):
    began = time.monotonic()
    answer = portal.request(method, path, body, **kwargs)
    return answer, time.monotonic() - began


# --- the pieces, in-process --------------------------------------------------------------------------------------


def test_the_cache_answers_misses_and_drops_writes_when_redis_is_unreachable():
    from bench._common import free_port

    cache = FailSoftRedisCache(f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
                               {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}})  # fmt: skip
    began = time.monotonic()
    assert cache.get("budget", "default") == "default"
    cache.set("budget", [1, 2, 3])
    assert cache.add("budget", 1) is False
    assert cache.get_many(["a", "b"]) == {}
    assert cache.has_key("budget") is False
    assert cache.delete("budget") is False
    cache.set_many({"a": 1})
    cache.delete_many(["a"])
    assert time.monotonic() - began < 5  # refused at once, never waiting on a timeout
    # the plain backend would have failed the request
    with pytest.raises(redis.ConnectionError):
        RedisCache(cache._servers[0], {}).get("budget")


@pytest.mark.redis
def test_the_cache_works_normally_when_redis_answers():
    from tests.conftest import redis_url

    cache = FailSoftRedisCache(redis_url(), {"KEY_PREFIX": f"faults-{uuid.uuid4().hex}"})
    cache.set("budget", [1, 2, 3], 30)
    assert cache.get("budget") == [1, 2, 3]
    cache.delete("budget")
    assert cache.get("budget") is None


@pytest.mark.django_db
def test_the_sweep_sends_again_only_runs_queued_for_longer_than_the_requeue_delay(
    settings, django_capture_on_commit_callbacks
):
    settings.JOBS_REQUEUE_AFTER_SECONDS = 60
    build_scenario()
    waiting = ReconciliationRun.objects.create(centers_total=LogisticsCenter.objects.count())
    fresh = ReconciliationRun.objects.create(centers_total=LogisticsCenter.objects.count())
    running = ReconciliationRun.objects.create(status=RunStatus.RUNNING, centers_total=1)
    long_ago = timezone.now() - timezone.timedelta(minutes=5)
    ReconciliationRun.objects.filter(pk__in=[waiting.pk, running.pk]).update(updated_at=long_ago)

    with django_capture_on_commit_callbacks(execute=True):
        assert runs.requeue_waiting_runs() == [waiting.pk]

    waiting.refresh_from_db()
    assert waiting.status == RunStatus.SUCCEEDED  # sent, and (in-process here) run
    assert ReconciliationRun.objects.get(pk=fresh.pk).status == RunStatus.QUEUED  # its message may still be on its way
    assert ReconciliationRun.objects.get(pk=running.pk).status == RunStatus.RUNNING  # not the sweep's business
