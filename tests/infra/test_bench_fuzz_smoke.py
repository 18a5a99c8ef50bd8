"""bench/fuzz.py still runs: in its --smoke mode (150 cases, well under a minute once its database is migrated) it
exits 0 with no failure, the books intact, and prints its figures.  The thousands of cases are the benchmark's."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_fuzz_benchmark_runs_in_smoke_mode_and_finds_nothing():
    # Its own database on the PostgreSQL server of DATABASE_URL, named after this run's database, so that the test
    # runs of other sessions on the machine do not share it.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    database = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/alliance"))
    env["BENCH_PG_SERVER"] = urlunparse(database._replace(path="", params="", query="", fragment=""))
    env["FUZZ_BENCH_DB"] = "alliance_bench_fuzz_smoke_" + re.sub(r"[^a-z0-9_]", "_", database.path.strip("/").lower())
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fuzz.py"), "--smoke"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = completed.stdout
    assert completed.returncode == 0, f"exit {completed.returncode}\n{output}\n{completed.stderr[-3000:]}"
    for text in ["schema: ", "cases: 150 in ", "failures: none", "books: intact"]:
        assert text in output, f"not printed: {text!r}\n{output}"
    result_lines = [line for line in output.splitlines() if line.startswith("RESULT fuzz ")]
    assert len(result_lines) == 1, output
    figures = json.loads(result_lines[0].split(" ", 2)[2])
    assert figures["smoke"] is True and figures["cases"] == 150 and figures["failures"] == {}
    assert figures["books_problems"] == 0 and sum(figures["statuses"].values()) == 150
