"""Events: in-app notifications to the right people (never to service accounts), email through Django's
locmem backend, new critical shortfalls summed up once per pass, the notifications API, and webhooks to
national systems delivered to a real HTTP server on 127.0.0.1: signed, recorded, retried with backoff.

Notification and delivery rows are written in the transaction of the change; the sending (email, webhook POST)
is queued after commit, so tests that look at what was sent wrap the change in
``django_capture_on_commit_callbacks(execute=True)`` (Celery is eager: the tasks run in-process then).
"""

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from coordination import runs, services, tasks
from coordination.models import (
    DeliveryStatus,
    EventType,
    Notification,
    Shortfall,
    ShortfallKind,
    WebhookDelivery,
    WebhookEndpoint,
)
from coordination.webhooks import SIGNATURE_HEADER, attempt_delivery, backoff, sign, verify

from .conftest import fuel_request, make_stock, move, token_client

pytestmark = pytest.mark.django_db

SECRET = "s3cret-shared-with-fra-system"
HOOKS = "/api/v1/webhooks/"
NOTES = "/api/v1/notifications/"


def notified(event) -> set[str]:
    return set(Notification.objects.filter(event=event).values_list("user__username", flat=True))


def approve(world, request):
    return services.approve_request(request=request, approver=world.users["deu_liaison"])


# --- a real HTTP receiver ---------------------------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 (random port) in a thread, answering POSTs with the given statuses in turn
    (then 200) and recording what it received."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alliance/events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(autouse=True)
