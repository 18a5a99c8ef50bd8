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
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import QuerySet, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from rest_framework.utils.encoders import JSONEncoder

from core.prepared import prepared_statements
from inventory.models import CenterGroupObjectPermission
from nations.models import NationGroupObjectPermission, ServiceAccount, UserPreference
from nations.roles import CENTER_ROLES, ROLE_PERMISSIONS, Role

from . import clocks, lifecycle
from .api.serializers import ShortfallSerializer, SupplyRequestSerializer
from .follow_up import remainder_of
from .models import (
    Discrepancy,
    DiscrepancyKind,
    EventType,
    Notification,
    Shortfall,
    SupplyRequest,
    WebhookDelivery,
    WebhookEndpoint,
)

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
    grants = CenterGroupObjectPermission if role in CENTER_ROLES else NationGroupObjectPermission
    User = get_user_model()
    # the members of the groups granted the role there, as a semi-join: no DISTINCT over whole user rows, and a
    # plan PostgreSQL makes in a fraction of the time of the five-join path through auth_group (every transition
    # asks this, once or twice)
    groups = grants.objects.filter(content_object_id=target_id, permission__codename=codename).values("group_id")
    members = User.groups.through.objects.filter(group_id__in=groups).values("user_id")
    return User.objects.filter(is_active=True, service_account__isnull=True, pk__in=members).annotate(
        notice_language=Coalesce("preference__language", Value(settings.LANGUAGE_CODE))
    )


def by_language(users) -> dict[str, list]:
    """`users` (from ``people_holding``) grouped by the language their notices are written in."""
    groups: dict[str, list] = {}
    for user in users:
        groups.setdefault(user.notice_language, []).append(user)
    return groups


# Set while a shipment's requests are dispatched: its one notice (``shipment_dispatched``) tells what each
# request's "dispatched" notice would have told, to the same people; the requests' webhooks are still sent.
_IN_SHIPMENT: ContextVar[bool] = ContextVar("events_in_shipment", default=False)


@contextmanager
def told_by_shipment():
    """Within the block, requests moving to dispatched write no in-app notice of their own (webhooks still go)."""
    token = _IN_SHIPMENT.set(True)
    try:
        yield
    finally:
        _IN_SHIPMENT.reset(token)


# Set while many transactions run in a row for one caller (a bulk decision): see ``batched``.
_BATCH: ContextVar[dict | None] = ContextVar("events_batch", default=None)


@contextmanager
def batched():
    """Within the block (many transactions in a row: a bulk approval), the people to tell and the endpoints to call
    are looked up once per nation (or center) and role rather than once per transaction, and the e-mails and
    webhook deliveries of every transaction that committed are queued together when the block ends.  The notices
    and delivery rows are still written in each transaction, with its change."""
    batch: dict = {"people": {}, "endpoints": {}, "notifications": [], "deliveries": []}
    token = _BATCH.set(batch)
    try:
        yield
    finally:
        _BATCH.reset(token)
        if batch["notifications"] or batch["deliveries"]:
            _send(batch["notifications"], batch["deliveries"])


@dataclass(frozen=True)
class Reader:
    """Someone to tell: a user's id and the language their notices are written in."""

    pk: int
    notice_language: str


def _readers_sql(role: str) -> str:
    """``people_holding`` as one hand-written statement, ids and languages only: every transition asks it once or
    twice, and building the ORM's query cost more Python than PostgreSQL takes to answer the prepared statement."""
    User = get_user_model()
    grants = CenterGroupObjectPermission if role in CENTER_ROLES else NationGroupObjectPermission
    return f"""
        SELECT u.id, COALESCE(pref.language, %(language)s) FROM {User._meta.db_table} u
          LEFT JOIN {UserPreference._meta.db_table} pref ON pref.user_id = u.id
         WHERE u.is_active
           AND NOT EXISTS (SELECT 1 FROM {ServiceAccount._meta.db_table} sa WHERE sa.user_id = u.id)
           AND u.id IN (SELECT ug.user_id FROM {User.groups.through._meta.db_table} ug
                          JOIN {grants._meta.db_table} g ON g.group_id = ug.group_id
                          JOIN auth_permission perm ON perm.id = g.permission_id
                         WHERE g.content_object_id = %(target)s AND perm.codename = %(codename)s)
         ORDER BY u.id"""


