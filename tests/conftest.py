"""Test configuration shared by the whole suite.

Services: the suite runs on whatever ``DATABASE_URL`` names (``make test`` and ``.ci/run`` point it at the
machine's PostgreSQL).  Tests marked ``postgres`` or ``redis`` need that service: on a laptop without it
they skip; under ``CI=true`` they fail, so a broken CI machine can never pass by skipping.
"""

import os
import socket
from urllib.parse import urlparse

import pytest
from django.db import connection

from tests.network import local_getaddrinfo

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def _missing_service(reason: str):
    if IN_CI:
        pytest.fail(f"CI=true and {reason}: tests that need it must not skip", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _require_services(request):
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _missing_service("the test database is not PostgreSQL (set DATABASE_URL=postgres://...)")
    if request.node.get_closest_marker("redis") and not _reachable(redis_url(), 6379):
        _missing_service(f"Redis is unreachable at {redis_url()}")


def pytest_sessionstart(session):
    # Under CI the database itself must be PostgreSQL: fail at once rather than run the suite on SQLite.
    if IN_CI and not os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql")):
        raise pytest.UsageError("CI=true requires DATABASE_URL to point at PostgreSQL")


@pytest.fixture(autouse=True)
def _no_name_lookups(monkeypatch):
    """Traffic stays on this machine: a made-up host (a fuzzed webhook URL) is never sent to a DNS resolver."""
    monkeypatch.setattr(socket, "getaddrinfo", local_getaddrinfo)


@pytest.fixture(autouse=True)
def _jobs_run_in_process(settings):
    """Celery tasks run in-process in tests, even when REDIS_URL is set (as under CI): a test about jobs that
    needs the real broker and a real worker switches to them itself (tests/jobs/test_celery_worker.py)."""
    from config.celery import app

    previous = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _private_cache(settings):
    """Each test starts with an empty cache of its own process.  With REDIS_URL set the portal's cache is Redis,
    shared by the xdist workers (whose databases reuse the same user ids) and by earlier runs, so throttling
    budgets would leak between tests."""
    from django.core.cache import cache

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}}
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Users made in tests hash their passwords with MD5: logins in milliseconds, not the production cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _two_factor_where_tested(request, settings):
    """Two-factor sign-in is required by role only in tests marked ``two_factor`` (tests/nations/test_two_factor.py
    and one browser test), which run with the production default.  Elsewhere nobody's role requires it, so the many
    tests that sign liaison officers, coordinators and administrators in (``force_login``, the login page, the demo
    in a browser) test what they are about; a user who has enrolled is still asked for a code everywhere."""
    if not request.node.get_closest_marker("two_factor"):
        settings.TWO_FACTOR_REQUIRED_ROLES = []
