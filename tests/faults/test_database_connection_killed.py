"""A request's database connection killed in the middle of its transaction (``pg_terminate_backend`` from another
connection): the request answers 503 problem+json at once, nothing it wrote remains, and a retry with the same
Idempotency-Key does the work exactly once.

The portal runs under gunicorn on the test database, as in production (persistent connections, DEBUG off).  The
test makes the request's transaction wait where it wants to kill it, by holding a row lock the request needs from
a connection of its own, then terminates the request's backend (a real PostgreSQL backend process) and lets go:

- an approval waiting for the supplier's stock row, holding its request row (``SELECT ... FOR UPDATE``);
- a receipt waiting at COMMIT with all its work written (stock, movement, idempotency key): Django's foreign keys
  are checked at commit, and the check waits for the row lock the test holds on the acting user.
"""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from django.contrib.auth import get_user_model

from coordination.models import (
    Notification,
    RequestEvent,
    RequestStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from core.models import IdempotencyKey
from inventory.models import Movement, Stock
from nations.tokens import issue_token
from tests.api.conftest import PROBLEM_JSON, RATIONS_NSN, build_scenario
from tests.api.helpers import submitted_request

from .conftest import Answer, Portal, _test_database_url, portal_server, wait_until

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("faults"),
]

BLOCK_TIMEOUT = 30  # seconds for the request to reach the lock the test holds


@pytest.fixture
def world():
    return build_scenario()


@pytest.fixture
def portal(world, tmp_path) -> Portal:
    # the webhook receiver (slow_receiver) listens on loopback, which webhooks refuse unless it is listed
    allowed = {"WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32"}
    with portal_server(_test_database_url(), tmp_path / "gunicorn.log", **allowed) as server:
        yield server


def token_of(user) -> str:
    return issue_token(user=user, name="faults", expires_in_days=1)[1]


class HeldLock:
    """A connection of the test's own holding row locks in an open transaction, and able to find and terminate
    the backend of another session that waits for them."""

    def __init__(self):
        self.url = _test_database_url()
        self.holder = psycopg.connect(self.url)  # a transaction stays open until release()
        self.monitor = psycopg.connect(self.url, autocommit=True)
        self.holder_pid = self.holder.info.backend_pid

    def lock_row(self, table: str, pk: int) -> None:
        self.holder.execute(f'SELECT 1 FROM "{table}" WHERE id = %s FOR UPDATE', [pk])

    def waiting_backend(self) -> tuple[int, str, bool] | None:
        """(pid, query, has written) of the backend blocked by our locks, if one is."""
        return self.monitor.execute(
            "SELECT pid, query, backend_xid IS NOT NULL FROM pg_stat_activity "
            "WHERE datname = current_database() AND %s = ANY(pg_blocking_pids(pid))",
            [self.holder_pid],
        ).fetchone()

    def terminate(self, pid: int) -> None:
        assert self.monitor.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]

    def release(self) -> None:
        self.holder.rollback()

    def close(self) -> None:
        self.holder.close()
        self.monitor.close()


@pytest.fixture
def held_lock():
    lock = HeldLock()
    try:
        yield lock
    finally:
        lock.close()


def in_background(send) -> tuple[threading.Thread, list]:
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(send()), daemon=True)
    thread.start()
    return thread, answers


def kill_while_waiting(held_lock: HeldLock, send) -> tuple[Answer, str, bool]:
    """Send the request, wait until it waits for our lock, terminate its backend, and return its answer (the
    answer comes without our lock being released: no hang), with the query it was blocked in."""
    thread, answers = in_background(send)
    pid, query, has_written = wait_until(held_lock.waiting_backend, BLOCK_TIMEOUT, "waiting for the held lock")
    held_lock.terminate(pid)
    thread.join(BLOCK_TIMEOUT)
    assert not thread.is_alive(), "the request hangs after its connection was killed"
    held_lock.release()
    assert answers, "the request raised instead of answering"
    return answers[0], query, has_written


def assert_clean_503(answer: Answer) -> None:
    assert answer.status == 503, answer.body[:500]
    assert answer.content_type == PROBLEM_JSON
    problem = answer.json()
    assert problem["status"] == 503 and problem["code"] == "database_unavailable"
    assert "Traceback" not in problem["detail"]
    assert int(answer.headers["retry-after"]) > 0


