"""Browser tests: real headless Chromium driven by Playwright (sync API) against the portal served by pytest-django's
``live_server``, on a transactional test database holding the demo scenario (``seed_demo``).

- The browser is Debian's ``/usr/bin/chromium`` (``make test`` installs it when missing, see install-chromium.sh);
  Playwright's own browser download is never used.  Without Playwright or Chromium these tests skip, and fail under
  ``CI=true`` like every other missing service.
- Background jobs run in-process (Celery eager), whatever ``REDIS_URL`` says: without a worker a reconciliation
  started from the browser would otherwise wait forever.
- Every page of every user records its console errors, uncaught page errors and failed requests; a test ends by
  asserting there were none (``portal.assert_no_browser_errors()``).
- Screenshots go to ``test-artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connections

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
# Headless Chromium as root, on a machine whose only network is loopback: no sandbox (root), no GPU, and none of
# the background traffic (updates, sync, safe browsing) that a closed network refuses.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}  # a laptop
TIMEOUT_MS = 20_000  # generous: the machine is shared and the live server is single-process


def _missing(reason: str):
    if IN_CI:
        pytest.fail(f"CI=true and {reason}: the browser tests must not skip", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def chromium(monkeypatch):
    """Headless Debian Chromium under Playwright, for one test."""
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _missing("Playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing (apt-get install chromium; `make test` does it as root)")
    # Playwright's sync API runs an asyncio loop in this thread; the test's own ORM calls are still plain
    # synchronous code (the live server answers from its own threads).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
            # The ORM calls made while Playwright's loop ran opened a connection of their own (a different
            # context): close it here, or the test database could not be dropped at the end of the session.
            connections.close_all()


@pytest.fixture
def eager_jobs(settings):
    """Celery tasks run in-process, as they do without REDIS_URL, even when the suite has one (CI)."""
    from config.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def demo(transactional_db, settings, eager_jobs):
    """The demo scenario, committed, so the live server's threads see it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # logins in milliseconds
    call_command("seed_demo", stdout=StringIO())
    return django_settings.DEMO_PASSWORD


@dataclass
class BrowserProblem:
    user: str
    url: str
    kind: str
    text: str

    def __str__(self) -> str:
        return f"[{self.user}] {self.kind} on {self.url}: {self.text}"


@dataclass
class Portal:
    """The portal in the browser: one browser context (cookies, language) per user, every page watched."""

    browser: object
    base_url: str
    password: str
    problems: list[BrowserProblem] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    _tolerated: list[re.Pattern] = field(default_factory=list)
    _contexts: list = field(default_factory=list)

    def open(self, username: str, *, locale: str = "en-GB"):
        """A fresh browser context for `username` (not logged in yet); its page is returned."""
        context = self.browser.new_context(base_url=self.base_url, viewport=VIEWPORT, locale=locale)
        context.set_default_timeout(TIMEOUT_MS)
        self._contexts.append(context)
        page = context.new_page()
        self._watch(page, username)
        return page

    def login(self, username: str, **kwargs):
        from playwright.sync_api import expect

        page = self.open(username, **kwargs)
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(self.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{self.base_url}/")
        expect(page.locator(".topbar .who")).to_have_text(username)
        return page

    def _watch(self, page, username: str) -> None:
        def record(kind: str, text: str) -> None:
            if any(pattern.search(text) for pattern in self._tolerated):
                return
            self.problems.append(BrowserProblem(username, page.url, kind, text))

        def on_console(message) -> None:
            if message.type in {"error", "assert"}:
                location = message.location or {}
                where = f" ({location.get('url')}:{location.get('lineNumber')})" if location.get("url") else ""
                record(f"console.{message.type}", message.text + where)

        def on_failed(request) -> None:
            if request.failure != "net::ERR_ABORTED":  # a request cut short by a navigation is no fault
                record("failed request", f"{request.method} {request.url}: {request.failure}")

        def on_dialog(dialog) -> None:  # hx-confirm: a real confirm() that the user accepts
            self.dialogs.append(dialog.message)
            dialog.accept()

        page.on("console", on_console)
        page.on("pageerror", lambda error: record("page error", str(error)))
        page.on("requestfailed", lambda request: on_failed(request))
        page.on("dialog", on_dialog)

    @contextmanager
    def tolerating(self, pattern: str):
        """Ignore console messages matching `pattern` inside the block (e.g. the 404 a test asks for)."""
        compiled = re.compile(pattern)
        self._tolerated.append(compiled)
        try:
            yield
        finally:
            self._tolerated.remove(compiled)

    def screenshot(self, page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def assert_no_browser_errors(self) -> None:
        assert not self.problems, "JavaScript errors or failed requests in the browser:\n" + "\n".join(
            str(p) for p in self.problems
        )

    def close(self) -> None:
        for context in self._contexts:
            context.close()


@pytest.fixture
def portal(live_server, demo, chromium):  # the browser closes before the database is flushed
    portal = Portal(browser=chromium, base_url=live_server.url, password=demo)
    try:
        yield portal
    finally:
        portal.close()
