"""The approval panel's decision context (issue 14, observation 6): the supplier's own stock at the source center,
now and after approving the quantity being approved, a warning below the safety level, the largest quantity that
keeps it, and nothing of that stock for a viewer who may not see it."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from coordination.models import RequestStatus
from inventory.models import Stock
from tests.web import conftest as web_pages
from tests.web.conftest import HTMX, make_request

pytestmark = pytest.mark.django_db

world, browser = web_pages.world, web_pages.browser  # the scenario and its signed-in browsers, as the page tests'


def figure(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}"[^>]*>([^<]*)<', html)
    assert match, f"{testid} not on the page"
    return match.group(1).strip()


def supplier_stock(world, *, safety_level=0, daily_consumption="0") -> Stock:
    """DEU's shared fuel at MLC-A (200 on hand), with the given safety level and planning rate."""
    stock = world.stocks["deu_shared"]
    Stock.objects.filter(pk=stock.pk).update(safety_level=safety_level, daily_consumption=Decimal(daily_consumption))
    stock.refresh_from_db()
    return stock


def page(browser, name: str, request, **query):
    response = browser(name).get(reverse("request-detail-page", args=[request.pk]), query)
    assert response.status_code == 200
    return response.content.decode()


def test_the_liaison_officer_sees_the_stock_now_and_after_approving_the_requested_quantity(world, browser):
    supplier_stock(world, safety_level=100, daily_consumption="10")
    make_request(world, RequestStatus.APPROVED, quantity=20)  # reserves 20 of the 200
    request = make_request(world, quantity=40)

    html = page(browser, "deu_liaison", request)

    assert "DEU stock at MLC-A" in html
    now = {k: figure(html, f"dc-{k}") for k in ("on-hand", "reserved", "available", "safety", "days")}
    assert now == {"on-hand": "200", "reserved": "20", "available": "180", "safety": "100", "days": "18"}
    assert "After approving 40 L" in figure(html, "dc-after-heading")
    assert figure(html, "dc-reserved-after") == "60"
    assert figure(html, "dc-available-after") == "140"
    assert figure(html, "dc-days-after") == "14"
    assert 'data-testid="dc-safe"' in html and 'data-testid="dc-below-safety"' not in html


def test_approving_below_the_safety_level_warns_and_offers_the_largest_safe_quantity(world, browser):
    supplier_stock(world, safety_level=150)
    request = make_request(world, quantity=70)

    html = page(browser, "deu_liaison", request)

    assert figure(html, "dc-available-after") == "130"
    assert "below the safety level of 150 L" in html
    # 200 available - 150 safety: 50 is the most that keeps the safety level
    offer = re.search(r'data-testid="dc-use-safe" href="([^"]+)"', html)
    assert offer and offer.group(1).startswith(f"/requests/{request.pk}/?quantity=50")


def test_taking_the_offer_fills_the_approve_form_and_shows_the_figures_after_it(world, browser):
    supplier_stock(world, safety_level=150)
    request = make_request(world, quantity=70)

    url = reverse("request-detail-page", args=[request.pk])
    full_page = browser("deu_liaison").get(url, {"quantity": 50})  # the link without JavaScript
    fragment = browser("deu_liaison").get(url, {"quantity": 50}, headers=HTMX)

    assert full_page.status_code == fragment.status_code == 200
    assert re.search(r'name="quantity" value="50"', full_page.content.decode())
    html = fragment.content.decode()
    assert html.startswith('<div id="request-panel"')  # htmx gets the panel alone
    assert re.search(r'name="quantity" value="50"', html)
    assert figure(html, "dc-available-after") == "150"
    assert 'data-testid="dc-safe"' in html and 'data-testid="dc-use-safe"' not in html


@pytest.mark.parametrize("typed", ["0", "71", "abc", "-5"])
def test_an_impossible_quantity_shows_the_full_request(world, browser, typed):
    request = make_request(world, quantity=70)

    html = page(browser, "deu_liaison", request, quantity=typed)

    assert "After approving 70 L" in figure(html, "dc-after-heading")


