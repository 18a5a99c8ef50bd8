"""Two-factor sign-in in a real browser, with the production default (the ``two_factor`` marker): the demo's
coordinator is sent to enrolment after the password, sets up an authenticator app from the secret the page shows
(the QR code is inline SVG: the CSP allows no script to draw it), keeps the backup codes, and at the next sign-in
gives a backup code.  No page may log a JavaScript error or a CSP violation."""

from __future__ import annotations

import re
import time
from base64 import b32decode

import pytest
from django_otp.oath import TOTP

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.two_factor]


def current_code(secret: str) -> str:
    totp = TOTP(b32decode(secret.replace(" ", "")), 30, 0, 6)
    totp.time = time.time()
    return f"{totp.token():06d}"


def sign_in_with_password(portal, page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(portal.password)
    page.get_by_role("button", name="Sign in").click()


def test_a_coordinator_enrols_at_first_sign_in_and_later_signs_in_with_a_backup_code(portal, settings):
    from playwright.sync_api import expect

    assert "coordinator" in settings.TWO_FACTOR_REQUIRED_ROLES
    page = portal.open("coordinator")
    sign_in_with_password(portal, page, "coordinator")
    page.wait_for_url(re.compile(r"/two-factor/enrol/"))
    expect(page.locator("svg.qr")).to_be_visible()
    portal.screenshot(page, "two-factor-enrol")
    page.goto("/audit/")  # confined until enrolled
    page.wait_for_url(re.compile(r"/two-factor/enrol/\?next=%2Faudit%2F"))

    secret = page.locator("code.secret").inner_text()
    page.get_by_label(re.compile(r"^Code")).fill(current_code(secret))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Your backup codes")).to_be_visible()
    codes = page.locator(".backup-codes code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(re.compile(r"/audit/$"))
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()

    page.get_by_role("link", name="Two-factor").click()
    expect(page.get_by_text("9 unused backup codes")).to_have_count(0)
    expect(page.get_by_text("10 unused backup codes.")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login/"))

    sign_in_with_password(portal, page, "coordinator")
    page.wait_for_url(re.compile(r"/two-factor/verify/"))
    page.get_by_label(re.compile(r"^Code")).fill("00000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")
    page.wait_for_timeout(1100)  # the device waits a second after a wrong code (django-otp's throttling)
    page.get_by_label(re.compile(r"^Code")).fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{portal.base_url}/")
    expect(page.locator(".topbar .who")).to_have_text("coordinator")
    portal.assert_no_browser_errors()
