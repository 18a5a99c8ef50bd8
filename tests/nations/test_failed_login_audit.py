"""A failed sign-in for a username no account has is recorded as "unknown user" and a keyed hash prefix, never
as the typed text: people type their password into the username box.  Existing users' failures keep their
username.  django-axes' own tables (its lockout bookkeeping) get the same name, through AXES_USERNAME_CALLABLE."""

from __future__ import annotations

import re

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.test import Client

from nations.audit import recorded_username
from nations.models import AuditEntry, AuditKind
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SECRET_TYPED = "Correct-Horse-Battery-9"  # a password typed into the username box
UNKNOWN = re.compile(r"^unknown user [0-9a-f]{12}$")


def _everything_stored() -> str:
    """Every text the audit log and django-axes keep about sign-ins, in one string."""
    texts = []
    for entry in AuditEntry.objects.all():
        texts += [entry.username, entry.summary, str(entry.details)]
    for attempt in AccessAttempt.objects.all():
        texts += [attempt.username or "", attempt.get_data, attempt.post_data]
    for failure in AccessFailureLog.objects.all():
        texts.append(failure.username or "")
    return "\n".join(texts)


def test_a_failed_sign_in_for_an_unknown_username_records_a_hash_not_the_typed_text():
    response = Client().post("/login/", {"username": SECRET_TYPED, "password": "whatever"})
    assert response.status_code == 200

    entry = AuditEntry.objects.get(kind=AuditKind.LOGIN_FAILED)
    assert UNKNOWN.match(entry.username), entry.username
    assert entry.summary.startswith("Sign-in failed for unknown user ")
    assert entry.details.get("unknown_user") is True
    assert SECRET_TYPED not in _everything_stored()
    assert SECRET_TYPED.lower() not in _everything_stored().lower()


def test_the_same_unknown_username_gets_the_same_hash_and_another_one_another():
    client = Client()
    client.post("/login/", {"username": SECRET_TYPED, "password": "x"})
    client.post("/login/", {"username": SECRET_TYPED, "password": "y"})
    client.post("/login/", {"username": "someone-else", "password": "z"})
    first, second, third = AuditEntry.objects.filter(kind=AuditKind.LOGIN_FAILED).order_by("id")
    assert first.username == second.username != third.username
    assert first.username == recorded_username(SECRET_TYPED)


def test_the_hash_is_keyed_so_a_guess_cannot_be_checked_without_the_secret_key(settings):
    recorded = recorded_username(SECRET_TYPED)
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    assert recorded_username(SECRET_TYPED) != recorded


def test_an_existing_users_failed_sign_in_keeps_the_username():
    UserFactory(username="fra-logistics")
    Client().post("/login/", {"username": "fra-logistics", "password": "wrong"})
    entry = AuditEntry.objects.get(kind=AuditKind.LOGIN_FAILED)
    assert entry.username == "fra-logistics"
    assert AccessAttempt.objects.get().username == "fra-logistics"


def test_an_unknown_username_locked_out_is_recorded_by_its_hash_and_still_locked(settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": SECRET_TYPED, "password": "guess"})
    lockout = AuditEntry.objects.get(kind=AuditKind.LOCKED_OUT)
    assert UNKNOWN.match(lockout.username), lockout.username
    assert client.post("/login/", {"username": SECRET_TYPED, "password": "guess"}).status_code == 429
    assert AuditEntry.objects.filter(kind=AuditKind.LOCKED_OUT).count() == 1
    assert SECRET_TYPED not in _everything_stored()


def test_django_axes_stores_the_hash_for_an_unknown_username():
    Client().post("/login/", {"username": SECRET_TYPED, "password": "whatever"})
    assert UNKNOWN.match(AccessAttempt.objects.get().username)
    assert all(UNKNOWN.match(f.username) for f in AccessFailureLog.objects.all())
