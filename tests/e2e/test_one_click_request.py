"""From a shortage to a request in one click (issue 14): on a stock page below its safety level, "Request supplies"
opens the new request filled in, with who can supply it already listed; raising it is the second click.  No NSN is
typed anywhere; the item's autocomplete answers a part of its name."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from coordination.models import SupplyRequest
from coordination.prefill import from_stock
from coordination.sourcing import sourcing_options
from inventory.lookup import entry_of
from inventory.models import Stock
from nations.models import Nation

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e")]


def _short_stock_with_a_source(user):
    """A French stock of the demo below its safety level that another nation's shared stock can restore, and the
    quantity the form proposes for it."""
    nations = Nation.objects.filter(code="FRA")
    for stock in Stock.objects.filter(nation__code="FRA").below_safety().select_related("item", "center", "nation"):
        quantity = from_stock(user, str(stock.pk), nations).initial["quantity"]
        options = sourcing_options(
            user=user,
            item=stock.item,
            quantity=quantity,
            destination=stock.center,
            exclude_nation_ids={stock.nation_id},
        )
        if options:
            return stock, quantity, options[0]
    pytest.fail("the demo holds no French stock below safety that a shared stock could restore")


def test_one_click_from_a_stock_page_opens_the_request_filled_in_and_a_second_raises_it(portal):
    from playwright.sync_api import expect

    officer = get_user_model().objects.get(username="fra-logistics")
    stock, quantity, nearest = _short_stock_with_a_source(officer)
    page = portal.login("fra-logistics")
    page.goto(f"/stocks/{stock.pk}/")
    portal.screenshot(page, "one-click-stock-page")
    clicks = 0

    page.get_by_role("link", name="Request supplies").click()
    clicks += 1
    page.wait_for_url(re.compile(rf"/requests/new/\?stock={stock.pk}$"))
    expect(page.get_by_label("Item (NSN or name)")).to_have_value(entry_of(stock.item))
    expect(page.get_by_label("Quantity")).to_have_value(str(quantity))
    expect(page.get_by_label("Destination center")).to_have_value(stock.center.code)
    expect(page.get_by_label("Justification")).to_have_value(re.compile(rf"^Restore .+ at {stock.center.code}"))
    # the suggestions came with the page, the nearest one selected
    suggestion = page.locator(
        f'input[name="source_option"][value="{nearest.stock.nation.code}|{nearest.stock.center.code}"]'
    )
    expect(suggestion).to_be_checked()
    portal.screenshot(page, "one-click-request-prefilled")

    page.get_by_role("button", name="Raise request").click()
    clicks += 1
    page.wait_for_url(re.compile(r"/requests/\d+/$"))
    created = SupplyRequest.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    assert (created.item_id, created.destination_center_id, created.requesting_nation.code) == (
        stock.item_id,
        stock.center_id,
        "FRA",
    )
    assert created.quantity_requested == quantity
    assert (created.supplying_nation_id, created.source_center_id) == (nearest.stock.nation_id, nearest.stock.center_id)
    assert clicks == 2

    # the autocomplete: a part of the item's name lists it in the input's datalist
    page.goto("/requests/new/")
    word = max(stock.item.name.split(), key=len)
    page.get_by_label("Item (NSN or name)").press_sequentially(word[:5])
    expect(page.locator(f'#nsn-list option[value="{entry_of(stock.item)}"]')).to_have_count(1)
    portal.assert_no_browser_errors()
