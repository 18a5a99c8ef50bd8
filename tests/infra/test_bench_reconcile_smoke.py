"""bench/reconcile.py still runs: in its --smoke mode (small data, real Celery workers) it exits 0, prints the three
timings and the ratio, and the runs' findings agree with the single-SQL baseline.  The numbers themselves are not
judged here: it is a benchmark, not a test."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.xdist_group("celery-broker")]

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 8  # the Redis database of the tests that start Celery workers (the benchmark uses a queue of its own)


def _bench_env() -> dict[str, str]:
    """The benchmark creates its own database on the PostgreSQL server of DATABASE_URL, named after this test run's
    database (so that test runs of other sessions on the machine do not share it), and uses the Redis server of
    REDIS_URL as its broker."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    database = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/alliance"))
    env["BENCH_PG_SERVER"] = urlunparse(database._replace(path="", params="", query="", fragment=""))
    env["RECON_BENCH_DB"] = "alliance_bench_recon_smoke_" + re.sub(r"[^a-z0-9_]", "_", database.path.strip("/").lower())
    redis = urlparse(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    env["RECON_BENCH_REDIS_URL"] = urlunparse(redis._replace(path=f"/{REDIS_DB}"))
    return env


def test_reconcile_benchmark_runs_in_smoke_mode_and_prints_its_figures():
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "reconcile.py"), "--smoke"],
        cwd=ROOT, env=_bench_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = completed.stdout
    assert completed.returncode == 0, f"exit {completed.returncode}\n{output}\n{completed.stderr[-3000:]}"
    for text in ["(a) 2 worker processes:", "(b) 1 worker process:", "(c) single-SQL baseline:", "ratio (a)/(c):",
                 "findings agree (every run and the baseline): yes"]:  # fmt: skip
        assert text in output, f"not printed: {text!r}\n{output}"
    result_lines = [line for line in output.splitlines() if line.startswith("RESULT reconcile ")]
    assert len(result_lines) == 1, output
    figures = json.loads(result_lines[0].split(" ", 2)[2])
    assert figures["smoke"] is True and figures["findings_agree"] is True
    for name in ["first_pass_s", "two_processes_s", "one_process_s", "baseline_s", "ratio_a_c"]:
        assert isinstance(figures[name], int | float) and figures[name] > 0, (name, figures)
