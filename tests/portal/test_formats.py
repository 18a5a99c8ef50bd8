"""Alliance-friendly formats (issue #14): ISO dates and 24-hour UTC times in English and French alike, date inputs
that a browser's date picker can read in every language, and days of supply with one decimal at most."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django import forms
from django.urls import reverse
from django.utils import formats, translation

from coordination.forms import SupplyRequestForm
from core.widgets import IsoDateInput
from tests.web import conftest as pages

pytestmark = pytest.mark.django_db

world, browser = pages.world, pages.browser  # the pages' scenario and its signed-in clients

DAY = dt.date(2026, 12, 14)
MOMENT = dt.datetime(2026, 12, 14, 9, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("language", ["en", "fr"])
def test_dates_and_times_are_iso_in_every_language(language):
    with translation.override(language):
        for name in ("DATE_FORMAT", "SHORT_DATE_FORMAT"):
            assert formats.date_format(DAY, name) == "2026-12-14"
        for name in ("DATETIME_FORMAT", "SHORT_DATETIME_FORMAT"):
            assert formats.date_format(MOMENT, name) == "2026-12-14 09:30"


def test_numbers_keep_each_languages_separators():
    # the format modules override dates only: 12,500 in English, 12 500 in French (a no-break space)
    with translation.override("en"):
        assert formats.number_format(12500, force_grouping=True) == "12,500"
    with translation.override("fr"):
        assert formats.number_format(12500, force_grouping=True) == "12\xa0500"


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_date_picker_gets_an_iso_value_in_every_language(language):
    # the French form wrote 14/12/2026 into an <input type="date">, which the browser then showed empty
    with translation.override(language):
        html = forms.DateField(widget=IsoDateInput()).widget.render("when", DAY)
        assert 'type="date"' in html and 'value="2026-12-14"' in html
        form = SupplyRequestForm(initial={"required_by": DAY})
        assert 'value="2026-12-14"' in str(form["required_by"])


def test_a_date_is_read_iso_everywhere_and_the_french_way_in_french():
    field = forms.DateField()
    with translation.override("fr"):
        assert field.clean("2026-12-14") == DAY
        assert field.clean("14/12/2026") == DAY
    with translation.override("en"):
        assert field.clean("2026-12-14") == DAY
        # 12/11/2026 is December to some allies and November to others: not guessed at
        with pytest.raises(forms.ValidationError):
            field.clean("12/14/2026")


@pytest.mark.parametrize(("consumption", "shown", "not_shown"), [("4", ">12.5<", "12.50"), ("5", ">10<", "10.0")])
def test_days_of_supply_show_one_decimal_at_most(world, browser, consumption, shown, not_shown):
    stock = world.stocks["fra_private"]  # 50 available
    stock.daily_consumption = Decimal(consumption)
    stock.save(update_fields=["daily_consumption"])
    html = browser("fra_logistics").get(reverse("stock-detail", args=[stock.pk])).content.decode()
    panel = html[html.index("Days of supply") :][:120]
    assert shown in panel and not_shown not in panel


def test_the_dashboard_writes_activity_times_as_dates_not_durations(world, browser):
    request = pages.make_request(world)
    html = browser("fra_logistics").get(reverse("home")).content.decode()
    event = request.events.order_by("-id").first()
    assert f">{event.at:%Y-%m-%d %H:%M}</time>" in html
    assert "minute" not in html  # no "2 minutes ago" beside ISO dates on the same page
