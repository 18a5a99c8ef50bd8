"""Every API token expires: a default lifetime, a configurable maximum, and a database constraint behind them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from nations.models import ApiToken
from nations.tokens import authenticate_token, issue_token
from tests.factories import UserFactory


@pytest.fixture
def system(db):
    return UserFactory(username="fra-system")


def test_a_token_issued_without_a_lifetime_gets_the_default_one(system, settings):
    settings.API_TOKEN_DEFAULT_DAYS = 30
    token, raw = issue_token(user=system)
    assert abs(token.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert authenticate_token(raw) == token


def test_a_lifetime_beyond_the_maximum_is_refused_and_nothing_is_created(system, settings):
    settings.API_TOKEN_MAX_DAYS = 180
    with pytest.raises(ValueError, match="at most 180 days"):
        issue_token(user=system, expires_in_days=181)
    assert not ApiToken.objects.exists()
    token, _raw = issue_token(user=system, expires_in_days=180)
    assert token.expires_at > timezone.now() + timedelta(days=179)


def test_an_expired_token_no_longer_authenticates(system):
    token, raw = issue_token(user=system, expires_in_days=1)
    ApiToken.objects.filter(pk=token.pk).update(
        created_at=timezone.now() - timedelta(days=2), expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert authenticate_token(raw) is None


@pytest.mark.parametrize("expires_at", [None, "created_at"], ids=["no expiry", "expiring at creation"])
def test_the_database_refuses_a_token_that_never_expires_or_is_born_expired(system, expires_at):
    token, _raw = issue_token(user=system, expires_in_days=1)
    value = token.created_at if expires_at == "created_at" else None
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiToken.objects.filter(pk=token.pk).update(expires_at=value)