def test_more_than_available_says_the_approval_would_be_refused(world, browser):
    supplier_stock(world, safety_level=150)
    request = make_request(world, quantity=250)

    html = page(browser, "deu_liaison", request)

    assert 'data-testid="dc-short"' in html and "Only 200 L available" in html
    assert "?quantity=50" in html


def test_a_stock_already_at_its_safety_level_offers_no_quantity(world, browser):
    supplier_stock(world, safety_level=200)
    request = make_request(world, quantity=10)

    html = page(browser, "deu_liaison", request)

    assert 'data-testid="dc-no-safe"' in html and 'data-testid="dc-use-safe"' not in html


def test_a_viewer_who_may_see_the_stock_but_not_approve_gets_no_offer_button(world, browser):
    supplier_stock(world, safety_level=150)
    request = make_request(world, quantity=70)

    html = page(browser, "coordinator", request)  # coordinators see shared stock, approve nothing

    assert 'data-testid="approval-context"' in html and "hx-get" not in figure_block(html)
    assert 'data-testid="dc-use-safe"' not in html and 'data-testid="dc-largest-safe"' in html


def figure_block(html: str) -> str:
    return html[html.index('data-testid="approval-context"') - 200 : html.index('id="dc-h"')]


def test_the_approval_takes_the_offered_quantity(world, browser):
    stock = supplier_stock(world, safety_level=150)
    request = make_request(world, quantity=70)

    response = browser("deu_liaison").post(
        reverse("request-action", args=[request.pk, "approve"]), {"quantity": 50}, headers=HTMX
    )

    assert response.status_code == 200
    stock.refresh_from_db()
    assert stock.reserved == 50 and stock.available == stock.safety_level
    assert 'data-testid="approval-context"' not in response.content.decode()  # decided: no longer a decision


@pytest.mark.parametrize("viewer", ["nat_f_operator", "ita_liaison"])
def test_no_figure_of_a_shared_stock_reaches_a_viewer_who_may_not_see_it(world, browser, viewer):
    # NAT-F's operator sees the request (its destination) but not DEU's stock at MLC-A; ITA sees neither
    supplier_stock(world, safety_level=123, daily_consumption="7")
    request = make_request(world, quantity=40)

    response = browser(viewer).get(reverse("request-detail-page", args=[request.pk]), {"quantity": 5}, headers=HTMX)

    html = response.content.decode()
    assert response.status_code == (200 if viewer == "nat_f_operator" else 404)
    assert 'data-testid="approval-context"' not in html
    assert "123" not in html and "DEU stock at" not in html


@pytest.mark.parametrize(("viewer", "shown"), [("deu_liaison", True), ("fra_logistics", False), ("coordinator", False)])
def test_a_private_stock_is_shown_to_its_own_nation_only(world, browser, viewer, shown):
    # DEU's rations at MLC-A are private: the requester (FRA) and coordinators see the request, not the stock
    request = make_request(world, quantity=10, item=world.rations)

    html = page(browser, viewer, request)

    assert ('data-testid="approval-context"' in html) is shown
    assert ('data-testid="dc-on-hand"' in html) is shown


def test_the_context_is_shown_only_while_the_request_waits_for_a_decision(world, browser):
    for status in (RequestStatus.DRAFT, RequestStatus.APPROVED, RequestStatus.REJECTED):
        request = make_request(world, status, quantity=5)
        assert 'data-testid="approval-context"' not in page(browser, "deu_liaison", request), status


def test_the_context_is_one_read_of_the_stock(world, browser):
    request = make_request(world, quantity=40)

    with CaptureQueriesContext(connection) as queries:
        page(browser, "deu_liaison", request)

    stock_reads = [q["sql"] for q in queries.captured_queries if 'FROM "inventory_stock"' in q["sql"]]
    assert len(stock_reads) == 1
