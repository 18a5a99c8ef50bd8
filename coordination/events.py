"""Events: in-app notifications, email, and webhooks to national systems.

Services call these inside their transaction: the notification and delivery rows are written with the change
(so they exist exactly when the change does), and the sending is queued after commit.  If the broker is down
at that moment the delivery rows stay pending and the periodic sweep (``retry_due_deliveries``) sends them later;
the emails, which no row tracks, are sent in-process instead.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from rest_framework.utils.encoders import JSONEncoder

from nations.roles import ROLE_PERMISSIONS, Role

from . import lifecycle
from .api.serializers import ShortfallSerializer, SupplyRequestSerializer
from .models import EventType, Notification, Shortfall, SupplyRequest, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

# Set while events are history rather than news (the demo scenario): notifications are written, no e-mail is sent.
_EMAIL_OFF: ContextVar[bool] = ContextVar("events_email_off", default=False)


@contextmanager
def without_email():
    """Within the block, events write their in-app notifications and webhook deliveries but send no e-mail."""
    token = _EMAIL_OFF.set(True)
    try:
        yield
    finally:
        _EMAIL_OFF.reset(token)


def people_holding(role: str, nation_id: int) -> QuerySet:
    """Active human users holding `role` for the nation (service accounts get webhooks, not notices)."""
    codename = ROLE_PERMISSIONS[role][1]
    return (
        get_user_model()
        .objects.filter(is_active=True, service_account__isnull=True)
        .filter(
            groups__nationgroupobjectpermission__content_object_id=nation_id,
            groups__nationgroupobjectpermission__permission__codename=codename,
        )
        .distinct()
    )


def _enqueue_after_commit(notification_ids: list[int], delivery_ids: list[int]) -> None:
    from . import tasks  # the tasks run the jobs that queue them (runs, events): imported when queueing, not at load

    if _EMAIL_OFF.get():
        notification_ids = []

    def send():
        emails_queued = not notification_ids
        try:
            if notification_ids:
                tasks.email_notifications.delay(notification_ids)
                emails_queued = True
            for delivery_id in delivery_ids:
                tasks.deliver_webhook.delay(delivery_id)
        except Exception:  # broker unreachable: the deliveries stay pending; the sweep sends them later
            log.warning("could not queue event work; the sweep will send the webhooks", exc_info=True)
            if not emails_queued:
                _email_in_process(notification_ids)

    transaction.on_commit(send)


def _email_in_process(notification_ids: list[int]) -> None:
    """No row remembers an unsent email, so with the broker down the emails go out here and now (bounded by
    EMAIL_TIMEOUT) rather than never.  A failure is logged: the in-app notices exist either way."""
    from . import tasks  # see _enqueue_after_commit

    try:
        tasks.email_notifications.apply(args=(notification_ids,), throw=True)
    except Exception:
        log.exception("could not email notifications %s", notification_ids)


def _endpoints_wanting(event: str, nation_ids: set[int]) -> list[WebhookEndpoint]:
    return [e for e in WebhookEndpoint.objects.filter(nation_id__in=nation_ids, active=True) if e.wants(event)]


def queue_deliveries(delivery_ids: list[int]) -> None:
    """Send these webhook deliveries once the transaction that wrote them commits (the sweep retries otherwise)."""
    _enqueue_after_commit([], delivery_ids)


def envelope(event: str, data: dict) -> dict:
    """The body of every delivery: ``{"event", "occurred_at", "data"}`` (its schema: coordination/api/webhooks.py)."""
    return {"event": event, "occurred_at": timezone.now().isoformat(), "data": data}


def request_event(request: SupplyRequest, event: str) -> None:
    """Tell the nation concerned that `request` moved (who hears of `event`: its row of the lifecycle table);
    webhooks go to both nations' systems."""
    nation_field, role = lifecycle.BY_EVENT[event].audience
    nation_id = getattr(request, f"{nation_field}_id")
    # Stored text read later by others: composed in the portal's language, not in the acting user's.
    with translation.override(settings.LANGUAGE_CODE):
        title = f"{request.reference}: {EventType(event).label.lower()}"
    body = (
        f"{request.requesting_nation.code} asks {request.supplying_nation.code} for "
        f"{request.quantity_requested} × {request.item.nsn} {request.item.name} "
        f"({request.source_center.code} → {request.destination_center.code})."
    )
    link = reverse("request-detail-page", args=[request.pk]) if _has_route("request-detail-page") else ""
    notes = Notification.objects.bulk_create(
        [Notification(user=u, event=event, title=title, body=body, link=link) for u in people_holding(role, nation_id)]
    )
    endpoints = _endpoints_wanting(event, {request.requesting_nation_id, request.supplying_nation_id})
    deliveries: list[int] = []
    if endpoints:  # the payload is built only when a national system listens
        payload = _jsonable(envelope(event, SupplyRequestSerializer(request).data))
        now = timezone.now()
        deliveries = [
            d.pk
            for d in WebhookDelivery.objects.bulk_create(
                [WebhookDelivery(endpoint=e, event=event, payload=payload, next_attempt_at=now) for e in endpoints]
            )
        ]
    _enqueue_after_commit([n.pk for n in notes], deliveries)


