"""Every invariant of the domain is refused by the database itself, not only by model validation.

Rows are written with ``QuerySet.update`` or ``bulk_create`` so that no Python validation runs; the database
must answer with an IntegrityError.  Each refused case has an accepted neighbour, so a constraint that
refuses everything (or a test that cannot fail) would show.
"""

from decimal import Decimal

import pytest
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from coordination.models import Discrepancy, DiscrepancyKind, RequestStatus, Shortfall, ShortfallKind, SupplyRequest
from inventory import ledger
from inventory.models import Item, LogisticsCenter, Movement, MovementKind, Stock, StockCount
from nations.models import Nation
from tests.factories import (
    CenterFactory,
    ItemFactory,
    NationFactory,
    StockFactory,
    SupplyRequestFactory,
    UserFactory,
    stock_with,
)

pytestmark = pytest.mark.django_db


def refused(write) -> None:
    """Assert that the database refuses `write`, and keep the connection usable afterwards."""
    with pytest.raises(IntegrityError), transaction.atomic():
        write()


def accepted(write) -> None:
    with transaction.atomic():
        write()


@pytest.fixture
def actor():
    return UserFactory(username="constraint-actor")


@pytest.fixture
def stock(actor):
    """A stock with 10 on hand, backed by one receipt movement."""
    return stock_with(10, actor=actor)


# --- stock ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"on_hand": -1, "reserved": 0}, id="on_hand-negative"),
        pytest.param({"reserved": -1}, id="reserved-negative"),
        pytest.param({"reserved": 11}, id="reserved-above-on_hand"),
        pytest.param({"on_hand": 4, "reserved": 5}, id="on_hand-lowered-below-reserved"),
        pytest.param({"safety_level": -1}, id="safety_level-negative"),
        pytest.param({"daily_consumption": Decimal("-0.01")}, id="daily_consumption-negative"),
    ],
)
def test_stock_invariant_refused_by_database(stock, changes):
    refused(lambda: Stock.objects.filter(pk=stock.pk).update(**changes))
    stock.refresh_from_db()
    assert (stock.on_hand, stock.reserved, stock.safety_level) == (10, 0, 0)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"on_hand": 0, "reserved": 0}, id="empty"),
        pytest.param({"reserved": 10}, id="everything-reserved"),
        pytest.param({"safety_level": 0, "daily_consumption": Decimal("0")}, id="zero-planning-figures"),
    ],
)
def test_stock_boundary_values_accepted(stock, changes):
    accepted(lambda: Stock.objects.filter(pk=stock.pk).update(**changes))


def test_stock_unique_per_nation_center_and_item(stock):
    duplicate = Stock(nation=stock.nation, center=stock.center, item=stock.item)
    refused(lambda: Stock.objects.bulk_create([duplicate]))
    other_item = Stock(nation=stock.nation, center=stock.center, item=ItemFactory())
    accepted(lambda: Stock.objects.bulk_create([other_item]))


# --- the movement ledger ----------------------------------------------------------------------------------------
# Movements cannot be UPDATEd at all (see the append-only tests below), so their checks are proved on INSERT.