def test_an_approval_killed_while_holding_its_request_row_writes_nothing_and_its_retry_approves_once(
    world, portal, held_lock, slow_receiver
):
    request = submitted_request(world, quantity=7)
    stock = world.stocks["deu_shared"]
    # FRA's national system listens: the approval also writes a webhook delivery (sent after commit)
    WebhookEndpoint.objects.create(nation=world.fra, owner=world.users["fra_system"], url=slow_receiver.url,
                                   events=["request.approved"], secret="s" * 32)  # fmt: skip
    slow_receiver.hold_seconds = 0
    token = token_of(world.users["deu_liaison"])
    key = f"approve-{uuid.uuid4()}"
    before = (RequestEvent.objects.count(), Notification.objects.count(), Movement.objects.count())

    def approve() -> Answer:
        return portal.request("POST", f"/api/v1/requests/{request.pk}/approve/", {"quantity": 7}, token,
                              Idempotency_Key=key)  # fmt: skip

    held_lock.lock_row(Stock._meta.db_table, stock.pk)
    answer, query, _ = kill_while_waiting(held_lock, approve)

    # it was waiting for the stock row: the reservation locks it with its UPDATE (the check in the same statement)
    assert Stock._meta.db_table in query and ("FOR UPDATE" in query or f'UPDATE "{Stock._meta.db_table}"' in query)
    assert_clean_503(answer)
    # nothing of the approval remains
    request.refresh_from_db()
    assert (request.status, request.quantity_approved) == (RequestStatus.SUBMITTED, None)
    assert Stock.objects.get(pk=stock.pk).reserved == 0
    assert (RequestEvent.objects.count(), Notification.objects.count(), Movement.objects.count()) == before
    assert not WebhookDelivery.objects.exists()
    assert not IdempotencyKey.objects.filter(key=key).exists()

    # the retry with the same key approves; a second retry replays the answer without approving again
    retry = approve()
    assert retry.status == 200, retry.body[:500]
    assert retry.json()["status"] == RequestStatus.APPROVED
    replay = approve()
    assert (replay.status, replay.headers.get("idempotent-replayed")) == (200, "true")
    assert replay.json() == retry.json()

    assert RequestEvent.objects.filter(request=request, to_status=RequestStatus.APPROVED).count() == 1
    assert Stock.objects.get(pk=stock.pk).reserved == 7
    assert IdempotencyKey.objects.filter(key=key).count() == 1
    delivery = WebhookDelivery.objects.get(event="request.approved")  # one, sent once after the commit
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert slow_receiver.arrivals == {str(delivery.pk): 1}


def test_a_receipt_killed_at_commit_with_all_its_work_written_leaves_nothing_and_its_retry_books_once(
    world, portal, held_lock
):
    system = world.users["fra_system"]
    stock = world.stocks["fra_private"]
    on_hand, movements = stock.on_hand, Movement.objects.filter(stock=stock).count()
    token = token_of(system)
    key = f"receipt-{uuid.uuid4()}"
    payload = {"nation": "FRA", "center": "MLC-A", "nsn": RATIONS_NSN, "kind": "receipt", "quantity": 5,
               "reason": "Delivery note 4711"}  # fmt: skip

    def receive() -> Answer:
        return portal.request("POST", "/api/v1/movements/", payload, token, Idempotency_Key=key)

    held_lock.lock_row(get_user_model()._meta.db_table, system.pk)
    answer, query, has_written = kill_while_waiting(held_lock, receive)

    assert query.strip().upper() == "COMMIT" and has_written  # killed at its commit, every row written
    assert_clean_503(answer)
    stock.refresh_from_db()
    assert stock.on_hand == on_hand
    assert Movement.objects.filter(stock=stock).count() == movements
    assert not IdempotencyKey.objects.filter(key=key).exists()

    retry = receive()
    assert retry.status == 201, retry.body[:500]
    replay = receive()
    assert (replay.status, replay.headers.get("idempotent-replayed")) == (201, "true")
    assert replay.json() == retry.json()

    stock.refresh_from_db()
    assert stock.on_hand == on_hand + 5
    assert Movement.objects.filter(stock=stock).count() == movements + 1
    assert IdempotencyKey.objects.filter(key=key).count() == 1
