"""Two-factor sign-in (nations/two_factor.py): after the password, a code from an authenticator app or a backup
code; required of liaison officers, coordinators and administrators by default, open to everyone else.

Codes are real TOTPs computed from the device's secret (the one the enrolment page shows, or the device's key),
never mocks.  These tests run with the production default of ``TWO_FACTOR_REQUIRED_ROLES`` (the ``two_factor``
marker; tests/conftest.py empties it elsewhere)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from base64 import b32decode
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from nations import two_factor
from nations.access import grant_role
from nations.models import AuditEntry, AuditKind
from nations.roles import Role
from nations.tokens import issue_token
from tests.factories import NationFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.two_factor]

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple 42"
SECRET_ON_PAGE = re.compile(r'<code class="secret">([A-Z2-7 ]+)</code>')
BACKUP_CODES_ON_PAGE = re.compile(r"<li><code>([a-z2-7]{8})</code></li>")


# --- people and codes ---------------------------------------------------------------------------------------------


def person(username: str, role: Role | None = None, **extra):
    user = UserFactory(username=username, **extra)
    user.set_password(PASSWORD)
    user.save()
    if role == Role.COORDINATOR:
        grant_role(user, role)
    elif role is not None:
        grant_role(user, role, NationFactory(code="FRA"))
    return user


@pytest.fixture
def liaison(db):
    return person("fra-liaison", Role.LIAISON)


@pytest.fixture
def logistics(db):
    return person("fra-logistics", Role.LOGISTICS)


def code_at(key: bytes, *, step: int = 30, t0: int = 0, digits: int = 6, steps_ahead: int = 0) -> str:
    """The TOTP an authenticator app holding `key` shows now (or `steps_ahead` steps from now)."""
    totp = TOTP(key, step, t0, digits)
    totp.time = time.time() + steps_ahead * step
    return f"{totp.token():0{digits}d}"


def code_of(device: TOTPDevice, steps_ahead: int = 0) -> str:
    device.refresh_from_db()
    return code_at(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, steps_ahead=steps_ahead)


def enrolled_device(user) -> TOTPDevice:
    """An authenticator app the user set up earlier, with backup codes."""
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    backup = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    for code in ("aaaa2222", "bbbb3333"):
        StaticToken.objects.create(device=backup, token=code)
    return device


def signed_in_with_password(username: str) -> Client:
    client = Client()
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, "the password step failed"
    return client


def verified(client: Client, device: TOTPDevice) -> Client:
    response = client.post("/two-factor/verify/", {"code": code_of(device)})
    assert response.status_code == 302 and "/two-factor/" not in response["Location"], response
    return client


def refused_codes(user) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(kind=AuditKind.TWO_FACTOR_FAILED, actor=user).order_by("id"))


# --- who is asked ------------------------------------------------------------------------------------------------


def test_the_production_default_requires_liaison_officers_coordinators_and_administrators():
    env = {k: v for k, v in os.environ.items() if k != "TWO_FACTOR_REQUIRED_ROLES"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    show = "from django.conf import settings; print(','.join(settings.TWO_FACTOR_REQUIRED_ROLES))"
    result = subprocess.run([sys.executable, "-c", show], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "liaison,coordinator,admin"
    # a misspelt role must not quietly drop the requirement
    env["TWO_FACTOR_REQUIRED_ROLES"] = "liason,coordinator"
    result = subprocess.run([sys.executable, "-c", show], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "'liason' is not one of" in result.stderr


def test_roles_that_require_a_second_factor(db, settings):
    settings.TWO_FACTOR_REQUIRED_ROLES = ["liaison", "coordinator", "admin"]
    assert two_factor.required_for(person("fra-liaison", Role.LIAISON))
    assert two_factor.required_for(person("coordinator", Role.COORDINATOR))
    assert two_factor.required_for(person("root", is_superuser=True, is_staff=True))
    assert two_factor.required_for(person("clerk", is_staff=True))
    assert not two_factor.required_for(person("fra-logistics", Role.LOGISTICS))
    assert not two_factor.required_for(person("nobody"))
    settings.TWO_FACTOR_REQUIRED_ROLES = ["logistics"]
    assert two_factor.required_for(get_user_model().objects.get(username="fra-logistics"))
    assert not two_factor.required_for(get_user_model().objects.get(username="fra-liaison"))


def test_a_liaison_officer_without_a_device_is_sent_to_enrolment_after_the_password(liaison):
    client = signed_in_with_password("fra-liaison")
    response = client.get("/requests/")
    assert response.status_code == 302
    assert response["Location"] == "/two-factor/enrol/?next=%2Frequests%2F"
    assert client.get("/two-factor/verify/")["Location"].startswith("/two-factor/enrol/")  # no device to verify


def test_enrolment_shows_the_secret_as_an_svg_qr_code_and_a_first_code_confirms_it(liaison):
    client = signed_in_with_password("fra-liaison")
    page = client.get("/two-factor/enrol/?next=/requests/")
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    html = page.content.decode()
    assert '<svg class="qr" role="img"' in html and "<path" in html and "<script" not in html.split("</header>")[1]
    secret = SECRET_ON_PAGE.search(html).group(1).replace(" ", "")
    key = b32decode(secret)
    assert client.get("/two-factor/enrol/").content.decode().count(SECRET_ON_PAGE.search(html).group(1)) == 1  # same

    wrong = f"{(int(code_at(key)) + 1) % 1_000_000:06d}"
    assert client.post("/two-factor/enrol/", {"code": wrong}).status_code == 200
    assert not TOTPDevice.objects.filter(user=liaison).exists()
    assert client.get("/requests/").status_code == 302  # still confined

    done = client.post("/two-factor/enrol/", {"code": code_at(key), "next": "/requests/"})
    assert done.status_code == 200 and "no-store" in done["Cache-Control"]
    codes = BACKUP_CODES_ON_PAGE.findall(done.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    device = TOTPDevice.objects.get(user=liaison, confirmed=True)
    assert device.bin_key == key
    assert sorted(StaticToken.objects.filter(device__user=liaison).values_list("token", flat=True)) == sorted(codes)
    assert 'href="/requests/"' in done.content.decode()
    assert client.get("/requests/").status_code == 200  # this session is verified
    enrolled = AuditEntry.objects.get(kind=AuditKind.TWO_FACTOR_ENROLLED, actor=liaison)
    every_text = str(list(AuditEntry.objects.values_list()))
    assert secret not in every_text and device.key not in every_text
    assert not any(code in every_text for code in codes) and code_at(key) not in every_text
    assert enrolled.details["backup_codes"] == 10
    # the same secret shown again would be a second enrolment; the page now leads to the account page
    assert client.get("/two-factor/enrol/")["Location"] == "/two-factor/"


def test_the_code_just_used_to_enrol_cannot_sign_in_again(liaison):
    client = signed_in_with_password("fra-liaison")
    key = b32decode(SECRET_ON_PAGE.search(client.get("/two-factor/enrol/").content.decode()).group(1).replace(" ", ""))
    first = code_at(key)
    assert client.post("/two-factor/enrol/", {"code": first}).status_code == 200
    other = signed_in_with_password("fra-liaison")
    response = other.post("/two-factor/verify/", {"code": first})
    assert response.status_code == 200 and "not right" in response.content.decode()


def test_a_wrong_code_is_refused_and_audited_without_the_code(liaison):
    device = enrolled_device(liaison)
    client = signed_in_with_password("fra-liaison")
    assert client.get("/")["Location"] == "/two-factor/verify/?next=%2F"
    wrong = f"{(int(code_of(device)) + 5) % 1_000_000:06d}"
    response = client.post("/two-factor/verify/", {"code": wrong, "next": "/"})
    assert response.status_code == 200 and "That code is not right" in response.content.decode()
    assert client.get("/").status_code == 302
    [entry] = refused_codes(liaison)
    assert entry.details["purpose"] == "sign-in" and entry.details["method"] == "authenticator app"
    assert entry.ip_address == "127.0.0.1" and entry.path == "/two-factor/verify/"
    assert wrong not in str(list(AuditEntry.objects.values_list())) and device.key not in entry.summary


def test_the_right_code_lets_the_officer_in_and_renews_the_session_key(liaison):
    device = enrolled_device(liaison)
    client = signed_in_with_password("fra-liaison")
    before = client.session.session_key
    response = client.post("/two-factor/verify/", {"code": code_of(device), "next": "/requests/"})
    assert response.status_code == 302 and response["Location"] == "/requests/"
    assert client.session.session_key != before  # a session id seen before the code is worth nothing after it
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/stocks/").status_code == 200
    assert not refused_codes(liaison)


def test_a_backup_code_signs_in_once_only(liaison):
    enrolled_device(liaison)
    first = signed_in_with_password("fra-liaison")
    assert first.post("/two-factor/verify/", {"code": "AAAA-2222"})["Location"] == "/"  # typed loosely
    assert first.get("/").status_code == 200
    assert not StaticToken.objects.filter(token="aaaa2222").exists()
    second = signed_in_with_password("fra-liaison")
    response = second.post("/two-factor/verify/", {"code": "aaaa2222"})
    assert response.status_code == 200 and second.get("/").status_code == 302
    assert refused_codes(liaison)[-1].details["method"] == "backup code"


def test_a_user_whose_role_does_not_require_it_may_enrol_and_is_then_always_asked(logistics):
    client = signed_in_with_password("fra-logistics")
    assert client.get("/").status_code == 200  # not required, not enrolled
    account = client.get("/two-factor/")
    assert account.status_code == 200 and "/two-factor/enrol/" in account.content.decode()
    key = b32decode(SECRET_ON_PAGE.search(client.get("/two-factor/enrol/").content.decode()).group(1).replace(" ", ""))
    assert client.post("/two-factor/enrol/", {"code": code_at(key)}).status_code == 200
    assert client.get("/").status_code == 200

    again = signed_in_with_password("fra-logistics")
    assert again.get("/stocks/")["Location"] == "/two-factor/verify/?next=%2Fstocks%2F"
    assert again.post("/two-factor/verify/", {"code": code_at(key, steps_ahead=1)})["Location"] == "/"
    assert again.get("/stocks/").status_code == 200


def test_with_the_setting_empty_nobody_is_required(liaison, settings):
    settings.TWO_FACTOR_REQUIRED_ROLES = []
    client = signed_in_with_password("fra-liaison")
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/stocks/").status_code == 200


# --- the unverified session is confined -------------------------------------------------------------------------


def test_an_unverified_session_reaches_no_page_no_api_and_no_admin(db):
    admin = person("root", is_superuser=True, is_staff=True)
    enrolled_device(admin)
    client = signed_in_with_password("root")
    for url in ("/", "/stocks/", "/audit/", "/password/", "/two-factor/", "/admin/", "/admin/auth/user/", "/login/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/two-factor/verify/"), url
    api = client.get("/api/v1/stocks/")
    assert api.status_code == 403 and api["Content-Type"] == "application/problem+json"
    assert api.json()["code"] == "two_factor_required" and api.json()["status"] == 403
    assert client.post("/api/v1/requests/", {}, content_type="application/json").status_code == 403
    assert client.post("/admin/auth/user/", {"action": "delete_selected"}).status_code == 302
    htmx = client.post("/notifications/read/", headers={"HX-Request": "true"})
    assert htmx["HX-Redirect"] == "/two-factor/verify/"
    # what stays open: the code page, the language switch, static files, signing out
    assert client.get("/two-factor/verify/").status_code == 200
    assert client.post("/i18n/setlang/", {"language": "fr", "next": "/two-factor/verify/"}).status_code == 302
    assert client.get("/static/css/portal.css").status_code in (200, 404)  # never the code page


def test_the_admin_sign_in_is_a_password_step_not_a_way_around_the_code(db):
    admin = person("root", is_superuser=True, is_staff=True)
    device = enrolled_device(admin)
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302
    admin_page = client.get("/admin/")
    assert admin_page.status_code == 302 and admin_page["Location"] == "/two-factor/verify/?next=%2Fadmin%2F"
    assert client.post("/two-factor/verify/", {"code": code_of(device), "next": "/admin/"})["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_an_administrator_without_a_device_must_enrol_before_the_admin(db):
    person("root", is_superuser=True, is_staff=True)
    client = Client()
    client.post("/admin/login/", {"username": "root", "password": PASSWORD, "next": "/admin/"})
    assert client.get("/admin/")["Location"] == "/two-factor/enrol/?next=%2Fadmin%2F"


def test_an_api_token_call_is_unaffected_even_beside_an_unverified_session(liaison):
    _token, raw = issue_token(user=liaison)
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/stocks/").status_code == 200
    client = signed_in_with_password("fra-liaison")  # the same browser also holds an unverified session
    response = client.get("/api/v1/stocks/", HTTP_AUTHORIZATION=f"Token {raw}")
    assert response.status_code == 200
    assert client.get("/api/v1/stocks/", HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 401  # never a redirect
    assert client.get("/api/v1/stocks/").status_code == 403  # the session alone


def test_logout_works_from_the_unverified_state(liaison):
    enrolled_device(liaison)
    client = signed_in_with_password("fra-liaison")
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/")["Location"].startswith("/login/")


def test_enrolling_another_device_needs_the_current_one_first(liaison):
    """Someone with the password alone cannot add an authenticator of their own."""
    enrolled_device(liaison)
    client = signed_in_with_password("fra-liaison")
    assert client.get("/two-factor/enrol/")["Location"] == "/two-factor/verify/"
    assert client.post("/two-factor/enrol/", {"code": "123456"})["Location"] == "/two-factor/verify/"
    assert TOTPDevice.objects.filter(user=liaison).count() == 1
    assert two_factor.PENDING_SECRET not in client.session


@pytest.mark.parametrize(
    ("target", "lands_on"),
    [
        ("/requests/?status=submitted", "/requests/?status=submitted"),
        ("https://evil.example/phish", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_the_next_page_stays_on_the_portal(liaison, target, lands_on):
    device = enrolled_device(liaison)
    client = signed_in_with_password("fra-liaison")
    assert client.post("/two-factor/verify/", {"code": code_of(device), "next": target})["Location"] == lands_on
    assert client.get("/two-factor/verify/", {"next": target})["Location"] == lands_on  # nothing left to verify


# --- throttling ----------------------------------------------------------------------------------------------------


def test_wrong_codes_throttle_the_device_so_even_the_right_code_waits(liaison):
    device = enrolled_device(liaison)
    client = signed_in_with_password("fra-liaison")
    wrong = f"{(int(code_of(device)) + 7) % 1_000_000:06d}"
    client.post("/two-factor/verify/", {"code": wrong})
    response = client.post("/two-factor/verify/", {"code": code_of(device)})  # right, but within the wait
    assert response.status_code == 200 and "Too many wrong codes" in response.content.decode()
    assert client.get("/").status_code == 302
    assert [e.details["throttled"] for e in refused_codes(liaison)] == [False, True]

    for failures in (1, 2, 3):  # each wrong code once the wait is over doubles the next wait (1, 2, 4, 8 s)
        device.refresh_from_db()
        assert device.throttling_failure_count == failures
        TOTPDevice.objects.filter(pk=device.pk).update(
            throttling_failure_timestamp=device.throttling_failure_timestamp - timedelta(seconds=2 ** (failures - 1))
        )
        client.post("/two-factor/verify/", {"code": wrong})
    device.refresh_from_db()
    assert device.throttling_failure_count == 4
    assert "Wait 8 seconds" in client.post("/two-factor/verify/", {"code": code_of(device)}).content.decode()

    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=device.throttling_failure_timestamp - timedelta(seconds=8)
    )
    assert client.post("/two-factor/verify/", {"code": code_of(device)})["Location"] == "/"
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_backup_codes_are_throttled_too(liaison):
    enrolled_device(liaison)
    client = signed_in_with_password("fra-liaison")
    client.post("/two-factor/verify/", {"code": "zzzz7777"})
    response = client.post("/two-factor/verify/", {"code": "aaaa2222"})
    assert "Too many wrong codes" in response.content.decode()
    assert StaticToken.objects.filter(token="aaaa2222").exists()  # not used up by a refused attempt


# --- the account page, removal, reset ----------------------------------------------------------------------------


def test_the_header_links_to_the_two_factor_page_beside_the_password(logistics):
    client = signed_in_with_password("fra-logistics")
    html = client.get("/").content.decode()
    assert re.search(r'<a href="/password/">Password</a>\s*<a href="/two-factor/">Two-factor</a>', html)


def test_new_backup_codes_replace_the_old_ones(logistics):
    device = enrolled_device(logistics)
    client = verified(signed_in_with_password("fra-logistics"), device)
    response = client.post("/two-factor/backup-codes/")
    codes = BACKUP_CODES_ON_PAGE.findall(response.content.decode())
    assert len(codes) == 10 and "aaaa2222" not in codes
    assert not StaticToken.objects.filter(token="aaaa2222").exists()
    entry = AuditEntry.objects.get(kind=AuditKind.TWO_FACTOR_RESET, actor=logistics)
    assert entry.details["renewed"] and not any(code in str(entry.details) + entry.summary for code in codes)


def test_new_backup_codes_need_a_verified_session(logistics):
    enrolled_device(logistics)
    client = Client()
    client.force_login(logistics)
    session = client.session
    session[two_factor.ENROLLED] = False  # as if enrolled in another browser after this one signed in
    session.save()
    assert client.post("/two-factor/backup-codes/")["Location"] == "/two-factor/"
    assert StaticToken.objects.filter(token="aaaa2222").exists()


def test_a_voluntary_user_removes_their_device_with_a_current_code(logistics):
    device = enrolled_device(logistics)
    client = verified(signed_in_with_password("fra-logistics"), device)
    assert client.post("/two-factor/remove/", {"code": "000000"})["Location"] == "/two-factor/"
    assert TOTPDevice.objects.filter(user=logistics).exists()
    device.refresh_from_db()
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None, throttling_failure_count=0)
    assert client.post("/two-factor/remove/", {"code": code_of(device, steps_ahead=1)})["Location"] == "/two-factor/"
    assert not TOTPDevice.objects.filter(user=logistics).exists() and not StaticDevice.objects.filter(user=logistics)
    [reset] = AuditEntry.objects.filter(kind=AuditKind.TWO_FACTOR_RESET)  # one entry, not one per device
    assert reset.actor == logistics and reset.details["devices_removed"] == 2
    assert signed_in_with_password("fra-logistics").get("/").status_code == 200  # password alone again


def test_a_liaison_officer_cannot_remove_the_device_their_role_requires(liaison):
    device = enrolled_device(liaison)
    client = verified(signed_in_with_password("fra-liaison"), device)
    assert "/two-factor/remove/" not in client.get("/two-factor/").content.decode()
    assert client.post("/two-factor/remove/", {"code": code_of(device, steps_ahead=1)}).status_code == 403
    assert TOTPDevice.objects.filter(user=liaison).exists()


def test_an_administrator_resets_a_users_devices_in_the_admin_and_it_is_audited(liaison):
    enrolled_device(liaison)
    root = person("root", is_superuser=True, is_staff=True)
    admin_device = enrolled_device(root)
    client = verified(signed_in_with_password("root"), admin_device)
    response = client.post("/admin/auth/user/", {"action": "reset_two_factor_action", "_selected_action": [liaison.pk]})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=liaison).exists() and not StaticDevice.objects.filter(user=liaison)
    entry = AuditEntry.objects.get(kind=AuditKind.TWO_FACTOR_RESET, object_id=str(liaison.pk))
    assert entry.actor == root and entry.details["devices_removed"] == 2
    # the liaison officer is asked to enrol again
    assert signed_in_with_password("fra-liaison").get("/")["Location"].startswith("/two-factor/enrol/")


def test_a_device_deleted_on_the_admins_delete_page_is_audited(logistics):
    device = enrolled_device(logistics)
    root = person("root", is_superuser=True, is_staff=True)
    client = verified(signed_in_with_password("root"), enrolled_device(root))
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").status_code == 200  # view only
    assert device.key not in client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").content.decode()
    assert client.get("/admin/otp_totp/totpdevice/add/").status_code == 403  # nobody sets another's secret
    assert client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"}).status_code == 302
    entry = AuditEntry.objects.get(kind=AuditKind.TWO_FACTOR_RESET, object_id=str(logistics.pk))
    assert entry.actor == root and "fra-logistics" in entry.summary


def test_a_device_removed_mid_session_does_not_lock_the_user_out(logistics):
    """An administrator's reset while the user is signed in: a role that does not require it carries on."""
    device = enrolled_device(logistics)
    client = verified(signed_in_with_password("fra-logistics"), device)
    two_factor.reset_two_factor(user=logistics, actor=None, reason="test")
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/two-factor/verify/?next=%2F"
    assert client.get(response["Location"])["Location"] == "/"  # nothing to verify, not required
    assert client.get("/").status_code == 200
