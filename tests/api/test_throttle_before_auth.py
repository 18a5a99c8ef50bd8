"""The address budget (API_RATE_ANON) applies to every call that does not authenticate: anonymous calls and calls
with a bad token are counted by client address before their 401/403, and past the budget answer 429 with
Retry-After.  Valid tokens and signed-in users keep budgets of their own, untouched by their address's."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.api.conftest import PROBLEM_JSON, build_scenario, session_client, token_client

pytestmark = pytest.mark.django_db

RATE = 5
ENDPOINTS = ["/api/v1/stocks/", "/api/v1/nations/", "/api/v1/requests/"]


@pytest.fixture
def world(db):
    return build_scenario()


@pytest.fixture(autouse=True)
def _low_address_budget(settings):
    # the suite's cache is a fresh per-test LocMemCache (tests/conftest.py); cleared here too, so no counter of
    # another test (or an earlier run against Redis) can leak in
    settings.API_RATE_ANON = f"{RATE}/minute"
    settings.API_RATE_TOKEN = settings.API_RATE_USER = "1000/minute"
    cache.clear()
    yield
    cache.clear()


def _bad_token(address: str = "10.1.1.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-real-token-0123456789")
    return client


def _assert_throttled(response) -> None:
    assert response.status_code == 429, (response.status_code, response.content[:200])
    assert response["Content-Type"] == PROBLEM_JSON
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_anonymous_calls_past_the_address_budget_get_429_not_401(world, method):
    client = APIClient(REMOTE_ADDR="10.1.1.2")
    statuses = [client.generic(method, ENDPOINTS[i % 3]).status_code for i in range(RATE)]
    assert set(statuses) <= {401, 403}, statuses
    _assert_throttled(client.generic(method, ENDPOINTS[0]))


def test_bad_token_calls_past_the_address_budget_get_429_not_401(world):
    client = _bad_token()
    assert [client.get(ENDPOINTS[i % 3]).status_code for i in range(RATE)] == [401] * RATE
    _assert_throttled(client.get(ENDPOINTS[0]))


def test_seventy_calls_a_minute_under_the_default_budget_are_throttled(world, settings):
    settings.API_RATE_ANON = "60/minute"
    anonymous, bad = APIClient(REMOTE_ADDR="10.1.1.3"), _bad_token("10.1.1.4")
    for client in (anonymous, bad):
        statuses = [client.get("/api/v1/stocks/").status_code for _ in range(70)]
        assert statuses[:60] == [statuses[0]] * 60 and statuses[0] in (401, 403)
        assert statuses[60:] == [429] * 10


def test_anonymous_and_bad_token_calls_share_one_budget_per_address(world):
    for _ in range(RATE - 2):
        APIClient(REMOTE_ADDR="10.1.1.5").get(ENDPOINTS[0])
    for _ in range(2):
        _bad_token("10.1.1.5").get(ENDPOINTS[0])
    _assert_throttled(APIClient(REMOTE_ADDR="10.1.1.5").get(ENDPOINTS[0]))
    # another address has its own budget
    assert APIClient(REMOTE_ADDR="10.1.1.6").get(ENDPOINTS[0]).status_code in (401, 403)


def test_a_forged_forwarded_for_header_does_not_buy_a_fresh_budget(world):
    for i in range(RATE):
        APIClient(REMOTE_ADDR="10.1.1.7", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").get(ENDPOINTS[0])
    _assert_throttled(APIClient(REMOTE_ADDR="10.1.1.7", HTTP_X_FORWARDED_FOR="192.0.2.200").get(ENDPOINTS[0]))


def test_valid_tokens_and_users_keep_their_own_budgets_from_an_exhausted_address(world):
    # the national system and the officer call from the address a flood of bad tokens comes from
    for _ in range(RATE + 3):
        _bad_token("127.0.0.1").get(ENDPOINTS[0])
    _assert_throttled(_bad_token("127.0.0.1").get(ENDPOINTS[0]))

    system, officer = token_client(world.users["fra_system"]), session_client(world.users["fra_logistics"])
    assert [system.get(ENDPOINTS[0]).status_code for _ in range(RATE + 2)] == [200] * (RATE + 2)
    assert [officer.get(ENDPOINTS[0]).status_code for _ in range(RATE + 2)] == [200] * (RATE + 2)


def test_an_empty_anonymous_rate_switches_the_address_budget_off(world, settings):
    settings.API_RATE_ANON = ""
    client = _bad_token("10.1.1.8")
    assert {client.get(ENDPOINTS[0]).status_code for _ in range(RATE * 3)} == {401}
