"""Liveness and readiness for orchestrators.

- ``/healthz``: the process answers (no dependency is touched, so a database outage never restarts the pods).
- ``/readyz``: the database answers and every migration is applied (else 503); the broker is checked too, and
  when it is unreachable the answer stays 200 but says ``degraded``: the portal and API keep serving, only
  background work waits.
"""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> tuple[bool, str]:
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            return False, f"{len(pending)} migration(s) not applied"
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


@never_cache
@require_GET
def readyz(request):
    started = time.monotonic()
    db_ok, db_detail = _check_database()
    broker_ok, broker_detail = _check_broker()
    status = "ready" if db_ok and broker_ok else ("degraded" if db_ok else "unavailable")
    return JsonResponse(
        {
            "status": status,
            "checks": {"database": db_detail, "broker": broker_detail},
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        },
        status=200 if db_ok else 503,
    )
