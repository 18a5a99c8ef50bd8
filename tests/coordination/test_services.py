"""The request lifecycle services called directly (not through a channel): each moves the request and the books
as PRODUCT.md says, refuses a caller without the right (PermissionDenied) or a request in the wrong status
(InvalidTransition), and a refusal changes nothing.

Scenario: ``tests/api/conftest.py`` (FRA asks DEU for fuel from DEU's shared stock at MLC-A, 200 on hand, to be
delivered to NAT-F); requests are moved there through the services by ``tests/web/conftest.make_request``."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from coordination import lifecycle, services
from coordination.models import (
    Discrepancy,
    DiscrepancyKind,
    EventType,
    Notification,
    RequestEvent,
    RequestStatus,
    SupplyRequest,
)
from core.errors import InsufficientStock, InvalidTransition
from inventory.models import Movement, MovementKind, Stock
from nations.models import AuditEntry, AuditKind
from tests.api.conftest import assert_books_reconcile, build_scenario
from tests.web.conftest import make_request


@pytest.fixture
def world(db):
    return build_scenario()


def supplier(world) -> Stock:
    return Stock.objects.get(pk=world.stocks["deu_shared"].pk)


def state(request: SupplyRequest, world) -> tuple:
    """Everything a refused transition must leave as it was."""
    request = SupplyRequest.objects.get(pk=request.pk)
    stock = supplier(world)
    return (
        request.status,
        request.version,
        request.quantity_approved,
        request.quantity_dispatched,
        request.quantity_received,
        (stock.on_hand, stock.reserved),
        RequestEvent.objects.count(),
        Movement.objects.count(),
        Notification.objects.count(),
        AuditEntry.objects.filter(kind=AuditKind.REQUEST_TRANSITION).count(),
        Discrepancy.objects.count(),
    )


def last_audit(request) -> AuditEntry:
    return AuditEntry.objects.filter(kind=AuditKind.REQUEST_TRANSITION, object_id=str(request.pk)).latest("id")


# --- happy paths -----------------------------------------------------------------------------------------------------


def test_submit_sends_a_draft_to_the_supplying_liaison_officers(world):
    request = make_request(world, RequestStatus.DRAFT)
    moved = services.submit_request(request=request, actor=world.users["fra_logistics"], comment="Ready")
    assert (moved.status, moved.version) == (RequestStatus.SUBMITTED, 2)
    event = moved.events.latest("id")
    assert (event.from_status, event.to_status, event.comment) == ("draft", "submitted", "Ready")
    told = Notification.objects.filter(event=EventType.REQUEST_SUBMITTED).values_list("user__username", flat=True)
    assert set(told) == {"deu-liaison", "dual-hat"}  # DEU's liaison officers
    assert last_audit(moved).nation == world.fra


def test_approve_reserves_the_quantity_at_the_supplier(world):
    request = make_request(world, quantity=40)
    moved = services.approve_request(request=request, approver=world.users["deu_liaison"], quantity=25, comment="Part")
    assert (moved.status, moved.quantity_approved) == (RequestStatus.APPROVED, 25)
    assert (supplier(world).on_hand, supplier(world).reserved) == (200, 25)
    assert moved.events.latest("id").quantity == 25
    assert last_audit(moved).nation == world.deu  # the supplier's side approves
    assert Notification.objects.filter(event=EventType.REQUEST_APPROVED, user=world.users["fra_logistics"]).exists()
    assert_books_reconcile()


def test_approve_without_a_quantity_approves_what_was_requested(world):
    moved = services.approve_request(request=make_request(world, quantity=9), approver=world.users["deu_liaison"])
    assert moved.quantity_approved == 9


def test_reject_records_the_reason(world):
    request = make_request(world)
    moved = services.reject_request(request=request, approver=world.users["deu_liaison"], reason="  Held back  ")
    assert moved.status == RequestStatus.REJECTED
    assert moved.events.latest("id").comment == "Held back"
    assert last_audit(moved).nation == world.deu


def test_dispatch_issues_the_approved_quantity_and_releases_the_reservation(world):
    request = make_request(world, RequestStatus.APPROVED, quantity=30)
    moved = services.dispatch_request(request=request, actor=world.users["mlc_a_operator"])
    assert (moved.status, moved.quantity_dispatched) == (RequestStatus.DISPATCHED, 30)
    assert (supplier(world).on_hand, supplier(world).reserved) == (170, 0)
    movement = Movement.objects.get(request=moved)
    assert (movement.kind, movement.quantity) == (MovementKind.TRANSFER_OUT, -30)
    assert last_audit(moved).nation == world.deu
    assert_books_reconcile()


def test_receive_books_into_the_requesters_stock_and_a_short_receipt_opens_a_discrepancy(world):
    request = make_request(world, RequestStatus.DISPATCHED, quantity=30)
    moved = services.receive_request(request=request, actor=world.users["nat_f_operator"], quantity=25)
    assert (moved.status, moved.quantity_received) == (RequestStatus.RECEIVED, 25)
    received = Stock.objects.get(nation=world.fra, center=world.nat_f, item=world.fuel)
    assert received.on_hand == 25
    short = Discrepancy.objects.get(request=moved)
    assert (short.kind, short.expected, short.actual) == (DiscrepancyKind.SHORT_RECEIPT, 30, 25)
    assert last_audit(moved).nation == world.fra  # the requester's side receives
    assert_books_reconcile()


def test_receive_without_a_quantity_receives_what_was_dispatched(world):
    request = make_request(world, RequestStatus.DISPATCHED, quantity=12)
    moved = services.receive_request(request=request, actor=world.users["fra_logistics"])
    assert moved.quantity_received == 12 and not Discrepancy.objects.exists()


@pytest.mark.parametrize("status", [RequestStatus.DRAFT, RequestStatus.SUBMITTED, RequestStatus.APPROVED])
def test_cancel_withdraws_the_request_and_gives_back_a_reservation(world, status):
    request = make_request(world, status, quantity=20)
    notices = Notification.objects.count()
    moved = services.cancel_request(request=request, actor=world.users["fra_logistics"], comment="No longer needed")
    assert moved.status == RequestStatus.CANCELLED
    assert supplier(world).reserved == 0
    assert Notification.objects.count() == notices  # nobody is told of a cancellation
    assert last_audit(moved).nation == world.fra
    assert_books_reconcile()


@pytest.mark.parametrize(
    ("action", "status", "actor", "inputs"),
    [
        ("submit", RequestStatus.DRAFT, "fra_logistics", {"comment": ""}),
        ("approve", RequestStatus.SUBMITTED, "deu_liaison", {"quantity": 3, "comment": ""}),
        ("reject", RequestStatus.SUBMITTED, "deu_liaison", {"reason": "No"}),
        ("dispatch", RequestStatus.APPROVED, "deu_logistics", {"comment": ""}),
        ("receive", RequestStatus.DISPATCHED, "fra_logistics", {"quantity": 7, "comment": ""}),
        ("cancel", RequestStatus.SUBMITTED, "fra_logistics", {"comment": ""}),
    ],
)
def test_make_transition_reaches_each_rows_service(world, action, status, actor, inputs):
    request = make_request(world, status)
    moved = services.make_transition(action=action, request=request, actor=world.users[actor], **inputs)
    assert moved.status == lifecycle.transition(action).target


# --- refused: the caller may not ---------------------------------------------------------------------------------

REFUSED = [
    ("submit", RequestStatus.DRAFT, "deu_liaison", {}, "You may not submit this request."),
    ("approve", RequestStatus.SUBMITTED, "deu_logistics", {}, "You may not approve this request."),
    ("approve", RequestStatus.SUBMITTED, "fra_logistics", {}, "Whoever raised a request cannot approve it."),
    ("reject", RequestStatus.SUBMITTED, "mlc_a_operator", {"reason": "No"}, "You may not reject this request."),
    ("dispatch", RequestStatus.APPROVED, "fra_logistics", {}, "You may not dispatch this request."),
    ("receive", RequestStatus.DISPATCHED, "deu_logistics", {}, "You may not receive this request."),
    ("cancel", RequestStatus.SUBMITTED, "deu_liaison", {}, "You may not cancel this request."),
]


@pytest.mark.parametrize(("action", "status", "actor", "inputs", "message"), REFUSED)
def test_a_caller_without_the_right_is_refused_and_nothing_changes(world, action, status, actor, inputs, message):
    request = make_request(world, status)
    before = state(request, world)
    with pytest.raises(PermissionDenied, match=message):
        services.make_transition(action=action, request=request, actor=world.users[actor], **inputs)
    assert state(request, world) == before


def test_the_author_of_a_request_may_not_approve_it_even_as_the_suppliers_liaison_officer(world):
    own = make_request(world, creator="dual_hat")  # FRA logistics officer and DEU liaison officer
    before = state(own, world)
    with pytest.raises(PermissionDenied, match="Whoever raised a request cannot approve it."):
        services.approve_request(request=own, approver=world.users["dual_hat"])
    with pytest.raises(PermissionDenied, match="Whoever raised a request cannot approve it."):
        services.reject_request(request=own, approver=world.users["dual_hat"], reason="Mine")
    assert state(own, world) == before
    services.approve_request(request=own, approver=world.users["deu_liaison"])  # another liaison officer may


# --- refused: the wrong status -------------------------------------------------------------------------------------

WRONG_STATE = [
    ("submit", RequestStatus.SUBMITTED, "fra_logistics", {}),
    ("approve", RequestStatus.DRAFT, "deu_liaison", {}),
    ("approve", RequestStatus.APPROVED, "deu_liaison", {}),
    ("reject", RequestStatus.APPROVED, "deu_liaison", {"reason": "Late"}),
    ("dispatch", RequestStatus.SUBMITTED, "deu_logistics", {}),
    ("receive", RequestStatus.APPROVED, "nat_f_operator", {}),
    ("cancel", RequestStatus.DISPATCHED, "fra_logistics", {}),
    ("cancel", RequestStatus.RECEIVED, "fra_logistics", {}),
]


@pytest.mark.parametrize(("action", "status", "actor", "inputs"), WRONG_STATE)
def test_a_transition_from_the_wrong_status_is_refused_and_nothing_changes(world, action, status, actor, inputs):
    request = make_request(world, status)
    before = state(request, world)
    with pytest.raises(InvalidTransition, match=f"{request.reference} is {status}; it cannot be"):
        services.make_transition(action=action, request=request, actor=world.users[actor], **inputs)
    assert state(request, world) == before


# --- refused: not enough stock, or bad input ----------------------------------------------------------------------


def test_approving_more_than_is_available_is_refused_and_nothing_changes(world):
    request = make_request(world, quantity=250)  # DEU holds 200
    before = state(request, world)
    with pytest.raises(InsufficientStock, match="Only 200 available at MLC-A; cannot reserve 250."):
        services.approve_request(request=request, approver=world.users["deu_liaison"])
    assert state(request, world) == before


@pytest.mark.parametrize(
    ("action", "status", "actor", "inputs", "field", "message"),
    [
        ("approve", RequestStatus.SUBMITTED, "deu_liaison", {"quantity": 0}, "quantity", "greater than zero"),
        ("approve", RequestStatus.SUBMITTED, "deu_liaison", {"quantity": True}, "quantity", "greater than zero"),
        ("approve", RequestStatus.SUBMITTED, "deu_liaison", {"quantity": 8}, "quantity", "more than the 7 requested"),
        ("reject", RequestStatus.SUBMITTED, "deu_liaison", {"reason": "  "}, "reason", "Give the reason"),
        ("receive", RequestStatus.DISPATCHED, "fra_logistics", {"quantity": -1}, "quantity", "zero or more"),
        ("receive", RequestStatus.DISPATCHED, "fra_logistics", {"quantity": 8}, "quantity", "the 7 dispatched"),
    ],
)
def test_bad_input_is_refused_on_its_field_and_nothing_changes(world, action, status, actor, inputs, field, message):
    request = make_request(world, status)
    before = state(request, world)
    with pytest.raises(ValidationError) as refused:
        services.make_transition(action=action, request=request, actor=world.users[actor], **inputs)
    assert message in " ".join(refused.value.message_dict[field])
    assert state(request, world) == before
