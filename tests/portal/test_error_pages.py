"""404 and 403 pages with the portal's header and navigation, under DEBUG (what `make run` serves) as in production;
Django's technical 404 page stays one parameter away for developers (``?debug``)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.web import conftest as pages

pytestmark = pytest.mark.django_db

world, browser = pages.world, pages.browser  # the pages' scenario and its signed-in clients


def styled(html: str) -> bool:
    return 'class="topbar"' in html and 'aria-label="Main"' in html and 'id="global-search"' in html


@pytest.mark.parametrize("debug", [True, False])
def test_an_unknown_address_answers_the_portals_404_page(world, browser, settings, debug):
    settings.DEBUG = debug
    response = browser("fra_logistics").get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert styled(html) and "Not found" in html and f'href="{reverse("home")}"' in html
    assert "Using the URLconf" not in html  # not Django's technical page


def test_a_page_of_something_hidden_answers_the_portals_404_under_debug(world, browser, settings):
    settings.DEBUG = True
    hidden = world.stocks["deu_private"]  # DEU's private stock: FRA's officer may not know it exists
    response = browser("fra_logistics").get(reverse("stock-detail", args=[hidden.pk]))
    assert response.status_code == 404 and styled(response.content.decode())
    assert "No Stock matches" not in response.content.decode()


def test_developers_still_reach_the_technical_page_under_debug_only(world, browser, settings):
    settings.DEBUG = True
    response = browser("fra_logistics").get("/no-such-page/?debug")
    assert response.status_code == 404 and "Using the URLconf" in response.content.decode()
    settings.DEBUG = False
    response = browser("fra_logistics").get("/no-such-page/?debug")
    assert response.status_code == 404 and styled(response.content.decode())


def test_an_address_without_its_slash_is_still_redirected_under_debug(world, browser, settings):
    settings.DEBUG = True
    response = browser("fra_logistics").get("/stocks")
    assert response.status_code == 301 and response["Location"] == "/stocks/"


def test_the_api_answers_problem_json_under_debug_too(world, browser, settings):
    settings.DEBUG = True
    response = browser("fra_logistics").get("/api/v1/no-such-resource/")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"


def test_a_visitor_gets_the_404_page_with_a_way_to_sign_in(settings):
    settings.DEBUG = True
    html = Client().get("/no-such-page/").content.decode()
    assert 'class="topbar"' in html and f'href="{reverse("login")}"' in html and "global-search" not in html


def test_a_refused_right_answers_the_portals_403_page_with_the_reason(world, browser, settings):
    settings.DEBUG = True
    stock = world.stocks["deu_shared"]  # FRA sees DEU's shared fuel but may not adjust it
    response = browser("fra_logistics").post(reverse("stock-adjust", args=[stock.pk]), {"delta": 1, "reason": "x"})
    html = response.content.decode()
    assert response.status_code == 403 and styled(html) and "Not permitted" in html


def test_an_expired_form_answers_the_403_page_saying_what_to_do(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["fra_logistics"])
    response = client.post(reverse("stock-adjust", args=[world.stocks["fra_private"].pk]), {"delta": 1})
    html = response.content.decode()
    assert response.status_code == 403 and styled(html)
    assert "Reload the page and try again" in html and "CSRF verification failed" not in html
