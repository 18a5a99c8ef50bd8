"""Security settings that a deployment relies on: CSP without inline script, login brute-force lockout,
`check --deploy` clean with production settings, session expiry."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "test-password-123"


@pytest.mark.django_db
def test_every_page_carries_a_csp_without_inline_script(client):
    response = client.get("/login/")
    policy = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"


@pytest.mark.django_db
def test_portal_pages_have_no_inline_script(client):
    user = UserFactory(username="csp-reader")
    client.force_login(user)
    for url in ("/", "/stocks/", "/requests/", "/reconciliation/", "/login/"):
        page = client.get(url).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), url
        assert not re.search(r"\son[a-z]+\s*=", page), f"inline event handler on {url}"


def _login(client, username, password):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR="10.9.8.7")


@pytest.mark.django_db
def test_five_wrong_passwords_lock_the_account_for_that_address():
    UserFactory(username="target-officer")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "target-officer", "wrong").status_code == 200  # the form again, with an error
    locked = _login(client, "target-officer", "wrong")
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    # even the right password is refused while locked
    assert _login(client, "target-officer", PASSWORD).status_code == 429
    # another account from the same address is not affected
    UserFactory(username="other-officer")
    response = _login(Client(), "other-officer", PASSWORD)
    assert response.status_code == 302


@pytest.mark.django_db
def test_a_successful_login_resets_the_failure_count():
    UserFactory(username="forgetful-officer")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "forgetful-officer", "wrong")
    assert _login(client, "forgetful-officer", PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "forgetful-officer", "wrong").status_code == 200


def test_sessions_expire_after_a_shift():
    assert settings.SESSION_COOKIE_AGE <= 12 * 3600
    assert settings.SESSION_COOKIE_HTTPONLY


def test_deploy_check_is_clean_with_production_settings():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    env.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": "x" * 64 + "production-like-secret-for-the-check",
            "ALLOWED_HOSTS": "portal.example.org",
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["DEBUG"] = "false"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
