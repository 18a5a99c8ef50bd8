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
from django.db.models import QuerySet, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from rest_framework.utils.encoders import JSONEncoder

from nations.roles import CENTER_ROLES, ROLE_PERMISSIONS, Role

from . import lifecycle
from .api.serializers import ShortfallSerializer, SupplyRequestSerializer
from .follow_up import remainder_of
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


def people_holding(role: str, target_id: int) -> QuerySet:
    """Active human users holding `role` for the nation (or, for a center's role, the center) `target_id`, through
    their role group (service accounts get webhooks, not notices), each with the `notice_language` their notices
    are written in (their ``UserPreference``, else the portal's), read in the same query."""
    codename = ROLE_PERMISSIONS[role][1]
    grants = "groups__centergroupobjectpermission" if role in CENTER_ROLES else "groups__nationgroupobjectpermission"
    return (
        get_user_model()
        .objects.filter(is_active=True, service_account__isnull=True)
        .filter(**{f"{grants}__content_object_id": target_id, f"{grants}__permission__codename": codename})
        .annotate(notice_language=Coalesce("preference__language", Value(settings.LANGUAGE_CODE)))
        .distinct()
    )


def by_language(users) -> dict[str, list]:
    """`users` (from ``people_holding``) grouped by the language their notices are written in."""
    groups: dict[str, list] = {}
    for user in users:
        groups.setdefault(user.notice_language, []).append(user)
    return groups


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


def request_event(request: SupplyRequest, event: str, *, comment: str = "") -> None:
    """Tell those concerned that `request` moved (its row of the lifecycle table): the nation's role holders of its
    `audience`, and the operators of the center where the move leaves work (`operators_of`), each with the
    quantities, the comment and what they do next.  All of them see the request (its visibility rule names both
    nations' officers and both centers' operators).  Webhooks go to both nations' systems."""
    row = lifecycle.BY_EVENT[event]
    nation_field, role = row.audience
    audiences = [("nation", list(people_holding(role, getattr(request, f"{nation_field}_id"))))]
    if row.operators_of:
        told = {user.pk for user in audiences[0][1]}  # one notice each: the nation's text for a dual-hatted user
        operators = people_holding(Role.OPERATOR, getattr(request, f"{row.operators_of}_id")).exclude(pk__in=told)
        audiences.append(("operators", list(operators)))
    link = reverse("request-detail-page", args=[request.pk]) if _has_route("request-detail-page") else ""
    notes = []
    # Stored text, read (and e-mailed) later: composed once per language of its readers, never in the actor's.
    for audience, users in audiences:
        for language, readers in by_language(users).items():
            with translation.override(language):
                title, body = _request_notice(request, event, audience=audience, comment=comment)
            notes += [Notification(user=u, event=event, title=title, body=body, link=link) for u in readers]
    notes = Notification.objects.bulk_create(notes)
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


# The operators' notices are work orders: their title says what to do where.
OPERATOR_TITLES = {
    EventType.REQUEST_APPROVED: _("%(reference)s: dispatch %(n)s %(unit)s from %(center)s"),
    EventType.REQUEST_DISPATCHED: _("%(reference)s: receive %(n)s %(unit)s at %(center)s"),
}