def people_to_tell(role: str, target_id: int) -> list[Reader]:
    """Who ``people_holding(role, target_id)`` names, as `Reader` rows (a prepared statement)."""
    params = {"language": settings.LANGUAGE_CODE, "target": target_id, "codename": ROLE_PERMISSIONS[role][1]}
    with prepared_statements(), connection.cursor() as cursor:
        cursor.execute(_readers_sql(role), params)
        return [Reader(pk, language) for pk, language in cursor.fetchall()]


def _people(role: str, target_id: int) -> list[Reader]:
    """``people_to_tell``, looked up once per batch."""
    batch = _BATCH.get()
    if batch is None:
        return people_to_tell(role, target_id)
    key = (role, target_id)
    if key not in batch["people"]:
        batch["people"][key] = people_to_tell(role, target_id)
    return batch["people"][key]


def _enqueue_after_commit(notification_ids: list[int], delivery_ids: list[int]) -> None:
    if _EMAIL_OFF.get():
        notification_ids = []
    batch = _BATCH.get()
    if batch is not None:  # queued when the batch ends, with the other committed transactions' work

        def remember():
            batch["notifications"].extend(notification_ids)
            batch["deliveries"].extend(delivery_ids)

        transaction.on_commit(remember)
        return
    transaction.on_commit(lambda: _send(notification_ids, delivery_ids))


def _send(notification_ids: list[int], delivery_ids: list[int]) -> None:
    from . import tasks  # the tasks run the jobs that queue them (runs, events): imported when queueing, not at load

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


def _email_in_process(notification_ids: list[int]) -> None:
    """No row remembers an unsent email, so with the broker down the emails go out here and now (bounded by
    EMAIL_TIMEOUT) rather than never.  A failure is logged: the in-app notices exist either way."""
    from . import tasks  # see _enqueue_after_commit

    try:
        tasks.email_notifications.apply(args=(notification_ids,), throw=True)
    except Exception:
        log.exception("could not email notifications %s", notification_ids)


def _endpoints_wanting(event: str, nation_ids: set[int]) -> list[WebhookEndpoint]:
    batch = _BATCH.get()
    key = (event, frozenset(nation_ids))
    if batch is not None and key in batch["endpoints"]:
        return batch["endpoints"][key]
    with prepared_statements():
        found = [e for e in WebhookEndpoint.objects.filter(nation_id__in=nation_ids, active=True) if e.wants(event)]
    if batch is not None:
        batch["endpoints"][key] = found
    return found


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
    audiences = [("nation", _people(role, getattr(request, f"{nation_field}_id")))]
    if event == EventType.REQUEST_DISPATCHED and _IN_SHIPMENT.get():
        audiences = []  # the shipment's one notice tells them
    if row.operators_of and audiences:
        told = {user.pk for user in audiences[0][1]}  # one notice each: the nation's text for a dual-hatted user
        operators = _people(Role.OPERATOR, getattr(request, f"{row.operators_of}_id"))
        audiences.append(("operators", [user for user in operators if user.pk not in told]))
    link = reverse("request-detail-page", args=[request.pk]) if _has_route("request-detail-page") else ""
    notes = []
    # Stored text, read (and e-mailed) later: composed once per language of its readers, never in the actor's.
    for audience, users in audiences:
        for language, readers in by_language(users).items():
            with translation.override(language):
                title, body = _request_notice(request, event, audience=audience, comment=comment)
            notes += [Notification(user_id=u.pk, event=event, title=title, body=body, link=link) for u in readers]
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


# --- shipments ---------------------------------------------------------------------------------------------------


def _shipment_link(shipment) -> str:
    return reverse("shipment-detail-page", args=[shipment.pk]) if _has_route("shipment-detail-page") else ""


