"""The demo scenario (`manage.py seed_demo`): what it loads, that its books reconcile, and that it is idempotent.

The scenario is loaded once for the module (inside a transaction rolled back at the end); each test runs in
a savepoint of it.  The empty-database test comes first, before the shared scenario is loaded.
"""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count, F, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.test import Client, override_settings

from coordination.models import (
    DaysOfSupplyTarget,
    Discrepancy,
    Notification,
    RequestEvent,
    RequestStatus,
    SupplyRequest,
)
from inventory.models import CenterKind, Item, LogisticsCenter, Movement, Stock, StockCount, SupplyClass
from nations.access import roles_of
from nations.models import Nation, ServiceAccount

User = get_user_model()
PASSWORD = "seed-test-password-42"
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
NSN = re.compile(r"^\d{4}-\d{2}-\d{3}-\d{4}$")
REAL_NCB_CODES = {
    "DEU": "12",
    "BEL": "13",
    "FRA": "14",
    "ITA": "15",
    "CAN": "20",
    "DNK": "22",
    "GBR": "99",
    "USA": "00",
}


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    counted = [
        Nation,
        LogisticsCenter,
        LogisticsCenter.participants.through,
        Item,
        Stock,
        Movement,
        StockCount,
        SupplyRequest,
        RequestEvent,
        Discrepancy,
        DaysOfSupplyTarget,
        User,
        Group,
        ServiceAccount,
    ]
    counts = {model._meta.label: model.objects.count() for model in counted}
    counts["sum(on_hand)"] = Stock.objects.aggregate(total=Sum("on_hand"))["total"]
    counts["sum(reserved)"] = Stock.objects.aggregate(total=Sum("reserved"))["total"]
    return counts


