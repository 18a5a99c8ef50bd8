"""bench/pages.py still runs: in its --smoke mode (small data, under a minute) every main page answers 200 and the
benchmark prints its table and its figures.  The timings are not judged here: it is a benchmark, not a test."""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PAGES = [
    "dashboard",
    "stocks",
    "stock page",
    "centers",
    "center page",
    "requests",
    "new request",
    "sourcing suggestions",
    "request page",
    "shortfalls",
    "discrepancies",
    "reconciliation",
    "notifications",
]


def test_page_benchmark_runs_in_smoke_mode_and_times_every_page():
    # The benchmark makes its own database (alliance_bench_pages_smoke) on the PostgreSQL server of DATABASE_URL.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    database = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/alliance"))
    env["BENCH_PG_SERVER"] = urlunparse(database._replace(path="", params="", query="", fragment=""))
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "pages.py"), "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = completed.stdout
    assert completed.returncode == 0, (
        f"bench/pages.py exited {completed.returncode}\n{output}\n{completed.stderr[-3000:]}"
    )
    assert "median ms" in output and "queries" in output, output
    result_lines = [line for line in output.splitlines() if line.startswith("RESULT pages ")]
    assert len(result_lines) == 1, output
    figures = json.loads(result_lines[0].split(" ", 2)[2])
    assert figures["smoke"] is True
    for page in PAGES:
        measured = figures["pages"][page]
        assert measured["median_ms"] > 0 and measured["queries"] > 0, (page, measured)