def _request_notice(request: SupplyRequest, event: str, *, audience: str, comment: str) -> tuple[str, str]:
    """(title, body) of the notice of `event` for `audience` ("nation" or "operators"): the body says who asks
    what, the quantities so far, the comment, and the next step (templates/coordination/notifications/)."""
    if audience == "operators":
        row = lifecycle.BY_EVENT[event]
        quantity = request.quantity_approved if event == EventType.REQUEST_APPROVED else request.quantity_dispatched
        title = OPERATOR_TITLES[event] % {
            "reference": request.reference,
            "n": quantity,
            "unit": request.item.unit_of_issue,
            "center": getattr(request, row.operators_of).code,
        }
    else:
        title = _("%(reference)s: %(event)s") % {
            "reference": request.reference,
            "event": EventType(event).label.lower(),
        }
    body = render_to_string(
        "coordination/notifications/request_event.txt",
        {
            "r": request,
            "event": event.replace(".", "_"),  # request_approved: a name the template can compare
            "to_operators": audience == "operators",
            "comment": comment.strip(),
            "remainder": remainder_of(request),
        },
    )
    return title, body.strip()


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
            for language, readers in by_language(people_holding(Role.LOGISTICS, nation_id)).items():
                with translation.override(language):  # stored text, as for request events
                    title, body = _shortfalls_notice(shortfalls)
                notes += [
                    Notification(user=u, event=EventType.SHORTFALL_CRITICAL, title=title, body=body) for u in readers
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


def _shortfalls_notice(shortfalls: list[Shortfall]) -> tuple[str, str]:
    """(title, body) of a nation's summary of new critical shortfalls, in the active language: the count and the
    centers, then one line per shortfall (the first MAX_LINES)."""
    n = len(shortfalls)
    title = ngettext(
        "%(n)s new critical shortfall at %(centers)s", "%(n)s new critical shortfalls at %(centers)s", n
    ) % {"n": n, "centers": ", ".join(sorted({s.center.code for s in shortfalls}))}
    lines = [
        ngettext(
            "%(center)s %(nsn)s %(name)s: %(kind)s, %(available)s available",
            "%(center)s %(nsn)s %(name)s: %(kind)s, %(available)s available",
            s.available or 0,
        )
        % {
            "center": s.center.code,
            "nsn": s.item.nsn,
            "name": s.item.name,
            "kind": s.get_kind_display().lower(),
            "available": "?" if s.available is None else s.available,  # None: not seen yet
        }
        for s in shortfalls[:MAX_LINES]
    ]
    if n > MAX_LINES:
        rest = n - MAX_LINES
        lines.append(ngettext("… and %(n)s more shortfall.", "… and %(n)s more shortfalls.", rest) % {"n": rest})
    return title, "\n".join(lines)


def _jsonable(data: dict) -> dict:
    return json.loads(json.dumps(data, cls=JSONEncoder))


def _has_route(name: str) -> bool:
    try:
        reverse(name, args=[1])
    except NoReverseMatch:
        return False
    return True


# --- requisitions ------------------------------------------------------------------------------------------------


def _requisition_link(requisition) -> str:
    return reverse("requisition-detail-page", args=[requisition.pk]) if _has_route("requisition-detail-page") else ""


def _deliveries(event: str, nation_ids: set[int], payloads: list[dict]) -> list[int]:
    """Webhook deliveries of `event`, one per payload, to the active endpoints of `nation_ids` that want it."""
    endpoints = _endpoints_wanting(event, nation_ids)
    if not endpoints or not payloads:
        return []
    now = timezone.now()
    rows = [
        WebhookDelivery(endpoint=e, event=event, payload=p, next_attempt_at=now) for p in payloads for e in endpoints
    ]
    return [d.pk for d in WebhookDelivery.objects.bulk_create(rows)]


def requests_raised(requisition, requests: list[SupplyRequest]) -> None:
    """A requisition sourced `requests` (just submitted): each supplying nation's liaison officers get one notice
    listing the lines addressed to them (not one per line: a 500-line requisition is one piece of work per
    supplier), and its system one ``request.submitted`` webhook per request, as for a request raised alone."""
    by_supplier: dict[int, list[SupplyRequest]] = {}
    for r in requests:
        by_supplier.setdefault(r.supplying_nation_id, []).append(r)
    notes: list[Notification] = []
    deliveries: list[int] = []
    link = _requisition_link(requisition)
    for supplier_id, addressed in by_supplier.items():
        for language, readers in by_language(people_holding(Role.LIAISON, supplier_id)).items():
            with translation.override(language):
                title, body = _requisition_notice(requisition, addressed)
            notes += [
                Notification(user=u, event=EventType.REQUEST_SUBMITTED, title=title, body=body, link=link)
                for u in readers
            ]
        payloads = [
            _jsonable(envelope(EventType.REQUEST_SUBMITTED, SupplyRequestSerializer(r).data)) for r in addressed
        ]
        deliveries += _deliveries(EventType.REQUEST_SUBMITTED, {supplier_id}, payloads)
    created = Notification.objects.bulk_create(notes)
    _enqueue_after_commit([n.pk for n in created], deliveries)


def _requisition_notice(requisition, addressed: list[SupplyRequest]) -> tuple[str, str]:
    n = len(addressed)
    title = ngettext(
        "%(reference)s: %(n)s line from %(nation)s awaits your decision",
        "%(reference)s: %(n)s lines from %(nation)s await your decision",
        n,
    ) % {"reference": requisition.reference, "n": n, "nation": requisition.requesting_nation.code}
    lines = [
        _("%(request)s %(nsn)s %(name)s: %(n)s %(unit)s from %(center)s")
        % {
            "request": r.reference,
            "nsn": r.item.nsn,
            "name": r.item.name,
            "n": r.quantity_requested,
            "unit": r.item.unit_of_issue,
            "center": r.source_center.code,
        }
        for r in addressed[:MAX_LINES]
    ]
    if n > MAX_LINES:
        lines.append(
            ngettext("… and %(n)s more line.", "… and %(n)s more lines.", n - MAX_LINES) % {"n": n - MAX_LINES}
        )
    lines.append(
        _("Priority designator %(pd)s, required by %(rdd)s. Approve or reject them in your approval queue.")
        % {"pd": f"{requisition.priority_designator:02d}", "rdd": requisition.required_by.isoformat()}
    )
    return title, "\n".join(lines)


def requisition_closed(requisition, *, actor) -> None:
    """Every line received or cancelled: the requesting nation's logistics officers are told, and its system."""
    notes = []
    for language, readers in by_language(people_holding(Role.LOGISTICS, requisition.requesting_nation_id)).items():
        with translation.override(language):
            title = _("%(reference)s closed: every line received or cancelled") % {"reference": requisition.reference}
        notes += [
            Notification(
                user=u, event=EventType.REQUISITION_CLOSED, title=title, body="", link=_requisition_link(requisition)
            )
            for u in readers
        ]
    created = Notification.objects.bulk_create(notes)
    payload = {"id": requisition.pk, "reference": requisition.reference, "status": requisition.status}
    deliveries = _deliveries(
        EventType.REQUISITION_CLOSED,
        {requisition.requesting_nation_id},
        [envelope(EventType.REQUISITION_CLOSED, payload)],
    )
    _enqueue_after_commit([n.pk for n in created], deliveries)
