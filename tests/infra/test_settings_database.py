"""DB_MAX_PARALLEL_WORKERS_PER_GATHER reaches every PostgreSQL connection of the process, and outside DEBUG the
database settings default to what is fast in production: persistent connections, no parallel query."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = (
    "from django.conf import settings; d = settings.DATABASES['default']; "
    "print(d['CONN_MAX_AGE'], settings.DB_MAX_PARALLEL_WORKERS_PER_GATHER)"
)
SHOW = (
    "import django; django.setup(); from django.db import connection; c = connection.cursor(); "
    "c.execute('SHOW max_parallel_workers_per_gather'); print(c.fetchone()[0])"
)


def _run(code: str, database_url: str, setting: str | None, **extra: str) -> subprocess.CompletedProcess:
    unset = {"DB_MAX_PARALLEL_WORKERS_PER_GATHER", "CONN_MAX_AGE", "DEBUG"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": database_url, "DEBUG": "true", **extra})
    if setting is not None:
        env["DB_MAX_PARALLEL_WORKERS_PER_GATHER"] = setting
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def _show(database_url: str, setting: str | None, **extra: str) -> str:
    result = _run(SHOW, database_url, setting, **extra)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_setting_reaches_the_connection_and_unset_leaves_the_servers_own():
    # the server's maintenance database: it always exists, and SHOW reads no table
    url = urlunparse(urlparse(os.environ["DATABASE_URL"])._replace(path="/postgres"))
    assert _show(url, "0") == "0"
    assert _show(url, "1") == "1"
    assert _show(url, None) == _show(url, None) != ""  # the server's own default, whatever it is


PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "x" * 50}


@pytest.mark.postgres
@pytest.mark.django_db
def test_outside_debug_parallel_query_is_off_unless_the_process_asks_for_the_servers_own():
    url = urlunparse(urlparse(os.environ["DATABASE_URL"])._replace(path="/postgres"))
    assert _show(url, None, **PRODUCTION) == "0"
    assert _show(url, "server", **PRODUCTION) == _show(url, None)  # the compose file's worker and beat


@pytest.mark.parametrize(
    ("extra", "setting", "expected"),
    [
        (PRODUCTION, None, "300 0"),  # production: connections kept, no parallel query
        ({}, None, "0 None"),  # DEBUG (dev server, tests): Django's defaults
        ({**PRODUCTION, "CONN_MAX_AGE": "0"}, "server", "0 None"),
    ],
)
def test_the_database_defaults_follow_debug_and_the_environment_overrides_them(extra, setting, expected):
    result = _run(SETTINGS, "postgres://postgres@127.0.0.1:5432/postgres", setting, **extra)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_a_parallel_setting_that_is_not_a_number_is_refused_at_start():
    result = _run(SETTINGS, "postgres://postgres@127.0.0.1:5432/postgres", "two")
    assert result.returncode != 0 and "DB_MAX_PARALLEL_WORKERS_PER_GATHER must be a whole number" in result.stderr
