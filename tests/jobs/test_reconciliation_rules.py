"""The reconciliation checks and shortfall rules of one center pass, each with its edge cases, then the life of a
flag across passes (raised once, kept up to date, resolved when cleared, acknowledged for good) and who sees it.

Passes call ``reconcile_center(center_id, now=...)`` with strictly increasing ``now`` values (``clock.tick()``),
as successive runs do; a few tests go through a whole run started from the API.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from coordination import services
from coordination.models import (
    DaysOfSupplyTarget,
    Discrepancy,
    DiscrepancyKind,
    DiscrepancyResolution,
    PoolSummary,
    Severity,
    Shipment,
    Shortfall,
    ShortfallKind,
    SupplyRequest,
    TransportMode,
)
from coordination.reconciliation import reconcile_center
from inventory.models import Movement, MovementKind, Stock

from .conftest import count, fuel_request, make_stock, move

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def reconcile(clock, center):
    return reconcile_center(center.pk, now=clock.tick())


def open_discrepancies(kind, **filters):
    return list(Discrepancy.objects.filter(kind=kind, resolved_at__isnull=True, **filters))


def open_shortfalls(kind, **filters):
    return list(Shortfall.objects.filter(kind=kind, resolved_at__isnull=True, **filters))


def deu_fuel(world, on_hand=200, **fields):
    """DEU's stock of fuel at MLC-A: the supplier's stock of ``fuel_request``."""
    fields.setdefault("shared", True)
    return make_stock(world, on_hand, nation=world.deu, center=world.mlc_a, item=world.fuel, **fields)


def approve(world, request, quantity=None):
    return services.approve_request(request=request, approver=world.users["deu_liaison"], quantity=quantity)


# --- consistent books ---------------------------------------------------------------------------------------------


def test_consistent_books_raise_no_discrepancy_and_no_shortfall(world, clock):
    make_stock(world, 100, safety_level=100, daily_consumption=Decimal("1"))  # exactly at safety, 100 days
    make_stock(world, 0)  # empty, no movements, nothing planned
    supplier = deu_fuel(world, 200)
    approve(world, fuel_request(world, 30))  # reserves 30 at the supplier's stock
    count(world, supplier, 200, at=timezone.now())

    findings = reconcile(clock, world.mlc_a)

    assert not Discrepancy.objects.exists()
    assert not Shortfall.objects.exists()
    assert findings.counts[DiscrepancyKind.LEDGER_MISMATCH] == 0
    assert findings.counts[ShortfallKind.BELOW_SAFETY] == 0
    assert findings.new_critical_shortfalls == []


# --- ledger ------------------------------------------------------------------------------------------------------


def test_on_hand_changed_behind_the_ledgers_back_is_a_critical_ledger_mismatch(world, clock):
    stock = make_stock(world, 100)
    Stock.objects.filter(pk=stock.pk).update(on_hand=90)

    findings = reconcile(clock, world.mlc_a)

    [flag] = open_discrepancies(DiscrepancyKind.LEDGER_MISMATCH)
    assert (flag.stock_id, flag.expected, flag.actual, flag.severity) == (stock.pk, 100, 90, Severity.CRITICAL)
    assert flag.request_id is None and flag.count_id is None
    assert findings.counts[DiscrepancyKind.LEDGER_MISMATCH] == 1


def test_on_hand_without_any_movement_is_a_ledger_mismatch_against_zero(world, clock):
    stock = make_stock(world, 0)
    Stock.objects.filter(pk=stock.pk).update(on_hand=5)

    reconcile(clock, world.mlc_a)

    [flag] = open_discrepancies(DiscrepancyKind.LEDGER_MISMATCH)
    assert (flag.stock_id, flag.expected, flag.actual) == (stock.pk, 0, 5)


def test_ledger_check_sums_every_movement_of_the_stock(world, clock):
    stock = make_stock(world, 100, received_at=timezone.now() - 3 * DAY)
    move(world, stock, -40, at=timezone.now() - 2 * DAY)
    move(world, stock, 15, at=timezone.now() - DAY)  # on_hand 75, kept in step by the services

    reconcile(clock, world.mlc_a)
    assert open_discrepancies(DiscrepancyKind.LEDGER_MISMATCH) == []

    Stock.objects.filter(pk=stock.pk).update(on_hand=100)  # as if the issue had never been booked
    reconcile(clock, world.mlc_a)
    [flag] = open_discrepancies(DiscrepancyKind.LEDGER_MISMATCH)
    assert (flag.expected, flag.actual) == (75, 100)


def test_a_pass_only_looks_at_its_own_center(world, clock):
    elsewhere = make_stock(world, 10, nation=world.ita, center=world.nat_b)
    Stock.objects.filter(pk=elsewhere.pk).update(on_hand=11)

    reconcile(clock, world.mlc_a)
    assert not Discrepancy.objects.exists()

    reconcile(clock, world.nat_b)
    assert [d.stock_id for d in open_discrepancies(DiscrepancyKind.LEDGER_MISMATCH)] == [elsewhere.pk]


# --- reservations --------------------------------------------------------------------------------------------------


def test_reserved_matching_approved_requests_is_not_flagged_and_a_tampered_one_is(world, clock):
    supplier = deu_fuel(world, 200)
    approve(world, fuel_request(world, 30))
    approve(world, fuel_request(world, 20))
    fuel_request(world, 70)  # submitted only: reserves nothing

    reconcile(clock, world.mlc_a)
    assert open_discrepancies(DiscrepancyKind.RESERVATION_MISMATCH) == []

    Stock.objects.filter(pk=supplier.pk).update(reserved=45)
    reconcile(clock, world.mlc_a)

    [flag] = open_discrepancies(DiscrepancyKind.RESERVATION_MISMATCH)
    assert (flag.stock_id, flag.expected, flag.actual, flag.severity) == (supplier.pk, 50, 45, Severity.CRITICAL)


def test_a_reservation_no_approved_request_holds_is_a_mismatch(world, clock):
    stock = make_stock(world, 100)
    Stock.objects.filter(pk=stock.pk).update(reserved=10)

    reconcile(clock, world.mlc_a)

    [flag] = open_discrepancies(DiscrepancyKind.RESERVATION_MISMATCH)
    assert (flag.stock_id, flag.expected, flag.actual) == (stock.pk, 0, 10)


def test_dispatched_requests_no_longer_count_as_reserved(world, clock):
    supplier = deu_fuel(world, 200)
    request = approve(world, fuel_request(world, 30))
    services.dispatch_request(request=request, actor=world.users["deu_logistics"])
    supplier.refresh_from_db()
    assert (supplier.on_hand, supplier.reserved) == (170, 0)

    reconcile(clock, world.mlc_a)

    assert open_discrepancies(DiscrepancyKind.RESERVATION_MISMATCH) == []
    assert open_discrepancies(DiscrepancyKind.LEDGER_MISMATCH) == []


# --- physical counts ------------------------------------------------------------------------------------------------


@pytest.fixture
def counted_stock(world):
    """100 received ten days ago, 30 issued yesterday: book balance 100 before yesterday, 70 since."""
    now = timezone.now()
    stock = make_stock(world, 100, received_at=now - 10 * DAY)
    move(world, stock, -30, at=now - DAY)
    stock.issued_at = now - DAY
    return stock


def test_a_count_that_matched_the_books_at_its_time_is_not_flagged_though_movements_came_after(
    world, clock, counted_stock
):
    count(world, counted_stock, 100, at=timezone.now() - 5 * DAY)  # right then; the 30 were issued later

    reconcile(clock, world.mlc_a)

    assert open_discrepancies(DiscrepancyKind.COUNT_MISMATCH) == []


def test_a_count_is_compared_with_the_book_balance_at_its_time_not_with_today(world, clock, counted_stock):
    # 70 is today's balance, but five days ago the books said 100: the count was short then
    stale = count(world, counted_stock, 70, at=timezone.now() - 5 * DAY)

    reconcile(clock, world.mlc_a)

    [flag] = open_discrepancies(DiscrepancyKind.COUNT_MISMATCH)
    assert (flag.stock_id, flag.count_id, flag.expected, flag.actual) == (counted_stock.pk, stale.pk, 100, 70)
    assert flag.severity == Severity.WARNING


def test_a_count_at_the_very_moment_of_a_movement_includes_it(world, clock, counted_stock):
    count(world, counted_stock, 70, at=counted_stock.issued_at)

    reconcile(clock, world.mlc_a)

    assert open_discrepancies(DiscrepancyKind.COUNT_MISMATCH) == []


def test_a_count_of_zero_against_stock_on_the_books_is_critical(world, clock, counted_stock):
    count(world, counted_stock, 0, at=timezone.now() - 5 * DAY)

    reconcile(clock, world.mlc_a)

    [flag] = open_discrepancies(DiscrepancyKind.COUNT_MISMATCH)
    assert (flag.expected, flag.actual, flag.severity) == (100, 0, Severity.CRITICAL)


def test_the_latest_count_wins(world, clock, counted_stock):
    now = timezone.now()
    count(world, counted_stock, 90, at=now - 6 * DAY)  # wrong, but superseded
    count(world, counted_stock, 100, at=now - 5 * DAY)

    reconcile(clock, world.mlc_a)
    assert open_discrepancies(DiscrepancyKind.COUNT_MISMATCH) == []

    latest = count(world, counted_stock, 65, at=now - DAY / 2)  # after the issue: the books said 70
    reconcile(clock, world.mlc_a)
    [flag] = open_discrepancies(DiscrepancyKind.COUNT_MISMATCH)
    assert (flag.count_id, flag.expected, flag.actual) == (latest.pk, 70, 65)

    recount = count(world, counted_stock, 70, at=now - DAY / 4)  # a recount agrees: the flag clears
    reconcile(clock, world.mlc_a)
    assert open_discrepancies(DiscrepancyKind.COUNT_MISMATCH) == []
    flag.refresh_from_db()
    assert flag.resolution == DiscrepancyResolution.CLEARED and flag.resolved_at is not None
    assert recount.pk != flag.count_id


def test_a_newer_wrong_count_updates_the_open_flag_rather_than_adding_one(world, clock, counted_stock):
    now = timezone.now()
    count(world, counted_stock, 95, at=now - 5 * DAY)
    reconcile(clock, world.mlc_a)
    [first] = open_discrepancies(DiscrepancyKind.COUNT_MISMATCH)

    newer = count(world, counted_stock, 60, at=now - DAY / 2)
    reconcile(clock, world.mlc_a)

    [flag] = open_discrepancies(DiscrepancyKind.COUNT_MISMATCH)
    assert flag.pk == first.pk
    assert (flag.count_id, flag.expected, flag.actual) == (newer.pk, 70, 60)


@pytest.mark.parametrize("accept", [True, False], ids=["accepted", "rejected"])
def test_a_settled_count_is_not_raised_again(world, clock, counted_stock, as_user, accept):
    short = count(world, counted_stock, 95, at=timezone.now() - 5 * DAY)
    reconcile(clock, world.mlc_a)
    [flag] = open_discrepancies(DiscrepancyKind.COUNT_MISMATCH)

    response = as_user("fra_logistics").post(
        f"/api/v1/discrepancies/{flag.pk}/resolve/", {"accept": accept, "comment": "recounted"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["resolution"] == ("count_accepted" if accept else "count_rejected")
    assert body["resolved_at"] is not None

    corrections = Movement.objects.filter(stock=counted_stock, kind=MovementKind.COUNT_CORRECTION)
    counted_stock.refresh_from_db()
    if accept:  # the books move by counted - book at the count's time
        assert [m.quantity for m in corrections] == [-5]
        assert counted_stock.on_hand == 65
    else:
        assert not corrections.exists()
        assert counted_stock.on_hand == 70

    for _ in range(2):
        reconcile(clock, world.mlc_a)
    assert open_discrepancies(DiscrepancyKind.COUNT_MISMATCH) == []
    assert Discrepancy.objects.filter(kind=DiscrepancyKind.COUNT_MISMATCH).count() == 1
    assert open_discrepancies(DiscrepancyKind.LEDGER_MISMATCH) == []  # the correction went through the ledger

    # a later count that differs is a new finding
    newer = count(world, counted_stock, counted_stock.on_hand + 3, at=timezone.now())
    reconcile(clock, world.mlc_a)
    [again] = open_discrepancies(DiscrepancyKind.COUNT_MISMATCH)
    assert again.count_id == newer.pk != short.pk


def test_only_the_owning_nations_logistics_officers_settle_a_count(world, clock, counted_stock, as_user):
    count(world, counted_stock, 95, at=timezone.now() - 5 * DAY)
    reconcile(clock, world.mlc_a)
    [flag] = open_discrepancies(DiscrepancyKind.COUNT_MISMATCH)
    url = f"/api/v1/discrepancies/{flag.pk}/resolve/"

    # the center's operator sees FRA's stock but may not adjust it; DEU and ITA do not see it at all
    assert as_user("mlc_a_operator").post(url, {"accept": True}, format="json").status_code == 403
    assert as_user("deu_logistics").post(url, {"accept": True}, format="json").status_code == 404
    assert as_user("ita_logistics").post(url, {"accept": True}, format="json").status_code == 404
    flag.refresh_from_db()
    assert flag.resolved_at is None
    assert not Movement.objects.filter(kind=MovementKind.COUNT_CORRECTION).exists()

    other = make_stock(world, 10)
    Stock.objects.filter(pk=other.pk).update(on_hand=9)
    reconcile(clock, world.mlc_a)
    [ledger] = open_discrepancies(DiscrepancyKind.LEDGER_MISMATCH)
    response = as_user("fra_logistics").post(
        f"/api/v1/discrepancies/{ledger.pk}/resolve/", {"accept": True}, format="json"
    )
    assert response.status_code == 409  # only count discrepancies are settled this way


# --- overdue dispatch ------------------------------------------------------------------------------------------


def _approved_days_ago(world, days, *, quantity=30, required_in_days=10):
    deu_fuel(world, 200)
    request = approve(world, fuel_request(world, quantity, required_in_days=required_in_days))
    SupplyRequest.objects.filter(pk=request.pk).update(approved_at=timezone.now() - dt.timedelta(days=days))
    return request


def test_an_approved_request_not_dispatched_in_time_is_overdue(world, clock, settings):
    request = _approved_days_ago(world, settings.DISPATCH_OVERDUE_DAYS + 1)

    reconcile(clock, world.mlc_a)

    [flag] = open_discrepancies(DiscrepancyKind.OVERDUE_DISPATCH)
    assert (flag.request_id, flag.stock_id, flag.expected, flag.actual) == (request.pk, None, 30, 0)
    assert flag.severity == Severity.WARNING  # still before its required-by date


def test_an_approved_request_within_the_dispatch_days_is_not_overdue(world, clock, settings):
    _approved_days_ago(world, settings.DISPATCH_OVERDUE_DAYS - 0.1)

    reconcile(clock, world.mlc_a)

    assert open_discrepancies(DiscrepancyKind.OVERDUE_DISPATCH) == []


def test_the_overdue_days_come_from_settings(world, clock, settings):
    settings.DISPATCH_OVERDUE_DAYS = 1
    _approved_days_ago(world, 1.5)

    reconcile(clock, world.mlc_a)

    assert len(open_discrepancies(DiscrepancyKind.OVERDUE_DISPATCH)) == 1


def test_an_overdue_request_past_its_required_by_date_is_critical(world, clock, settings):
    request = _approved_days_ago(world, settings.DISPATCH_OVERDUE_DAYS + 1)
    SupplyRequest.objects.filter(pk=request.pk).update(required_by=timezone.localdate() - DAY)

    reconcile(clock, world.mlc_a)

    [flag] = open_discrepancies(DiscrepancyKind.OVERDUE_DISPATCH)
    assert flag.severity == Severity.CRITICAL


def test_dispatching_an_overdue_request_resolves_its_flag(world, clock, settings):
    request = _approved_days_ago(world, settings.DISPATCH_OVERDUE_DAYS + 1)
    reconcile(clock, world.mlc_a)
    [flag] = open_discrepancies(DiscrepancyKind.OVERDUE_DISPATCH)

    services.dispatch_request(request=request, actor=world.users["deu_logistics"])
    reconcile(clock, world.mlc_a)

    flag.refresh_from_db()
    assert flag.resolved_at == clock.current and flag.resolution == DiscrepancyResolution.CLEARED
    assert open_discrepancies(DiscrepancyKind.OVERDUE_DISPATCH) == []


# --- below safety --------------------------------------------------------------------------------------------


def test_exactly_at_the_safety_level_is_not_below_it(world, clock):
    make_stock(world, 50, safety_level=50)
    make_stock(world, 0, safety_level=0)  # empty with no safety level: nothing to flag

    reconcile(clock, world.mlc_a)

    assert open_shortfalls(ShortfallKind.BELOW_SAFETY) == []


def test_one_below_the_safety_level_is_a_warning(world, clock):
    stock = make_stock(world, 49, safety_level=50)

    reconcile(clock, world.mlc_a)

    [flag] = open_shortfalls(ShortfallKind.BELOW_SAFETY)
    assert (flag.stock_id, flag.nation_id, flag.center_id, flag.item_id) == (
        stock.pk,
        world.fra.pk,
        world.mlc_a.pk,
        stock.item_id,
    )
    assert (flag.available, flag.threshold, flag.severity) == (49, Decimal("50"), Severity.WARNING)
    assert flag.days_of_supply is None  # nothing consumed: no days of supply


def test_below_safety_counts_what_is_available_not_what_is_on_hand(world, clock):
    supplier = deu_fuel(world, 60, safety_level=50)
    reconcile(clock, world.mlc_a)
    assert open_shortfalls(ShortfallKind.BELOW_SAFETY) == []

    approve(world, fuel_request(world, 20))  # 60 on hand, 20 reserved: 40 available
    reconcile(clock, world.mlc_a)

    [flag] = open_shortfalls(ShortfallKind.BELOW_SAFETY)
    assert (flag.stock_id, flag.available) == (supplier.pk, 40)


@pytest.mark.parametrize("reserve_all", [False, True], ids=["empty", "all-reserved"])
def test_below_safety_with_nothing_available_is_critical(world, clock, reserve_all):
    if reserve_all:
        deu_fuel(world, 25, safety_level=10)
        approve(world, fuel_request(world, 25))
    else:
        make_stock(world, 0, safety_level=10)

    reconcile(clock, world.mlc_a)

    [flag] = open_shortfalls(ShortfallKind.BELOW_SAFETY)
    assert (flag.available, flag.severity) == (0, Severity.CRITICAL)


def test_below_safety_with_under_three_days_of_supply_is_critical(world, clock):
    make_stock(world, 5, safety_level=10, daily_consumption=Decimal("2"))  # 2.5 days
    three_days = make_stock(world, 6, safety_level=10, daily_consumption=Decimal("2"))  # exactly 3 days

    reconcile(clock, world.mlc_a)

    flags = {f.available: f for f in open_shortfalls(ShortfallKind.BELOW_SAFETY)}
    assert flags[5].severity == Severity.CRITICAL and flags[5].days_of_supply == Decimal("2.50")
    assert flags[6].severity == Severity.WARNING and flags[6].days_of_supply == Decimal("3.00")
    assert flags[6].stock_id == three_days.pk


# --- low days of supply ------------------------------------------------------------------------------------------


def test_low_days_of_supply_against_the_default_target(world, clock, settings):
    assert settings.DEFAULT_DAYS_OF_SUPPLY_TARGET == 15
    short = make_stock(world, 10, daily_consumption=Decimal("1"))  # 10 days
    make_stock(world, 15, daily_consumption=Decimal("1"))  # exactly 15 days: not below
    make_stock(world, 40, daily_consumption=Decimal("2"))  # 20 days

    reconcile(clock, world.mlc_a)

    [flag] = open_shortfalls(ShortfallKind.LOW_DAYS_OF_SUPPLY)
    assert flag.stock_id == short.pk
    assert (flag.available, flag.threshold, flag.days_of_supply, flag.severity) == (
        10,
        Decimal("15"),
        Decimal("10.00"),
        Severity.WARNING,
    )
    assert open_shortfalls(ShortfallKind.BELOW_SAFETY) == []  # no safety level set


def test_low_days_of_supply_with_a_fractional_consumption_rate(world, clock):
    """The rule is available / consumption < target, compared exactly (as available < target * consumption)."""
    short = make_stock(world, 4, daily_consumption=Decimal("0.33"))  # 12.12 days
    make_stock(world, 5, daily_consumption=Decimal("0.33"))  # 15.15 days
    make_stock(world, 33, daily_consumption=Decimal("2.20"))  # exactly 15 days: not below

    reconcile(clock, world.mlc_a)

    [flag] = open_shortfalls(ShortfallKind.LOW_DAYS_OF_SUPPLY)
    assert (flag.stock_id, flag.days_of_supply) == (short.pk, Decimal("12.12"))


def test_the_default_target_comes_from_settings(world, clock, settings):
    settings.DEFAULT_DAYS_OF_SUPPLY_TARGET = 5
    make_stock(world, 10, daily_consumption=Decimal("1"))

    reconcile(clock, world.mlc_a)

    assert open_shortfalls(ShortfallKind.LOW_DAYS_OF_SUPPLY) == []


def test_low_days_of_supply_uses_the_nations_target_for_the_items_supply_class(world, clock):
    DaysOfSupplyTarget.objects.create(nation=world.fra, supply_class="III", days=7)
    DaysOfSupplyTarget.objects.create(nation=world.deu, supply_class="III", days=30)
    DaysOfSupplyTarget.objects.create(nation=world.fra, supply_class="V", days=60)  # another class: no effect
    fra_fuel = make_stock(world, 10, item=world.fuel, daily_consumption=Decimal("1"))  # 10 d, FRA III target 7
    fra_rations = make_stock(world, 10, item=world.rations, daily_consumption=Decimal("1"))  # default 15
    deu = deu_fuel(world, 20, daily_consumption=Decimal("1"))  # 20 d, DEU III target 30

    reconcile(clock, world.mlc_a)

    flags = {f.stock_id: f for f in open_shortfalls(ShortfallKind.LOW_DAYS_OF_SUPPLY)}
    assert set(flags) == {fra_rations.pk, deu.pk}
    assert fra_fuel.pk not in flags
    assert flags[fra_rations.pk].threshold == Decimal("15")
    assert flags[deu.pk].threshold == Decimal("30")


def test_zero_daily_consumption_never_gives_low_days_of_supply(world, clock):
    make_stock(world, 0)  # nothing at all, nothing consumed
    make_stock(world, 3, daily_consumption=Decimal("0"))
    DaysOfSupplyTarget.objects.create(nation=world.fra, supply_class="I", days=365)

    reconcile(clock, world.mlc_a)

    assert open_shortfalls(ShortfallKind.LOW_DAYS_OF_SUPPLY) == []


def test_under_three_days_of_supply_is_critical(world, clock):
    make_stock(world, 5, daily_consumption=Decimal("2.5"))  # 2 days
    make_stock(world, 9, daily_consumption=Decimal("3"))  # exactly 3 days
    make_stock(world, 10, daily_consumption=Decimal("3"))  # 3.33 days

    reconcile(clock, world.mlc_a)

    flags = {f.available: f for f in open_shortfalls(ShortfallKind.LOW_DAYS_OF_SUPPLY)}
    assert (flags[5].severity, flags[5].days_of_supply) == (Severity.CRITICAL, Decimal("2.00"))
    assert (flags[9].severity, flags[9].days_of_supply) == (Severity.WARNING, Decimal("3.00"))
    assert (flags[10].severity, flags[10].days_of_supply) == (Severity.WARNING, Decimal("3.33"))


def test_days_of_supply_are_counted_on_what_is_available(world, clock):
    supplier = deu_fuel(world, 40, daily_consumption=Decimal("2"))  # 20 days on hand
    reconcile(clock, world.mlc_a)
    assert open_shortfalls(ShortfallKind.LOW_DAYS_OF_SUPPLY) == []

    approve(world, fuel_request(world, 36))  # 4 available: 2 days
    reconcile(clock, world.mlc_a)

    [flag] = open_shortfalls(ShortfallKind.LOW_DAYS_OF_SUPPLY)
    assert (flag.stock_id, flag.available, flag.severity) == (supplier.pk, 4, Severity.CRITICAL)


def test_nothing_available_with_consumption_is_a_critical_low_days_flag(world, clock):
    make_stock(world, 0, daily_consumption=Decimal("1"))

    reconcile(clock, world.mlc_a)

    [flag] = open_shortfalls(ShortfallKind.LOW_DAYS_OF_SUPPLY)
    assert (flag.available, flag.days_of_supply, flag.severity) == (0, Decimal("0.00"), Severity.CRITICAL)


# --- unmet demand --------------------------------------------------------------------------------------------


def test_demand_up_to_the_shared_available_is_met(world, clock):
    deu_fuel(world, 200)
    fuel_request(world, 120)
    fuel_request(world, 80)  # 200 asked, 200 shared and available

    reconcile(clock, world.mlc_a)

    assert open_shortfalls(ShortfallKind.UNMET_DEMAND) == []


def test_submitted_demand_above_the_shared_available_is_an_unmet_demand_pool_flag(world, clock):
    deu_fuel(world, 200)
    fuel_request(world, 120)
    fuel_request(world, 100)
    fuel_request(world, 500, submit=False)  # a draft is not demand yet

    reconcile(clock, world.mlc_a)

    [flag] = open_shortfalls(ShortfallKind.UNMET_DEMAND)
    assert (flag.stock_id, flag.nation_id, flag.center_id, flag.item_id) == (None, None, world.mlc_a.pk, world.fuel.pk)
    assert (flag.available, flag.threshold, flag.severity) == (200, Decimal("220"), Severity.WARNING)


def test_only_shared_available_stock_meets_demand(world, clock):
    deu_fuel(world, 50)  # shared
    make_stock(world, 500, item=world.fuel, shared=False)  # FRA's own fuel there is not in the pool
    fuel_request(world, 100)

    reconcile(clock, world.mlc_a)

    [flag] = open_shortfalls(ShortfallKind.UNMET_DEMAND)
    assert (flag.available, flag.threshold) == (50, Decimal("100"))


@pytest.mark.parametrize("stock", ["private", "none"])
def test_unmet_demand_with_nothing_shared_is_critical(world, clock, stock):
    if stock == "private":
        deu_fuel(world, 500, shared=False)
    fuel_request(world, 10)

    reconcile(clock, world.mlc_a)

    [flag] = open_shortfalls(ShortfallKind.UNMET_DEMAND)
    assert (flag.available, flag.severity) == (0, Severity.CRITICAL)


def test_approved_demand_is_no_longer_unmet_demand_but_it_reduces_the_shared_available(world, clock):
    deu_fuel(world, 200)
    approve(world, fuel_request(world, 150))
    reconcile(clock, world.mlc_a)
    assert open_shortfalls(ShortfallKind.UNMET_DEMAND) == []

    fuel_request(world, 60)  # 50 shared available left
    reconcile(clock, world.mlc_a)

    [flag] = open_shortfalls(ShortfallKind.UNMET_DEMAND)
    assert (flag.available, flag.threshold) == (50, Decimal("60"))


def test_unmet_demand_clears_when_the_request_is_rejected(world, clock):
    deu_fuel(world, 10)
    request = fuel_request(world, 100)
    reconcile(clock, world.mlc_a)
    [flag] = open_shortfalls(ShortfallKind.UNMET_DEMAND)

    services.reject_request(request=request, approver=world.users["deu_liaison"], reason="Not enough")
    reconcile(clock, world.mlc_a)

    flag.refresh_from_db()
    assert flag.resolved_at == clock.current
    assert open_shortfalls(ShortfallKind.UNMET_DEMAND) == []


def test_demand_at_another_center_is_not_counted_here(world, clock):
    deu_fuel(world, 10)
    make_stock(world, 500, nation=world.deu, center=world.nat_b, item=world.fuel, shared=True)
    SupplyRequest.objects.filter(pk=fuel_request(world, 100).pk).update(source_center=world.nat_b)

    reconcile(clock, world.mlc_a)
    assert open_shortfalls(ShortfallKind.UNMET_DEMAND) == []

    reconcile(clock, world.nat_b)
    assert open_shortfalls(ShortfallKind.UNMET_DEMAND) == []  # 500 shared there


# --- pool summary --------------------------------------------------------------------------------------------


def test_the_pool_summary_sums_each_item_at_the_center(world, clock):
    deu_fuel(world, 200)  # shared
    make_stock(world, 50, item=world.fuel, shared=False)  # FRA's private fuel
    make_stock(world, 30, item=world.rations, shared=True)
    make_stock(world, 70, nation=world.ita, center=world.nat_b, item=world.fuel, shared=True)  # another center
    approve(world, fuel_request(world, 20))

    findings = reconcile(clock, world.mlc_a)

    rows = {p.item_id: p for p in PoolSummary.objects.filter(center=world.mlc_a)}
    assert set(rows) == {world.fuel.pk, world.rations.pk}
    fuel = rows[world.fuel.pk]
    assert (fuel.on_hand, fuel.reserved, fuel.available, fuel.shared_available, fuel.nations) == (250, 20, 230, 180, 2)
    rations = rows[world.rations.pk]
    assert (rations.on_hand, rations.reserved, rations.available, rations.shared_available, rations.nations) == (
        30,
        0,
        30,
        30,
        1,
    )
    assert fuel.refreshed_at == clock.current
    assert findings.counts["pool_items"] == 2
    assert not PoolSummary.objects.filter(center=world.nat_b).exists()  # not this pass's center


def test_the_pool_summary_is_refreshed_not_duplicated(world, clock):
    supplier = deu_fuel(world, 200)
    reconcile(clock, world.mlc_a)

    move(world, supplier, -50)
    reconcile(clock, world.mlc_a)

    [row] = PoolSummary.objects.filter(center=world.mlc_a)
    assert (row.on_hand, row.available, row.shared_available) == (150, 150, 150)
    assert row.refreshed_at == clock.current


def test_an_unchanged_pool_row_is_not_rewritten_and_a_vanished_item_leaves_the_pool(world, clock):
    empty = make_stock(world, 0)  # no movement: a stock that can still be deleted
    first_at = clock.tick()
    reconcile_center(world.mlc_a.pk, now=first_at)
    reconcile(clock, world.mlc_a)
    [row] = PoolSummary.objects.filter(center=world.mlc_a)
    assert row.refreshed_at == first_at  # same figures: the row was left alone

    Stock.objects.filter(pk=empty.pk).delete()  # the only stock of the item at the center goes
    findings = reconcile(clock, world.mlc_a)
    assert not PoolSummary.objects.filter(center=world.mlc_a).exists()
    assert findings.counts["pool_items"] == 0


# --- a flag's life across passes ------------------------------------------------------------------------------


def _every_condition(world):
    """One finding of every kind at MLC-A."""
    now = timezone.now()
    ledger = make_stock(world, 100)
    Stock.objects.filter(pk=ledger.pk).update(on_hand=90)
    reservation = make_stock(world, 100)
    Stock.objects.filter(pk=reservation.pk).update(reserved=10)
    counted = make_stock(world, 100, received_at=now - 2 * DAY)
    count(world, counted, 97, at=now - DAY)
    make_stock(world, 4, safety_level=10, daily_consumption=Decimal("1"))  # below safety and low days
    deu_fuel(world, 100)
    overdue = approve(world, fuel_request(world, 60))
    SupplyRequest.objects.filter(pk=overdue.pk).update(approved_at=now - 10 * DAY)
    # the other clocks (issue 16): a shipment past its expected arrival, a request not decided in time
    travelling = services.dispatch_request(
        request=approve(world, fuel_request(world, 10)), actor=world.users["deu_logistics"]
    )
    late = Shipment.objects.create(
        shipping_nation=world.deu,
        source_center=world.mlc_a,
        destination_center=world.mlc_a,
        mode=TransportMode.ROAD,
        departed_at=now - 3 * DAY,
        expected_arrival=now - 2 * DAY,
        created_by=world.users["deu_logistics"],
    )
    SupplyRequest.objects.filter(pk=travelling.pk).update(shipment=late)
    undecided = fuel_request(world, 80)  # 30 shared available left
    SupplyRequest.objects.filter(pk=undecided.pk).update(submitted_at=now - 10 * DAY)


def _open_flags():
    discrepancies = sorted(
        Discrepancy.objects.filter(resolved_at__isnull=True).values_list(
            "pk", "kind", "stock_id", "request_id", "first_seen"
        )
    )
    shortfalls = sorted(
        Shortfall.objects.filter(resolved_at__isnull=True).values_list(
            "pk", "kind", "stock_id", "center_id", "item_id", "first_seen"
        )
    )
    return discrepancies, shortfalls


def test_a_stock_moved_to_another_center_takes_its_open_flag_along(world, clock):
    """A stock without movements may still be corrected to another center; its open flag follows it, whichever
    center's pass comes first, and neither pass fails on the one-open-flag-per-stock key."""
    stock = make_stock(world, 0, safety_level=5)  # at MLC-A, nothing on hand: below safety
    reconcile(clock, world.mlc_a)
    [flag] = open_shortfalls(ShortfallKind.BELOW_SAFETY)
    Stock.objects.filter(pk=stock.pk).update(center=world.nat_b)

    reconcile(clock, world.nat_b)  # before MLC-A's pass has resolved the flag there
    reconcile(clock, world.mlc_a)

    [moved] = open_shortfalls(ShortfallKind.BELOW_SAFETY)
    assert (moved.pk, moved.stock_id, moved.center_id, moved.first_seen) == (
        flag.pk,
        stock.pk,
        world.nat_b.pk,
        flag.first_seen,
    )


