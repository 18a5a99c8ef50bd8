"""The most severe shortfalls come first: on the shortfall list (one row per stock) and in the dashboard's worst
shortfalls, a stock with a critical flag is listed before a stock with a warning, however recent the warning."""

import datetime as dt

from django.utils import timezone

from coordination.models import Severity, ShortfallKind
from inventory.models import Item
from tests.factories import stock_with

from .conftest import shortfall_on


def _warning_newer_than_critical(world):
    critical_stock = world.stocks["fra_private"]
    critical = shortfall_on(critical_stock, kind=ShortfallKind.LOW_DAYS_OF_SUPPLY, severity=Severity.CRITICAL)
    critical.last_seen = critical.first_seen = timezone.now() - dt.timedelta(hours=3)
    critical.save(update_fields=["last_seen", "first_seen"])
    fuel = Item.objects.get(nsn="9130-12-000-0002")
    warning_stock = stock_with(30, nation=critical_stock.nation, center=critical_stock.center, item=fuel)
    shortfall_on(warning_stock, kind=ShortfallKind.BELOW_SAFETY, severity=Severity.WARNING)
    return critical_stock, warning_stock


def test_the_shortfall_list_shows_critical_stocks_before_warnings(world, browser):
    critical, warning = _warning_newer_than_critical(world)
    response = browser("fra_logistics").get("/shortfalls/")
    assert response.status_code == 200
    assert [row.stock_id for row in response.context["page"]] == [critical.pk, warning.pk]


def test_the_dashboard_lists_the_worst_shortfalls_critical_first(world, browser):
    critical, warning = _warning_newer_than_critical(world)
    response = browser("fra_logistics").get("/")
    assert response.status_code == 200
    assert [row.stock_id for row in response.context["worst_shortfalls"]] == [critical.pk, warning.pk]
