"""Liveness and readiness for orchestrators.

- ``/healthz``: the process answers (no dependency is touched, so a database outage never restarts the pods).
- ``/readyz``: the database answers and every migration is applied (else 503); the broker is checked too, and
  when it is unreachable the answer stays 200 but says ``degraded``: the portal and API keep serving, only
  background work waits.

``/readyz`` tells the public its status only.  The checks' detail (errors naming the database, the Redis address)
goes to staff users and to callers from ``HEALTH_DETAIL_NETWORKS`` (by default the host itself, where the
container's own probes run); the client address is the one django-axes uses (``AXES_PROXY_COUNT`` proxies
trusted), so a forged X-Forwarded-For opens nothing.  Loading the migration graph is the expensive part (about
200 ms): once every migration is applied, a process does not check again (its code, and so its migrations, do
not change while it runs); while some are pending, every call checks, so readiness follows ``migrate`` at once.
"""

from __future__ import annotations

import ipaddress
import time
from functools import lru_cache

import redis
from axes.helpers import get_client_ip_address
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

# set once the migrations were found applied: this process need not load the migration graph again
_migrations_applied = [False]


def forget_migration_check() -> None:
    """Check the migrations again on the next call (tests; a process never needs it)."""
    _migrations_applied[0] = False


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> tuple[bool, str]:
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not _migrations_applied[0]:
            executor = MigrationExecutor(connection)
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
            if pending:
                return False, f"{len(pending)} migration(s) not applied"
            _migrations_applied[0] = True
        return True, "ok"
    except Exception as exc:  # any failure means not ready; say which
        return False, f"{exc.__class__.__name__}: {exc}"[:300]


def _check_broker() -> tuple[bool, str]:
    if not settings.REDIS_URL:
        return True, "in-process (no broker configured)"

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        return True, "ok"
    except Exception as exc:
        return False, f"{exc.__class__.__name__}: {exc}"[:300]


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _may_see_detail(request) -> bool:
    user = getattr(request, "user", None)
    if getattr(user, "is_staff", False) and user.is_active:
        return True
    try:
        address = ipaddress.ip_address(get_client_ip_address(request) or "")
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(settings.HEALTH_DETAIL_NETWORKS)))


@never_cache
@require_GET
def readyz(request):
    started = time.monotonic()
    db_ok, db_detail = _check_database()
    broker_ok, broker_detail = _check_broker()
    status = "ready" if db_ok and broker_ok else ("degraded" if db_ok else "unavailable")
    body = {"status": status}
    if _may_see_detail(request):
        body["checks"] = {"database": db_detail, "broker": broker_detail}
        body["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    return JsonResponse(body, status=200 if db_ok else 503)