def test_running_twice_gives_the_same_flags_and_no_duplicates(world, clock):
    _every_condition(world)

    first_now = clock.tick()
    first = reconcile_center(world.mlc_a.pk, now=first_now)
    before = _open_flags()
    stamped = set(Shortfall.objects.values_list("id", "updated_at"))  # stamped in the pass's transaction
    # short receipts are raised by the receipt itself, broken ledger chains by the run's ledger check
    assert {d[1] for d in before[0]} == set(DiscrepancyKind.values) - {
        DiscrepancyKind.SHORT_RECEIPT,
        DiscrepancyKind.LEDGER_CHAIN,
    }
    assert {s[1] for s in before[1]} == set(ShortfallKind.values)

    second_now = clock.tick()
    second = reconcile_center(world.mlc_a.pk, now=second_now)

    assert _open_flags() == before  # same rows, same first sighting
    assert first.counts == second.counts
    assert Discrepancy.objects.count() == len(before[0])
    assert Shortfall.objects.count() == len(before[1])
    assert set(Discrepancy.objects.values_list("first_seen", "last_seen")) == {(first_now, second_now)}
    # shortfalls: unchanged rows are not rewritten; their last sighting is their center's pass
    shortfalls = Shortfall.objects.select_related("center__last_pass")
    assert {(f.first_seen, f.last_sighting) for f in shortfalls} == {(first_now, second_now)}
    assert set(shortfalls.values_list("last_seen", flat=True)) == {first_now}
    assert set(shortfalls.values_list("id", "updated_at")) == stamped  # not rewritten by the second pass
    assert not Discrepancy.objects.values("kind", "stock_id", "request_id").annotate(n=Count("id")).filter(n__gt=1)


