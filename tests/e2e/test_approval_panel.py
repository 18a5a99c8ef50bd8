"""A liaison officer decides in the browser with the supplier's stock in view (issue 14, observation 6): from the
approval queue to the request, the figures follow the quantity typed, a quantity that would cross the safety level
is warned about, and the proposed safe quantity fills the form in one click."""

from __future__ import annotations

import pytest

from coordination.models import RequestStatus, SupplyRequest
from inventory.models import Stock

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e")]


def a_request_that_would_cross_the_safety_level() -> tuple[SupplyRequest, Stock]:
    """A submitted demo request whose supplier's stock holds it, with the safety level set so that approving it in
    full leaves one unit too few (the most that keeps the level: the request minus one)."""
    for request in SupplyRequest.objects.filter(status=RequestStatus.SUBMITTED, quantity_requested__gte=2).order_by(
        "pk"
    ):
        stock = Stock.objects.filter(
            nation=request.supplying_nation, center=request.source_center, item=request.item
        ).first()
        if stock is not None and stock.available >= request.quantity_requested:
            Stock.objects.filter(pk=stock.pk).update(safety_level=stock.available - request.quantity_requested + 1)
            stock.refresh_from_db()
            return request, stock
    pytest.fail("the demo holds no submitted request its supplier could approve")


def test_the_liaison_officer_approves_the_safe_quantity_from_the_queue(portal):
    from playwright.sync_api import expect

    request, stock = a_request_that_would_cross_the_safety_level()
    safe = request.quantity_requested - 1
    reserved_before = stock.reserved
    page = portal.login(f"{request.supplying_nation.code.lower()}-liaison")

    page.get_by_role("link", name="Open the approval queue").click()
    select_all = page.get_by_label("Select all on this page")
    select_all.check()  # shown by its script; ticks every row of the page
    rows = page.locator('#dc-queue input[name="request"]')
    assert rows.count() >= 1 and all(rows.nth(i).is_checked() for i in range(rows.count()))
    select_all.uncheck()
    page.get_by_role("link", name=request.reference, exact=True).click()

    context = page.get_by_test_id("approval-context")
    expect(context.get_by_test_id("dc-below-safety")).to_be_visible()
    quantity = page.locator("#id_approve_quantity")
    quantity.fill("1")  # the figures follow what is typed
    expect(context.get_by_test_id("dc-after-heading")).to_contain_text("After approving 1 ")
    expect(context.get_by_test_id("dc-safe")).to_be_visible()
    quantity.fill(str(request.quantity_requested))
    expect(context.get_by_test_id("dc-below-safety")).to_be_visible()
    portal.screenshot(page, "approval-panel")

    # Chromium leaves an empty style="" on inputs, which htmx's settle copied onto the new inputs of the same id and
    # the CSP (style-src 'self') reported: base.html's htmx-config settles no "style" ("attributesToSettle"), so
    # the browser must log nothing here.
    page.get_by_test_id("dc-use-safe").click()
    expect(quantity).to_have_value(str(safe))
    expect(context.get_by_test_id("dc-safe")).to_be_visible()
    page.get_by_test_id("request-action-approve").get_by_role("button", name="Approve").click()

    expect(page.get_by_test_id("status")).to_have_text("Approved")
    stock.refresh_from_db()
    assert stock.reserved == reserved_before + safe and stock.available == stock.safety_level
    portal.assert_no_browser_errors()
