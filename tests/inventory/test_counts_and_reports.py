"""Physical counts and stock reports (audit findings 4 and 5): a count names only a nation that takes part in the
center, and its time lies between the stock's first movement and now (plus the clock-skew allowance); otherwise
it is refused and nothing is written (no stock, no count, no report).

Scenario: tests/api/conftest.py (MLC-A's participants are FRA and DEU, not ITA; NAT-B is ITA's)."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from inventory import services
from inventory.models import Stock, StockCount, StockReport
from tests.api.conftest import build_scenario, session_client, token_client
from tests.factories import ItemFactory, StockFactory

REPORTS = "/api/v1/stock-reports/"


@pytest.fixture
def world(db):
    return build_scenario()


def _written():
    return Stock.objects.count(), StockCount.objects.count(), StockReport.objects.count()


# --- finding 4: only a participating nation's stock is counted or reported ------------------------------------


def test_a_report_for_a_nation_outside_the_center_is_refused_by_the_service_and_writes_nothing(world):
    before = _written()
    with pytest.raises(ValidationError) as refused:
        services.record_stock_report(
            nation=world.ita,
            center=world.mlc_a,
            lines=[{"nsn": world.fuel.nsn, "quantity": 5}],
            submitted_by=world.users["mlc_a_operator"],
        )
    message = " ".join(refused.value.message_dict["nation"])
    assert "ITA" in message and "MLC-A" in message
    assert _written() == before


@pytest.mark.parametrize("caller", ["mlc_a_operator", "ita_system"])
def test_the_api_refuses_a_report_for_a_nation_outside_the_center(world, caller):
    client = token_client(world.users[caller]) if caller == "ita_system" else session_client(world.users[caller])
    before = _written()
    response = client.post(
        REPORTS,
        {"nation": "ITA", "center": "MLC-A", "lines": [{"nsn": world.fuel.nsn, "quantity": 5}]},
        format="json",
    )
    assert response.status_code == 400, response.content
    message = " ".join(e["message"] for e in response.json()["errors"] if e["field"] == "nation")
    assert "ITA" in message and "MLC-A" in message
    assert _written() == before


def test_a_caller_without_the_right_is_still_refused_with_403(world):
    response = session_client(world.users["nat_b_operator"]).post(
        REPORTS, {"nation": "ITA", "center": "MLC-A", "lines": [{"nsn": world.fuel.nsn, "quantity": 5}]}, format="json"
    )
    assert response.status_code == 403


def test_a_report_for_a_participant_still_creates_its_missing_stock(world):
    response = session_client(world.users["mlc_a_operator"]).post(
        REPORTS, {"nation": "FRA", "center": "MLC-A", "lines": [{"nsn": world.fuel.nsn, "quantity": 5}]}, format="json"
    )
    assert response.status_code == 201, response.content
    assert Stock.objects.filter(nation=world.fra, center=world.mlc_a, item=world.fuel).exists()


def test_a_count_of_a_stock_whose_nation_is_not_a_participant_is_refused(world):
    # a stock written before the rule (or left behind when its nation left the center)
    stranger = StockFactory(nation=world.ita, center=world.mlc_a, item=ItemFactory())
    with pytest.raises(ValidationError) as refused:
        services.record_count(stock=stranger, counted_quantity=3, counted_by=world.users["mlc_a_operator"])
    assert "ITA" in " ".join(refused.value.message_dict["nation"])
    assert not StockCount.objects.filter(stock=stranger).exists()


def test_the_stock_page_refuses_a_count_of_a_non_participants_stock(world):
    stranger = StockFactory(nation=world.ita, center=world.mlc_a, item=ItemFactory())
    browser = Client()
    browser.force_login(world.users["mlc_a_operator"])
    response = browser.post(reverse("stock-count", args=[stranger.pk]), {"counted_quantity": "3", "note": ""})
    assert response.status_code == 400
    assert "MLC-A" in response.content.decode()
    assert not StockCount.objects.filter(stock=stranger).exists()


# --- finding 5: no back-dated counts, no counts from the future ------------------------------------------------


def _first_movement_at(stock):
    return stock.movements.order_by("occurred_at").values_list("occurred_at", flat=True).first()


def test_a_count_before_the_stocks_first_movement_is_refused(world):
    stock = world.stocks["fra_private"]
    with pytest.raises(ValidationError) as refused:
        services.record_count(
            stock=stock,
            counted_quantity=50,
            counted_by=world.users["mlc_a_operator"],
            counted_at=_first_movement_at(stock) - dt.timedelta(days=30),
        )
    assert "counted_at" in refused.value.message_dict
    assert not StockCount.objects.filter(stock=stock).exists()


def test_a_count_at_or_after_the_first_movement_is_recorded(world):
    stock = world.stocks["fra_private"]
    services.record_count(
        stock=stock, counted_quantity=50, counted_by=world.users["mlc_a_operator"], counted_at=_first_movement_at(stock)
    )
    assert StockCount.objects.filter(stock=stock).count() == 1


def test_the_future_allowance_is_the_clock_skew_setting(world, settings):
    stock = world.stocks["fra_private"]
    operator = world.users["mlc_a_operator"]
    settings.COUNT_CLOCK_SKEW_SECONDS = 10
    with pytest.raises(ValidationError) as refused:
        services.record_count(
            stock=stock, counted_quantity=1, counted_by=operator, counted_at=timezone.now() + dt.timedelta(seconds=60)
        )
    assert "counted_at" in refused.value.message_dict
    settings.COUNT_CLOCK_SKEW_SECONDS = 300
    services.record_count(
        stock=stock, counted_quantity=1, counted_by=operator, counted_at=timezone.now() + dt.timedelta(seconds=60)
    )
    assert StockCount.objects.filter(stock=stock).count() == 1


def test_a_back_dated_report_is_refused_per_line_and_writes_nothing(world):
    stock = world.stocks["fra_private"]
    before = _written()
    response = session_client(world.users["mlc_a_operator"]).post(
        REPORTS,
        {
            "nation": "FRA",
            "center": "MLC-A",
            "counted_at": (_first_movement_at(stock) - dt.timedelta(days=1)).isoformat(),
            # line 0: a new stock (no movement yet: nothing to be before); line 1: FRA's rations, received today
            "lines": [{"nsn": world.fuel.nsn, "quantity": 5}, {"nsn": world.rations.nsn, "quantity": 50}],
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert {e["field"] for e in response.json()["errors"]} == {"lines[1].counted_at"}
    assert _written() == before


def test_a_line_may_carry_its_own_counted_at_and_it_is_checked_too(world):
    stock = world.stocks["fra_private"]
    first = _first_movement_at(stock)
    before = _written()
    response = session_client(world.users["mlc_a_operator"]).post(
        REPORTS,
        {
            "nation": "FRA",
            "center": "MLC-A",
            "lines": [
                {
                    "nsn": world.fuel.nsn,
                    "quantity": 5,
                    "counted_at": (timezone.now() + dt.timedelta(hours=2)).isoformat(),
                },
                {"nsn": world.rations.nsn, "quantity": 50, "counted_at": (first - dt.timedelta(hours=1)).isoformat()},
            ],
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert {e["field"] for e in response.json()["errors"]} == {"lines[0].counted_at", "lines[1].counted_at"}
    assert _written() == before

    at = first + dt.timedelta(seconds=1)
    response = session_client(world.users["mlc_a_operator"]).post(
        REPORTS,
        {
            "nation": "FRA",
            "center": "MLC-A",
            "lines": [{"nsn": world.rations.nsn, "quantity": 50, "counted_at": at.isoformat()}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert StockCount.objects.get(stock=stock).counted_at == at


def test_a_report_from_the_future_is_refused(world, settings):
    settings.COUNT_CLOCK_SKEW_SECONDS = 10
    response = session_client(world.users["mlc_a_operator"]).post(
        REPORTS,
        {
            "nation": "FRA",
            "center": "MLC-A",
            "counted_at": (timezone.now() + dt.timedelta(minutes=2)).isoformat(),
            "lines": [{"nsn": world.fuel.nsn, "quantity": 5}],
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "counted_at" in {e["field"] for e in response.json()["errors"]}
    assert not StockReport.objects.exists()