def test_a_cleared_condition_resolves_its_flag_and_a_recurrence_opens_a_new_one(world, clock):
    stock = make_stock(world, 100, safety_level=50)
    Stock.objects.filter(pk=stock.pk).update(on_hand=90)
    first_now = clock.tick()
    reconcile_center(world.mlc_a.pk, now=first_now)
    [ledger] = open_discrepancies(DiscrepancyKind.LEDGER_MISMATCH)

    Stock.objects.filter(pk=stock.pk).update(on_hand=100)
    cleared_at = clock.tick()
    reconcile_center(world.mlc_a.pk, now=cleared_at)

    ledger.refresh_from_db()
    assert (ledger.resolved_at, ledger.resolution, ledger.first_seen, ledger.last_seen) == (
        cleared_at,
        DiscrepancyResolution.CLEARED,
        first_now,
        first_now,
    )
    assert open_discrepancies(DiscrepancyKind.LEDGER_MISMATCH) == []

    Stock.objects.filter(pk=stock.pk).update(on_hand=80)
    again_at = clock.tick()
    reconcile_center(world.mlc_a.pk, now=again_at)

    [recurrence] = open_discrepancies(DiscrepancyKind.LEDGER_MISMATCH)
    assert recurrence.pk != ledger.pk
    assert (recurrence.first_seen, recurrence.expected, recurrence.actual) == (again_at, 100, 80)
    ledger.refresh_from_db()
    assert ledger.resolved_at == cleared_at  # the old one stays resolved
    assert Discrepancy.objects.filter(kind=DiscrepancyKind.LEDGER_MISMATCH).count() == 2