def _movement(stock, actor, **fields) -> Movement:
    """A movement sealed with its hash, so a refusal is the constraint's under test, not the hash's."""
    values = {"kind": MovementKind.ADJUSTMENT, "quantity": 1, "balance_after": 11, "occurred_at": timezone.now()}
    values.update(fields)
    movement = Movement(stock=stock, actor=actor, **values)
    ledger.seal(movement, stock.ledger_head)
    return movement


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"quantity": 0, "balance_after": 10}, id="quantity-zero"),
        pytest.param({"quantity": -11, "balance_after": -1}, id="balance_after-negative"),
        pytest.param({"kind": "theft"}, id="kind-unknown"),
        pytest.param({"kind": ""}, id="kind-empty"),
        pytest.param({"kind": MovementKind.RECEIPT, "quantity": -1, "balance_after": 9}, id="receipt-negative"),
        pytest.param({"kind": MovementKind.TRANSFER_IN, "quantity": -1, "balance_after": 9}, id="transfer_in-negative"),
        pytest.param({"kind": MovementKind.ISSUE, "quantity": 1, "balance_after": 11}, id="issue-positive"),
        pytest.param(
            {"kind": MovementKind.TRANSFER_OUT, "quantity": 1, "balance_after": 11}, id="transfer_out-positive"
        ),
    ],
)
def test_movement_invariant_refused_by_database(stock, actor, fields):
    before = Movement.objects.count()
    refused(lambda: Movement.objects.bulk_create([_movement(stock, actor, **fields)]))
    assert Movement.objects.count() == before


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"kind": MovementKind.RECEIPT, "quantity": 5, "balance_after": 15}, id="receipt-positive"),
        pytest.param({"kind": MovementKind.TRANSFER_IN, "quantity": 5, "balance_after": 15}, id="transfer_in-positive"),
        pytest.param({"kind": MovementKind.ISSUE, "quantity": -5, "balance_after": 5}, id="issue-negative"),
        pytest.param(
            {"kind": MovementKind.TRANSFER_OUT, "quantity": -10, "balance_after": 0}, id="transfer_out-to-zero"
        ),
        pytest.param({"kind": MovementKind.ADJUSTMENT, "quantity": -3, "balance_after": 7}, id="adjustment-negative"),
        pytest.param({"kind": MovementKind.ADJUSTMENT, "quantity": 3, "balance_after": 13}, id="adjustment-positive"),
        pytest.param({"kind": MovementKind.COUNT_CORRECTION, "quantity": -2, "balance_after": 8}, id="count-down"),
        pytest.param({"kind": MovementKind.COUNT_CORRECTION, "quantity": 2, "balance_after": 12}, id="count-up"),
    ],
)
def test_valid_movement_accepted(stock, actor, fields):
    accepted(lambda: Movement.objects.bulk_create([_movement(stock, actor, **fields)]))


# --- physical counts --------------------------------------------------------------------------------------------


def test_count_quantity_cannot_be_negative(stock, actor):
    def count(quantity, source="operator"):
        return StockCount(
            stock=stock, counted_quantity=quantity, counted_at=timezone.now(), counted_by=actor, source=source
        )

    refused(lambda: StockCount.objects.bulk_create([count(-1)]))
    refused(lambda: StockCount.objects.bulk_create([count(5, source="rumour")]))
    accepted(lambda: StockCount.objects.bulk_create([count(0)]))


# --- reference data ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nsn",
    [
        pytest.param("8970-141-23-4567", id="wrong-grouping"),
        pytest.param("8970141234567", id="no-hyphens"),
        pytest.param("8970-14-123-456", id="12-digits"),
        pytest.param("89701-4-123-4567", id="grouping-5-1"),
        pytest.param("897A-14-123-4567", id="letter"),
        pytest.param("8970 14 123 4567", id="spaces"),
        pytest.param("", id="empty"),
    ],
)
def test_item_nsn_format_enforced_by_database(nsn):
    item = ItemFactory()
    refused(lambda: Item.objects.filter(pk=item.pk).update(nsn=nsn))
    accepted(lambda: Item.objects.filter(pk=item.pk).update(nsn="8970-14-123-4567"))


@pytest.mark.parametrize("field,value", [("supply_class", "XI"), ("supply_class", ""), ("unit_of_issue", "ZZ")])
def test_item_coded_fields_enforced_by_database(field, value):
    item = ItemFactory()
    refused(lambda: Item.objects.filter(pk=item.pk).update(**{field: value}))
    accepted(lambda: Item.objects.filter(pk=item.pk).update(supply_class="X", unit_of_issue="KG"))


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"code": "fra"}, id="code-lower-case"),
        pytest.param({"code": "FR"}, id="code-two-letters"),
        pytest.param({"code": "FR1"}, id="code-digit"),
        pytest.param({"code": ""}, id="code-empty"),
        pytest.param({"ncb_code": "1"}, id="ncb-one-digit"),
        pytest.param({"ncb_code": "1A"}, id="ncb-letter"),
        pytest.param({"ncb_code": ""}, id="ncb-empty"),
    ],
)
def test_nation_codes_enforced_by_database(changes):
    nation = NationFactory(code="QQQ", ncb_code="98")
    refused(lambda: Nation.objects.filter(pk=nation.pk).update(**changes))
    accepted(lambda: Nation.objects.filter(pk=nation.pk).update(code="FRA", ncb_code="14"))