def notify_critical_shortfalls(shortfall_ids: list[int]) -> None:
    """New critical shortfalls of one pass: one notice per nation's logistics officer summing them up (not one
    per flag, which would bury the officers on a first run), and a webhook per shortfall to the nation's
    system.  Pool shortfalls (no nation) are for coordinators' lists only."""
    by_nation: dict[int, list[Shortfall]] = {}
    for shortfall in (
        Shortfall.objects.filter(pk__in=shortfall_ids, nation__isnull=False)
        .select_related("nation", "center", "item")
        .order_by("center__code", "item__nsn")
    ):
        by_nation.setdefault(shortfall.nation_id, []).append(shortfall)
    with transaction.atomic():
        notes: list[Notification] = []
        deliveries: list[int] = []
        for nation_id, shortfalls in by_nation.items():
            centers = sorted({s.center.code for s in shortfalls})
            title = f"{len(shortfalls)} new critical shortfall(s) at {', '.join(centers)}"
            with translation.override(settings.LANGUAGE_CODE):  # stored text, as for request events
                lines = [
                    f"{s.center.code} {s.item.nsn} {s.item.name}: {s.get_kind_display().lower()}, "
                    f"{s.available} available"
                    for s in shortfalls[:MAX_LINES]
                ]
            if len(shortfalls) > MAX_LINES:
                lines.append(f"… and {len(shortfalls) - MAX_LINES} more.")
            notes += [
                Notification(user=u, event=EventType.SHORTFALL_CRITICAL, title=title, body="\n".join(lines))
                for u in people_holding(Role.LOGISTICS, nation_id)
            ]
            # the nation's endpoints asked once, not once per shortfall (a first run raises thousands)
            endpoints = _endpoints_wanting(EventType.SHORTFALL_CRITICAL, {nation_id})
            if not endpoints:
                continue
            now = timezone.now()
            payloads = [
                _jsonable(envelope(EventType.SHORTFALL_CRITICAL, ShortfallSerializer(s).data)) for s in shortfalls
            ]
            created = WebhookDelivery.objects.bulk_create(
                [
                    WebhookDelivery(endpoint=e, event=EventType.SHORTFALL_CRITICAL, payload=p, next_attempt_at=now)
                    for p in payloads
                    for e in endpoints
                ]
            )
            deliveries += [d.pk for d in created]
        created = Notification.objects.bulk_create(notes)
        _enqueue_after_commit([n.pk for n in created], deliveries)


MAX_LINES = 25


def _jsonable(data: dict) -> dict:
    return json.loads(json.dumps(data, cls=JSONEncoder))


def _has_route(name: str) -> bool:
    try:
        reverse(name, args=[1])
    except NoReverseMatch:
        return False
    return True
