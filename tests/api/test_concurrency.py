"""The non-negotiable of PRODUCT.md: stock never goes negative and a reservation is never granted twice, under
any number of concurrent requests.  Proved with real parallel connections on PostgreSQL: threads, each in its
own connection, released together by a barrier, hammering one stock or one request.
"""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.db.models import F

from coordination import services
from coordination.models import RequestEvent, RequestStatus, SupplyRequest
from core.errors import InsufficientStock, InvalidTransition
from core.models import IdempotencyKey
from inventory.models import Movement, MovementKind, Stock

from .conftest import assert_books_reconcile, assert_problem, token_client
from .helpers import approved_request, request_payload, run_in_parallel, submitted_request

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 32
EACH = 13  # 32 x 13 = 416 asked of DEU's 200 litres: floor(200 / 13) = 15 approvals fit, 17 do not
ON_HAND = 200
FIT = ON_HAND // EACH


@pytest.fixture
def supplier(world):
    stock = world.stocks["deu_shared"]
    assert (stock.on_hand, stock.reserved) == (ON_HAND, 0)
    return stock


def _fresh_user(user):
    # each thread reads its own user row: access profiles are cached on the user object
    return get_user_model().objects.get(pk=user.pk)


def _assert_stock_constraints_hold() -> None:
    assert not Stock.objects.filter(on_hand__lt=0).exists()
    assert not Stock.objects.filter(reserved__lt=0).exists()
    assert not Stock.objects.filter(reserved__gt=F("on_hand")).exists()
    assert not Movement.objects.filter(balance_after__lt=0).exists()


# --- (a) many approvals against one stock -------------------------------------------------------------------


def _assert_approvals_fit_the_stock(supplier, request_ids, approved_ids):
    assert len(approved_ids) == FIT == 15
    requests = SupplyRequest.objects.filter(pk__in=request_ids)
    assert set(requests.filter(status=RequestStatus.APPROVED).values_list("pk", flat=True)) == set(approved_ids)
    assert requests.filter(status=RequestStatus.SUBMITTED).count() == WORKERS - FIT
    # a refused approval changes nothing: no quantity, no timeline event
    refused = requests.exclude(pk__in=approved_ids)
    assert not refused.filter(quantity_approved__isnull=False).exists()
    assert not RequestEvent.objects.filter(request__in=refused, to_status=RequestStatus.APPROVED).exists()
    approvals = RequestEvent.objects.filter(request_id__in=approved_ids, to_status=RequestStatus.APPROVED)
    assert approvals.count() == FIT

    stock = Stock.objects.get(pk=supplier.pk)
    assert stock.reserved == FIT * EACH == 195
    assert stock.on_hand == ON_HAND  # approving reserves, it moves nothing
    assert stock.available == 5
    _assert_stock_constraints_hold()
    assert_books_reconcile()


def test_32_concurrent_approvals_through_the_services_reserve_exactly_what_the_stock_covers(world, supplier):
    request_ids = [submitted_request(world, EACH).pk for _ in range(WORKERS)]

    def prepare(i):
        return SupplyRequest.objects.get(pk=request_ids[i]), _fresh_user(world.users["deu_liaison"])

    def act(prepared):
        request, approver = prepared
        try:
            return services.approve_request(request=request, approver=approver).pk
        except InsufficientStock:
            return "insufficient"

    outcomes = run_in_parallel(WORKERS, prepare, act)

    assert [o.error for o in outcomes if o.error] == []
    results = [o.value for o in outcomes]
    assert results.count("insufficient") == WORKERS - FIT
    _assert_approvals_fit_the_stock(supplier, request_ids, [r for r in results if r != "insufficient"])


def test_32_concurrent_approvals_through_the_api_answer_200_or_409(world, supplier):
    request_ids = [submitted_request(world, EACH).pk for _ in range(WORKERS)]
    clients = [token_client(world.users["deu_liaison"]) for _ in range(WORKERS)]

    def prepare(i):
        return clients[i], request_ids[i]

    def act(prepared):
        client, request_id = prepared
        return request_id, client.post(f"/api/v1/requests/{request_id}/approve/", {}, format="json")

    outcomes = run_in_parallel(WORKERS, prepare, act)

    assert [o.error for o in outcomes if o.error] == []
    answers = [o.value for o in outcomes]
    statuses = sorted(response.status_code for _, response in answers)
    assert statuses == [200] * FIT + [409] * (WORKERS - FIT)
    for _, response in answers:
        if response.status_code == 200:
            assert (response.json()["status"], response.json()["quantity_approved"]) == ("approved", EACH)
        else:
            assert_problem(response, 409, "insufficient_stock")
    approved_ids = [request_id for request_id, response in answers if response.status_code == 200]
    _assert_approvals_fit_the_stock(supplier, request_ids, approved_ids)


# --- (b) dispatch racing cancel on one approved request ------------------------------------------------------


