"""The charts (issue #14): a stock's on hand over 90 days from its ledger against the safety level, with a projected
stock-out date from the last 30 days' issues; a nation's days of supply per supply class against its targets.
Chart.js draws them from ``json_script`` data (static/js/charts.js); these tests pin the data and the pages."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation

from coordination.models import DaysOfSupplyTarget
from inventory.charts import project, stock_balance_chart
from inventory.models import MovementKind
from inventory.services import lock_stock, post_movement
from tests.factories import ItemFactory, stock_with
from tests.web import conftest as pages

pytestmark = pytest.mark.django_db

world, browser = pages.world, pages.browser  # the pages' scenario and its signed-in clients

NOW = timezone.now()  # the scenario's receipts are booked now: the history is written before them
TODAY = timezone.localdate(NOW)


def book(stock, kind, quantity, days_ago, actor):
    with transaction.atomic():
        post_movement(
            stock=lock_stock(stock.pk),
            kind=kind,
            quantity=quantity,
            actor=actor,
            occurred_at=NOW - dt.timedelta(days=days_ago, hours=1),
        )
    stock.refresh_from_db()


@pytest.fixture
def stock(world):
    """FRA's rations at MLC-A: 50 received (today), then its history written into the past."""
    stock = world.stocks["fra_private"]
    actor = world.seeder
    book(stock, MovementKind.RECEIPT, 100, 120, actor)  # before the window: the opening balance
    book(stock, MovementKind.ISSUE, -30, 40, actor)  # in the window, too old for the consumption rate
    book(stock, MovementKind.ISSUE, -20, 10, actor)
    book(stock, MovementKind.TRANSFER_OUT, -10, 5, actor)
    book(stock, MovementKind.ADJUSTMENT, -5, 2, actor)  # a book correction, not consumption
    stock.safety_level = 40
    stock.save(update_fields=["safety_level"])
    return stock  # on hand 50 + 100 - 30 - 20 - 10 - 5 = 85


def test_the_balance_is_rebuilt_day_by_day_from_the_ledger_in_one_query(stock, django_assert_num_queries):
    with django_assert_num_queries(1):
        chart = stock_balance_chart(stock, now=NOW)
    history = dict(zip(chart.labels, chart.on_hand, strict=True))
    assert chart.labels[0] == (TODAY - dt.timedelta(days=89)).isoformat() and len(history) >= 90
    assert history[TODAY.isoformat()] == 85 == stock.on_hand
    assert history[(TODAY - dt.timedelta(days=89)).isoformat()] == 100  # opening: the receipt 120 days ago
    assert history[(TODAY - dt.timedelta(days=40)).isoformat()] == 70
    assert history[(TODAY - dt.timedelta(days=10)).isoformat()] == 50
    assert history[(TODAY - dt.timedelta(days=5)).isoformat()] == 40
    assert history[(TODAY - dt.timedelta(days=2)).isoformat()] == 35
    assert chart.data()["datasets"][1]["data"][0] == 40  # the safety level


def test_the_stock_out_is_projected_from_the_last_30_days_issues_and_transfers_out(stock):
    chart = stock_balance_chart(stock, now=NOW)
    p = chart.projection
    # 20 issued + 10 transferred out in 30 days (the adjustment and the older issue left out): 1 a day
    assert p.daily_rate == Decimal("1.00")
    assert p.days_left == Decimal("85.0") and p.stock_out == TODAY + dt.timedelta(days=85)
    projected = [v for v in chart.projected if v is not None]
    assert projected[0] == 85 and projected[1] == 84 and len(projected) == 31  # drawn 30 days ahead
    assert chart.data()["datasets"][2]["role"] == "projection"


def test_no_outflow_projects_nothing():
    assert project(available=10, outflow=0, today=TODAY).stock_out is None
    empty = project(available=0, outflow=30, today=TODAY)
    assert empty.stock_out == TODAY and empty.days_left == 0


def test_the_stock_page_hands_the_chart_to_chartjs_with_a_text_alternative(stock, browser):
    html = browser("fra_logistics").get(reverse("stock-detail", args=[stock.pk])).content.decode()
    data = json.loads(re.search(r'<script id="stock-chart-data" type="application/json">(.*?)</script>', html)[1])
    assert data["type"] == "line" and [d["role"] for d in data["datasets"]][:2] == ["on_hand", "safety"]
    assert 'src="/static/vendor/chart.umd.min.js"' in html and 'src="/static/js/charts.js"' in html
    assert 'data-chart="stock-chart-data" role="img"' in html
    assert "runs out on <strong>" in html and "<table" in html.split('class="chart"')[1]
    assert "<script>" not in html  # nothing inline: the Content-Security-Policy allows no inline script


def test_the_dashboard_charts_days_of_supply_per_class_against_the_nations_targets(world, browser, settings):
    settings.DEFAULT_DAYS_OF_SUPPLY_TARGET = 15
    fra = world.stocks["fra_private"]  # class I rations, 50 available
    fra.daily_consumption = Decimal("10")  # 5 days, under the default target
    fra.save(update_fields=["daily_consumption"])
    fuel = stock_with(300, actor=world.seeder, nation=world.fra, center=world.nat_f, item=world.fuel)
    fuel.daily_consumption = Decimal("20")  # class III: 15 days, against FRA's own target of 10
    fuel.save(update_fields=["daily_consumption"])
    DaysOfSupplyTarget.objects.create(nation=world.fra, supply_class="III", days=10)
    stock_with(900, actor=world.seeder, nation=world.deu, center=world.mlc_a, item=ItemFactory(supply_class="V"))

    html = browser("fra_logistics").get(reverse("home")).content.decode()
    data = json.loads(re.search(r'<script id="supply-chart-FRA" type="application/json">(.*?)</script>', html)[1])
    assert data["type"] == "bar" and len(data["labels"]) == 2  # FRA's classes only: DEU's ammunition is not FRA's
    days, target = data["datasets"]
    assert days["data"] == [5.0, 15.0] and days["below"] == [True, False] and target["data"] == [15, 10]
    assert 'id="supply-chart-DEU"' not in html


def test_the_nation_chart_is_cached_as_figures_and_labelled_in_each_readers_language(world, browser):
    browser("fra_logistics").get(reverse("home"))  # fills the cache, in English
    client = browser("fra_liaison")  # another FRA officer, reading French
    client.post(reverse("set_language"), {"language": "fr", "next": "/"})
    with translation.override("fr"):
        html = client.get(reverse("home")).content.decode()
    data = json.loads(re.search(r'<script id="supply-chart-FRA" type="application/json">(.*?)</script>', html)[1])
    assert data["datasets"][0]["label"] == "Jours d'autonomie"  # not the English reader's "Days of supply"


def test_viewers_without_a_nation_get_no_nation_chart(world, browser):
    for user in ("coordinator", "mlc_a_operator"):
        html = browser(user).get(reverse("home")).content.decode()
        assert "supply-chart-" not in html and "chart.umd.min.js" not in html