def shipment_dispatched(shipment, requests: list[SupplyRequest]) -> None:
    """A shipment left for its destination: one notice per reader, not one per request.  Each requesting nation's
    logistics officers read the requests of their nation (another nation's request travelling with theirs is not
    theirs to see); the destination center's operators, who receive it, read every request.  Each requesting
    nation's system gets one ``shipment.dispatched`` webhook with its own requests."""
    by_nation: dict[int, list[SupplyRequest]] = {}
    for r in requests:
        by_nation.setdefault(r.requesting_nation_id, []).append(r)
    link = _shipment_link(shipment)
    notes: list[Notification] = []
    deliveries: list[int] = []
    told: set[int] = set()  # one notice each: a user told as an officer of one nation is not told again

    def tell(users, shown: list[SupplyRequest], *, to_operators: bool) -> None:
        for language, readers in by_language(users).items():
            with translation.override(language):
                title, body = _shipment_notice(shipment, shown, to_operators=to_operators)
            notes.extend(
                Notification(user=u, event=EventType.SHIPMENT_DISPATCHED, title=title, body=body, link=link)
                for u in readers
            )
        told.update(u.pk for u in users)

    for nation_id, theirs in by_nation.items():
        tell([u for u in people_holding(Role.LOGISTICS, nation_id) if u.pk not in told], theirs, to_operators=False)
        payload = _jsonable(envelope(EventType.SHIPMENT_DISPATCHED, _shipment_payload(shipment, theirs)))
        deliveries += _deliveries(EventType.SHIPMENT_DISPATCHED, {nation_id}, [payload])
    operators = people_holding(Role.OPERATOR, shipment.destination_center_id).exclude(pk__in=told)
    tell(list(operators), requests, to_operators=True)
    created = Notification.objects.bulk_create(notes)
    _enqueue_after_commit([n.pk for n in created], deliveries)


def _shipment_payload(shipment, requests: list[SupplyRequest]) -> dict:
    """The shipment as ``/api/v1/shipments/{id}/`` shows it, with the requests of one requesting nation."""
    return {
        "id": shipment.pk,
        "reference": shipment.reference,
        "shipping_nation": shipment.shipping_nation.code,
        "source_center": shipment.source_center.code,
        "destination_center": shipment.destination_center.code,
        "mode": shipment.mode,
        "carrier": shipment.carrier,
        "departed_at": shipment.departed_at,
        "expected_arrival": shipment.expected_arrival,
        "arrived_at": shipment.arrived_at,
        "requests": [
            {
                "id": r.pk,
                "reference": r.reference,
                "status": r.status,
                "requesting_nation": r.requesting_nation.code,
                "nsn": r.item.nsn,
                "quantity_dispatched": r.quantity_dispatched,
                "quantity_received": r.quantity_received,
            }
            for r in requests
        ],
    }


def _shipment_notice(shipment, requests: list[SupplyRequest], *, to_operators: bool) -> tuple[str, str]:
    """(title, body): what is coming, from where, how and when; for the destination's operators a work order."""
    n = len(requests)
    values = {
        "reference": shipment.reference,
        "n": n,
        "source": shipment.source_center.code,
        "destination": shipment.destination_center.code,
        "expected": timezone.localtime(shipment.expected_arrival).strftime("%Y-%m-%d %H:%M"),  # the portal's UTC
    }
    if to_operators:
        title = ngettext(
            "%(reference)s: receive %(n)s request at %(destination)s, expected %(expected)s UTC",
            "%(reference)s: receive %(n)s requests at %(destination)s, expected %(expected)s UTC",
            n,
        )
    else:
        title = ngettext(
            "%(reference)s: %(n)s request on its way from %(source)s to %(destination)s, expected %(expected)s UTC",
            "%(reference)s: %(n)s requests on their way from %(source)s to %(destination)s, expected %(expected)s UTC",
            n,
        )
    lines = [
        _("%(request)s %(nsn)s %(name)s: %(n)s %(unit)s for %(nation)s")
        % {
            "request": r.reference,
            "nsn": r.item.nsn,
            "name": r.item.name,
            "n": r.quantity_dispatched,
            "unit": r.item.unit_of_issue,
            "nation": r.requesting_nation.code,
        }
        for r in requests[:MAX_LINES]
    ]
    if n > MAX_LINES:
        lines.append(
            ngettext("… and %(n)s more request.", "… and %(n)s more requests.", n - MAX_LINES) % {"n": n - MAX_LINES}
        )
    lines.append(
        _("By %(mode)s%(carrier)s, left %(departed)s UTC.")
        % {
            "mode": shipment.get_mode_display().lower(),
            "carrier": f" ({shipment.carrier})" if shipment.carrier else "",
            "departed": timezone.localtime(shipment.departed_at).strftime("%Y-%m-%d %H:%M"),
        }
    )
    return title % values, "\n".join(lines)