def test_a_cleared_shortfall_resolves_and_a_recurrence_opens_a_new_one(world, clock):
    stock = make_stock(world, 40, safety_level=50)
    reconcile(clock, world.mlc_a)
    [flag] = open_shortfalls(ShortfallKind.BELOW_SAFETY)

    move(world, stock, 10)  # back at the safety level exactly
    reconcile(clock, world.mlc_a)
    flag.refresh_from_db()
    assert flag.resolved_at == clock.current
    assert open_shortfalls(ShortfallKind.BELOW_SAFETY) == []

    move(world, stock, -1)
    reconcile(clock, world.mlc_a)
    [recurrence] = open_shortfalls(ShortfallKind.BELOW_SAFETY)
    assert recurrence.pk != flag.pk and recurrence.first_seen == clock.current


def test_an_unchanged_open_shortfall_is_not_rewritten_but_shows_the_last_pass_as_its_last_sighting(
    world, clock, as_user
):
    make_stock(world, 40, safety_level=50)
    first_at = clock.tick()
    reconcile_center(world.mlc_a.pk, now=first_at)
    [flag] = open_shortfalls(ShortfallKind.BELOW_SAFETY)
    stamped = flag.updated_at  # the time of the pass's transaction (what sync cursors rely on)
    reconcile(clock, world.mlc_a)
    second_at = clock.current

    [flag] = open_shortfalls(ShortfallKind.BELOW_SAFETY)
    assert (flag.first_seen, flag.last_seen, flag.updated_at) == (first_at, first_at, stamped)  # not restamped
    client = as_user("fra_logistics")
    body = client.get(f"/api/v1/shortfalls/{flag.pk}/").json()
    assert body["last_seen"] == second_at.isoformat().replace("+00:00", "Z")
    # an integrator syncing with updated_after is not sent the unchanged flag again
    assert client.get("/api/v1/shortfalls/", {"updated_after": stamped.isoformat()}).json()["count"] == 0


