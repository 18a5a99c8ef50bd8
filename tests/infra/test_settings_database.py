"""DB_MAX_PARALLEL_WORKERS_PER_GATHER reaches every PostgreSQL connection of the process (web servers set 0)."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "import django; django.setup(); from django.db import connection; c = connection.cursor(); "
    "c.execute('SHOW max_parallel_workers_per_gather'); print(c.fetchone()[0])"
)


def _show(database_url: str, setting: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DB_MAX_PARALLEL_WORKERS_PER_GATHER"}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DATABASE_URL=database_url)
    if setting is not None:
        env["DB_MAX_PARALLEL_WORKERS_PER_GATHER"] = setting
    result = subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
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
