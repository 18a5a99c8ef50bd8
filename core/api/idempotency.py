"""``Idempotency-Key`` on every POST.

The key is stored in the same transaction as the work it guards (table ``IdempotencyKey``, unique on
(caller, key)), so a key exists exactly when the work was done:
- same caller, same key, same body within 24 hours: the first response is replayed, the work is not redone;
- same key, another body: 422;
- the same key while the first call is still running: 409 at once (a PostgreSQL advisory lock on the pair),
  instead of queueing behind it;
- a call that failed (4xx/5xx or a dropped connection) stores nothing, so its retry does the work.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.models import IdempotencyKey

from .problems import ConflictError, UnprocessableContent

HEADER = "HTTP_IDEMPOTENCY_KEY"
TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255
REPLAYED_HEADERS = ("Location", "ETag")


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\0" + request.get_full_path().encode() + b"\0")
    digest.update(request.body)
    return digest.hexdigest()


def _advisory_lock(user_id: int, key: str) -> bool:
    if connection.vendor != "postgresql":
        return True  # SQLite serialises writers; the unique constraint is the guard there
    lock_id = int.from_bytes(hashlib.sha256(f"idem:{user_id}:{key}".encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [lock_id])
        return cursor.fetchone()[0]


def _replay(row: IdempotencyKey) -> HttpResponse:
    """The first answer again, byte for byte: its body is stored as the JSON text it was sent as (``jsonb`` would
    reorder its keys).  Rows stored as parsed JSON by an earlier release are rendered again."""
    if isinstance(row.response_body, str):
        response = HttpResponse(row.response_body.encode(), status=row.status_code, content_type="application/json")
    else:
        response = Response(row.response_body, status=row.status_code)
    for name, value in row.response_headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


def run_idempotent(request, handler, *args, **kwargs) -> Response:
    """Run the POST `handler` once per (caller, Idempotency-Key)."""
    key = request.META.get(HEADER, "").strip()
    if not key or not request.user.is_authenticated:
        return handler(request, *args, **kwargs)
    if len(key) > MAX_KEY_LENGTH:
        raise UnprocessableContent(f"An Idempotency-Key has at most {MAX_KEY_LENGTH} characters.")
    fingerprint = _fingerprint(request._request)
    user = request.user

    with transaction.atomic():
        if not _advisory_lock(user.pk, key):
            raise ConflictError("A request with this Idempotency-Key is still being processed; retry shortly.")
        existing = IdempotencyKey.objects.filter(user=user, key=key).first()
        if existing is not None and existing.created_at < timezone.now() - TTL:
            existing.delete()  # expired: the key may be used afresh
            existing = None
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise UnprocessableContent("This Idempotency-Key was used with a different request body.")
            return _replay(existing)

        response = handler(request, *args, **kwargs)
        if 200 <= response.status_code < 300:
            # the text DRF's JSONRenderer is about to send (same renderer, same settings): replayed as it is
            body = JSONRenderer().render(response.data).decode() if response.data is not None else None
            headers = {h: response[h] for h in REPLAYED_HEADERS if response.has_header(h)}
            try:
                with transaction.atomic():
                    IdempotencyKey.objects.create(
                        user=user,
                        key=key,
                        fingerprint=fingerprint,
                        status_code=response.status_code,
                        response_body=body,
                        response_headers=headers,
                        created_at=timezone.now(),
                    )
            except IntegrityError:
                # another call with this key committed first (only possible without advisory locks): undo ours
                raise ConflictError("A request with this Idempotency-Key was processed concurrently.") from None
        return response
