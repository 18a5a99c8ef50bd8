"""The request lifecycle, the ledger and stock planning figures, through the REST API.

Every transition is tried by the role allowed to make it (and the books are checked after it), by roles
that see the request but may not act (403), by outsiders who may not see it (404), from every status it may
not be made from (409), and with bad input (400).  Every refusal must leave the database exactly as it was.

The scenario is in ``conftest.py``: FRA asks DEU for fuel from DEU's shared stock at MLC-A (200 on hand),
to be delivered to NAT-F, FRA's national center, where FRA holds no fuel yet.
"""

import datetime as dt

import pytest
from django.utils import timezone

from coordination import lifecycle
from coordination.models import (
    Discrepancy,
    DiscrepancyKind,
    RequestEvent,
    RequestStatus,
    Severity,
    SupplyRequest,
)
from inventory.models import Movement, MovementKind, Stock

from .conftest import (
    FUEL_NSN,
    RATIONS_NSN,
    assert_books_reconcile,
    assert_problem,
    token_client,
)

pytestmark = pytest.mark.django_db

REQUESTS_URL = "/api/v1/requests/"
MOVEMENTS_URL = "/api/v1/movements/"


def request_url(pk: int, action: str | None = None) -> str:
    return f"{REQUESTS_URL}{pk}/{action}/" if action else f"{REQUESTS_URL}{pk}/"


def stock_url(pk: int) -> str:
    return f"/api/v1/stocks/{pk}/"


def future(days: int = 7) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


def payload(**overrides) -> dict:
    """A valid request from FRA to DEU for 40 L of fuel from MLC-A to NAT-F."""
    data = {
        "supplying_nation": "DEU",
        "nsn": FUEL_NSN,
        "source_center": "MLC-A",
        "destination_center": "NAT-F",
        "quantity": 40,
        "priority": "urgent",
        "required_by": future(),
        "justification": "Exercise STEADFAST: generator fuel for the field hospital",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not _OMIT}


_OMIT = object()


def snapshot() -> dict:
    """Everything a refused call must leave untouched."""
    return {
        "stocks": sorted(
            Stock.objects.values_list(
                "id",
                "nation_id",
                "center_id",
                "item_id",
                "on_hand",
                "reserved",
                "safety_level",
                "daily_consumption",
                "shared",
            )
        ),
        "movements": sorted(Movement.objects.values_list("id", flat=True)),
        "requests": sorted(
            SupplyRequest.objects.values_list(
                "id",
                "status",
                "version",
                "quantity_requested",
                "quantity_approved",
                "quantity_dispatched",
                "quantity_received",
            )
        ),
        "events": RequestEvent.objects.count(),
        "discrepancies": Discrepancy.objects.count(),
    }


# Who makes each transition in the happy path (the scenario's users).
ACTOR = {
    "submit": "fra_logistics",
    "cancel": "fra_logistics",
    "approve": "deu_liaison",
    "reject": "deu_liaison",
    "dispatch": "deu_logistics",
    "receive": "fra_logistics",
}
# The body each transition needs to be valid.
BODY = {"reject": {"reason": "Stocks are committed to another operation"}}
# The path to each status, as transitions after creation.
PATH = {
    RequestStatus.DRAFT: [],
    RequestStatus.SUBMITTED: ["submit"],
    RequestStatus.APPROVED: ["submit", "approve"],
    RequestStatus.DISPATCHED: ["submit", "approve", "dispatch"],
    RequestStatus.RECEIVED: ["submit", "approve", "dispatch", "receive"],
    RequestStatus.REJECTED: ["submit", "reject"],
    RequestStatus.CANCELLED: ["cancel"],
}
ACTION_TARGET = {
    "submit": RequestStatus.SUBMITTED,
    "approve": RequestStatus.APPROVED,
    "reject": RequestStatus.REJECTED,
    "dispatch": RequestStatus.DISPATCHED,
    "receive": RequestStatus.RECEIVED,
    "cancel": RequestStatus.CANCELLED,
}


@pytest.fixture
def make_request(as_user):
    """``make_request(status, **payload_overrides)``: a request raised by fra_logistics and moved through the
    API to `status`, each step asserted to succeed.  Returns the request's id."""

    def make(status=RequestStatus.DRAFT, creator="fra_logistics", **overrides) -> int:
        response = as_user(creator).post(REQUESTS_URL, payload(**overrides), format="json")
        assert response.status_code == 201, response.json()
        pk = response.json()["id"]
        for action in PATH[status]:
            step = as_user(ACTOR[action]).post(request_url(pk, action), BODY.get(action, {}), format="json")
            assert step.status_code == 200, (action, step.json())
        assert SupplyRequest.objects.get(pk=pk).status == status
        return pk

    return make


def reload(pk: int) -> SupplyRequest:
    return SupplyRequest.objects.get(pk=pk)


# --- create ----------------------------------------------------------------------------------------------------


def test_create_keeps_a_draft_and_books_nothing(world, as_user):
    before = snapshot()
    response = as_user("fra_logistics").post(REQUESTS_URL, payload(), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "draft"
    assert body["reference"] == f"REQ-{body['id']:06d}"
    assert (body["requesting_nation"], body["supplying_nation"]) == ("FRA", "DEU")  # requester defaults to own nation
    assert (body["source_center"], body["destination_center"], body["nsn"]) == ("MLC-A", "NAT-F", FUEL_NSN)
    assert body["quantity_requested"] == 40 and body["quantity_approved"] is None
    assert body["created_by"] == "fra-logistics"
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in body["timeline"]] == [
        ("", "draft", "fra-logistics")
    ]
    after = snapshot()
    assert after["stocks"] == before["stocks"] and after["movements"] == before["movements"]
    assert_books_reconcile()


