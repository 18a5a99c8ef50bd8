"""Under DEBUG (what `make run` serves) an in-page form's error stays in the form: django-htmx's DEBUG helper used to
replace the whole document with the fragment of any 400, leaving an unstyled page without header or navigation."""

from __future__ import annotations

import pytest

from inventory.models import Movement, Stock

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e")]


def test_an_invalid_in_page_form_under_debug_keeps_the_page_around_its_error(portal, settings):
    from playwright.sync_api import expect

    settings.DEBUG = True  # read when each page is rendered: the live server now serves what `make run` does
    stock = Stock.objects.filter(nation__code="FRA").order_by("pk").first()
    movements = Movement.objects.filter(stock=stock).count()
    page = portal.login("fra-logistics")
    page.goto(f"/stocks/{stock.pk}/")
    assert page.locator('script[src*="django-htmx.js"]').count() == 0  # the DEBUG helper is not loaded

    page.get_by_text("Adjust", exact=True).click()
    form = page.locator("#stock-panel form").first
    form.get_by_label("Change (+/-)").fill("0")  # an adjustment must change the quantity: a 400, the form again
    form.get_by_label("Reason").fill("Recount after inspection")
    # the browser reports the 400 on its console: asked for here
    with portal.tolerating("status of 400"), page.expect_response(lambda r: r.url.endswith("/adjust/")) as answer:
        form.get_by_role("button", name="Book adjustment").click()
        assert answer.value.status == 400
        expect(page.locator("#stock-panel .errorlist, #stock-panel .error").first).to_be_visible()

    expect(page.locator(".topbar .who")).to_have_text("fra-logistics")  # the header is still there
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Stocks")).to_be_visible()
    portal.screenshot(page, "debug-form-error")
    assert Movement.objects.filter(stock=stock).count() == movements
    portal.assert_no_browser_errors()
