"""A light pass over the request lifecycle services (the full lifecycle suite lives elsewhere): the happy path
moves stock through the ledger, and the refusals change nothing."""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.utils import timezone

from coordination import services
from coordination.models import Discrepancy, DiscrepancyKind, RequestStatus, SupplyRequest
from core.errors import InsufficientStock, InvalidTransition
from inventory.models import Movement, MovementKind, Stock
from nations.access import grant_role
from nations.roles import Role
from tests.factories import CenterFactory, ItemFactory, NationFactory, UserFactory, stock_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    fra = NationFactory(code="FRA", name="France", ncb_code="14")
    deu = NationFactory(code="DEU", name="Germany", ncb_code="12")
    mlc_a = CenterFactory(code="MLC-A", host_nation=deu)
    mlc_a.participants.set([fra, deu])
    item = ItemFactory(nsn="9130-12-000-0001")
    users = {
        name: UserFactory(username=name) for name in ("fra-logistics", "deu-liaison", "mlc-a-operator", "dual-hat")
    }
    grant_role(users["fra-logistics"], Role.LOGISTICS, fra)
    grant_role(users["deu-liaison"], Role.LIAISON, deu)
    grant_role(users["mlc-a-operator"], Role.OPERATOR, mlc_a)
    grant_role(users["dual-hat"], Role.LOGISTICS, fra)
    grant_role(users["dual-hat"], Role.LIAISON, deu)
    supplier_stock = stock_with(100, nation=deu, center=mlc_a, item=item, shared=True)

    def raise_request(quantity=40, by="fra-logistics", submit=True) -> SupplyRequest:
        return services.create_request(
            requester=users[by],
            requesting_nation=fra,
            supplying_nation=deu,
            item=item,
            source_center=mlc_a,
            destination_center=mlc_a,
            quantity=quantity,
            required_by=timezone.localdate() + dt.timedelta(days=5),
            justification="Exercise resupply",
            submit=submit,
        )

    return SimpleNamespace(
        fra=fra,
        deu=deu,
        mlc_a=mlc_a,
        item=item,
        users=users,
        supplier_stock=supplier_stock,
        raise_request=raise_request,
    )


def assert_ledger_reconciles(*stocks: Stock) -> None:
    for stock in stocks:
        stock.refresh_from_db()
        total = stock.movements.aggregate(total=Sum("quantity"))["total"] or 0
        assert stock.on_hand == total, stock
        last = stock.movements.order_by("-id").first()
        assert last is None or last.balance_after == stock.on_hand, stock


def test_request_happy_path_moves_stock_through_the_ledger(world):
    users, supplier = world.users, world.supplier_stock

    request = world.raise_request(quantity=40)
    assert request.status == RequestStatus.SUBMITTED
    assert request.reference == f"REQ-{request.pk:06d}"

    request = services.approve_request(request=request, approver=users["deu-liaison"], quantity=30)
    supplier.refresh_from_db()
    assert (request.status, request.quantity_approved) == (RequestStatus.APPROVED, 30)
    assert (supplier.on_hand, supplier.reserved, supplier.available) == (100, 30, 70)
    assert supplier.movements.count() == 1  # a reservation is not a movement

    request = services.dispatch_request(request=request, actor=users["mlc-a-operator"])
    supplier.refresh_from_db()
    assert (request.status, request.quantity_dispatched) == (RequestStatus.DISPATCHED, 30)
    assert (supplier.on_hand, supplier.reserved) == (70, 0)
    transfer_out = supplier.movements.get(kind=MovementKind.TRANSFER_OUT)
    assert (transfer_out.quantity, transfer_out.balance_after, transfer_out.request_id) == (-30, 70, request.pk)
    assert transfer_out.actor == users["mlc-a-operator"]

    assert not Stock.objects.filter(nation=world.fra, center=world.mlc_a, item=world.item).exists()
    request = services.receive_request(request=request, actor=users["fra-logistics"], quantity=25)
    assert (request.status, request.quantity_received) == (RequestStatus.RECEIVED, 25)
    receiver = Stock.objects.get(nation=world.fra, center=world.mlc_a, item=world.item)
    assert (receiver.on_hand, receiver.reserved, receiver.shared) == (25, 0, False)
    transfer_in = receiver.movements.get()
    assert (transfer_in.kind, transfer_in.quantity, transfer_in.request_id) == (
        MovementKind.TRANSFER_IN,
        25,
        request.pk,
    )
    short = Discrepancy.objects.get(request=request)
    assert (short.kind, short.expected, short.actual, short.resolved_at) == (
        DiscrepancyKind.SHORT_RECEIPT,
        30,
        25,
        None,
    )

    timeline = list(request.events.values_list("from_status", "to_status", "actor__username"))
    assert timeline == [
        ("", "draft", "fra-logistics"),
        ("draft", "submitted", "fra-logistics"),
        ("submitted", "approved", "deu-liaison"),
        ("approved", "dispatched", "mlc-a-operator"),
        ("dispatched", "received", "fra-logistics"),
    ]
    assert Movement.objects.filter(request=request).count() == 2
    assert_ledger_reconciles(supplier, receiver)


