"""A browser left idle is signed out; people change their own password; the proxy header is believed only when a
proxy is declared."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import Client

from core.middleware import LAST_ACTIVITY
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def officer(db):
    user = UserFactory(username="fra-logistics")
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def browser(officer):
    client = Client()
    assert client.post("/login/", {"username": "fra-logistics", "password": PASSWORD}).status_code == 302
    return client


def _idle_for(client, seconds: int) -> None:
    session = client.session
    session[LAST_ACTIVITY] = int(time.time()) - seconds
    session.save()


def test_a_session_idle_longer_than_the_limit_is_signed_out(browser, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    assert browser.get("/").status_code == 200
    _idle_for(browser, 31 * 60)
    response = browser.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert browser.get("/").status_code == 302  # signed out for good, not only for that request


def test_activity_within_the_limit_keeps_the_session(browser, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    _idle_for(browser, 29 * 60)
    assert browser.get("/").status_code == 200
    assert time.time() - browser.session[LAST_ACTIVITY] < 60  # the clock was reset by that visit
    _idle_for(browser, 29 * 60)
    assert browser.get("/").status_code == 200


def test_a_limit_of_zero_turns_the_idle_timeout_off(browser, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 0
    _idle_for(browser, 24 * 60 * 60)
    assert browser.get("/").status_code == 200


def test_people_change_their_own_password(browser, officer):
    page = browser.get("/password/")
    assert page.status_code == 200 and b'name="old_password"' in page.content
    response = browser.post(
        "/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a new long passphrase 2026",
            "new_password2": "a new long passphrase 2026",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/password/done/"
    officer.refresh_from_db()
    assert officer.check_password("a new long passphrase 2026")
    assert browser.get("/").status_code == 200  # this browser stays signed in


@pytest.mark.parametrize(
    "body",
    [
        {
            "old_password": "wrong",
            "new_password1": "a new long passphrase 2026",
            "new_password2": "a new long passphrase 2026",
        },
        {"old_password": PASSWORD, "new_password1": "a new long passphrase 2026", "new_password2": "another one 2026"},
        {"old_password": PASSWORD, "new_password1": "password", "new_password2": "password"},
    ],
    ids=["wrong old password", "mismatch", "too common"],
)
def test_a_refused_password_change_says_why_and_changes_nothing(browser, officer, body):
    response = browser.post("/password/", body)
    assert response.status_code == 200 and b'class="error"' in response.content
    officer.refresh_from_db()
    assert officer.check_password(PASSWORD)


def test_the_password_page_is_for_signed_in_people_only(db):
    response = Client().get("/password/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def _proxy_header(proxy_count: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("AXES_PROXY_COUNT", "DEBUG")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DEBUG="false", SECRET_KEY="x" * 50)
    if proxy_count is not None:
        env["AXES_PROXY_COUNT"] = proxy_count
    code = "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_x_forwarded_proto_is_believed_only_behind_a_declared_proxy():
    assert _proxy_header(None) == "None"
    assert _proxy_header("0") == "None"
    assert _proxy_header("1") == "('HTTP_X_FORWARDED_PROTO', 'https')"
