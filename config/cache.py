"""The Redis cache, failing soft: when Redis is unreachable the portal keeps serving as if the cache were empty.

The cache only holds what can be lost (API throttling budgets), so a Redis outage must not turn requests into
500s: a read answers "not cached", a write is dropped, and a warning is logged (at most every 30 seconds per
process).  Throttling therefore lets callers through while Redis is down.  Short socket timeouts (settings) keep
an unreachable host from stalling each request.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
WARN_EVERY_SECONDS = 30.0
_last_warning = [0.0]


def _warn(operation: str, exc: Exception) -> None:
    now = time.monotonic()
    if now - _last_warning[0] >= WARN_EVERY_SECONDS:
        _last_warning[0] = now
        log.warning("cache unreachable (%s: %s); serving without it", operation, exc)


class FailSoftRedisCacheClient(RedisCacheClient):
    def add(self, key, value, timeout):
        try:
            return super().add(key, value, timeout)
        except UNREACHABLE as exc:
            _warn("add", exc)
            return False

    def get(self, key, default):
        try:
            return super().get(key, default)
        except UNREACHABLE as exc:
            _warn("get", exc)
            return default

    def set(self, key, value, timeout):
        try:
            super().set(key, value, timeout)
        except UNREACHABLE as exc:
            _warn("set", exc)

    def touch(self, key, timeout):
        try:
            return super().touch(key, timeout)
        except UNREACHABLE as exc:
            _warn("touch", exc)
            return False

    def delete(self, key):
        try:
            return super().delete(key)
        except UNREACHABLE as exc:
            _warn("delete", exc)
            return False

    def get_many(self, keys):
        try:
            return super().get_many(keys)
        except UNREACHABLE as exc:
            _warn("get_many", exc)
            return {}

    def has_key(self, key):
        try:
            return super().has_key(key)
        except UNREACHABLE as exc:
            _warn("has_key", exc)
            return False

    def set_many(self, data, timeout):
        try:
            super().set_many(data, timeout)
        except UNREACHABLE as exc:
            _warn("set_many", exc)

    def delete_many(self, keys):
        try:
            super().delete_many(keys)
        except UNREACHABLE as exc:
            _warn("delete_many", exc)

    def clear(self):
        try:
            return super().clear()
        except UNREACHABLE as exc:
            _warn("clear", exc)
            return False

    # incr is left to raise: a counter cannot be faked, and nothing in the portal uses it


class FailSoftRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = FailSoftRedisCacheClient

    def count(self, key: str, window: int) -> int:
        """Add one to the counter `key` and start its `window` seconds to live if it has none yet: the calls of a
        fixed window, this one included.  One round trip (INCR and EXPIRE NX in a pipeline), on a client the whole
        process shares.  Raises the client's errors (a counter cannot be faked)."""
        pipe = _counter_client(self._servers[0], self._options).pipeline(transaction=False)
        pipe.incr(self.make_and_validate_key(key))
        pipe.expire(self.make_and_validate_key(key), window, nx=True)
        used, _started = pipe.execute()
        return used


_counter_clients: dict[str, object] = {}
_counter_lock = threading.Lock()


def _counter_client(url: str, options: dict):
    """One Redis client per server for the process (its connection pool is thread-safe and reset after a fork).
    Django's cache builds a new client object for every operation, and a pool per thread."""
    client = _counter_clients.get(url)
    if client is None:
        with _counter_lock:
            client = _counter_clients.get(url)
            if client is None:
                kwargs = {k: v for k, v in options.items() if k in ("socket_connect_timeout", "socket_timeout")}
                client = _counter_clients[url] = redis.Redis.from_url(url, **kwargs)
    return client