@pytest.fixture
def raced(world, supplier):
    """An approved request to race on, and a second approved one whose reservation must not move."""
    bystander = approved_request(world, 5)
    return SimpleNamespace(request=approved_request(world, EACH), bystander=bystander)


def _racers():
    """Half the workers dispatch (DEU's logistics officer), half cancel (FRA's), interleaved."""
    return list(itertools.islice(itertools.cycle(["dispatch", "cancel"]), WORKERS))


def _actor_for(world, kind):
    return world.users["deu_logistics" if kind == "dispatch" else "fra_logistics"]


def _assert_exactly_one_transition_won(supplier, raced, winners):
    assert len(winners) == 1, winners
    request = SupplyRequest.objects.get(pk=raced.request.pk)
    bystander = SupplyRequest.objects.get(pk=raced.bystander.pk)
    stock = Stock.objects.get(pk=supplier.pk)
    movements = Movement.objects.filter(request=request)
    if winners[0] == "dispatch":
        assert request.status == RequestStatus.DISPATCHED
        assert request.quantity_dispatched == EACH
        assert list(movements.values_list("kind", "quantity")) == [(MovementKind.TRANSFER_OUT, -EACH)]
        assert stock.on_hand == ON_HAND - EACH
    else:
        assert request.status == RequestStatus.CANCELLED
        assert request.quantity_dispatched is None
        assert not movements.exists()
        assert stock.on_hand == ON_HAND
    assert bystander.status == RequestStatus.APPROVED
    assert stock.reserved == 5  # only the bystander's reservation is left
    assert request.events.filter(from_status=RequestStatus.APPROVED).count() == 1
    _assert_stock_constraints_hold()
    assert_books_reconcile()


def test_concurrent_dispatch_and_cancel_through_the_services_let_exactly_one_win(world, supplier, raced):
    kinds = _racers()

    def prepare(i):
        return kinds[i], SupplyRequest.objects.get(pk=raced.request.pk), _fresh_user(_actor_for(world, kinds[i]))

    def act(prepared):
        kind, request, actor = prepared
        transition = services.dispatch_request if kind == "dispatch" else services.cancel_request
        try:
            transition(request=request, actor=actor)
            return kind
        except InvalidTransition:
            return "refused"

    outcomes = run_in_parallel(WORKERS, prepare, act)

    assert [o.error for o in outcomes if o.error] == []
    results = [o.value for o in outcomes]
    assert results.count("refused") == WORKERS - 1
    _assert_exactly_one_transition_won(supplier, raced, [r for r in results if r != "refused"])


def test_concurrent_dispatch_and_cancel_through_the_api_answer_one_200_and_409s(world, supplier, raced):
    kinds = _racers()
    clients = [token_client(_actor_for(world, kind)) for kind in kinds]

    def prepare(i):
        return kinds[i], clients[i]

    def act(prepared):
        kind, client = prepared
        return kind, client.post(f"/api/v1/requests/{raced.request.pk}/{kind}/", {}, format="json")

    outcomes = run_in_parallel(WORKERS, prepare, act)

    assert [o.error for o in outcomes if o.error] == []
    answers = [o.value for o in outcomes]
    assert sorted(response.status_code for _, response in answers) == [200] + [409] * (WORKERS - 1)
    for _, response in answers:
        if response.status_code == 409:
            assert_problem(response, 409, "invalid_transition")
    winners = [kind for kind, response in answers if response.status_code == 200]
    _assert_exactly_one_transition_won(supplier, raced, winners)


# --- (c) one Idempotency-Key sent 32 times at once ----------------------------------------------------------


def test_32_concurrent_posts_with_one_idempotency_key_create_one_request(world, supplier):
    system = world.users["fra_system"]
    clients = [token_client(system) for _ in range(WORKERS)]
    body = json.dumps(request_payload(EACH))

    def prepare(i):
        return clients[i]

    def act(client):
        return client.post(
            "/api/v1/requests/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="fra-sys-2026-0001"
        )

    outcomes = run_in_parallel(WORKERS, prepare, act)

    assert [o.error for o in outcomes if o.error] == []
    responses = [o.value for o in outcomes]
    created = SupplyRequest.objects.get()  # exactly one
    assert created.events.count() == 2  # created, submitted: the work was done once
    assert IdempotencyKey.objects.filter(user=system, key="fra-sys-2026-0001").count() == 1

    assert {r.status_code for r in responses} <= {201, 409}, [r.status_code for r in responses]
    first = [r for r in responses if r.status_code == 201 and not r.has_header("Idempotent-Replayed")]
    assert len(first) == 1
    assert first[0].json()["id"] == created.pk
    for response in responses:
        if response is first[0]:
            continue
        if response.status_code == 201:
            assert response["Idempotent-Replayed"] == "true"
            assert response.json() == first[0].json()
        else:
            assert_problem(response, 409, "conflict")
