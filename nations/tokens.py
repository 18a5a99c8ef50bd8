"""Issuing, checking and revoking API tokens for national systems.  Tokens are stored hashed."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.prepared import prepared_statements

from . import audit
from .models import ApiToken

TOKEN_PREFIX = "alp_"


def hash_token(raw: str) -> str:
    # A token is 256 random bits, so a plain SHA-256 is enough: there is nothing to brute-force.
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def issue_token(*, user, name: str = "", expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns the row and the raw token, which is never stored or shown again.

    Every token expires: in `expires_in_days` (at least 1, at most API_TOKEN_MAX_DAYS), or API_TOKEN_DEFAULT_DAYS."""
    if expires_in_days is None:
        expires_in_days = settings.API_TOKEN_DEFAULT_DAYS
    if expires_in_days <= 0:
        raise ValueError("A token must expire in at least one day.")
    if expires_in_days > settings.API_TOKEN_MAX_DAYS:
        raise ValueError(f"A token must expire in at most {settings.API_TOKEN_MAX_DAYS} days (API_TOKEN_MAX_DAYS).")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        key_hash=hash_token(raw),
        expires_at=timezone.now() + timedelta(days=expires_in_days),
    )
    audit.token_issued(token)
    return token, raw


@transaction.atomic
def revoke_token(*, token: ApiToken) -> ApiToken:
    """Stop a token from working; revoking a revoked token changes nothing (and records nothing)."""
    locked = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit.token_revoked(locked)
    token.revoked_at = locked.revoked_at  # the caller's copy says so too
    return locked


def authenticate_token(raw: str) -> ApiToken | None:
    """The usable token for `raw`, or None (unknown, expired, revoked, or its user inactive)."""
    with prepared_statements():  # every API call asks it: planned once per connection
        token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(raw)).first()
    now = timezone.now()
    if token is None or not token.is_usable(now) or not token.user.is_active:
        return None
    # Record use at most once a minute: a busy system must not write a row per call.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
