"""The most severe shortfalls come first: on the shortfall list and in the dashboard's worst shortfalls, a critical
flag is listed before a warning, however recent the warning."""

import datetime as dt

from django.utils import timezone

from coordination.models import Severity, ShortfallKind

from .conftest import shortfall_on


def _warning_newer_than_critical(world):
    stock = world.stocks["fra_private"]
    critical = shortfall_on(stock, kind=ShortfallKind.LOW_DAYS_OF_SUPPLY, severity=Severity.CRITICAL)
    critical.last_seen = timezone.now() - dt.timedelta(hours=3)
    critical.save(update_fields=["last_seen"])
    warning = shortfall_on(stock, kind=ShortfallKind.BELOW_SAFETY, severity=Severity.WARNING)
    return critical, warning


def test_the_shortfall_list_shows_critical_flags_before_warnings(world, browser):
    critical, warning = _warning_newer_than_critical(world)
    response = browser("fra_logistics").get("/shortfalls/")
    assert response.status_code == 200
    assert [f.pk for f in response.context["page"]] == [critical.pk, warning.pk]


def test_the_dashboard_lists_the_worst_shortfalls_critical_first(world, browser):
    critical, warning = _warning_newer_than_critical(world)
    response = browser("fra_logistics").get("/")
    assert response.status_code == 200
    assert [f.pk for f in response.context["worst_shortfalls"]] == [critical.pk, warning.pk]
