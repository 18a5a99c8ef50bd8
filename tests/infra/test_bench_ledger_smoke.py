"""bench/ledger.py still runs: in its --smoke mode (small data, in-process) it exits 0, prints its timings, and every
pass finds exactly the chains generate_scale broke on purpose.  The numbers themselves are not judged here."""

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


def _bench_env() -> dict[str, str]:
    """The benchmark creates its own database on the PostgreSQL server of DATABASE_URL, named after this test run's
    database (so that test runs of other sessions on the machine do not share it)."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    database = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/alliance"))
    env["BENCH_PG_SERVER"] = urlunparse(database._replace(path="", params="", query="", fragment=""))
    env["LEDGER_BENCH_DB"] = "alliance_bench_ledger_smoke_" + re.sub(
        r"[^a-z0-9_]", "_", database.path.strip("/").lower()
    )
    return env


def test_ledger_benchmark_runs_in_smoke_mode_and_finds_the_broken_chains():
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ledger.py"), "--smoke"],
        cwd=ROOT, env=_bench_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = completed.stdout
    assert completed.returncode == 0, f"exit {completed.returncode}\n{output}\n{completed.stderr[-3000:]}"
    for line in ["(1) verify_ledger, the full check", "first pass (no checkpoint: every chain)",
                 "steady passes, slices", "the rest of a run", "broken chains found as generated: yes"]:  # fmt: skip
        assert line in output, output
    figures = json.loads(output.split("RESULT ledger ", 1)[1].splitlines()[0])
    assert figures["smoke"] is True and figures["broken_found_as_generated"] is True
    assert figures["movements"] == 18_000 and figures["centers"] == 8
