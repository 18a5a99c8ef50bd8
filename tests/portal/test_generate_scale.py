"""``manage.py generate_scale``: a small run on PostgreSQL gives consistent ledgers everywhere except the deliberate
inconsistencies it reports, the sizes it was asked for, roles granted through the access layer, and the same data
for the same seed."""

from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import F
from django.utils import timezone

from coordination.models import Discrepancy, DiscrepancyKind, RequestEvent, RequestStatus, SupplyRequest
from inventory.models import Item, LogisticsCenter, Movement, ReleaseList, Stock, StockCount
from nations import access
from nations.models import Nation, ServiceAccount
from portal.management.commands.generate_scale import ScaleSpec, generate_scale

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SMALL = dict(nations=5, centers=4, items=200, stocks=2000, movements=6000)


def _ids(sql: str) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return {row[0] for row in cursor.fetchall()}


LEDGER_MISMATCHES = """
    SELECT s.id FROM inventory_stock s
    LEFT JOIN (SELECT stock_id, SUM(quantity) AS total FROM inventory_movement GROUP BY stock_id) m ON m.stock_id = s.id
    WHERE s.on_hand <> COALESCE(m.total, 0)"""
WRONG_RUNNING_BALANCES = """
    SELECT id FROM (SELECT id, balance_after,
                           SUM(quantity) OVER (PARTITION BY stock_id ORDER BY occurred_at, id) AS running
                    FROM inventory_movement) x
    WHERE running <> balance_after OR balance_after < 0"""
RESERVATION_MISMATCHES = """
    SELECT s.id FROM inventory_stock s
    LEFT JOIN (SELECT supplying_nation_id, source_center_id, item_id, SUM(quantity_approved) AS total
               FROM coordination_supplyrequest WHERE status = 'approved'
               GROUP BY supplying_nation_id, source_center_id, item_id) r
      ON r.supplying_nation_id = s.nation_id AND r.source_center_id = s.center_id AND r.item_id = s.item_id
    WHERE s.reserved <> COALESCE(r.total, 0)"""
COUNT_MISMATCHES = """
    SELECT c.id FROM inventory_stockcount c
    WHERE c.counted_quantity <> COALESCE((SELECT SUM(m.quantity) FROM inventory_movement m
                                          WHERE m.stock_id = c.stock_id AND m.occurred_at <= c.counted_at), 0)"""


def test_small_run_writes_the_sizes_asked_for_with_consistent_ledgers_except_the_deliberate_ones():
    summary = generate_scale(ScaleSpec(seed=11, **SMALL))

    assert Nation.objects.count() == 5
    assert LogisticsCenter.objects.count() == 4
    assert Item.objects.count() == 200
    assert Stock.objects.count() == summary.stocks == 2000
    assert Movement.objects.count() == summary.movements == 6000
    assert StockCount.objects.count() == summary.counts > 0
    assert SupplyRequest.objects.count() == summary.requests == 40
    assert RequestEvent.objects.count() == summary.request_events
    assert {s for s, n in summary.by_status.items() if n} <= set(RequestStatus.values)

    # every movement's balance_after is the running balance, never negative
    assert _ids(WRONG_RUNNING_BALANCES) == set()
    # every inconsistency found is one the command says it made, and of every kind there are some
    assert _ids(LEDGER_MISMATCHES) == set(summary.ledger_mismatch_stock_ids) != set()
    assert _ids(RESERVATION_MISMATCHES) == set(summary.reservation_mismatch_stock_ids) != set()
    assert _ids(COUNT_MISMATCHES) == set(summary.count_mismatch_count_ids) != set()
    overdue_before = timezone.now() - timezone.timedelta(days=settings.DISPATCH_OVERDUE_DAYS)
    overdue = set(
        SupplyRequest.objects.filter(status=RequestStatus.APPROVED, approved_at__lt=overdue_before).values_list(
            "id", flat=True
        )
    )
    assert overdue == set(summary.overdue_request_ids) != set()
    short = SupplyRequest.objects.filter(status=RequestStatus.RECEIVED, quantity_received__lt=F("quantity_dispatched"))
    assert set(short.values_list("id", flat=True)) == set(summary.short_receipt_request_ids) != set()
    assert set(
        Discrepancy.objects.filter(kind=DiscrepancyKind.SHORT_RECEIPT).values_list("request_id", flat=True)
    ) == set(summary.short_receipt_request_ids)

    # constraints of the model hold (the database enforces them; this says the data is not degenerate either)
    assert Stock.objects.filter(shared=True).exists() and Stock.objects.filter(shared=False).exists()
    # about 5% released to named lists, every nation on a list, no owner on its own
    released = Stock.objects.filter(release_list__isnull=False)
    assert released.count() == summary.released_stocks and 0.02 < summary.released_stocks / summary.stocks < 0.08
    assert set(Nation.objects.values_list("pk", flat=True)) == set(
        ReleaseList.nations.through.objects.values_list("nation_id", flat=True)
    )
    assert not released.filter(release_list__nations=F("nation")).exists()
    assert Stock.objects.below_safety().exists()
    assert Stock.objects.filter(daily_consumption=0).exists()
    assert Stock.objects.exclude(daily_consumption=0).exists()
    # a dispatched request is a transfer out of the supplier's stock, tied to the request
    dispatched = SupplyRequest.objects.filter(status__in=[RequestStatus.DISPATCHED, RequestStatus.RECEIVED])
    assert Movement.objects.filter(kind="transfer_out", request__in=dispatched).count() == dispatched.count()


