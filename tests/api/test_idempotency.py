"""``Idempotency-Key`` on POST: a retry with the same key and body replays the first response without doing
the work again; another body is refused (422); keys belong to one caller; they expire after 24 hours; a call
that failed leaves no key behind.  (Concurrent duplicates: test_concurrency.py, on PostgreSQL.)
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from coordination.models import RequestEvent, RequestStatus, SupplyRequest
from core.models import IdempotencyKey
from inventory import services as inventory_services
from inventory.models import Movement, Stock

from .conftest import assert_books_reconcile, assert_problem, token_client
from .helpers import request_payload, submitted_request

pytestmark = pytest.mark.django_db

KEY = "fra-sys-2026-0042"
REQUESTS_URL = "/api/v1/requests/"


@pytest.fixture
def fra_system(world):
    return token_client(world.users["fra_system"])


@pytest.fixture
def deu_liaison(world):
    return token_client(world.users["deu_liaison"])


@pytest.fixture
def supplier(world):
    return world.stocks["deu_shared"]


def _post(client, url, payload, key=KEY):
    return client.post(url, json.dumps(payload), content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)


def _work_done() -> tuple[int, int, int]:
    return SupplyRequest.objects.count(), RequestEvent.objects.count(), Movement.objects.count()


def _reserved(stock) -> int:
    return Stock.objects.get(pk=stock.pk).reserved


def test_a_retried_create_replays_the_first_response_and_creates_nothing(world, fra_system):
    first = _post(fra_system, REQUESTS_URL, request_payload(7))
    assert first.status_code == 201
    assert not first.has_header("Idempotent-Replayed")
    done = _work_done()
    assert done[0] == 1

    for _ in range(3):
        retry = _post(fra_system, REQUESTS_URL, request_payload(7))
        assert retry.status_code == 201
        assert retry["Idempotent-Replayed"] == "true"
        assert retry.json() == first.json()
        assert retry["ETag"] == first["ETag"]
    assert _work_done() == done
    assert IdempotencyKey.objects.filter(user=world.users["fra_system"], key=KEY).count() == 1


def test_without_a_key_every_post_does_the_work(world, fra_system):
    for _ in range(2):
        assert fra_system.post(REQUESTS_URL, request_payload(7), format="json").status_code == 201
    assert SupplyRequest.objects.count() == 2
    assert not IdempotencyKey.objects.exists()


def test_the_same_key_with_another_body_answers_422_and_does_nothing(world, fra_system):
    assert _post(fra_system, REQUESTS_URL, request_payload(7)).status_code == 201
    done = _work_done()

    response = _post(fra_system, REQUESTS_URL, request_payload(8))

    problem = assert_problem(response, 422, "unprocessable")
    assert "Idempotency-Key" in problem["detail"]
    assert _work_done() == done
    assert SupplyRequest.objects.get().quantity_requested == 7


def test_the_same_key_on_another_endpoint_answers_422(world, fra_system):
    assert _post(fra_system, REQUESTS_URL, request_payload(7)).status_code == 201
    request = SupplyRequest.objects.get()

    response = _post(fra_system, f"{REQUESTS_URL}{request.pk}/cancel/", {})

    assert_problem(response, 422, "unprocessable")
    request.refresh_from_db()
    assert request.status == RequestStatus.SUBMITTED


def test_keys_are_scoped_per_caller(world, fra_system):
    officer = token_client(world.users["fra_logistics"])

    system_answer = _post(fra_system, REQUESTS_URL, request_payload(7))
    officer_answer = _post(officer, REQUESTS_URL, request_payload(7))

    assert system_answer.status_code == officer_answer.status_code == 201
    assert not officer_answer.has_header("Idempotent-Replayed")
    assert system_answer.json()["id"] != officer_answer.json()["id"]
    assert (system_answer.json()["created_by"], officer_answer.json()["created_by"]) == ("fra-system", "fra-logistics")
    assert SupplyRequest.objects.count() == 2
    assert IdempotencyKey.objects.filter(key=KEY).count() == 2
    # each caller's retry replays its own result
    assert _post(fra_system, REQUESTS_URL, request_payload(7)).json() == system_answer.json()
    assert _post(officer, REQUESTS_URL, request_payload(7)).json() == officer_answer.json()
    assert SupplyRequest.objects.count() == 2


def test_a_key_replays_for_24_hours_then_the_work_is_done_again(world, fra_system):
    first = _post(fra_system, REQUESTS_URL, request_payload(7))
    assert first.status_code == 201

    IdempotencyKey.objects.filter(key=KEY).update(created_at=timezone.now() - timedelta(hours=23, minutes=50))
    assert _post(fra_system, REQUESTS_URL, request_payload(7)).json() == first.json()
    assert SupplyRequest.objects.count() == 1

    IdempotencyKey.objects.filter(key=KEY).update(created_at=timezone.now() - timedelta(hours=24, minutes=1))
    again = _post(fra_system, REQUESTS_URL, request_payload(7))

    assert again.status_code == 201
    assert not again.has_header("Idempotent-Replayed")
    assert again.json()["id"] != first.json()["id"]
    assert SupplyRequest.objects.count() == 2
    # the key now guards the new result, for another 24 hours
    row = IdempotencyKey.objects.get(key=KEY)
    assert row.created_at > timezone.now() - timedelta(minutes=1)
    assert _post(fra_system, REQUESTS_URL, request_payload(7)).json() == again.json()


def test_an_approval_is_replayed_without_reserving_twice(world, deu_liaison, supplier):
    request = submitted_request(world, 7)
    url = f"{REQUESTS_URL}{request.pk}/approve/"

    first = _post(deu_liaison, url, {"quantity": 6, "comment": "partial"})
    assert first.status_code == 200
    assert first.json()["status"] == RequestStatus.APPROVED
    events = RequestEvent.objects.count()

    retry = _post(deu_liaison, url, {"quantity": 6, "comment": "partial"})

    assert retry.status_code == 200
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert _reserved(supplier) == 6
    assert RequestEvent.objects.count() == events
    assert_books_reconcile()


def test_a_replay_returns_the_stored_answer_even_after_the_request_moved_on(world, deu_liaison, supplier):
    request = submitted_request(world, 7)
    url = f"{REQUESTS_URL}{request.pk}/approve/"
    first = _post(deu_liaison, url, {})
    dispatched = token_client(world.users["deu_logistics"]).post(
        f"{REQUESTS_URL}{request.pk}/dispatch/", {}, format="json"
    )
    assert dispatched.status_code == 200

    retry = _post(deu_liaison, url, {})

    # without the key a second approval would answer 409 (wrong state): the retry gets the first answer
    assert retry.status_code == 200
    assert retry.json() == first.json()
    stock = Stock.objects.get(pk=supplier.pk)
    assert (stock.on_hand, stock.reserved) == (supplier.on_hand - 7, 0)
    assert_books_reconcile()


def test_a_failed_call_stores_no_key_and_its_retry_does_the_work_once(world, deu_liaison, supplier):
    deu_logistics = world.users["deu_logistics"]
    inventory_services.issue_stock(
        stock=supplier, quantity=supplier.on_hand - 3, actor=deu_logistics, reason="Exercise consumption"
    )
    request = submitted_request(world, 7)
    url = f"{REQUESTS_URL}{request.pk}/approve/"

    refused = _post(deu_liaison, url, {})

    assert_problem(refused, 409, "insufficient_stock")
    assert not IdempotencyKey.objects.exists()
    assert _reserved(supplier) == 0

    inventory_services.receive_stock(
        stock=supplier, quantity=20, actor=deu_logistics, reason="Resupply from the national depot"
    )
    retried = _post(deu_liaison, url, {})
    replayed = _post(deu_liaison, url, {})

    assert retried.status_code == 200
    assert not retried.has_header("Idempotent-Replayed")
    assert replayed.status_code == 200
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json() == retried.json()
    assert IdempotencyKey.objects.count() == 1
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert request.events.filter(to_status=RequestStatus.APPROVED).count() == 1
    assert _reserved(supplier) == 7
    assert_books_reconcile()


def test_a_rejected_body_stores_no_key(world, fra_system):
    assert_problem(_post(fra_system, REQUESTS_URL, request_payload(0)), 400, "invalid")
    assert not IdempotencyKey.objects.exists()

    assert _post(fra_system, REQUESTS_URL, request_payload(7)).status_code == 201
    assert SupplyRequest.objects.count() == 1


def test_an_overlong_key_is_refused(world, fra_system):
    response = _post(fra_system, REQUESTS_URL, request_payload(7), key="k" * 256)
    assert_problem(response, 422)
    assert not SupplyRequest.objects.exists()