def test_a_resolved_shortfall_was_last_seen_by_the_pass_before_the_one_that_resolved_it(world, clock):
    stock = make_stock(world, 40, safety_level=50)
    reconcile(clock, world.mlc_a)
    reconcile(clock, world.mlc_a)
    last_seen_at = clock.current

    move(world, stock, 20)  # 60: above the safety level
    reconcile(clock, world.mlc_a)
    [flag] = Shortfall.objects.filter(kind=ShortfallKind.BELOW_SAFETY)
    assert (flag.resolved_at, flag.last_seen, flag.last_sighting) == (clock.current, last_seen_at, last_seen_at)


def test_an_open_flag_follows_the_condition_as_it_changes(world, clock):
    stock = make_stock(world, 40, safety_level=50, daily_consumption=Decimal("5"))  # 8 days: warning
    first_now = clock.tick()
    reconcile_center(world.mlc_a.pk, now=first_now)
    [flag] = open_shortfalls(ShortfallKind.BELOW_SAFETY)
    assert flag.severity == Severity.WARNING

    move(world, stock, -30)  # 10 left: 2 days
    reconcile(clock, world.mlc_a)

    flag.refresh_from_db()
    assert (flag.available, flag.severity, flag.first_seen, flag.last_seen) == (
        10,
        Severity.CRITICAL,
        first_now,
        clock.current,
    )
    assert flag.days_of_supply == Decimal("2.00")