# --- overdue clocks ----------------------------------------------------------------------------------------------

# Who must act when a clock runs out (coordination/clocks.py): (role, the request's nation or center they hold it for).
OVERDUE_AUDIENCE = {
    DiscrepancyKind.OVERDUE_APPROVAL: [(Role.LIAISON, "supplying_nation_id")],
    DiscrepancyKind.OVERDUE_DISPATCH: [(Role.LOGISTICS, "supplying_nation_id"), (Role.OPERATOR, "source_center_id")],
    DiscrepancyKind.OVERDUE_ARRIVAL: [
        (Role.LOGISTICS, "requesting_nation_id"),
        (Role.OPERATOR, "destination_center_id"),
    ],
}


def notify_overdue(flag_ids: list[int]) -> None:
    """Overdue flags raised by one reconciliation run: each person who must act gets one notice summing up the
    flags that are theirs (approval: the supplier's liaison officers; dispatch: the supplier's logistics officers
    and the source center's operators; arrival: the requesting nation's logistics officers and the destination
    center's operators), most pressing first.  All of them see the requests (their visibility rule names both
    nations' officers and both centers' operators).  Webhooks: ``request.overdue`` per request late for approval
    or dispatch, to both nations' systems; ``shipment.overdue`` per late shipment, to the shipping nation's system
    and to each requesting nation's with its own requests."""
    flags = list(
        Discrepancy.objects.filter(pk__in=flag_ids, kind__in=clocks.OVERDUE_KINDS, request__isnull=False)
        .select_related(
            "request__item",
            "request__requesting_nation",
            "request__supplying_nation",
            "request__source_center",
            "request__destination_center",
            "request__shipment__shipping_nation",
            "request__shipment__source_center",
            "request__shipment__destination_center",
        )
        .order_by("request__priority_designator", "request__required_by", "id")
    )
    if not flags:
        return
    holders: dict[tuple[str, int], list] = {}
    theirs: dict[int, tuple[object, list[Discrepancy]]] = {}
    for flag in flags:
        for role, field in OVERDUE_AUDIENCE[flag.kind]:
            key = (role, getattr(flag.request, field))
            if key not in holders:
                holders[key] = list(people_holding(role, key[1]))
            for user in holders[key]:
                _user, listed = theirs.setdefault(user.pk, (user, []))
                if not listed or listed[-1] is not flag:  # once, when the user holds both roles of a clock
                    listed.append(flag)
    notes = []
    for user, listed in theirs.values():
        with translation.override(user.notice_language):  # stored text, as for request events
            title, body = _overdue_notice(listed)
        kinds = {f.kind for f in listed}
        event = EventType.SHIPMENT_OVERDUE if kinds == {DiscrepancyKind.OVERDUE_ARRIVAL} else EventType.REQUEST_OVERDUE
        notes.append(Notification(user=user, event=event, title=title, body=body, link=_overdue_link(kinds)))
    with transaction.atomic():
        created = Notification.objects.bulk_create(notes)
        deliveries = _overdue_deliveries(flags)
        _enqueue_after_commit([n.pk for n in created], deliveries)


