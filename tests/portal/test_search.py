"""The header's search box (issue #14): an NSN with or without dashes, an item's name, a request reference, a center's
code or name -- results grouped by kind, requests only when the user may see them, and no stock row read."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.search import request_reference
from tests.factories import SupplyRequestFactory
from tests.web import conftest as pages

pytestmark = pytest.mark.django_db

world, browser = pages.world, pages.browser  # the pages' scenario and its signed-in clients


def search(client, text: str) -> str:
    response = client.get(reverse("search"), {"q": text})
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("typed", ["REQ-000123", "req-123", "REQ 123", "req000123", "123", " 000123 "])
def test_a_request_reference_is_read_as_people_type_it(typed):
    assert request_reference(typed.strip()) == "REQ-000123"


@pytest.mark.parametrize("typed", ["REQ", "REQ-0", "9130-12-000-0002", "9130120000002", "fuel", "REQ-12x"])
def test_text_that_cannot_be_a_reference_names_no_request(typed):
    assert request_reference(typed) is None


@pytest.mark.parametrize("typed", ["9130-12-000-0002", "9130120000002", "9130 12 000 0002", "91301200", "diesel"])
def test_an_item_is_found_by_nsn_with_or_without_dashes_or_by_name(world, browser, typed):
    html = search(browser("fra_logistics"), typed)
    assert 'id="found-items"' in html and "Diesel fuel" in html
    # the item leads to the user's stocks of it: the stock list filtered by its NSN
    assert f"{reverse('stock-list')}?nsn=9130-12-000-0002" in html
    assert "Ration pack" not in html


def test_a_visible_request_is_found_by_its_reference(world, browser):
    request = pages.make_request(world)  # FRA asks DEU
    number = int(request.reference.removeprefix("REQ-"))
    for typed in (request.reference, str(number), f"req {number}"):
        html = search(browser("deu_liaison"), typed)
        assert 'id="found-requests"' in html
        assert f'href="{reverse("request-detail-page", args=[request.pk])}"' in html


def test_a_request_the_user_may_not_see_is_not_found(world, browser):
    # ITA asks DEU, between centers FRA does not operate: FRA's officers may not know it exists
    hidden = SupplyRequestFactory(
        requesting_nation=world.ita,
        supplying_nation=world.deu,
        item=world.fuel,
        source_center=world.mlc_a,
        destination_center=world.nat_b,
        reference="REQ-987654",
    )
    html = search(browser("fra_logistics"), "REQ-987654")
    assert 'id="found-requests"' not in html and f"/requests/{hidden.pk}/" not in html and "Nothing found" in html
    assert "REQ-987654" in search(browser("ita_liaison"), "REQ-987654").split('id="found-requests"')[1]


@pytest.mark.parametrize("typed", ["mlc-a", "MLC", "nat-b"])
def test_centers_are_found_by_code_or_name(world, browser, typed):
    html = search(browser("fra_logistics"), typed)
    assert 'id="found-centers"' in html


def test_a_center_is_found_by_a_word_of_its_name(world, browser):
    name = world.nat_b.name
    html = search(browser("fra_logistics"), name.split()[-1])
    assert f'href="{reverse("center-detail", args=[world.nat_b.code])}"' in html


def test_nothing_found_says_so_and_an_empty_box_lists_nothing(world, browser):
    assert "Nothing found for" in search(browser("fra_logistics"), "zzz-no-such-thing")
    html = search(browser("fra_logistics"), "")
    assert "found-" not in html and "Nothing found" not in html


def test_the_search_reads_no_stock_row_whatever_the_text(world, browser):
    # a million stocks: the search looks in the catalog, the centers and the requests only
    client = browser("fra_logistics")
    client.get(reverse("home"))  # the session is warm
    with CaptureQueriesContext(connection) as queries:
        search(client, "9130")
    assert not [q["sql"] for q in queries if 'FROM "inventory_stock"' in q["sql"]]


def test_every_signed_in_page_has_the_search_box_and_visitors_do_not(world, browser):
    html = browser("mlc_a_operator").get(reverse("stock-list")).content.decode()
    assert 'role="search"' in html and 'id="global-search"' in html and f'action="{reverse("search")}"' in html
    assert 'id="global-search"' not in Client().get(reverse("login")).content.decode()


def test_the_box_keeps_the_text_searched(world, browser):
    html = search(browser("fra_logistics"), "diesel")
    assert 'id="global-search" name="q" value="diesel"' in html


def test_a_visitor_is_sent_to_sign_in(world):
    response = Client().get(reverse("search"), {"q": "fuel"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
