"""`make run` smoke test: what a newcomer gets from the README's first command.

`make run` is run for real, on a fresh SQLite database with no broker (the machine with no services that the
issue promises): it migrates, loads the demo scenario because the database is empty, and serves the portal.
Then a demo logistics officer signs in through the login form and sees their nation's stock and no other
nation's private stock.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit
from urllib.request import HTTPCookieProcessor, Request, build_opener

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 300  # seconds: a fresh database is migrated and seeded before the server listens


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Browser:
    """A cookie-keeping HTTP client (urllib only) that follows redirects like a browser."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()))

    def open(self, path: str, data: dict | None = None) -> tuple[int, str, str]:
        """(status, path of the final URL after redirects, body)."""
        body = urlencode(data).encode() if data is not None else None
        request = Request(self.base_url + path, data=body, headers={"Accept-Language": "en"})
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, urlsplit(response.url).path, response.read().decode()
        except HTTPError as error:
            return error.code, urlsplit(error.url).path, error.read().decode(errors="replace")

    def log_in(self, username: str, password: str) -> tuple[int, str, str]:
        status, _, form = self.open("/login/")
        assert status == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        return self.open(
            "/login/", {"csrfmiddlewaretoken": token, "username": username, "password": password, "next": ""}
        )

    def stock_count(self, query: str = "") -> int:
        status, path, page = self.open(f"/stocks/{query}")
        assert (status, path) == (200, "/stocks/"), f"GET /stocks/{query} answered {status} at {path}"
        return int(re.search(r'<p class="count">\s*(\d+)', page).group(1))


@pytest.fixture(scope="module")
def smoke_env(tmp_path_factory) -> dict[str, str]:
    """The environment of a machine with no services: SQLite in a temporary directory, no broker."""
    env = dict(os.environ)
    for name in ("REDIS_URL", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # no broker; not a sub-make of `make test`
        env.pop(name, None)
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path_factory.mktemp('make-run') / 'smoke.sqlite3'}",
        DEBUG="true",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DEMO_PASSWORD=settings.DEMO_PASSWORD,
    )
    return env


def _counts(env: dict[str, str]) -> dict[str, int]:
    """Row counts of the smoke database, read through the ORM in a separate process."""
    code = (
        "import json; from django.contrib.auth.models import User; from nations.models import Nation; "
        "from inventory.models import Stock; "
        "print(json.dumps({'nations': Nation.objects.count(), 'users': User.objects.count(), "
        "'stocks': Stock.objects.count(), "
        "'deu_private': Stock.objects.filter(nation__code='DEU', shared=False).count()}))"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def portal(smoke_env, tmp_path_factory):
    """`make run` on a free port; yields the base URL and the path of its log. Always stopped afterwards."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("make-run-log") / "make-run.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            ["make", "--no-print-directory", "run", "HOST=127.0.0.1", f"PORT={port}"],
            cwd=ROOT,
            env=smoke_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: make, runserver and its autoreloader child
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if server.poll() is not None:
                pytest.fail(f"`make run` exited with {server.returncode}:\n{_tail(log_path)}")
            try:
                status, _, _ = Browser(base_url).open("/login/")
                if status == 200:
                    break
            except (URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the portal did not answer within {START_TIMEOUT} s:\n{_tail(log_path)}")
            time.sleep(0.5)
        yield base_url, log_path
    finally:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(server.pid, sig)
            except ProcessLookupError:
                break
            try:
                server.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue


def test_make_run_seeds_the_empty_database_and_prints_the_demo_users(portal, smoke_env):
    _, log_path = portal
    counts = _counts(smoke_env)
    assert counts["nations"] >= 8 and counts["stocks"] > 0
    log = log_path.read_text(errors="replace")
    assert "fra-logistics" in log, "make run should print the demo users:\n" + _tail(log_path)


def test_pages_require_signing_in(portal):
    base_url, _ = portal
    status, path, _ = Browser(base_url).open("/stocks/")
    assert (status, path) == (200, "/login/")


def test_a_wrong_password_is_refused(portal):
    base_url, _ = portal
    browser = Browser(base_url)
    status, path, page = browser.log_in("fra-logistics", settings.DEMO_PASSWORD + "-wrong")
    assert (status, path) == (200, "/login/")
    assert "didn&#x27;t match" in page or "didn't match" in page
    assert browser.open("/stocks/")[1] == "/login/"


def test_demo_logistics_officer_sees_own_stock_and_no_other_nations_private_stock(portal, smoke_env):
    base_url, _ = portal
    browser = Browser(base_url)
    status, path, home = browser.log_in("fra-logistics", settings.DEMO_PASSWORD)
    assert (status, path) == (200, "/"), "the demo password should sign fra-logistics in"
    assert "fra-logistics" in home

    assert browser.stock_count("?nation=FRA") > 0
    # The demo data does hold German private stock, so an empty answer proves the restriction.
    assert _counts(smoke_env)["deu_private"] > 0
    assert browser.stock_count("?nation=DEU&marking=private") == 0
    # Every private stock the officer sees is French; other nations' stock appears only when shared with ALL or
    # released to FRA (the demo releases some German stock at MLC-CENTRAL to FRA and NLD).
    assert browser.stock_count("?marking=private") == browser.stock_count("?marking=private&nation=FRA")
    assert browser.stock_count("?nation=DEU&marking=rel_to") == browser.stock_count("?nation=DEU&releasable_to=FRA")

    _, _, page = browser.open("/stocks/")
    rows = re.findall(
        r'<tr[^>]*>\s*<td[^>]*>([^<]*)</td>\s*<td[^>]*>([^<]*)</td>.*?<td class="marking nowrap">([^<]*)</td>',
        page,
        re.DOTALL,
    )
    assert rows, "the stock table should list rows"
    markings = {"Shared (ALL)"} | {m for _c, _n, m in rows if m.startswith("REL TO") and "FRA" in m}
    assert all(nation == "FRA" or marking in markings for _center, nation, marking in rows), rows


def test_seed_demo_if_empty_leaves_a_seeded_database_alone(portal, smoke_env):
    before = _counts(smoke_env)
    result = subprocess.run(
        [sys.executable, "manage.py", "seed_demo", "--if-empty"],
        cwd=ROOT,
        env=smoke_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert _counts(smoke_env) == before