@pytest.mark.django_db
def test_if_empty_loads_the_scenario_into_an_empty_database(django_capture_on_commit_callbacks, mailoutbox):
    assert not Nation.objects.exists()
    with override_settings(PASSWORD_HASHERS=FAST_HASHERS), django_capture_on_commit_callbacks(execute=True):
        output = seed("--if-empty", "--password", PASSWORD)
    assert Nation.objects.count() >= 8
    assert "Password for every demo user: " + PASSWORD in output
    # the demo's events are history: in-app notifications, but no e-mail (the console printed hundreds)
    assert Notification.objects.exists()
    assert mailoutbox == []


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The demo scenario, loaded once for this module and rolled back after it."""
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS), transaction.atomic():
        output = seed("--password", PASSWORD)
        yield output
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_second_run_creates_nothing_and_changes_no_quantity(seeded):
    before = row_counts()
    output = seed("--password", PASSWORD)
    assert row_counts() == before
    assert "nothing new" in output


@pytest.mark.django_db
def test_if_empty_does_nothing_on_a_seeded_database(seeded):
    before = row_counts()
    output = seed("--if-empty", "--password", "another-password-1")
    assert row_counts() == before
    assert "not loaded" in output
    assert Client().login(request=HttpRequest(), username="fra-logistics", password=PASSWORD)  # passwords untouched too


@pytest.mark.django_db
def test_nations_carry_their_real_ncb_codes(seeded):
    ncb_by_code = dict(Nation.objects.values_list("code", "ncb_code"))
    assert len(ncb_by_code) >= 8
    assert {code: ncb_by_code.get(code) for code in REAL_NCB_CODES} == REAL_NCB_CODES
    assert all(re.fullmatch(r"[A-Z]{3}", code) for code in ncb_by_code)


@pytest.mark.django_db
def test_five_centers_three_of_them_multinational_with_participants(seeded):
    centers = LogisticsCenter.objects.annotate(n=Count("participants")).select_related("host_nation")
    assert centers.count() >= 5
    multinational = [c for c in centers if c.kind == CenterKind.MULTINATIONAL]
    assert len(multinational) >= 3
    for center in centers:
        participants = set(center.participants.values_list("code", flat=True))
        assert center.host_nation.code in participants
        if center.kind == CenterKind.MULTINATIONAL:
            assert len(participants) >= 3
        else:
            assert participants == {center.host_nation.code}


@pytest.mark.django_db
def test_catalog_holds_200_items_across_classes_i_to_v_with_valid_nsns(seeded):
    items = list(Item.objects.all())
    assert len(items) >= 200
    per_class = {sc: sum(1 for i in items if i.supply_class == sc) for sc in SupplyClass.values}
    assert all(per_class[sc] >= 10 for sc in ["I", "II", "III", "IV", "V"]), per_class
    ncb_codes = set(Nation.objects.values_list("ncb_code", flat=True))
    for item in items:
        assert NSN.match(item.nsn), item.nsn
        assert item.ncb_code in ncb_codes, item.nsn
        item.full_clean()  # model validators: NSN format, supply class, unit of issue
    assert len({i.name for i in items}) == len(items), "every catalog entry is a distinct item"


@pytest.mark.django_db
def test_every_request_status_is_present_and_raised_by_the_right_users(seeded):
    statuses = set(SupplyRequest.objects.values_list("status", flat=True))
    assert statuses == set(RequestStatus.values)
    for request in SupplyRequest.objects.select_related("requesting_nation", "supplying_nation", "created_by"):
        assert request.created_by.username == f"{request.requesting_nation.code.lower()}-logistics"
        events = list(request.events.select_related("actor"))
        assert events[0].to_status == RequestStatus.DRAFT
        assert events[-1].to_status == request.status
        for event in events:
            if event.to_status in (RequestStatus.APPROVED, RequestStatus.REJECTED):
                assert event.actor.username == f"{request.supplying_nation.code.lower()}-liaison"


@pytest.mark.django_db
def test_ledger_reconciles_with_every_stock(seeded):
    ledger = Stock.objects.annotate(booked=Coalesce(Sum("movements__quantity"), 0))
    assert not ledger.exclude(on_hand=F("booked")).exists()
    assert Movement.objects.count() >= Stock.objects.filter(on_hand__gt=0).count()

    # each movement's balance_after is the running sum of its stock's ledger
    balance: dict[int, int] = {}
    for stock_id, quantity, balance_after in Movement.objects.order_by("stock_id", "id").values_list(
        "stock_id", "quantity", "balance_after"
    ):
        balance[stock_id] = balance.get(stock_id, 0) + quantity
        assert balance_after == balance[stock_id]


@pytest.mark.django_db
def test_reservations_equal_the_approved_requests(seeded):
    approved = (
        SupplyRequest.objects.filter(
            status=RequestStatus.APPROVED,
            supplying_nation=OuterRef("nation"),
            source_center=OuterRef("center"),
            item=OuterRef("item"),
        )
        .values("supplying_nation")
        .annotate(total=Sum("quantity_approved"))
        .values("total")
    )
    stocks = Stock.objects.annotate(expected=Coalesce(Subquery(approved), 0))
    assert not stocks.exclude(reserved=F("expected")).exists()
    assert stocks.filter(reserved__gt=0).exists()


@pytest.mark.django_db
def test_stocks_carry_planning_figures_some_below_safety_some_shared(seeded):
    total = Stock.objects.count()
    assert total >= 1000
    assert 0 < Stock.objects.below_safety().count() < total
    assert 0 < Stock.objects.filter(shared=True).count() < total
    assert Stock.objects.filter(daily_consumption__gt=0, safety_level__gt=0).count() > total // 2
    assert StockCount.objects.exists()


@pytest.mark.django_db
def test_a_few_stocks_are_released_to_named_nations_and_audited(seeded):
    from nations.models import AuditEntry, AuditKind

    released = Stock.objects.filter(release_list__isnull=False).select_related("nation", "release_list")
    assert 8 <= released.count() <= 12
    assert not released.filter(shared=True).exists()
    assert all(s.nation.code not in s.release_list.codes for s in released)  # the owner is never listed
    # GBR's national stock at Bicester is released to the USA, which does not take part there
    assert released.filter(center__code="GBR-BICESTER", release_list__key="USA").exists()
    assert AuditEntry.objects.filter(kind=AuditKind.STOCK_RELEASED).count() >= released.count()


@pytest.mark.django_db
def test_demo_users_log_in_and_hold_their_roles(seeded):
    expected = {"coordinator": [("Alliance coordinator", "alliance")]}
    for code in Nation.objects.values_list("code", flat=True):
        expected[f"{code.lower()}-logistics"] = [("Logistics officer", code)]
        expected[f"{code.lower()}-liaison"] = [("Liaison officer", code)]
    for code in LogisticsCenter.objects.values_list("code", flat=True):
        expected[f"{code.lower()}-operator"] = [("Center operator", code)]
    for username, roles in expected.items():
        user = User.objects.get(username=username)
        assert roles_of(user) == roles, username
        assert not user.is_staff and not user.is_superuser, username
        assert Client().login(request=HttpRequest(), username=username, password=PASSWORD), username
    assert not Client().login(request=HttpRequest(), username="fra-logistics", password="wrong-password")

    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert Client().login(request=HttpRequest(), username="admin", password=PASSWORD)


@pytest.mark.django_db
def test_each_nation_has_a_password_less_service_account_with_the_logistics_role(seeded):
    for nation in Nation.objects.all():
        account = ServiceAccount.objects.select_related("user").get(user__username=f"{nation.code.lower()}-system")
        assert account.nation == nation
        assert not account.user.has_usable_password()
        assert roles_of(account.user) == [("Logistics officer", nation.code)]


@pytest.mark.django_db
def test_rerun_resets_the_demo_password_to_settings_demo_password(seeded):
    with override_settings(DEMO_PASSWORD="from-settings-pass-7"):
        output = seed()
    assert "Password for every demo user: from-settings-pass-7" in output
    assert Client().login(request=HttpRequest(), username="coordinator", password="from-settings-pass-7")
    assert not Client().login(request=HttpRequest(), username="coordinator", password=PASSWORD)
