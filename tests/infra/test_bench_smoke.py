"""The benchmarks in bench/ still run: each script in its --smoke mode (seconds, small data) exits 0 and prints its
figures and its baseline.  Their numbers are not judged here: they are benchmarks, not tests."""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _bench_env() -> dict[str, str]:
    """The benchmarks create their own databases on the PostgreSQL server of DATABASE_URL, and use their own Redis
    database on the server of REDIS_URL."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    database = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/alliance"))
    env["BENCH_PG_SERVER"] = urlunparse(database._replace(path="", params="", query="", fragment=""))
    redis = urlparse(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    env["BENCH_REDIS_URL"] = urlunparse(redis._replace(path="/13"))
    return env


@pytest.mark.parametrize(
    "script, printed, figures",
    [
        ("api_approvals.py", ["approvals/s:", "latency ms: p50", "plain SQL", "ratio API/SQL", "no oversell: yes"],
         ["api_approvals_per_s", "api_p99_ms", "sql_approvals_per_s", "ratio_api_sql"]),
        ("api_stock_list.py", ["requests/s:", "latency ms: p50", "slower"],
         ["large_req_per_s", "large_p99_ms", "small_req_per_s", "slowdown"]),
        ("stock_report.py", ["report 1: 201", "by COPY", "ratio API/COPY", "new stocks: API", "stocks created by the reports"],
         ["existing_api_median_s", "existing_copy_s", "new_api_median_s", "new_copy_s", "new_ratio_api_copy"]),
        ("requisitions.py", ["requisition created, sourced and submitted: 201", "bulk approval of", "requisitions list"],
         ["create_s", "create_sql_s", "bulk_approve_s", "bulk_sql_s", "list_median_ms", "list_sql_ms"]),
    ],
)  # fmt: skip
def test_benchmark_runs_in_smoke_mode_and_prints_its_figures(script, printed, figures):
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--smoke"],
        cwd=ROOT, env=_bench_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = completed.stdout
    assert completed.returncode == 0, f"{script} exited {completed.returncode}\n{output}\n{completed.stderr[-3000:]}"
    for text in printed:
        assert text in output, f"{script} did not print {text!r}:\n{output}"
    result_lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert len(result_lines) == 1, output
    numbers = json.loads(result_lines[0].split(" ", 2)[2])
    assert numbers["smoke"] is True
    for name in figures:
        assert isinstance(numbers[name], int | float) and numbers[name] > 0, (name, numbers)
