"""The sign-in form with usernames of any length: the form again with its error (or a 400), never a 500; the
brute-force and audit bookkeeping (django-axes, nations.audit) stores nothing longer than its columns."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.test import Client

from nations.models import AuditEntry, AuditKind
from tests.factories import UserFactory

PASSWORD = "test-password-123"  # tests.factories.UserFactory's

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("length", [0, 150, 151, 255, 256, 10_000])
def test_a_username_of_any_length_gets_the_form_again_not_a_server_error(length):
    client = Client(raise_request_exception=False)
    response = client.post("/login/", {"username": "u" * length, "password": "wrong-password"})
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 200:
        assert 'class="error" role="alert"' in response.content.decode()  # the form again, with its error
    # what axes and the audit log kept fits their columns (PostgreSQL would have refused it otherwise)
    for attempt in AccessAttempt.objects.all():
        assert len(attempt.username or "") <= 255
    for failure in AccessFailureLog.objects.all():
        assert len(failure.username or "") <= 255
    for entry in AuditEntry.objects.all():
        assert len(entry.username) <= 150


@pytest.mark.parametrize("length", [151, 256, 10_000])
def test_an_over_long_username_is_refused_by_the_form_before_authentication(length):
    # Django's usernames have at most 150 characters: a longer one cannot match an account, so it never reaches
    # the authentication backends (nor axes' bookkeeping) -- and it is not a failed sign-in either
    response = Client().post("/login/", {"username": "u" * length, "password": "wrong-password"})
    assert response.status_code == 200
    assert not AccessAttempt.objects.exists()
    assert not AuditEntry.objects.filter(kind=AuditKind.LOGIN_FAILED).exists()


def test_a_150_character_username_still_signs_in():
    user = UserFactory(username="u" * 150)
    response = Client().post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.parametrize("length", [0, 150, 151, 255, 256, 10_000])
def test_the_admin_sign_in_takes_any_username_length_too(length):
    response = Client(raise_request_exception=False).post(
        "/admin/login/", {"username": "u" * length, "password": "wrong-password"}
    )
    assert response.status_code in (200, 400), response.status_code
    assert all(len(a.username or "") <= 255 for a in AccessAttempt.objects.all())
