"""Sending one webhook delivery: signed POST, recorded attempt, exponential backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import DeliveryStatus, WebhookDelivery

SIGNATURE_HEADER = "X-Alliance-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``: the receiver recomputes it and rejects old times."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, tolerance_seconds: int = 300) -> bool:
    """What a receiving national system does (and what our tests do)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def backoff(attempts: int) -> int:
    """Seconds before the next attempt after `attempts` failures: base·2^(n-1), capped at an hour."""
    return min(settings.WEBHOOK_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), 3600)


class DeliveryBusy(Exception):
    """The delivery's row is locked: another worker is sending it, or the one that was has just died and its
    transaction is not rolled back yet.  Try again shortly; the row then says whether it was delivered."""


def attempt_delivery(delivery_id: int) -> WebhookDelivery | None:
    """POST the delivery once; record the outcome.  Returns the row (None if gone or no longer pending).

    The attempt is recorded in the transaction that holds the row's lock during the POST: a worker killed
    mid-POST records nothing (the redelivered task sends again, under the same ``X-Alliance-Delivery``)."""
    pending = WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING)
    with transaction.atomic():
        delivery = pending.select_for_update(skip_locked=True).select_related("endpoint").first()
        if delivery is None:
            if pending.exists():
                raise DeliveryBusy(delivery_id)
            return None  # delivered already, or given up
        if delivery.next_attempt_at and delivery.next_attempt_at > timezone.now() + timedelta(seconds=1):
            return delivery  # a duplicate trigger before the backoff is over: the scheduled retry will send it
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        request = urllib.request.Request(
            delivery.endpoint.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "AllianceLogisticsPortal-Webhook/1",
                "X-Alliance-Event": delivery.event,
                "X-Alliance-Delivery": str(delivery.pk),
                SIGNATURE_HEADER: sign(delivery.endpoint.secret, int(time.time()), body),
            },
        )
        delivery.attempts += 1
        delivery.last_attempt_at = timezone.now()
        try:
            with urllib.request.urlopen(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
                delivery.last_status_code = response.status
                ok = 200 <= response.status < 300
                delivery.last_error = "" if ok else f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            ok, delivery.last_status_code, delivery.last_error = False, exc.code, f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            ok, delivery.last_status_code, delivery.last_error = False, None, str(exc)[:500]
        if ok:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
                DeliveryStatus.DELIVERED,
                timezone.now(),
                None,
            )
        elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        else:
            delivery.next_attempt_at = timezone.now() + timedelta(seconds=backoff(delivery.attempts))
        delivery.save()
    return delivery