def test_an_acknowledged_flag_stays_acknowledged_across_runs(world, clock, as_user):
    stock = make_stock(world, 40, safety_level=50)
    Stock.objects.filter(pk=stock.pk).update(on_hand=45)
    reconcile(clock, world.mlc_a)
    [shortfall] = open_shortfalls(ShortfallKind.BELOW_SAFETY)
    [discrepancy] = open_discrepancies(DiscrepancyKind.LEDGER_MISMATCH)

    client = as_user("fra_logistics")
    for url in (
        f"/api/v1/shortfalls/{shortfall.pk}/acknowledge/",
        f"/api/v1/discrepancies/{discrepancy.pk}/acknowledge/",
    ):
        response = client.post(url)
        assert response.status_code == 200, response.content
        assert response.json()["acknowledged_by"] == "fra-logistics"
    shortfall.refresh_from_db()
    acknowledged_at = shortfall.acknowledged_at
    assert acknowledged_at is not None

    for _ in range(2):
        reconcile(clock, world.mlc_a)

    shortfall = Shortfall.objects.select_related("center__last_pass").get(pk=shortfall.pk)
    discrepancy.refresh_from_db()
    assert shortfall.resolved_at is None and shortfall.last_sighting == clock.current
    assert discrepancy.resolved_at is None and discrepancy.last_seen == clock.current
    for flag in (shortfall, discrepancy):
        assert flag.acknowledged_by == world.users["fra_logistics"]
    assert shortfall.acknowledged_at == acknowledged_at
    open_unacknowledged = client.get("/api/v1/shortfalls/", {"open": "true", "acknowledged": "false"}).json()
    assert open_unacknowledged["results"] == []

    # acknowledging again changes nothing; a recurrence after it cleared is a new, unacknowledged flag
    client.post(f"/api/v1/shortfalls/{shortfall.pk}/acknowledge/")
    shortfall.refresh_from_db()
    assert shortfall.acknowledged_at == acknowledged_at
    move(world, stock, 10)  # 55: above the safety level, the shortfall clears
    reconcile(clock, world.mlc_a)
    move(world, stock, -6)  # 49: below it again
    reconcile(clock, world.mlc_a)
    [recurrence] = open_shortfalls(ShortfallKind.BELOW_SAFETY)
    assert recurrence.pk != shortfall.pk and recurrence.acknowledged_at is None