def _overdue_link(kinds: set[str]) -> str:
    """Liaison officers late with decisions go to their approval queue; the others to the open flags of the kind."""
    if kinds == {DiscrepancyKind.OVERDUE_APPROVAL}:
        return reverse("approval-queue")
    query = f"?kind={next(iter(kinds))}&open=true" if len(kinds) == 1 else "?open=true"
    return reverse("discrepancy-list") + query


def _overdue_deliveries(flags: list[Discrepancy]) -> list[int]:
    by_nations: dict[tuple[int, int], list[dict]] = {}
    by_shipment: dict[int, list[SupplyRequest]] = {}
    for flag in flags:
        r = flag.request
        if flag.kind == DiscrepancyKind.OVERDUE_ARRIVAL:
            by_shipment.setdefault(r.shipment_id, []).append(r)
            continue
        payload = _jsonable(envelope(EventType.REQUEST_OVERDUE, SupplyRequestSerializer(r).data))
        by_nations.setdefault((r.requesting_nation_id, r.supplying_nation_id), []).append(payload)
    deliveries: list[int] = []
    for nation_ids, payloads in by_nations.items():
        deliveries += _deliveries(EventType.REQUEST_OVERDUE, set(nation_ids), payloads)
    for late in by_shipment.values():
        shipment = late[0].shipment
        by_requester: dict[int, list[SupplyRequest]] = {}
        for r in late:
            by_requester.setdefault(r.requesting_nation_id, []).append(r)
        audiences = [(shipment.shipping_nation_id, late), *by_requester.items()]
        for nation_id, shown in audiences:
            payload = _jsonable(envelope(EventType.SHIPMENT_OVERDUE, _shipment_payload(shipment, shown)))
            deliveries += _deliveries(EventType.SHIPMENT_OVERDUE, {nation_id}, [payload])
    return deliveries


def _overdue_notice(flags: list[Discrepancy]) -> tuple[str, str]:
    """(title, body) of one person's overdue flags of a run, in the active language: the count, then one line per
    request (the first MAX_LINES) saying which step is late and since when it was due."""
    n = len(flags)
    title = ngettext("%(n)s request is overdue", "%(n)s requests are overdue", n) % {"n": n}
    lines = [_overdue_line(flag) for flag in flags[:MAX_LINES]]
    if n > MAX_LINES:
        lines.append(
            ngettext("… and %(n)s more request.", "… and %(n)s more requests.", n - MAX_LINES) % {"n": n - MAX_LINES}
        )
    return title, "\n".join(lines)


def _overdue_line(flag: Discrepancy) -> str:
    r = flag.request
    values = {
        "request": r.reference,
        "nsn": r.item.nsn,
        "name": r.item.name,
        "nation": r.requesting_nation.code,
        "supplier": r.supplying_nation.code,
        "pd": f"{r.priority_designator:02d}",
    }
    if flag.kind == DiscrepancyKind.OVERDUE_APPROVAL:
        return _(
            "%(request)s %(nsn)s %(name)s, %(nation)s to %(supplier)s: not decided within %(hours)s h of its "
            "submission (priority %(pd)s)"
        ) % {**values, "hours": clocks.hours_for(r.priority_designator, clocks.APPROVE)}
    if flag.kind == DiscrepancyKind.OVERDUE_DISPATCH:
        return _(
            "%(request)s %(nsn)s %(name)s, %(nation)s to %(supplier)s: not dispatched from %(center)s within "
            "%(hours)s h of its approval (priority %(pd)s)"
        ) % {
            **values,
            "center": r.source_center.code,
            "hours": clocks.hours_for(r.priority_designator, clocks.DISPATCH),
        }
    return _(
        "%(request)s %(nsn)s %(name)s, %(nation)s to %(supplier)s: in %(shipment)s, expected at %(center)s "
        "%(expected)s UTC, not received"
    ) % {
        **values,
        "shipment": r.shipment.reference,
        "center": r.destination_center.code,
        "expected": timezone.localtime(r.shipment.expected_arrival).strftime("%Y-%m-%d %H:%M"),
    }