def test_author_cannot_approve_own_request(world):
    # dual-hat is a DEU liaison officer, so only authorship stands between them and the approval
    request = world.raise_request(by="dual-hat")
    with pytest.raises(PermissionDenied):
        services.approve_request(request=request, approver=world.users["dual-hat"], quantity=10)
    request.refresh_from_db()
    world.supplier_stock.refresh_from_db()
    assert (request.status, request.quantity_approved, world.supplier_stock.reserved) == ("submitted", None, 0)

    services.approve_request(request=request, approver=world.users["deu-liaison"], quantity=10)
    world.supplier_stock.refresh_from_db()
    assert world.supplier_stock.reserved == 10


def test_approving_more_than_available_changes_nothing(world):
    first = world.raise_request(quantity=80)
    services.approve_request(request=first, approver=world.users["deu-liaison"])
    second = world.raise_request(quantity=30)  # 100 on hand, 80 reserved: 20 available
    events_before = second.events.count()

    with pytest.raises(InsufficientStock):
        services.approve_request(request=second, approver=world.users["deu-liaison"], quantity=21)

    second.refresh_from_db()
    world.supplier_stock.refresh_from_db()
    assert (second.status, second.quantity_approved, second.approved_at) == ("submitted", None, None)
    assert second.events.count() == events_before
    assert (world.supplier_stock.on_hand, world.supplier_stock.reserved) == (100, 80)
    assert_ledger_reconciles(world.supplier_stock)

    services.approve_request(request=second, approver=world.users["deu-liaison"], quantity=20)  # exactly what is left
    world.supplier_stock.refresh_from_db()
    assert (world.supplier_stock.reserved, world.supplier_stock.available) == (100, 0)


@pytest.mark.parametrize(
    "status,transition",
    [
        ("draft", lambda r, u: services.approve_request(request=r, approver=u["deu-liaison"])),
        ("submitted", lambda r, u: services.dispatch_request(request=r, actor=u["mlc-a-operator"])),
        ("submitted", lambda r, u: services.receive_request(request=r, actor=u["fra-logistics"])),
        ("approved", lambda r, u: services.approve_request(request=r, approver=u["deu-liaison"])),
        ("approved", lambda r, u: services.submit_request(request=r, actor=u["fra-logistics"])),
    ],
)
def test_wrong_state_transition_is_refused(world, status, transition):
    request = world.raise_request(quantity=10, submit=status != "draft")
    if status == "approved":
        services.approve_request(request=request, approver=world.users["deu-liaison"])
    world.supplier_stock.refresh_from_db()
    reserved_before, events_before = world.supplier_stock.reserved, request.events.count()

    with pytest.raises(InvalidTransition):
        transition(request, world.users)

    request.refresh_from_db()
    world.supplier_stock.refresh_from_db()
    assert request.status == status
    assert request.events.count() == events_before
    assert world.supplier_stock.reserved == reserved_before
    assert_ledger_reconciles(world.supplier_stock)


def test_cancelling_an_approved_request_releases_its_reservation(world):
    request = world.raise_request(quantity=40)
    services.approve_request(request=request, approver=world.users["deu-liaison"], quantity=35)
    request = services.cancel_request(request=request, actor=world.users["fra-logistics"], comment="Not needed")
    world.supplier_stock.refresh_from_db()
    assert request.status == RequestStatus.CANCELLED
    assert (world.supplier_stock.on_hand, world.supplier_stock.reserved) == (100, 0)
    assert_ledger_reconciles(world.supplier_stock)
