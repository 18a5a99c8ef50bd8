"""The API budget on Redis is one counter per caller and window, counted in one round trip on a client the process
shares (DRF's own throttle read and wrote a pickled list of up to 6,000 timestamps per call, and Django's cache
builds a new client for every operation)."""

from __future__ import annotations

import uuid

import pytest
import redis
from django.core.cache import cache, caches

from config.cache import FailSoftRedisCache, _counter_client
from tests.conftest import redis_url

from .conftest import token_client

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


@pytest.fixture(autouse=True)
def _redis_cache(settings):
    """The portal's Redis cache (the suite's own is per-process memory), under a prefix of this test's own."""
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.FailSoftRedisCache",
            # a Redis database of its own: other tests flush theirs (FLUSHDB) while this one runs
            "LOCATION": redis_url().rsplit("/", 1)[0] + "/14",
            "KEY_PREFIX": f"throttle-test-{uuid.uuid4().hex}",
        }
    }
    assert isinstance(caches["default"], FailSoftRedisCache)
    yield
    redis_client = _counter_client(cache._servers[0], cache._options)
    for key in redis_client.scan_iter(f"{settings.CACHES['default']['KEY_PREFIX']}:*"):
        redis_client.delete(key)


class RoundTrips:
    """Counts what reaches Redis: pipelines sent, and single commands sent outside a pipeline."""

    def __init__(self, monkeypatch):
        self.pipelines: list[list[str]] = []
        self.commands: list[str] = []
        execute_pipeline, execute_command = redis.client.Pipeline.execute, redis.Redis.execute_command
        trips = self

        def pipeline(self, *args, **kwargs):
            trips.pipelines.append([str(c[0][0]) for c in self.command_stack])
            return execute_pipeline(self, *args, **kwargs)

        def command(self, *args, **kwargs):
            if not isinstance(self, redis.client.Pipeline):
                trips.commands.append(str(args[0]))
            return execute_command(self, *args, **kwargs)

        monkeypatch.setattr(redis.client.Pipeline, "execute", pipeline)
        monkeypatch.setattr(redis.Redis, "execute_command", command)


def test_a_counted_call_costs_one_round_trip_to_redis(world, settings, monkeypatch):
    settings.API_RATE_TOKEN = "50/minute"
    client = token_client(world.users["fra_logistics"])
    client.get("/api/v1/nations/")  # the token's first call: its budget starts
    trips = RoundTrips(monkeypatch)

    response = client.get("/api/v1/nations/")

    assert response.status_code == 200
    assert trips.pipelines == [["INCRBY", "EXPIRE"]] and trips.commands == []
    assert response["RateLimit"].endswith(f";r={50 - 2};t={response['RateLimit'].rsplit('t=', 1)[1]}")


def test_the_window_counter_lives_no_longer_than_its_window(world, settings):
    settings.API_RATE_TOKEN = "50/minute"
    client = token_client(world.users["fra_logistics"])
    client.get("/api/v1/nations/")
    keys = [k for k in _counter_client(cache._servers[0], cache._options).scan_iter("*rl:token:*")]
    assert len(keys) == 1
    ttl = _counter_client(cache._servers[0], cache._options).ttl(keys[0])
    assert 0 < ttl <= 61  # the minute and a second: a late increment never finds a counter with no expiry


def test_later_calls_do_not_push_the_expiry_back(world, settings):
    settings.API_RATE_TOKEN = "50/minute"
    client = token_client(world.users["fra_logistics"])
    client.get("/api/v1/nations/")
    redis_client = _counter_client(cache._servers[0], cache._options)
    (key,) = list(redis_client.scan_iter("*rl:token:*"))
    redis_client.expire(key, 5)  # as if the window were ending
    client.get("/api/v1/nations/")
    assert redis_client.ttl(key) <= 5  # EXPIRE NX: the window's end stays where it was
    assert int(redis_client.get(key)) == 2


def test_one_client_serves_every_thread_of_the_process():
    first = _counter_client(cache._servers[0], cache._options)
    assert _counter_client(cache._servers[0], cache._options) is first


def test_with_redis_down_the_call_goes_through_unbudgeted(world, settings, monkeypatch):
    settings.API_RATE_TOKEN = "1/minute"
    client = token_client(world.users["fra_logistics"])

    def unreachable(self, *args, **kwargs):
        raise redis.exceptions.ConnectionError("refused")

    monkeypatch.setattr(redis.client.Pipeline, "execute", unreachable)
    answers = [client.get("/api/v1/nations/") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert "RateLimit" not in answers[0]
    # nothing was counted: the budget is whole when Redis is back
    monkeypatch.undo()
    assert client.get("/api/v1/nations/").status_code == 200