def _loopback_receivers_allowed(settings):
    """The receivers listen on 127.0.0.1, which webhooks refuse unless it is listed (tests/coordination/
    test_webhook_targets.py)."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def receiver_factory(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # a proxy in the environment must not intercept
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    receivers = []

    def start(*statuses) -> Receiver:
        receivers.append(Receiver(statuses))
        return receivers[-1]

    yield start
    for receiver in receivers:
        receiver.close()


@pytest.fixture
def receiver(receiver_factory) -> Receiver:
    return receiver_factory()


def register(world, user="fra_system", **payload):
    payload.setdefault("secret", SECRET)
    response = token_client(world.users[user]).post(HOOKS, payload, format="json")
    assert response.status_code == 201, response.content
    return WebhookEndpoint.objects.get(pk=response.json()["id"])


# --- notifications for request transitions ---------------------------------------------------------------------


def test_each_request_transition_notifies_the_right_people_only(world):
    make_stock(world, 200, nation=world.deu, center=world.mlc_a, item=world.fuel, shared=True)

    request = fuel_request(world, 10, submit=False)
    assert not Notification.objects.exists()  # a draft concerns nobody else yet

    request = services.submit_request(request=request, actor=world.users["fra_logistics"])
    # the supplying nation's liaison officers; not its service account, though it holds the role
    assert notified(EventType.REQUEST_SUBMITTED) == {"deu-liaison"}

    request = approve(world, request)
    # the requesting nation's logistics officers (not fra-system), and the source center's operators: the dispatch
    # now waits at their center (issue 14)
    assert notified(EventType.REQUEST_APPROVED) == {"fra-logistics", "fra-logistics-2", "mlc-a-operator"}

    request = services.dispatch_request(request=request, actor=world.users["deu_logistics"])
    assert notified(EventType.REQUEST_DISPATCHED) == {"fra-logistics", "fra-logistics-2", "mlc-a-operator"}

    services.receive_request(request=request, actor=world.users["fra_logistics"])
    assert notified(EventType.REQUEST_RECEIVED) == {"fra-logistics", "fra-logistics-2"}

    other = services.submit_request(request=fuel_request(world, 5, submit=False), actor=world.users["fra_logistics"])
    services.reject_request(request=other, approver=world.users["deu_liaison"], reason="Not this week")
    assert notified(EventType.REQUEST_REJECTED) == {"fra-logistics", "fra-logistics-2"}

    service_accounts = ("fra-system", "deu-system", "ita-system")
    assert not Notification.objects.filter(user__username__in=service_accounts).exists()
    assert not Notification.objects.filter(
        user__username__in=["ita-logistics", "fra-liaison", "deu-logistics", "nat-b-operator", "coordinator"]
    ).exists()
    # MLC-A is both centers here: its operators dispatch, then receive
    assert set(Notification.objects.filter(user__username="mlc-a-operator").values_list("event", flat=True)) == {
        EventType.REQUEST_APPROVED,
        EventType.REQUEST_DISPATCHED,
    }
    note = Notification.objects.filter(event=EventType.REQUEST_APPROVED, user__username="fra-logistics").first()
    assert note.title == f"{request.reference}: request approved"
    assert "FRA asks DEU for 10" in note.body and "MLC-A" in note.body


def test_cancelling_a_request_notifies_nobody(world):
    request = fuel_request(world, 10)
    before = Notification.objects.count()

    services.cancel_request(request=request, actor=world.users["fra_logistics"])

    assert Notification.objects.count() == before


def test_inactive_users_are_not_notified(world):
    world.users["deu_liaison"].is_active = False
    world.users["deu_liaison"].save()

    fuel_request(world, 10)

    assert notified(EventType.REQUEST_SUBMITTED) == set()


def test_a_change_that_rolls_back_notifies_and_sends_nothing(world, receiver, django_capture_on_commit_callbacks):
    register(world, url=receiver.url, events=["request.approved"])
    make_stock(world, 200, nation=world.deu, center=world.mlc_a, item=world.fuel, shared=True)
    request = fuel_request(world, 10)
    before = Notification.objects.count()

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        approve(world, request)
        assert notified(EventType.REQUEST_APPROVED)  # written with the change ...
        raise RuntimeError("the surrounding transaction fails")
    assert callbacks == []  # ... and the sending went with its rollback

    assert Notification.objects.count() == before
    assert not WebhookDelivery.objects.exists()
    assert mail.outbox == [] and receiver.received == []


# --- email -------------------------------------------------------------------------------------------------------


def test_notices_are_emailed_after_commit_to_users_with_an_address(world, django_capture_on_commit_callbacks):
    make_stock(world, 200, nation=world.deu, center=world.mlc_a, item=world.fuel, shared=True)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        request = fuel_request(world, 10)
        assert mail.outbox == []  # nothing is sent before the commit
    assert len(callbacks) >= 1

    [submitted] = mail.outbox
    assert submitted.to == ["deu.liaison@example.org"]  # deu-system has an address too, but gets webhooks
    assert submitted.subject == f"[Alliance Logistics] {request.reference}: request submitted"
    assert "FRA asks DEU for 10" in submitted.body

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        approve(world, request)
    # fra-logistics-2 is notified in the portal but has no address
    assert [m.to for m in mail.outbox] == [["fra.logistics@example.org"]]
    # and mlc-a-operator, notified in the portal (no address), to dispatch
    assert Notification.objects.filter(event=EventType.REQUEST_APPROVED).count() == 3


# --- new critical shortfalls --------------------------------------------------------------------------------------


@pytest.fixture
def critical_world(world):
    """FRA: two critical shortfalls at MLC-A and a warning; DEU: one critical; a critical pool flag (no nation)."""
    make_stock(world, 0, safety_level=10)  # nothing available
    make_stock(world, 2, daily_consumption=Decimal("1"))  # 2 days left
    make_stock(world, 40, safety_level=50)  # a warning only
    make_stock(world, 0, nation=world.deu, center=world.mlc_a, item=world.rations, safety_level=5)
    fuel_request(world, 10)  # nothing of it shared at MLC-A: unmet demand, critical, a pool flag
    return world


def _run(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.start_reconciliation(trigger="schedule")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return run


def test_new_critical_shortfalls_notify_the_nations_logistics_officers_once_per_pass(
    critical_world, django_capture_on_commit_callbacks
):
    world = critical_world
    assert not Notification.objects.filter(event=EventType.SHORTFALL_CRITICAL).exists()

    _run(django_capture_on_commit_callbacks)

    notes = Notification.objects.filter(event=EventType.SHORTFALL_CRITICAL)
    assert sorted(notes.values_list("user__username", flat=True)) == [
        "deu-logistics",
        "fra-logistics",
        "fra-logistics-2",
    ]
    fra_note = notes.get(user=world.users["fra_logistics"])
    assert fra_note.title == "2 new critical shortfalls at MLC-A"  # one summary, not one notice per flag
    assert len(fra_note.body.splitlines()) == 2
    assert "below safety level" in fra_note.body and "low days of supply" in fra_note.body
    assert notes.get(user=world.users["deu_logistics"]).title == "1 new critical shortfall at MLC-A"
    assert Shortfall.objects.filter(kind=ShortfallKind.UNMET_DEMAND, severity="critical").count() == 1
    shortfall_mail = [m for m in mail.outbox if "critical shortfall" in m.subject]
    assert [m.to for m in shortfall_mail] == [["fra.logistics@example.org"]]

    mail.outbox.clear()
    _run(django_capture_on_commit_callbacks)  # the same flags, still open: no news

    assert notes.count() == 3
    assert not [m for m in mail.outbox if "critical shortfall" in m.subject]


def test_a_critical_shortfall_that_recurs_is_news_again(world, django_capture_on_commit_callbacks):
    stock = make_stock(world, 0, safety_level=10)  # empty: critical
    _run(django_capture_on_commit_callbacks)
    assert Notification.objects.filter(user=world.users["fra_logistics"]).count() == 1

    move(world, stock, 20)  # cleared
    _run(django_capture_on_commit_callbacks)
    move(world, stock, -20)  # empty again: a new critical flag
    _run(django_capture_on_commit_callbacks)

    assert (
        Notification.objects.filter(user=world.users["fra_logistics"], event=EventType.SHORTFALL_CRITICAL).count() == 2
    )


def test_a_shortfall_that_only_turns_critical_later_is_not_announced_as_new(world, django_capture_on_commit_callbacks):
    stock = make_stock(world, 8, safety_level=10)  # warning
    _run(django_capture_on_commit_callbacks)
    move(world, stock, -8)  # now critical, but the flag is the same one
    _run(django_capture_on_commit_callbacks)

    [flag] = Shortfall.objects.filter(kind=ShortfallKind.BELOW_SAFETY)
    assert flag.severity == "critical"
    assert not Notification.objects.filter(event=EventType.SHORTFALL_CRITICAL).exists()


# --- the notifications API ------------------------------------------------------------------------------------


@pytest.fixture
def notes(world):
    make_stock(world, 200, nation=world.deu, center=world.mlc_a, item=world.fuel, shared=True)
    approve(world, fuel_request(world, 10))
    approve(world, fuel_request(world, 20))
    # fra-logistics and fra-logistics-2: two notices each; deu-liaison: two
    return {
        name: list(Notification.objects.filter(user=world.users[name]).order_by("id"))
        for name in ("fra_logistics", "fra_logistics_2", "deu_liaison")
    }


def _note_ids(client, **params):
    response = client.get(NOTES, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_users_list_their_own_notifications_only(world, notes, as_user):
    for name, own in notes.items():
        body = _note_ids(as_user(name))
        assert {n["id"] for n in body["results"]} == {n.pk for n in own}, name
        assert body["count"] == 2
    assert _note_ids(as_user("ita_logistics"))["results"] == []
    assert _note_ids(token_client(world.users["fra_system"]))["results"] == []  # service accounts get webhooks

    other = notes["deu_liaison"][0]
    assert as_user("fra_logistics").get(f"{NOTES}{other.pk}/").status_code == 404
    assert as_user("fra_logistics").post(f"{NOTES}{other.pk}/read/").status_code == 404
    other.refresh_from_db()
    assert other.read_at is None


def test_reading_notifications_one_by_one_and_all_at_once(world, notes, as_user):
    client = as_user("fra_logistics")
    first, second = notes["fra_logistics"]
    assert _note_ids(client, unread="true")["count"] == 2

    response = client.post(f"{NOTES}{first.pk}/read/")
    assert response.status_code == 200 and response.json()["read_at"] is not None
    read_at = response.json()["read_at"]
    assert [n["id"] for n in _note_ids(client, unread="true")["results"]] == [second.pk]
    assert client.post(f"{NOTES}{first.pk}/read/").json()["read_at"] == read_at  # reading twice keeps the time
    assert _note_ids(client)["count"] == 2  # read ones stay listed

    response = client.post(f"{NOTES}read-all/")
    assert response.status_code == 200 and response.json() == {"marked": 1}
    assert _note_ids(client, unread="true")["count"] == 0
    assert client.post(f"{NOTES}read-all/").json() == {"marked": 0}
    # other people's notices are untouched
    assert Notification.objects.filter(user=world.users["fra_logistics_2"], read_at__isnull=True).count() == 2


# --- webhooks: registration ----------------------------------------------------------------------------------


def test_a_national_system_registers_an_endpoint_for_its_own_nation(world, receiver):
    client = token_client(world.users["fra_system"])
    response = client.post(
        HOOKS, {"url": receiver.url, "events": ["request.approved"], "secret": SECRET}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["nation"], body["url"], body["events"], body["active"]) == (
        "FRA",
        receiver.url,
        ["request.approved"],
        True,
    )
    assert "secret" not in body  # write-only
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert (endpoint.nation, endpoint.owner, endpoint.secret) == (world.fra, world.users["fra_system"], SECRET)
    assert [e["id"] for e in client.get(HOOKS).json()["results"]] == [endpoint.pk]
    # a nation's human logistics officers manage the same endpoints
    assert [e["id"] for e in token_client(world.users["fra_logistics"]).get(HOOKS).json()["results"]] == [endpoint.pk]


def test_other_nations_endpoints_are_invisible(world, receiver):
    endpoint = register(world, url=receiver.url)
    ita = token_client(world.users["ita_system"])

    assert ita.get(HOOKS).json()["results"] == []
    assert ita.get(f"{HOOKS}{endpoint.pk}/").status_code == 404
    assert ita.get(f"{HOOKS}{endpoint.pk}/deliveries/").status_code == 404
    assert ita.patch(f"{HOOKS}{endpoint.pk}/", {"url": "http://127.0.0.1:9/stolen"}, format="json").status_code == 404
    assert ita.delete(f"{HOOKS}{endpoint.pk}/").status_code == 404
    endpoint.refresh_from_db()
    assert endpoint.url == receiver.url


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"url": "ftp://127.0.0.1/x"}, "url"),
        ({"url": "http://127.0.0.1/x", "secret": "short"}, "secret"),
        ({"url": "http://127.0.0.1/x", "events": ["request.exploded"]}, "events"),
    ],
)
def test_a_bad_endpoint_is_refused(world, payload, field):
    payload.setdefault("secret", SECRET)
    response = token_client(world.users["fra_system"]).post(HOOKS, payload, format="json")
    assert response.status_code == 400
    assert {e["field"].partition("[")[0] for e in response.json()["errors"]} == {field}  # events[0]: which one
    assert not WebhookEndpoint.objects.exists()


def test_only_a_nations_logistics_officers_or_system_register_endpoints(world, as_user):
    response = as_user("deu_liaison").post(HOOKS, {"url": "http://127.0.0.1/x", "secret": SECRET}, format="json")
    assert response.status_code == 403
    assert not WebhookEndpoint.objects.exists()


# --- webhooks: delivery to a real server --------------------------------------------------------------------------


def test_an_event_is_delivered_signed_to_the_registered_endpoint(world, receiver, django_capture_on_commit_callbacks):
    endpoint = register(world, url=receiver.url, events=["request.approved"])
    make_stock(world, 200, nation=world.deu, center=world.mlc_a, item=world.fuel, shared=True)
    request = fuel_request(world, 10)  # submitted: not an event this endpoint wants
    assert not WebhookDelivery.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        approve(world, request)

    [delivery] = WebhookDelivery.objects.all()
    [received] = receiver.received
    body, headers = received["body"], received["headers"]
    assert received["path"] == "/alliance/events"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Alliance-Event"] == "request.approved"
    assert headers["X-Alliance-Delivery"] == str(delivery.pk)
    payload = json.loads(body)
    assert payload == delivery.payload
    assert payload["event"] == "request.approved"
    assert (payload["data"]["reference"], payload["data"]["status"]) == (request.reference, "approved")
    assert (payload["data"]["requesting_nation"], payload["data"]["supplying_nation"]) == ("FRA", "DEU")

    signature = headers[SIGNATURE_HEADER]
    assert verify(SECRET, signature, body) is True
    # the documented scheme, recomputed as a national system would: HMAC-SHA256(secret, "<t>.<body>")
    parts = dict(p.split("=", 1) for p in signature.split(","))
    assert abs(int(parts["t"]) - time.time()) < 60
    assert parts["v1"] == hmac.new(SECRET.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    # the timestamp is signed too: a captured signature cannot be replayed under a fresh time
    assert verify(SECRET, f"t={int(time.time()) + 1},v1={parts['v1']}", body) is False
    assert verify("another-secret-entirely", signature, body) is False
    assert verify(SECRET, signature, body.replace(b'"FRA"', b'"ITA"')) is False
    assert verify(SECRET, signature, body + b" ") is False
    old = int(time.time()) - 3600
    assert verify(SECRET, sign(SECRET, old, body), body) is False  # a replay of an old delivery
    assert verify(SECRET, sign(SECRET, int(time.time()) - 10, body), body) is True
    assert verify(SECRET, "garbage", body) is False

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        DeliveryStatus.DELIVERED,
        1,
        200,
        "",
    )
    assert delivery.delivered_at is not None and delivery.next_attempt_at is None
    assert delivery.endpoint == endpoint


def test_events_go_to_both_nations_systems_as_each_endpoint_asks(
    world, receiver_factory, django_capture_on_commit_callbacks
):
    fra_all, deu_submitted, deu_inactive, ita_all = (receiver_factory() for _ in range(4))
    register(world, url=fra_all.url)  # no events: all of them
    register(world, "deu_system", url=deu_submitted.url, events=["request.submitted"])
    inactive = register(world, "deu_system", url=deu_inactive.url)
    WebhookEndpoint.objects.filter(pk=inactive.pk).update(active=False)
    register(world, "ita_system", url=ita_all.url)
    make_stock(world, 200, nation=world.deu, center=world.mlc_a, item=world.fuel, shared=True)

    with django_capture_on_commit_callbacks(execute=True):
        approve(world, fuel_request(world, 10))

    assert [r["headers"]["X-Alliance-Event"] for r in fra_all.received] == ["request.submitted", "request.approved"]
    assert [r["headers"]["X-Alliance-Event"] for r in deu_submitted.received] == ["request.submitted"]
    assert deu_inactive.received == [] and ita_all.received == []  # ITA is not a party to the request
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


def test_a_critical_shortfall_is_delivered_to_the_nations_system(
    critical_world, receiver, django_capture_on_commit_callbacks
):
    register(critical_world, url=receiver.url, events=["shortfall.critical"])

    _run(django_capture_on_commit_callbacks)

    events = [json.loads(r["body"]) for r in receiver.received]
    assert len(events) == 2  # FRA's two new critical shortfalls, one delivery each
    assert {e["event"] for e in events} == {"shortfall.critical"}
    assert {(e["data"]["nation"], e["data"]["center"], e["data"]["severity"]) for e in events} == {
        ("FRA", "MLC-A", "critical")
    }
    assert all(verify(SECRET, r["headers"][SIGNATURE_HEADER], r["body"]) for r in receiver.received)


# --- webhooks: retries ---------------------------------------------------------------------------------------


def _deliver_one_event(world, django_capture_on_commit_callbacks) -> WebhookDelivery:
    make_stock(world, 200, nation=world.deu, center=world.mlc_a, item=world.fuel, shared=True)
    with django_capture_on_commit_callbacks(execute=True):
        approve(world, fuel_request(world, 10))
    return WebhookDelivery.objects.get()


def _due_now(delivery):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=5))


def test_a_failed_attempt_is_retried_after_its_backoff_and_then_delivered(
    world, receiver_factory, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_BACKOFF_SECONDS = 10
    receiver = receiver_factory(500, 200)
    register(world, url=receiver.url, events=["request.approved"])

    delivery = _deliver_one_event(world, django_capture_on_commit_callbacks)
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        DeliveryStatus.PENDING,
        1,
        500,
        "HTTP 500",
    )
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 9 <= wait <= 11

    # a duplicate trigger before the backoff is over sends nothing
    assert attempt_delivery(delivery.pk).attempts == 1
    assert len(receiver.received) == 1

    _due_now(delivery)
    delivery = attempt_delivery(delivery.pk)

    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        DeliveryStatus.DELIVERED,
        2,
        200,
        "",
    )
    assert delivery.next_attempt_at is None and delivery.delivered_at is not None
    first, second = receiver.received
    assert first["body"] == second["body"]  # the payload is fixed when the event happens
    assert first["headers"]["X-Alliance-Delivery"] == second["headers"]["X-Alliance-Delivery"] == str(delivery.pk)
    assert verify(SECRET, second["headers"][SIGNATURE_HEADER], second["body"])
    assert attempt_delivery(delivery.pk) is None  # delivered: nothing more to do
    assert len(receiver.received) == 2


def test_a_delivery_gives_up_after_the_maximum_attempts(
    world, receiver_factory, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    settings.WEBHOOK_BACKOFF_SECONDS = 10
    receiver = receiver_factory(500, 502, 503, 200)
    register(world, url=receiver.url, events=["request.approved"])

    delivery = _deliver_one_event(world, django_capture_on_commit_callbacks)
    waits = [(delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()]
    _due_now(delivery)
    delivery = attempt_delivery(delivery.pk)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.PENDING, 2, 502)
    waits.append((delivery.next_attempt_at - delivery.last_attempt_at).total_seconds())
    _due_now(delivery)
    delivery = attempt_delivery(delivery.pk)

    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        DeliveryStatus.FAILED,
        3,
        503,
        "HTTP 503",
    )
    assert delivery.next_attempt_at is None and delivery.delivered_at is None
    assert [round(w) for w in waits] == [10, 20]  # doubling
    assert attempt_delivery(delivery.pk) is None  # given up: never sent again
    assert len(receiver.received) == 3


def test_an_unreachable_endpoint_is_a_recorded_failure(world, receiver_factory, django_capture_on_commit_callbacks):
    gone = receiver_factory()
    register(world, url=gone.url, events=["request.approved"])
    gone.close()  # nothing listens on that port any more

    delivery = _deliver_one_event(world, django_capture_on_commit_callbacks)

    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.PENDING, 1, None)
    assert delivery.last_error == "connection failed"  # a class, not the socket's message
    assert delivery.next_attempt_at > timezone.now()


def test_the_sweep_sends_pending_deliveries_whose_time_has_come(world, receiver, django_capture_on_commit_callbacks):
    register(world, url=receiver.url, events=["request.approved"])
    make_stock(world, 200, nation=world.deu, center=world.mlc_a, item=world.fuel, shared=True)
    approve(world, fuel_request(world, 10))  # never committed: the delivery row waits, pending
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, receiver.received) == (DeliveryStatus.PENDING, [])

    assert tasks.retry_due_deliveries.delay().get() == 0  # not overdue yet
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    assert tasks.retry_due_deliveries.delay().get() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)
    assert len(receiver.received) == 1


def test_backoff_doubles_and_is_capped(settings):
    settings.WEBHOOK_BACKOFF_SECONDS = 10
    assert [backoff(n) for n in range(0, 7)] == [10, 10, 20, 40, 80, 160, 320]
    assert backoff(9) == 2560
    assert backoff(10) == backoff(50) == 3600  # an hour at most
    settings.WEBHOOK_BACKOFF_SECONDS = 1000
    assert backoff(3) == 3600


# --- webhooks: the deliveries list -------------------------------------------------------------------------------


def test_an_endpoints_deliveries_are_listed(world, receiver_factory, django_capture_on_commit_callbacks):
    receiver = receiver_factory(500)
    endpoint = register(world, url=receiver.url)
    make_stock(world, 200, nation=world.deu, center=world.mlc_a, item=world.fuel, shared=True)
    with django_capture_on_commit_callbacks(execute=True):
        approve(world, fuel_request(world, 10))

    response = token_client(world.users["fra_system"]).get(f"{HOOKS}{endpoint.pk}/deliveries/")

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["event"], r["status"], r["attempts"], r["last_status_code"]) for r in rows] == [
        ("request.approved", "delivered", 1, 200),
        ("request.submitted", "pending", 1, 500),
    ]
    assert rows[0]["payload"]["event"] == "request.approved"
    assert rows[1]["last_error"] == "HTTP 500" and rows[1]["next_attempt_at"] is not None
    assert response.json()["count"] == 2


# --- ping and redelivery (the webhooks' own contract) -------------------------------------------------------------


def test_a_ping_reaches_the_receiver_signed_and_answers_how_it_went(world, receiver):
    endpoint = register(world, url=receiver.url)

    response = token_client(world.users["fra_system"]).post(f"{HOOKS}{endpoint.pk}/ping/")

    assert response.status_code == 200, response.content
    delivery = response.json()
    assert (delivery["event"], delivery["status"], delivery["last_status_code"]) == ("ping", "delivered", 200)
    [sent] = receiver.received
    assert sent["headers"]["X-Alliance-Event"] == "ping"
    assert sent["headers"]["X-Alliance-Delivery"] == str(delivery["id"])
    assert verify(SECRET, sent["headers"][SIGNATURE_HEADER], sent["body"])
    body = json.loads(sent["body"])
    assert body["event"] == "ping" and body["data"] == {"endpoint": endpoint.pk, "nation": "FRA", "url": receiver.url}


def test_a_failed_ping_says_why_and_is_not_retried(world, receiver_factory):
    receiver = receiver_factory(500)
    endpoint = register(world, url=receiver.url)

    delivery = token_client(world.users["fra_system"]).post(f"{HOOKS}{endpoint.pk}/ping/").json()

    assert (delivery["status"], delivery["last_status_code"], delivery["last_error"]) == ("failed", 500, "HTTP 500")
    assert delivery["next_attempt_at"] is None and len(receiver.received) == 1


def test_a_ping_is_not_an_event_one_subscribes_to(world, receiver):
    response = token_client(world.users["fra_system"]).post(
        HOOKS, {"url": receiver.url, "secret": SECRET, "events": ["ping"]}, format="json"
    )
    assert response.status_code == 400
    assert not WebhookEndpoint.objects.exists()


def test_a_past_delivery_is_sent_again_as_a_new_delivery_with_the_same_body(world, receiver_factory):
    receiver = receiver_factory(500)
    endpoint = register(world, url=receiver.url)
    client = token_client(world.users["fra_system"])
    first = client.post(f"{HOOKS}{endpoint.pk}/ping/").json()
    assert first["status"] == "failed"

    response = client.post(f"{HOOKS}{endpoint.pk}/redeliver/", {"delivery": first["id"]}, format="json")

    assert response.status_code == 202, response.content
    again = response.json()
    assert again["id"] != first["id"] and again["payload"] == first["payload"] and again["event"] == "ping"
    attempt_delivery(again["id"])  # what the queued task does (the worker is not part of this test)
    assert [json.loads(r["body"]) for r in receiver.received] == [first["payload"], first["payload"]]
    assert WebhookDelivery.objects.get(pk=again["id"]).status == "delivered"


def test_another_nations_deliveries_cannot_be_redelivered_or_pinged(world, receiver):
    endpoint = register(world, url=receiver.url)
    delivery = token_client(world.users["fra_system"]).post(f"{HOOKS}{endpoint.pk}/ping/").json()
    ita = token_client(world.users["ita_system"])

    assert ita.post(f"{HOOKS}{endpoint.pk}/ping/").status_code == 404
    redeliver = {"delivery": delivery["id"]}
    assert ita.post(f"{HOOKS}{endpoint.pk}/redeliver/", redeliver, format="json").status_code == 404
    # a delivery of another endpoint, named through one's own endpoint: as if it did not exist
    own = register(world, user="ita_system", url=receiver.url)
    refused = ita.post(f"{HOOKS}{own.pk}/redeliver/", redeliver, format="json")
    missing = ita.post(f"{HOOKS}{own.pk}/redeliver/", {"delivery": 10**9}, format="json")
    assert refused.status_code == missing.status_code == 400
    assert refused.json()["errors"] == missing.json()["errors"]
    assert WebhookDelivery.objects.count() == 1