# --- who sees the flags ------------------------------------------------------------------------------------------


def _ids(client, path, **params):
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_flags_are_visible_only_as_the_access_rules_allow(world, clock, as_user):
    private = make_stock(world, 5, safety_level=10)  # FRA private at MLC-A
    shared = deu_fuel(world, 50, safety_level=100)  # DEU shared at MLC-A
    Stock.objects.filter(pk=private.pk).update(on_hand=6)
    overdue_request = approve(world, fuel_request(world, 10))
    SupplyRequest.objects.filter(pk=overdue_request.pk).update(approved_at=timezone.now() - 10 * DAY)
    reconcile(clock, world.mlc_a)
    reconcile(clock, world.mlc_a)  # also checks the pool flag is not doubled

    private_short = Shortfall.objects.get(kind=ShortfallKind.BELOW_SAFETY, stock=private)
    shared_short = Shortfall.objects.get(kind=ShortfallKind.BELOW_SAFETY, stock=shared)
    private_ledger = Discrepancy.objects.get(kind=DiscrepancyKind.LEDGER_MISMATCH, stock=private)
    overdue = Discrepancy.objects.get(kind=DiscrepancyKind.OVERDUE_DISPATCH)

    expected_shortfalls = {
        "fra_logistics": {private_short.pk, shared_short.pk},  # own stock; shared stock at a center it joins
        "mlc_a_operator": {private_short.pk, shared_short.pk},  # every stock of the center it operates
        "deu_logistics": {shared_short.pk},  # FRA's private stock is not DEU's business
        "coordinator": {shared_short.pk},  # shared stock only
        "ita_logistics": set(),  # ITA does not take part in MLC-A
        "nat_b_operator": set(),
        "no_role": set(),
    }
    expected_discrepancies = {
        "fra_logistics": {private_ledger.pk, overdue.pk},
        "mlc_a_operator": {private_ledger.pk, overdue.pk},
        "deu_logistics": {overdue.pk},
        "coordinator": {overdue.pk},
        "ita_logistics": set(),
        "nat_b_operator": set(),
        "no_role": set(),
    }
    for user, expected in expected_shortfalls.items():
        assert _ids(as_user(user), "/api/v1/shortfalls/", kind="below_safety") == expected, user
    for user, expected in expected_discrepancies.items():
        assert _ids(as_user(user), "/api/v1/discrepancies/") == expected, user

    # what is not visible answers 404, including the actions
    assert as_user("deu_logistics").get(f"/api/v1/shortfalls/{private_short.pk}/").status_code == 404
    assert as_user("deu_logistics").post(f"/api/v1/shortfalls/{private_short.pk}/acknowledge/").status_code == 404
    assert as_user("ita_logistics").get(f"/api/v1/discrepancies/{overdue.pk}/").status_code == 404
    private_short.refresh_from_db()
    assert private_short.acknowledged_at is None


