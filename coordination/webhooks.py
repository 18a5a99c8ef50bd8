"""Sending one webhook delivery: signed POST, recorded attempt, exponential backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time
from datetime import timedelta

import urllib3
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from urllib3 import exceptions as http_errors

from .models import DeliveryStatus, WebhookDelivery
from .webhook_targets import Target, TargetRefused, check_url

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


def post(target: Target, *, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """POST to the checked address (no second lookup), no redirects, no retries here (the backoff retries).

    Returns the status code and "" on a 2xx, else a generic error class: the socket's own message ("refused",
    "reset", "closed without response") would let an endpoint's owner map the internal network."""
    timeout = urllib3.Timeout(connect=settings.WEBHOOK_TIMEOUT_SECONDS, read=settings.WEBHOOK_TIMEOUT_SECONDS)
    options = {"timeout": timeout, "retries": False, "maxsize": 1}
    if target.scheme == "https":
        # the certificate is checked against the URL's host, not the address we connect to
        pool = urllib3.HTTPSConnectionPool(
            target.address, target.port, server_hostname=target.host, assert_hostname=target.host, **options
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, **options)
    try:
        with pool:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers={**headers, "Host": target.host_header},
                redirect=False,
                retries=False,
                assert_same_host=False,
            )
    except (http_errors.SSLError, ssl.SSLError):
        return None, "TLS error"
    except http_errors.NewConnectionError:  # first: urllib3 makes it a subclass of ConnectTimeoutError
        return None, "connection failed"
    except (http_errors.TimeoutError, TimeoutError):
        return None, "timeout"
    except (http_errors.HTTPError, OSError):
        return None, "connection failed"
    if 200 <= response.status < 300:
        return response.status, ""
    if 300 <= response.status < 400:
        return response.status, "redirect refused"
    return response.status, f"HTTP {response.status}"


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
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "AllianceLogisticsPortal-Webhook/1",
            "X-Alliance-Event": delivery.event,
            "X-Alliance-Delivery": str(delivery.pk),
            SIGNATURE_HEADER: sign(delivery.endpoint.secret, int(time.time()), body),
        }
        delivery.attempts += 1
        delivery.last_attempt_at = timezone.now()
        try:
            # checked again at every attempt: the name may point elsewhere since it was registered
            target = check_url(delivery.endpoint.url)
        except TargetRefused:
            delivery.last_status_code, delivery.last_error = None, "destination refused"
        else:
            delivery.last_status_code, delivery.last_error = post(target, body=body, headers=headers)
        ok = delivery.last_error == ""
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