def test_roles_are_granted_through_the_access_layer():
    generate_scale(ScaleSpec(seed=3, officers=2, **SMALL))
    User = get_user_model()
    for nation in Nation.objects.all():
        lower = nation.code.lower()
        for k in (1, 2):
            assert access.profile(User.objects.get(username=f"{lower}-logistics-{k}")).logistics_nations == {nation.pk}
            assert access.profile(User.objects.get(username=f"{lower}-liaison-{k}")).liaison_nations == {nation.pk}
        system = ServiceAccount.objects.get(nation=nation).user
        assert access.profile(system).logistics_nations == {nation.pk}
        assert not system.has_usable_password()
        # a national system sees all of its own nation's stocks
        own = Stock.objects.filter(nation=nation)
        assert own.count() == Stock.objects.visible_to(system).filter(nation=nation).count() > 0
    for center in LogisticsCenter.objects.all():
        operator = User.objects.get(username=f"{center.code.lower()}-operator")
        assert access.profile(operator).operated_centers == {center.pk}
        assert center.participants.filter(pk=center.host_nation_id).exists()
    assert access.is_coordinator(User.objects.get(username="coordinator"))


def _snapshot(anchor):
    """Everything the generator decided, with timestamps as offsets from the run's anchor."""
    return {
        "nations": list(Nation.objects.order_by("id").values_list("id", "code", "ncb_code")),
        "centers": list(
            LogisticsCenter.objects.order_by("id").values_list(
                "id", "code", "host_nation_id", "kind", "latitude", "longitude"
            )
        ),
        "participants": sorted(
            LogisticsCenter.participants.through.objects.values_list("logisticscenter_id", "nation_id")
        ),
        "items": list(Item.objects.order_by("id").values_list("id", "nsn", "name", "supply_class")),
        "stocks": list(
            Stock.objects.order_by("id").values_list(
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
        "movements": [
            (*row[:-1], row[-1] - anchor)
            for row in Movement.objects.order_by("id").values_list(
                "id", "stock_id", "kind", "quantity", "balance_after", "actor__username", "request_id", "occurred_at"
            )
        ],
        "counts": [
            (*row[:-1], row[-1] - anchor)
            for row in StockCount.objects.order_by("id").values_list(
                "id", "stock_id", "counted_quantity", "counted_by__username", "counted_at"
            )
        ],
        "requests": list(
            SupplyRequest.objects.order_by("id").values_list(
                "id",
                "status",
                "requesting_nation_id",
                "supplying_nation_id",
                "item_id",
                "source_center_id",
                "destination_center_id",
                "quantity_requested",
                "quantity_approved",
                "quantity_received",
            )
        ),
    }


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    first = generate_scale(ScaleSpec(seed=42, **SMALL))
    snapshot = _snapshot(first.anchor)
    call_command("flush", interactive=False, verbosity=0)

    again = generate_scale(ScaleSpec(seed=42, **SMALL))
    assert _snapshot(again.anchor) == snapshot
    assert again.ledger_mismatch_stock_ids == first.ledger_mismatch_stock_ids
    call_command("flush", interactive=False, verbosity=0)

    other = generate_scale(ScaleSpec(seed=43, **SMALL))
    assert _snapshot(other.anchor)["stocks"] != snapshot["stocks"]


def test_refuses_a_database_that_is_not_empty_and_changes_nothing():
    out = StringIO()
    call_command("generate_scale", *[f"--{k}={v}" for k, v in SMALL.items()], stdout=out)
    assert "done in" in out.getvalue()
    assert "deliberate inconsistencies: ledger_mismatch 3" in out.getvalue()
    before = (Stock.objects.count(), Movement.objects.count(), get_user_model().objects.count())
    with pytest.raises(CommandError, match="empty database"):
        call_command("generate_scale", *[f"--{k}={v}" for k, v in SMALL.items()])
    assert (Stock.objects.count(), Movement.objects.count(), get_user_model().objects.count()) == before


@pytest.mark.parametrize(
    "sizes, message",
    [
        (dict(SMALL, stocks=5 * 4 * 200 + 1), "combinations"),
        (dict(SMALL, movements=1999), "too few"),
        (dict(SMALL, nations=101), "--nations"),
    ],
)
def test_refuses_sizes_it_cannot_honour_and_leaves_the_database_empty(sizes, message):
    with pytest.raises(CommandError, match=message):
        generate_scale(ScaleSpec(**sizes))
    assert not Nation.objects.exists() and not Stock.objects.exists()
    assert not get_user_model().objects.filter(username="coordinator").exists()