@pytest.mark.parametrize("how", ["service", "raw_sql"])
def test_a_stock_made_private_hides_its_shortfall_from_other_nations_at_once(world, clock, as_user, how):
    stock = make_stock(world, 5, safety_level=10, shared=True)  # FRA's, shared at MLC-A
    reconcile(clock, world.mlc_a)
    [flag] = open_shortfalls(ShortfallKind.BELOW_SAFETY)
    assert flag.shared
    assert _ids(as_user("deu_logistics"), "/api/v1/shortfalls/") == {flag.pk}

    if how == "service":
        from inventory.services import update_stock_settings

        update_stock_settings(stock=stock, actor=world.users["fra_logistics"], shared=False)
    else:  # whatever changes the stock, the database keeps the shortfall's copy in step
        with connection.cursor() as cursor:
            cursor.execute("UPDATE inventory_stock SET shared = %s WHERE id = %s", [False, stock.pk])

    flag.refresh_from_db()
    assert not flag.shared
    assert _ids(as_user("deu_logistics"), "/api/v1/shortfalls/") == set()
    assert _ids(as_user("fra_logistics"), "/api/v1/shortfalls/") == {flag.pk}


def test_a_shortfall_written_with_a_wrong_shared_flag_takes_its_stocks(world):
    stock = make_stock(world, 5, safety_level=10, shared=True)
    now = timezone.now()
    flag = Shortfall.objects.create(
        kind=ShortfallKind.BELOW_SAFETY,
        stock=stock,
        nation=stock.nation,
        center=stock.center,
        item=stock.item,
        first_seen=now,
        last_seen=now,
    )
    flag.refresh_from_db()
    assert flag.shared  # set by the database from the stock, though the row was written with False
    Shortfall.objects.filter(pk=flag.pk).update(shared=False)
    flag.refresh_from_db()
    assert flag.shared


def test_a_pool_flag_is_visible_to_the_centers_participants_operators_and_coordinators(world, clock, as_user):
    fuel_request(world, 10)  # nothing shared at MLC-A
    reconcile(clock, world.mlc_a)
    [pool] = open_shortfalls(ShortfallKind.UNMET_DEMAND)

    for user in ("fra_logistics", "deu_liaison", "mlc_a_operator", "coordinator"):
        assert _ids(as_user(user), "/api/v1/shortfalls/") == {pool.pk}, user
    for user in ("ita_logistics", "nat_b_operator", "no_role"):
        assert _ids(as_user(user), "/api/v1/shortfalls/") == set(), user


# --- through a run -------------------------------------------------------------------------------------------


def test_a_run_started_from_the_api_raises_the_flags_users_then_see(world, as_user, django_capture_on_commit_callbacks):
    stock = make_stock(world, 5, safety_level=10)
    Stock.objects.filter(pk=stock.pk).update(on_hand=7)
    make_stock(world, 3, nation=world.ita, center=world.nat_b, safety_level=10)

    with django_capture_on_commit_callbacks(execute=True):
        response = as_user("coordinator").post("/api/v1/reconciliations/", {}, format="json")
    assert response.status_code == 202, response.content

    run = as_user("coordinator").get(f"/api/v1/reconciliations/{response.json()['id']}/").json()
    assert run["status"] == "succeeded"
    assert (run["findings"][DiscrepancyKind.LEDGER_MISMATCH], run["findings"][ShortfallKind.BELOW_SAFETY]) == (1, 2)

    fra = as_user("fra_logistics")
    [ledger] = fra.get("/api/v1/discrepancies/", {"kind": "ledger_mismatch", "open": "true"}).json()["results"]
    assert (ledger["stock"], ledger["expected"], ledger["actual"], ledger["severity"]) == (stock.pk, 5, 7, "critical")
    [short] = fra.get("/api/v1/shortfalls/", {"kind": "below_safety", "open": "true"}).json()["results"]
    assert (short["stock"], short["nation"], short["center"]) == (stock.pk, "FRA", "MLC-A")
    ita = as_user("ita_logistics").get("/api/v1/shortfalls/").json()["results"]
    assert [(s["nation"], s["center"]) for s in ita] == [("ITA", "NAT-B")]

    # a second run changes nothing but the last sighting
    with django_capture_on_commit_callbacks(execute=True):
        assert as_user("coordinator").post("/api/v1/reconciliations/", {}, format="json").status_code == 202
    assert Shortfall.objects.filter(kind=ShortfallKind.BELOW_SAFETY).count() == 2
    assert Discrepancy.objects.filter(kind=DiscrepancyKind.LEDGER_MISMATCH).count() == 1