@pytest.mark.parametrize(
    "model,pk_of,field,value",
    [
        pytest.param(Item, lambda: ItemFactory().pk, "nsn", "8970-14-123-4567\n", id="nsn"),
        pytest.param(Nation, lambda: NationFactory(code="QQQ", ncb_code="98").pk, "code", "FRA\n", id="nation-code"),
        pytest.param(Nation, lambda: NationFactory(code="QQQ", ncb_code="98").pk, "ncb_code", "14\n", id="ncb-code"),
    ],
)
def test_codes_with_trailing_newline_refused_by_database(model, pk_of, field, value):
    # A regex ending in `$` lets "FRA\n" through wherever `$` also matches before a final newline
    # (SQLite evaluates REGEXP with Python's re.search); PostgreSQL refuses it by length or by the check.
    pk = pk_of()
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        model.objects.filter(pk=pk).update(**{field: value})
    assert not model.objects.filter(**{field: value}).exists()


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"kind": "regional"}, id="kind-unknown"),
        pytest.param({"latitude": Decimal("90.00001")}, id="latitude-above-90"),
        pytest.param({"latitude": Decimal("-90.5")}, id="latitude-below-minus-90"),
        pytest.param({"longitude": Decimal("180.5")}, id="longitude-above-180"),
        pytest.param({"longitude": Decimal("-181")}, id="longitude-below-minus-180"),
    ],
)
def test_center_invariant_refused_by_database(changes):
    center = CenterFactory()
    refused(lambda: LogisticsCenter.objects.filter(pk=center.pk).update(**changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "national"},
        {"latitude": Decimal("90"), "longitude": Decimal("-180")},
        {"latitude": Decimal("-90"), "longitude": Decimal("180")},
    ],
)
def test_center_boundary_values_accepted(changes):
    center = CenterFactory()
    accepted(lambda: LogisticsCenter.objects.filter(pk=center.pk).update(**changes))


# --- supply requests --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"quantity_requested": 0}, id="requested-zero"),
        pytest.param({"quantity_requested": -5}, id="requested-negative"),
        pytest.param({"quantity_approved": 11}, id="approved-above-requested"),
        pytest.param({"quantity_approved": 0}, id="approved-zero"),
        pytest.param({"status": "lost"}, id="status-unknown"),
        pytest.param({"priority": "whenever"}, id="priority-unknown"),
        pytest.param({"status": RequestStatus.APPROVED}, id="approved-without-quantity"),
        pytest.param({"status": RequestStatus.DISPATCHED, "quantity_approved": 10}, id="dispatched-without-quantity"),
        pytest.param(
            {"status": RequestStatus.RECEIVED, "quantity_approved": 10, "quantity_dispatched": 10},
            id="received-without-quantity",
        ),
        pytest.param({"quantity_dispatched": 0}, id="dispatched-zero"),
        pytest.param({"quantity_received": -1}, id="received-negative"),
    ],
)
def test_request_invariant_refused_by_database(changes):
    request = SupplyRequestFactory(quantity_requested=10)
    refused(lambda: SupplyRequest.objects.filter(pk=request.pk).update(**changes))
    request.refresh_from_db()
    assert (request.status, request.quantity_requested, request.quantity_approved) == ("draft", 10, None)


def test_request_cannot_be_addressed_to_the_requesting_nation():
    request = SupplyRequestFactory()
    refused(lambda: SupplyRequest.objects.filter(pk=request.pk).update(supplying_nation=request.requesting_nation))


