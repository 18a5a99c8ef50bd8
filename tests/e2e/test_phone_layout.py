"""At phone width (375 px) the header folds its menu behind a button, no page scrolls sideways (wide tables scroll in
their own box), and under DEBUG a 404 is the portal's page with its header (issue #14)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e")]

PHONE = {"width": 375, "height": 740}
MAIN_PAGES = [
    "/shortfalls/",
    "/shortfalls/?scope=all",
    "/requests/",
    "/requests/new/",
    "/discrepancies/",
    "/centers/",
    "/centers/MLC-CENTRAL/",
    "/notifications/",
    "/reconciliation/",
    "/audit/",
    "/search/?q=water",
]


def page_overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_at_phone_width_the_menu_folds_and_no_page_scrolls_sideways(portal, settings):
    from playwright.sync_api import expect

    settings.DEBUG = True  # what `make run` serves
    page = portal.login("fra-logistics")
    page.set_viewport_size(PHONE)
    page.goto("/")
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_have_attribute("aria-expanded", "false")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_be_hidden()
    assert page.locator(".topbar").bounding_box()["height"] <= 60
    assert page_overflow(page) <= 0
    portal.screenshot(page, "phone-dashboard")

    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Stocks")).to_be_visible()
    expect(page.get_by_role("searchbox").first).to_be_visible()
    nav.get_by_role("link", name="Stocks").click()
    page.wait_for_url("**/stocks/")
    expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "false")
    assert page_overflow(page) <= 0  # the stock table scrolls inside its box
    portal.screenshot(page, "phone-stock-list")
    # every other main page: wide tables and long dropdowns stay inside the screen
    for url in MAIN_PAGES:
        page.goto(url)
        assert page_overflow(page) <= 0, url

    with portal.tolerating("status of 404"):
        response = page.goto("/no-such-page/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.locator(".topbar .brand")).to_be_visible()
    expect(page.get_by_role("button", name="Menu")).to_be_visible()
    portal.assert_no_browser_errors()
