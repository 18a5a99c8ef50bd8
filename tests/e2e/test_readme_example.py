"""The README's worked example runs as written: its shell block, executed by bash against a live server holding the
demo data, with ``manage.py issue_token`` writing to the same (test) database and curl talking to 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from django.db import connection

from .conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.xdist_group("e2e")]


def worked_example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Worked example", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_is_a_shell_script_that_stops_at_the_first_error():
    script = worked_example()
    assert script.startswith("set -eu\n")
    assert "curl -sf" in script and "127.0.0.1:8000" in script  # what a reader runs against `make run`


def test_the_readme_example_runs_against_the_demo_data(demo, live_server):
    if shutil.which("curl") is None:
        pytest.fail("curl is needed to run the README's example")
    database = connection.settings_dict
    env = {
        **os.environ,
        "API": f"{live_server.url}/api/v1",
        # issue_token writes the tokens where the live server reads them: the test database
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    result = subprocess.run(
        ["bash", "-c", worked_example()], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stdout + result.stderr
    # the answers, one JSON document each (curl prints them back to back); the last is the sync page, which holds
    # the 50 litres missing from the receipt as a discrepancy
    answers, text, decoder = [], result.stdout.strip(), json.JSONDecoder()
    while text:
        answer, end = decoder.raw_decode(text)
        answers.append(answer)
        text = text[end:].lstrip()
    assert len(answers) == 5  # report, approval, dispatch, receipt, sync page (the others went into variables)
    last = answers[-1]
    assert last["count"] is None and last["next_cursor"]
    [discrepancy] = last["results"]
    assert (discrepancy["kind"], discrepancy["expected"], discrepancy["actual"]) == ("short_receipt", 3000, 2950)