def test_request_with_consistent_quantities_accepted():
    request = SupplyRequestFactory(quantity_requested=10)
    accepted(
        lambda: SupplyRequest.objects.filter(pk=request.pk).update(
            status=RequestStatus.RECEIVED,
            quantity_approved=10,
            quantity_dispatched=10,
            quantity_received=0,
        )
    )


# --- flags: one open flag per subject ---------------------------------------------------------------------------


def _shortfall(stock, kind=ShortfallKind.BELOW_SAFETY, **fields) -> Shortfall:
    now = timezone.now()
    return Shortfall(
        kind=kind,
        stock=stock,
        nation=stock.nation,
        center=stock.center,
        item=stock.item,
        first_seen=now,
        last_seen=now,
        **fields,
    )


def test_one_open_shortfall_per_kind_and_stock():
    stock = StockFactory()
    first = Shortfall.objects.bulk_create([_shortfall(stock)])[0]
    refused(lambda: Shortfall.objects.bulk_create([_shortfall(stock)]))
    # another kind on the same stock is another flag
    accepted(lambda: Shortfall.objects.bulk_create([_shortfall(stock, kind=ShortfallKind.LOW_DAYS_OF_SUPPLY)]))
    # once the first is resolved, the condition may be flagged again
    Shortfall.objects.filter(pk=first.pk).update(resolved_at=timezone.now())
    accepted(lambda: Shortfall.objects.bulk_create([_shortfall(stock)]))
    assert Shortfall.objects.filter(stock=stock, kind=ShortfallKind.BELOW_SAFETY).count() == 2


def test_one_open_unmet_demand_shortfall_per_center_pool_and_item():
    center, item = CenterFactory(), ItemFactory()

    def pool_flag():
        now = timezone.now()
        return Shortfall(kind=ShortfallKind.UNMET_DEMAND, center=center, item=item, first_seen=now, last_seen=now)

    first = Shortfall.objects.bulk_create([pool_flag()])[0]
    refused(lambda: Shortfall.objects.bulk_create([pool_flag()]))
    Shortfall.objects.filter(pk=first.pk).update(resolved_at=timezone.now())
    accepted(lambda: Shortfall.objects.bulk_create([pool_flag()]))


def test_one_open_discrepancy_per_kind_and_stock():
    stock = StockFactory()

    def flag(kind=DiscrepancyKind.LEDGER_MISMATCH):
        now = timezone.now()
        return Discrepancy(kind=kind, stock=stock, expected=10, actual=9, first_seen=now, last_seen=now)

    first = Discrepancy.objects.bulk_create([flag()])[0]
    refused(lambda: Discrepancy.objects.bulk_create([flag()]))
    accepted(lambda: Discrepancy.objects.bulk_create([flag(DiscrepancyKind.COUNT_MISMATCH)]))
    Discrepancy.objects.filter(pk=first.pk).update(resolved_at=timezone.now())
    accepted(lambda: Discrepancy.objects.bulk_create([flag()]))
    assert Discrepancy.objects.filter(stock=stock, kind=DiscrepancyKind.LEDGER_MISMATCH).count() == 2


def test_one_open_discrepancy_per_kind_and_request():
    request = SupplyRequestFactory()

    def flag():
        now = timezone.now()
        return Discrepancy(kind=DiscrepancyKind.SHORT_RECEIPT, request=request, first_seen=now, last_seen=now)

    first = Discrepancy.objects.bulk_create([flag()])[0]
    refused(lambda: Discrepancy.objects.bulk_create([flag()]))
    Discrepancy.objects.filter(pk=first.pk).update(resolved_at=timezone.now())
    accepted(lambda: Discrepancy.objects.bulk_create([flag()]))


def test_discrepancy_needs_a_subject():
    now = timezone.now()
    refused(
        lambda: Discrepancy.objects.bulk_create(
            [Discrepancy(kind=DiscrepancyKind.LEDGER_MISMATCH, first_seen=now, last_seen=now)]
        )
    )


# --- the ledger is append-only ----------------------------------------------------------------------------------