def test_create_with_submit_submits_at_once(world, as_user):
    response = as_user("fra_logistics").post(REQUESTS_URL, payload(submit=True), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "submitted"
    assert [(e["from_status"], e["to_status"]) for e in body["timeline"]] == [("", "draft"), ("draft", "submitted")]
    assert reload(body["id"]).status == RequestStatus.SUBMITTED


def test_national_system_raises_a_request_with_its_token(world):
    response = token_client(world.users["fra_system"]).post(REQUESTS_URL, payload(submit=True), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["requesting_nation"] == "FRA"
    assert response.json()["created_by"] == "fra-system"


@pytest.mark.parametrize(
    "user,requesting",
    [
        ("fra_liaison", "FRA"),  # own nation, but only logistics officers raise requests
        ("fra_liaison", _OMIT),
        ("deu_logistics", "FRA"),  # another nation's officer cannot raise a request in FRA's name
        ("ita_logistics", "FRA"),
        ("mlc_a_operator", "FRA"),
        ("coordinator", "FRA"),
        ("no_role", "FRA"),
    ],
)
def test_create_refused_to_anyone_but_the_requesting_nations_logistics_officers(world, as_user, user, requesting):
    before = snapshot()
    response = as_user(user).post(REQUESTS_URL, payload(requesting_nation=requesting), format="json")

    assert_problem(response, 403)
    assert snapshot() == before


BAD_CREATE = [
    pytest.param({"quantity": 0}, "quantity", id="quantity-zero"),
    pytest.param({"quantity": -5}, "quantity", id="quantity-negative"),
    pytest.param({"quantity": "ten"}, "quantity", id="quantity-string"),
    pytest.param({"quantity": 2.5}, "quantity", id="quantity-fraction"),
    pytest.param({"quantity": 10**13}, "quantity", id="quantity-huge"),
    pytest.param({"quantity": _OMIT}, "quantity", id="quantity-missing"),
    pytest.param(
        {"required_by": (timezone.localdate() - dt.timedelta(days=1)).isoformat()}, "required_by", id="required-by-past"
    ),
    pytest.param({"required_by": "next week"}, "required_by", id="required-by-garbage"),
    pytest.param({"supplying_nation": "FRA"}, "supplying_nation", id="same-nation-implicit"),
    pytest.param(
        {"supplying_nation": "FRA", "requesting_nation": "FRA"}, "supplying_nation", id="same-nation-explicit"
    ),
    pytest.param({"supplying_nation": "XYZ"}, "supplying_nation", id="unknown-nation"),
    pytest.param({"nsn": "9999-99-999-9999"}, "nsn", id="unknown-nsn"),
    pytest.param({"nsn": "fuel"}, "nsn", id="malformed-nsn"),
    pytest.param({"source_center": "MLC-NOWHERE"}, "source_center", id="unknown-source-center"),
    pytest.param({"destination_center": "MLC-NOWHERE"}, "destination_center", id="unknown-destination-center"),
    pytest.param({"priority": "whenever"}, "priority", id="unknown-priority"),
    pytest.param({"justification": ""}, "justification", id="justification-blank"),
    pytest.param({"justification": "   "}, "justification", id="justification-whitespace"),
    pytest.param({"justification": "x" * 2001}, "justification", id="justification-too-long"),
    pytest.param({"submit": "perhaps"}, "submit", id="submit-not-boolean"),
]


@pytest.mark.parametrize("overrides,field", BAD_CREATE)
def test_create_with_bad_input_answers_400_and_creates_nothing(world, as_user, overrides, field):
    before = snapshot()
    response = as_user("fra_logistics").post(REQUESTS_URL, payload(**overrides), format="json")

    body = assert_problem(response, 400, "invalid")
    assert field in {e["field"] for e in body["errors"]}, body
    assert snapshot() == before


# --- submit ----------------------------------------------------------------------------------------------------


def test_requesting_logistics_officer_submits_a_draft(world, as_user, make_request):
    pk = make_request(RequestStatus.DRAFT)
    before = snapshot()

    response = as_user("fra_logistics").post(request_url(pk, "submit"), {"comment": "Ready"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "submitted"
    assert response.json()["timeline"][-1] == {
        **response.json()["timeline"][-1],
        "from_status": "draft",
        "to_status": "submitted",
        "actor": "fra-logistics",
        "comment": "Ready",
    }
    assert snapshot()["stocks"] == before["stocks"]
    assert_books_reconcile()


# Users who see a FRA -> DEU request (MLC-A -> NAT-F) and those who do not.
SEES_BUT_MAY_NOT = {
    "submit": ["fra_liaison", "deu_logistics", "deu_liaison", "mlc_a_operator", "nat_f_operator", "coordinator"],
    "cancel": ["fra_liaison", "deu_logistics", "deu_liaison", "mlc_a_operator", "nat_f_operator", "coordinator"],
    "approve": ["deu_logistics", "fra_logistics", "fra_liaison", "mlc_a_operator", "nat_f_operator", "coordinator"],
    "reject": ["deu_logistics", "fra_logistics", "fra_liaison", "mlc_a_operator", "nat_f_operator", "coordinator"],
    "dispatch": ["deu_liaison", "fra_logistics", "fra_liaison", "nat_f_operator", "coordinator"],
    "receive": ["deu_logistics", "deu_liaison", "fra_liaison", "mlc_a_operator", "coordinator"],
}
CANNOT_SEE = ["ita_logistics", "ita_liaison", "nat_b_operator", "no_role"]
# The status from which each action is allowed.
READY_FOR = {
    "submit": RequestStatus.DRAFT,
    "cancel": RequestStatus.SUBMITTED,
    "approve": RequestStatus.SUBMITTED,
    "reject": RequestStatus.SUBMITTED,
    "dispatch": RequestStatus.APPROVED,
    "receive": RequestStatus.DISPATCHED,
}


@pytest.mark.parametrize("action,user", [(a, u) for a, users in SEES_BUT_MAY_NOT.items() for u in users])
def test_transition_refused_403_to_a_role_that_sees_the_request(world, as_user, make_request, action, user):
    pk = make_request(READY_FOR[action])
    before = snapshot()

    response = as_user(user).post(request_url(pk, action), BODY.get(action, {}), format="json")

    assert_problem(response, 403)
    assert snapshot() == before
    # the request is indeed visible to them: the refusal is about the action, not about seeing it
    assert as_user(user).get(request_url(pk)).status_code == 200


@pytest.mark.parametrize("action,user", [(a, u) for a in ACTION_TARGET for u in CANNOT_SEE])
def test_transition_answers_404_to_an_outsider(world, as_user, make_request, action, user):
    pk = make_request(READY_FOR[action])
    before = snapshot()

    response = as_user(user).post(request_url(pk, action), BODY.get(action, {}), format="json")

    assert_problem(response, 404)
    assert snapshot() == before
    assert_problem(as_user(user).get(request_url(pk)), 404)


@pytest.mark.parametrize("action", list(ACTION_TARGET))
def test_outsider_national_system_gets_404_and_the_same_answer_as_for_a_missing_request(world, make_request, action):
    pk = make_request(READY_FOR[action])
    client = token_client(world.users["ita_system"])
    before = snapshot()

    hidden = client.post(request_url(pk, action), BODY.get(action, {}), format="json")
    missing = client.post(request_url(pk + 10_000, action), BODY.get(action, {}), format="json")

    assert_problem(hidden, 404)
    assert hidden.json() == missing.json()  # existence is not leaked
    assert snapshot() == before


BAD_BODY = {
    "submit": {"comment": "x" * 2001},
    "cancel": {"comment": "x" * 2001},
    "approve": {"quantity": 0},
    "reject": {},  # no reason
    "dispatch": {"comment": "x" * 2001},
    "receive": {"quantity": -1},
}


@pytest.mark.parametrize("action", list(ACTION_TARGET))
def test_outsider_gets_404_even_with_a_bad_body(world, as_user, make_request, action):
    # visibility is judged first: an invalid body must not turn the 404 into a 400
    pk = make_request(READY_FOR[action])
    before = snapshot()

    assert_problem(as_user("ita_liaison").post(request_url(pk, action), BAD_BODY[action], format="json"), 404)
    assert snapshot() == before
    # and the same body from whoever may act is judged as bad input
    assert_problem(as_user(ACTOR[action]).post(request_url(pk, action), BAD_BODY[action], format="json"), 400)
    assert snapshot() == before


# --- wrong state: every transition the lifecycle does not allow answers 409 ------------------------------------

WRONG_STATE = [
    pytest.param(status, action, id=f"{action}-from-{status}")
    for status in RequestStatus.values
    for action, target in ACTION_TARGET.items()
    if target not in lifecycle.next_statuses(status)
]


@pytest.mark.parametrize("status,action", WRONG_STATE)
def test_transition_from_a_wrong_status_answers_409_and_changes_nothing(world, as_user, make_request, status, action):
    pk = make_request(status)
    before = snapshot()

    response = as_user(ACTOR[action]).post(request_url(pk, action), BODY.get(action, {}), format="json")

    assert_problem(response, 409, "invalid_transition")
    assert snapshot() == before
    assert_books_reconcile()


def test_the_wrong_state_table_covers_the_cases_named_in_the_issue():
    ids = {p.id for p in WRONG_STATE}
    assert {
        "approve-from-draft",
        "dispatch-from-submitted",
        "receive-from-approved",
        "cancel-from-received",
        "cancel-from-dispatched",
        "approve-from-approved",
        "reject-from-approved",
    } <= ids


# --- approve ---------------------------------------------------------------------------------------------------


def test_supplying_liaison_approves_and_reserves_the_quantity(world, as_user, make_request):
    pk = make_request(RequestStatus.SUBMITTED)
    supplier = world.stocks["deu_shared"]
    movements_before = Movement.objects.count()

    response = as_user("deu_liaison").post(request_url(pk, "approve"), {"comment": "Granted"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert response.json()["quantity_approved"] == 40
    supplier.refresh_from_db()
    assert (supplier.on_hand, supplier.reserved, supplier.available) == (200, 40, 160)
    assert Movement.objects.count() == movements_before  # a reservation is not a movement
    assert_books_reconcile()


def test_approval_may_lower_the_quantity(world, as_user, make_request):
    pk = make_request(RequestStatus.SUBMITTED)

    response = as_user("deu_liaison").post(
        request_url(pk, "approve"), {"quantity": 25, "comment": "Part"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["quantity_approved"] == 25
    assert response.json()["quantity_requested"] == 40
    assert response.json()["timeline"][-1]["quantity"] == 25
    world.stocks["deu_shared"].refresh_from_db()
    assert world.stocks["deu_shared"].reserved == 25
    assert_books_reconcile()


def test_whoever_raised_a_request_cannot_approve_it(world, as_user, make_request):
    # dual_hat is both a FRA logistics officer and a DEU liaison officer
    pk = make_request(RequestStatus.SUBMITTED, creator="dual_hat")
    before = snapshot()

    for action, body in (("approve", {}), ("reject", BODY["reject"])):
        response = as_user("dual_hat").post(request_url(pk, action), body, format="json")
        assert_problem(response, 403)
        assert snapshot() == before

    assert as_user("deu_liaison").post(request_url(pk, "approve"), {}, format="json").status_code == 200


def test_a_liaison_officer_approves_requests_raised_by_others(world, as_user, make_request):
    pk = make_request(RequestStatus.SUBMITTED, creator="fra_logistics")

    assert as_user("deu_liaison").post(request_url(pk, "approve"), {}, format="json").status_code == 200


def test_whoever_holds_a_role_in_the_requesting_nation_cannot_decide_on_its_request(world, as_user, make_request):
    # dual_hat is DEU's liaison officer but also FRA's logistics officer: FRA's requests to DEU are not theirs to
    # decide, whoever raised them (separation of duties across nations)
    pk = make_request(RequestStatus.SUBMITTED, creator="fra_logistics")
    before = snapshot()

    for action, body in (("approve", {}), ("reject", BODY["reject"])):
        response = as_user("dual_hat").post(request_url(pk, action), body, format="json")
        assert_problem(response, 403)
        assert "role in the requesting nation" in response.json()["detail"]
        assert snapshot() == before

    assert as_user("deu_liaison").post(request_url(pk, "approve"), {}, format="json").status_code == 200


def test_approving_more_than_available_answers_409_and_changes_nothing(world, as_user, make_request):
    pk = make_request(RequestStatus.SUBMITTED, quantity=201)  # DEU holds 200
    before = snapshot()

    response = as_user("deu_liaison").post(request_url(pk, "approve"), {}, format="json")

    assert_problem(response, 409, "insufficient_stock")
    assert snapshot() == before
    request = reload(pk)
    assert request.status == RequestStatus.SUBMITTED and request.quantity_approved is None


def test_reservations_count_against_what_is_available(world, as_user, make_request):
    first = make_request(RequestStatus.APPROVED, quantity=150)  # 50 left available
    second = make_request(RequestStatus.SUBMITTED, quantity=60)
    before = snapshot()

    assert_problem(
        as_user("deu_liaison").post(request_url(second, "approve"), {}, format="json"), 409, "insufficient_stock"
    )
    assert snapshot() == before

    partial = as_user("deu_liaison").post(request_url(second, "approve"), {"quantity": 50}, format="json")
    assert partial.status_code == 200
    world.stocks["deu_shared"].refresh_from_db()
    assert (world.stocks["deu_shared"].reserved, world.stocks["deu_shared"].available) == (200, 0)
    assert reload(first).quantity_approved + reload(second).quantity_approved == 200
    assert_books_reconcile()


def test_approving_when_the_supplier_holds_nothing_at_the_source_answers_409(world, as_user, make_request):
    pk = make_request(RequestStatus.SUBMITTED, source_center="NAT-B")  # DEU holds no fuel at NAT-B
    before = snapshot()

    assert_problem(
        as_user("deu_liaison").post(request_url(pk, "approve"), {}, format="json"), 409, "insufficient_stock"
    )
    assert snapshot() == before


@pytest.mark.parametrize("quantity", [0, -1, "lots", 41, 2.5])
def test_approve_with_a_bad_quantity_answers_400_and_changes_nothing(world, as_user, make_request, quantity):
    pk = make_request(RequestStatus.SUBMITTED)  # 40 requested
    before = snapshot()

    response = as_user("deu_liaison").post(request_url(pk, "approve"), {"quantity": quantity}, format="json")

    body = assert_problem(response, 400, "invalid")
    assert "quantity" in {e["field"] for e in body["errors"]}
    assert snapshot() == before


# --- reject ----------------------------------------------------------------------------------------------------


def test_supplying_liaison_rejects_with_a_reason(world, as_user, make_request):
    pk = make_request(RequestStatus.SUBMITTED)
    before = snapshot()

    response = as_user("deu_liaison").post(request_url(pk, "reject"), {"reason": "Needed at home"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    last = response.json()["timeline"][-1]
    assert (last["from_status"], last["to_status"], last["actor"], last["comment"]) == (
        "submitted",
        "rejected",
        "deu-liaison",
        "Needed at home",
    )
    assert snapshot()["stocks"] == before["stocks"]
    assert_books_reconcile()


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"comment": "no reason field"}])
def test_reject_without_a_reason_answers_400_and_changes_nothing(world, as_user, make_request, body):
    pk = make_request(RequestStatus.SUBMITTED)
    before = snapshot()

    response = as_user("deu_liaison").post(request_url(pk, "reject"), body, format="json")

    assert "reason" in {e["field"] for e in assert_problem(response, 400, "invalid")["errors"]}
    assert snapshot() == before


# --- dispatch --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dispatcher", ["deu_logistics", "mlc_a_operator"])
def test_dispatch_issues_from_the_supplier_and_releases_the_reservation(world, as_user, make_request, dispatcher):
    pk = make_request(RequestStatus.APPROVED)
    supplier = world.stocks["deu_shared"]
    movements_before = set(Movement.objects.values_list("id", flat=True))

    response = as_user(dispatcher).post(request_url(pk, "dispatch"), {"comment": "Truck 12"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "dispatched"
    assert response.json()["quantity_dispatched"] == 40
    supplier.refresh_from_db()
    assert (supplier.on_hand, supplier.reserved) == (160, 0)
    new = Movement.objects.exclude(id__in=movements_before)
    assert new.count() == 1
    movement = new.get()
    assert movement.stock_id == supplier.pk
    assert movement.kind == MovementKind.TRANSFER_OUT
    assert (movement.quantity, movement.balance_after) == (-40, 160)
    assert movement.request_id == pk
    assert movement.actor == world.users[dispatcher]
    assert_books_reconcile()


def test_dispatch_issues_the_approved_not_the_requested_quantity(world, as_user, make_request):
    pk = make_request(RequestStatus.SUBMITTED)
    as_user("deu_liaison").post(request_url(pk, "approve"), {"quantity": 25}, format="json")

    response = as_user("deu_logistics").post(request_url(pk, "dispatch"), {}, format="json")

    assert response.status_code == 200
    assert response.json()["quantity_dispatched"] == 25
    world.stocks["deu_shared"].refresh_from_db()
    assert (world.stocks["deu_shared"].on_hand, world.stocks["deu_shared"].reserved) == (175, 0)
    assert Movement.objects.get(request_id=pk).quantity == -25
    assert_books_reconcile()


# --- receive ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("receiver", ["fra_logistics", "nat_f_operator"])
def test_receive_books_into_a_new_stock_of_the_requester_at_the_destination(world, as_user, make_request, receiver):
    pk = make_request(RequestStatus.DISPATCHED)
    assert not Stock.objects.filter(nation=world.fra, center=world.nat_f, item=world.fuel).exists()

    response = as_user(receiver).post(request_url(pk, "receive"), {"comment": "All there"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "received"
    assert response.json()["quantity_received"] == 40
    stock = Stock.objects.get(nation=world.fra, center=world.nat_f, item=world.fuel)
    assert (stock.on_hand, stock.reserved, stock.shared) == (40, 0, False)
    movement = stock.movements.get()
    assert (movement.kind, movement.quantity, movement.balance_after) == (MovementKind.TRANSFER_IN, 40, 40)
    assert movement.request_id == pk and movement.actor == world.users[receiver]
    assert not Discrepancy.objects.filter(request_id=pk).exists()
    world.stocks["deu_shared"].refresh_from_db()
    assert world.stocks["deu_shared"].on_hand == 160  # the supplier's side is not touched again
    assert Movement.objects.filter(request_id=pk).count() == 2  # out of DEU's stock, into FRA's
    assert_books_reconcile()


def test_receive_adds_to_an_existing_stock(world, as_user, make_request):
    from tests.factories import stock_with

    existing = stock_with(10, actor=world.seeder, nation=world.fra, center=world.nat_f, item=world.fuel)
    pk = make_request(RequestStatus.DISPATCHED)

    assert as_user("fra_logistics").post(request_url(pk, "receive"), {}, format="json").status_code == 200

    existing.refresh_from_db()
    assert existing.on_hand == 50
    assert Stock.objects.filter(nation=world.fra, center=world.nat_f, item=world.fuel).count() == 1
    assert_books_reconcile()


def test_short_receipt_books_what_arrived_and_opens_a_discrepancy(world, as_user, make_request):
    pk = make_request(RequestStatus.DISPATCHED)

    response = as_user("fra_logistics").post(
        request_url(pk, "receive"), {"quantity": 30, "comment": "10 missing"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["quantity_received"] == 30
    stock = Stock.objects.get(nation=world.fra, center=world.nat_f, item=world.fuel)
    assert stock.on_hand == 30
    discrepancy = Discrepancy.objects.get(request_id=pk)
    assert discrepancy.kind == DiscrepancyKind.SHORT_RECEIPT
    assert (discrepancy.expected, discrepancy.actual) == (40, 30)
    assert discrepancy.severity == Severity.WARNING and discrepancy.resolved_at is None
    assert_books_reconcile()

    # the requester sees the discrepancy through the API too
    listed = as_user("fra_logistics").get("/api/v1/discrepancies/").json()["results"]
    assert [(d["id"], d["kind"], d["request"]) for d in listed] == [
        (discrepancy.pk, "short_receipt", reload(pk).reference)
    ]


def test_receiving_nothing_opens_a_critical_discrepancy_and_books_no_movement(world, as_user, make_request):
    pk = make_request(RequestStatus.DISPATCHED)

    response = as_user("fra_logistics").post(request_url(pk, "receive"), {"quantity": 0}, format="json")

    assert response.status_code == 200
    assert response.json()["quantity_received"] == 0
    assert Movement.objects.filter(request_id=pk).count() == 1  # only the dispatch
    assert Discrepancy.objects.get(request_id=pk).severity == Severity.CRITICAL
    assert_books_reconcile()


@pytest.mark.parametrize("quantity", [41, -1, "some", 2.5])
def test_receive_with_a_bad_quantity_answers_400_and_changes_nothing(world, as_user, make_request, quantity):
    pk = make_request(RequestStatus.DISPATCHED)  # 40 dispatched
    before = snapshot()

    response = as_user("fra_logistics").post(request_url(pk, "receive"), {"quantity": quantity}, format="json")

    assert "quantity" in {e["field"] for e in assert_problem(response, 400, "invalid")["errors"]}
    assert snapshot() == before


# --- cancel ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [RequestStatus.DRAFT, RequestStatus.SUBMITTED])
def test_requester_cancels_before_approval(world, as_user, make_request, status):
    pk = make_request(status)
    stocks_before = snapshot()["stocks"]

    response = as_user("fra_logistics").post(request_url(pk, "cancel"), {"comment": "Not needed"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["timeline"][-1]["comment"] == "Not needed"
    assert snapshot()["stocks"] == stocks_before
    assert_books_reconcile()


def test_cancelling_an_approved_request_releases_its_reservation(world, as_user, make_request):
    other = make_request(RequestStatus.APPROVED, quantity=30)
    pk = make_request(RequestStatus.APPROVED, quantity=40)
    supplier = world.stocks["deu_shared"]
    supplier.refresh_from_db()
    assert supplier.reserved == 70
    movements_before = Movement.objects.count()

    response = as_user("fra_logistics").post(request_url(pk, "cancel"), {}, format="json")

    assert response.status_code == 200
    supplier.refresh_from_db()
    assert (supplier.on_hand, supplier.reserved) == (200, 30)  # only the other request's reservation is left
    assert Movement.objects.count() == movements_before
    assert reload(other).status == RequestStatus.APPROVED
    assert_books_reconcile()


# --- the whole story, and its timeline -------------------------------------------------------------------------


def test_full_lifecycle_keeps_the_books_and_a_timeline_of_every_step(world, as_user):
    fra, deu_liaison, deu_logistics = as_user("fra_logistics"), as_user("deu_liaison"), as_user("deu_logistics")
    supplier = world.stocks["deu_shared"]

    created = fra.post(REQUESTS_URL, payload(quantity=40), format="json")
    assert created.status_code == 201
    pk = created.json()["id"]
    etags = [fra.get(request_url(pk))["ETag"]]

    def step(client, action, body, expect_on_hand, expect_reserved):
        response = client.post(request_url(pk, action), body, format="json")
        assert response.status_code == 200, response.json()
        supplier.refresh_from_db()
        assert (supplier.on_hand, supplier.reserved) == (expect_on_hand, expect_reserved), action
        assert_books_reconcile()
        detail = fra.get(request_url(pk))
        assert detail["ETag"] not in etags  # every transition changes the version
        etags.append(detail["ETag"])
        return detail.json()

    step(fra, "submit", {"comment": "Please"}, 200, 0)
    step(deu_liaison, "approve", {"quantity": 30, "comment": "30 is what we can spare"}, 200, 30)
    step(deu_logistics, "dispatch", {"comment": "Convoy 7"}, 170, 0)
    detail = step(fra, "receive", {"quantity": 28, "comment": "Two jerrycans leaked"}, 170, 0)

    assert detail["status"] == "received"
    assert (
        detail["quantity_requested"],
        detail["quantity_approved"],
        detail["quantity_dispatched"],
        detail["quantity_received"],
    ) == (40, 30, 30, 28)
    timeline = [(e["from_status"], e["to_status"], e["actor"], e["comment"], e["quantity"]) for e in detail["timeline"]]
    assert timeline == [
        ("", "draft", "fra-logistics", "Created", 40),
        ("draft", "submitted", "fra-logistics", "Please", None),
        ("submitted", "approved", "deu-liaison", "30 is what we can spare", 30),
        ("approved", "dispatched", "deu-logistics", "Convoy 7", 30),
        ("dispatched", "received", "fra-logistics", "Two jerrycans leaked", 28),
    ]
    times = [e["at"] for e in detail["timeline"]]
    assert times == sorted(times) and all(times)
    received = Stock.objects.get(nation=world.fra, center=world.nat_f, item=world.fuel)
    assert received.on_hand == 28
    assert Discrepancy.objects.get(request_id=pk).actual == 28

    # both parties and both centers see the same timeline; an outsider sees nothing
    for viewer in ("deu_liaison", "mlc_a_operator", "nat_f_operator", "coordinator"):
        assert as_user(viewer).get(request_url(pk)).json()["timeline"] == detail["timeline"]
    assert as_user("ita_logistics").get(request_url(pk)).status_code == 404


def test_timeline_of_rejected_and_cancelled_requests(world, as_user, make_request):
    rejected = make_request(RequestStatus.REJECTED)
    cancelled = make_request(RequestStatus.APPROVED)
    as_user("fra_logistics").post(request_url(cancelled, "cancel"), {"comment": "Found it elsewhere"}, format="json")

    rejected_timeline = as_user("fra_logistics").get(request_url(rejected)).json()["timeline"]
    cancelled_timeline = as_user("fra_logistics").get(request_url(cancelled)).json()["timeline"]

    assert [(e["to_status"], e["actor"], e["comment"]) for e in rejected_timeline][-1] == (
        "rejected",
        "deu-liaison",
        BODY["reject"]["reason"],
    )
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in cancelled_timeline] == [
        ("", "draft", "fra-logistics"),
        ("draft", "submitted", "fra-logistics"),
        ("submitted", "approved", "deu-liaison"),
        ("approved", "cancelled", "fra-logistics"),
    ]
    assert cancelled_timeline[-1]["comment"] == "Found it elsewhere"
    assert_books_reconcile()


# --- movements: receipts, issues, adjustments ------------------------------------------------------------------


def movement(nation="FRA", center="MLC-A", nsn=RATIONS_NSN, kind="receipt", quantity=20, **extra) -> dict:
    return {"nation": nation, "center": center, "nsn": nsn, "kind": kind, "quantity": quantity, **extra}


def test_receipt_issue_and_adjustment_each_write_one_movement(world, as_user):
    fra = as_user("fra_logistics")
    stock = world.stocks["fra_private"]  # 50 on hand

    receipt = fra.post(MOVEMENTS_URL, movement(kind="receipt", quantity=20), format="json")
    issue = fra.post(MOVEMENTS_URL, movement(kind="issue", quantity=15), format="json")
    adjustment = fra.post(MOVEMENTS_URL, movement(kind="adjustment", quantity=-5, reason="Water damage"), format="json")

    assert [r.status_code for r in (receipt, issue, adjustment)] == [201, 201, 201]
    assert [
        (r.json()["kind"], r.json()["quantity"], r.json()["balance_after"]) for r in (receipt, issue, adjustment)
    ] == [("receipt", 20, 70), ("issue", -15, 55), ("adjustment", -5, 50)]
    assert {r.json()["stock"] for r in (receipt, issue, adjustment)} == {stock.pk}
    assert adjustment.json()["reason"] == "Water damage"
    assert adjustment.json()["actor"] == "fra-logistics"
    stock.refresh_from_db()
    assert stock.on_hand == 50
    assert stock.movements.count() == 4  # the seed receipt and these three
    assert_books_reconcile()


def test_receipt_creates_the_stock_when_the_nation_holds_none_there(world):
    client = token_client(world.users["fra_system"])

    response = client.post(MOVEMENTS_URL, movement(center="NAT-F", nsn=FUEL_NSN, quantity=500), format="json")

    assert response.status_code == 201, response.json()
    stock = Stock.objects.get(nation=world.fra, center=world.nat_f, item=world.fuel)
    assert stock.on_hand == 500 and response.json()["stock"] == stock.pk
    assert_books_reconcile()


def test_issuing_more_than_available_answers_409_and_changes_nothing(world, as_user):
    before = snapshot()

    response = as_user("fra_logistics").post(MOVEMENTS_URL, movement(kind="issue", quantity=51), format="json")

    assert_problem(response, 409, "insufficient_stock")
    assert snapshot() == before


def test_reserved_stock_cannot_be_issued_or_adjusted_away(world, as_user, make_request):
    make_request(RequestStatus.APPROVED, quantity=40)  # DEU: 200 on hand, 40 reserved, 160 available
    deu = as_user("deu_logistics")
    fuel_at_mlc_a = {"nation": "DEU", "nsn": FUEL_NSN}
    before = snapshot()

    assert_problem(
        deu.post(MOVEMENTS_URL, movement(kind="issue", quantity=161, **fuel_at_mlc_a), format="json"),
        409,
        "insufficient_stock",
    )
    assert_problem(
        deu.post(
            MOVEMENTS_URL, movement(kind="adjustment", quantity=-161, reason="Spill", **fuel_at_mlc_a), format="json"
        ),
        409,
        "insufficient_stock",
    )
    assert snapshot() == before

    assert (
        deu.post(MOVEMENTS_URL, movement(kind="issue", quantity=160, **fuel_at_mlc_a), format="json").status_code == 201
    )
    world.stocks["deu_shared"].refresh_from_db()
    assert (world.stocks["deu_shared"].on_hand, world.stocks["deu_shared"].reserved) == (40, 40)
    assert_books_reconcile()


def test_issuing_from_a_stock_the_nation_does_not_hold_answers_409(world, as_user):
    before = snapshot()

    response = as_user("fra_logistics").post(
        MOVEMENTS_URL, movement(kind="issue", center="NAT-F", quantity=1), format="json"
    )

    assert_problem(response, 409)
    assert snapshot() == before


BAD_MOVEMENTS = [
    pytest.param({"kind": "adjustment", "quantity": 5}, "reason", id="adjustment-without-reason"),
    pytest.param({"kind": "adjustment", "quantity": 5, "reason": "   "}, "reason", id="adjustment-blank-reason"),
    pytest.param({"kind": "receipt", "quantity": 0}, "quantity", id="quantity-zero"),
    pytest.param({"kind": "adjustment", "quantity": 0, "reason": "x"}, "quantity", id="adjustment-zero"),
    pytest.param({"kind": "receipt", "quantity": -3}, "quantity", id="receipt-negative"),
    pytest.param({"kind": "issue", "quantity": -3}, "quantity", id="issue-negative"),
    pytest.param({"kind": "receipt", "quantity": "many"}, "quantity", id="quantity-string"),
    pytest.param({"kind": "receipt", "quantity": 10**13}, "quantity", id="quantity-huge"),
    pytest.param({"kind": "transfer_out", "quantity": 5}, "kind", id="kind-transfer-out"),
    pytest.param({"kind": "count_correction", "quantity": 5}, "kind", id="kind-count-correction"),
    pytest.param({"kind": "theft", "quantity": 5}, "kind", id="kind-unknown"),
    pytest.param({"nsn": "9999-99-999-9999"}, "nsn", id="unknown-nsn"),
    pytest.param({"center": "MLC-NOWHERE"}, "center", id="unknown-center"),
    pytest.param({"nation": "XYZ"}, "nation", id="unknown-nation"),
    pytest.param({"reason": "r" * 501}, "reason", id="reason-too-long"),
]


@pytest.mark.parametrize("overrides,field", BAD_MOVEMENTS)
def test_bad_movement_answers_400_and_changes_nothing(world, as_user, overrides, field):
    before = snapshot()

    response = as_user("fra_logistics").post(MOVEMENTS_URL, movement(**overrides), format="json")

    assert field in {e["field"] for e in assert_problem(response, 400, "invalid")["errors"]}
    assert snapshot() == before


@pytest.mark.parametrize(
    "user,target",
    [
        ("fra_liaison", {}),  # own nation, but not a logistics officer
        ("mlc_a_operator", {}),  # operators count stock; they do not book receipts
        ("coordinator", {}),
        ("fra_logistics", {"nation": "DEU"}),  # another nation's private stock (DEU rations at MLC-A)
        ("fra_logistics", {"nation": "DEU", "nsn": FUEL_NSN}),  # another nation's shared stock
    ],
)
@pytest.mark.parametrize("kind", ["receipt", "issue", "adjustment"])
def test_movement_refused_403_to_anyone_but_the_nations_logistics_officers(world, as_user, user, target, kind):
    before = snapshot()

    response = as_user(user).post(MOVEMENTS_URL, movement(kind=kind, quantity=5, reason="r", **target), format="json")

    assert_problem(response, 403)
    assert snapshot() == before


def test_refusal_on_another_nations_stock_does_not_reveal_whether_it_exists(world, as_user):
    # DEU holds rations at MLC-A but nothing at NAT-B: FRA gets the same answer for both
    fra = as_user("fra_logistics")
    held = fra.post(MOVEMENTS_URL, movement(nation="DEU", kind="issue", quantity=1), format="json")
    not_held = fra.post(MOVEMENTS_URL, movement(nation="DEU", center="NAT-B", kind="issue", quantity=1), format="json")

    assert held.status_code == not_held.status_code == 403
    assert held.json()["code"] == not_held.json()["code"]


# --- stock PATCH: planning figures only ------------------------------------------------------------------------


def test_own_logistics_officer_changes_planning_figures(world, as_user):
    stock = world.stocks["fra_private"]
    before = snapshot()

    response = as_user("fra_logistics").patch(
        stock_url(stock.pk),
        {"safety_level": 30, "daily_consumption": "2.50", "shared": True},
        format="json",
        HTTP_IF_MATCH="*",
    )

    assert response.status_code == 200, response.json()
    assert response["ETag"]
    assert (response.json()["safety_level"], response.json()["daily_consumption"], response.json()["shared"]) == (
        30,
        "2.50",
        True,
    )
    stock.refresh_from_db()
    assert (stock.safety_level, str(stock.daily_consumption), stock.shared) == (30, "2.50", True)
    assert (stock.on_hand, stock.reserved) == (50, 0)
    assert snapshot()["movements"] == before["movements"]


def test_national_system_changes_its_own_stock_with_a_token(world):
    stock = world.stocks["fra_private"]

    response = token_client(world.users["fra_system"]).patch(
        stock_url(stock.pk), {"safety_level": 12}, format="json", HTTP_IF_MATCH="*"
    )

    assert response.status_code == 200
    stock.refresh_from_db()
    assert stock.safety_level == 12


def test_on_hand_and_reserved_cannot_be_patched(world, as_user):
    stock = world.stocks["fra_private"]
    before = snapshot()

    response = as_user("fra_logistics").patch(
        stock_url(stock.pk), {"on_hand": 9999, "reserved": 7, "available": 1}, format="json", HTTP_IF_MATCH="*"
    )

    assert response.status_code in (200, 400)  # ignored as read-only, or refused: never applied
    stock.refresh_from_db()
    assert (stock.on_hand, stock.reserved) == (50, 0)
    assert snapshot() == before
    assert_books_reconcile()


@pytest.mark.parametrize(
    "user,stock,status",
    [
        ("fra_logistics", "deu_shared", 403),  # another nation's shared stock at a center FRA takes part in
        ("fra_liaison", "fra_private", 403),  # own nation, but planning figures are the logistics officers'
        ("mlc_a_operator", "fra_private", 403),  # held at the operator's center
        ("coordinator", "deu_shared", 403),
        ("fra_logistics", "deu_private", 404),  # another nation's private stock
        ("fra_logistics", "ita_shared", 404),  # shared, but at a center FRA does not take part in
        ("coordinator", "fra_private", 404),  # coordinators see shared stock only
        ("nat_b_operator", "fra_private", 404),
    ],
)
def test_stock_patch_refused(world, as_user, user, stock, status):
    before = snapshot()

    response = as_user(user).patch(
        stock_url(world.stocks[stock].pk), {"safety_level": 1, "shared": True}, format="json"
    )

    assert_problem(response, status)
    assert snapshot() == before


def test_stock_patch_refused_to_another_nations_system_without_revealing_the_stock(world):
    before = snapshot()
    client = token_client(world.users["ita_system"])

    hidden = client.patch(stock_url(world.stocks["fra_private"].pk), {"safety_level": 1}, format="json")
    missing = client.patch(stock_url(10**9), {"safety_level": 1}, format="json")

    assert_problem(hidden, 404)
    assert hidden.json() == missing.json()
    assert snapshot() == before


@pytest.mark.parametrize(
    "body,field",
    [
        ({"safety_level": -1}, "safety_level"),
        ({"safety_level": "high"}, "safety_level"),
        ({"daily_consumption": "-0.5"}, "daily_consumption"),
        ({"daily_consumption": "1e20"}, "daily_consumption"),
        ({"shared": "sometimes"}, "shared"),
    ],
)
def test_stock_patch_with_bad_input_answers_400(world, as_user, body, field):
    before = snapshot()

    response = as_user("fra_logistics").patch(
        stock_url(world.stocks["fra_private"].pk), body, format="json", HTTP_IF_MATCH="*"
    )

    assert field in {e["field"] for e in assert_problem(response, 400, "invalid")["errors"]}
    assert snapshot() == before


def test_if_match_guards_against_lost_updates(world, as_user):
    client = as_user("fra_logistics")
    url = stock_url(world.stocks["fra_private"].pk)
    first_etag = client.get(url)["ETag"]
    assert first_etag

    matching = client.patch(url, {"safety_level": 10}, format="json", HTTP_IF_MATCH=first_etag)
    assert matching.status_code == 200
    assert matching["ETag"] and matching["ETag"] != first_etag
    assert client.get(url)["ETag"] == matching["ETag"]

    before = snapshot()
    stale = client.patch(url, {"safety_level": 99}, format="json", HTTP_IF_MATCH=first_etag)
    assert_problem(stale, 412)
    assert snapshot() == before
    world.stocks["fra_private"].refresh_from_db()
    assert world.stocks["fra_private"].safety_level == 10

    assert client.patch(url, {"safety_level": 11}, format="json", HTTP_IF_MATCH=matching["ETag"]).status_code == 200
    assert client.patch(url, {"safety_level": 12}, format="json", HTTP_IF_MATCH="*").status_code == 200


def test_if_match_goes_stale_when_the_stock_moves(world, as_user):
    client = as_user("fra_logistics")
    url = stock_url(world.stocks["fra_private"].pk)
    etag = client.get(url)["ETag"]

    assert client.post(MOVEMENTS_URL, movement(kind="issue", quantity=1), format="json").status_code == 201

    assert_problem(client.patch(url, {"safety_level": 5}, format="json", HTTP_IF_MATCH=etag), 412)


@pytest.mark.parametrize("method", ["put", "delete"])
def test_stocks_cannot_be_replaced_or_deleted(world, as_user, method):
    before = snapshot()

    response = getattr(as_user("fra_logistics"), method)(stock_url(world.stocks["fra_private"].pk), {}, format="json")

    assert_problem(response, 405)
    assert snapshot() == before
