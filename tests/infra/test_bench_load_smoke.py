"""bench/load.py still runs: in its --smoke mode (small data, 16 users for 8 seconds) every request of the mix is
answered as expected (no errors), the books are exact afterwards, and it prints its per-endpoint table and figures.
The latencies are not judged here: it is a benchmark, not a test."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _bench_env_and_db() -> tuple[dict[str, str], str]:
    """The benchmark creates its own database on the PostgreSQL server of DATABASE_URL, named after this test run's
    database (so that test runs of other sessions on the machine do not share it), and uses the Redis server of
    REDIS_URL (cache, and a Celery queue of its own that it deletes)."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    database = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/alliance"))
    env["BENCH_PG_SERVER"] = urlunparse(database._replace(path="", params="", query="", fragment=""))
    redis = urlparse(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    env["BENCH_REDIS_URL"] = urlunparse(redis._replace(path="/13"))
    db = ("alliance_bench_load_smoke_" + re.sub(r"[^a-z0-9_]", "_", database.path.strip("/").lower()))[:63]
    return env, db


def test_load_benchmark_runs_in_smoke_mode_without_errors_and_the_books_stay_exact():
    env, db = _bench_env_and_db()
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--smoke", "--db", db],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = completed.stdout
    assert completed.returncode == 0, f"exit {completed.returncode}\n{output}\n{completed.stderr[-3000:]}"
    for text in ["409 race", "app p99", "the slowest 1%", "errors: 0 of", "targets: zero errors: met",
                 "every success the clients saw is written once: yes", "books: exact"]:  # fmt: skip
        assert text in output, f"not printed: {text!r}\n{output}"
    result_lines = [line for line in output.splitlines() if line.startswith("RESULT load ")]
    assert len(result_lines) == 1, output
    figures = json.loads(result_lines[0].split(" ", 2)[2])
    assert figures["smoke"] is True and figures["books_exact"] is True
    assert figures["errors"] == 0 and figures["negative"] == 0
    assert figures["requests"] > 0 and figures["req_per_s"] > 0 and figures["p99_ms"] > 0
    assert 0.6 <= figures["read_share"] <= 0.95, figures["read_share"]  # 80/20 by count, give or take a short run
    measured = {name for name, e in figures["endpoints"].items() if e["n"] > 0}
    assert any(name.startswith("GET /api/") for name in measured), measured  # national systems read
    assert "GET / (dashboard)" in measured, measured  # people in the browser read
    assert any(name.startswith("POST") for name in measured), measured  # and someone wrote