@pytest.fixture
def movement(stock):
    return stock.movements.get()


def _raw(sql: str, params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda m: Movement.objects.filter(pk=m.pk).update(quantity=999, balance_after=999), id="orm-queryset-update"
        ),
        pytest.param(
            lambda m: Movement.objects.filter(pk=m.pk).update(reason="rewritten"), id="orm-update-of-a-harmless-field"
        ),
        pytest.param(lambda m: (setattr(m, "reason", "rewritten"), m.save()), id="orm-save"),
        pytest.param(lambda m: m.delete(), id="orm-instance-delete"),
        pytest.param(lambda m: Movement.objects.filter(pk=m.pk).delete(), id="orm-queryset-delete"),
        pytest.param(
            lambda m: _raw("UPDATE inventory_movement SET quantity = %s WHERE id = %s", [999, m.pk]), id="raw-update"
        ),
        pytest.param(
            lambda m: _raw("UPDATE inventory_movement SET reason = %s", ["rewritten"]), id="raw-update-all-rows"
        ),
        pytest.param(lambda m: _raw("DELETE FROM inventory_movement WHERE id = %s", [m.pk]), id="raw-delete"),
        pytest.param(lambda m: _raw("DELETE FROM inventory_movement", []), id="raw-delete-all-rows"),
    ],
)
def test_ledger_refuses_update_and_delete(movement, tamper):
    refused(lambda: tamper(movement))
    row = Movement.objects.values("quantity", "balance_after", "reason").get(pk=movement.pk)
    assert row == {"quantity": 10, "balance_after": 10, "reason": "test receipt"}


def test_ledger_accepts_inserts(stock, actor):
    accepted(
        lambda: _movement(stock, actor, kind=MovementKind.ISSUE, quantity=-4, balance_after=6, reason="issue").save()
    )
    assert list(stock.movements.order_by("id").values_list("quantity", flat=True)) == [10, -4]


# --- a movement carries its stock's center (inventory/0013) ----------------------------------------------------


def refused_at_once(write) -> None:
    """`refused`, with PostgreSQL's deferred foreign keys checked at the statement rather than at commit (a test's
    transaction never commits)."""

    def immediately():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        write()

    refused(immediately)


def test_a_movement_at_another_center_than_its_stock_is_refused(stock, actor):
    elsewhere = CenterFactory()
    refused_at_once(lambda: Movement.objects.bulk_create([_movement(stock, actor, center_id=elsewhere.pk)]))
    refused_at_once(
        lambda: _raw(
            "INSERT INTO inventory_movement (stock_id, center_id, kind, quantity, balance_after, actor_id, occurred_at,"
            " recorded_at, reason, prev_hash, hash) SELECT stock_id, %s, kind, quantity, balance_after, actor_id,"
            " occurred_at, recorded_at, reason, prev_hash, hash FROM inventory_movement WHERE stock_id = %s",
            [elsewhere.pk, stock.pk],
        )
    )
    assert stock.movements.count() == 1
    # the neighbour: left out, the center is the stock's (bulk_create and save fill it in)
    accepted(lambda: Movement.objects.bulk_create([_movement(stock, actor)]))
    by_id = _movement(stock, actor)
    Movement.stock.field.delete_cached_value(by_id)  # known by its stock id only: the center is looked up
    accepted(lambda: Movement.objects.bulk_create([by_id]))
    assert set(stock.movements.values_list("center_id", flat=True)) == {stock.center_id}


def test_a_stock_with_movements_stays_at_its_center(stock):
    elsewhere = CenterFactory()
    refused_at_once(lambda: Stock.objects.filter(pk=stock.pk).update(center=elsewhere))
    assert Stock.objects.get(pk=stock.pk).center_id == stock.center_id
    bare = StockFactory()  # no movement yet: a wrong center can still be corrected
    accepted(lambda: Stock.objects.filter(pk=bare.pk).update(center=elsewhere))
    assert Stock.objects.get(pk=bare.pk).center_id == elsewhere.pk
