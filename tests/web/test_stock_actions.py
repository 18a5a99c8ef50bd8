"""Stock pages and their actions (adjust, record a count, planning figures and sharing): the forms each role is
offered, and each action answered 200/403/404/400 with the books untouched on refusal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from inventory.models import CountSource, Movement, MovementKind, StockCount
from tests.api.conftest import assert_ledger_reconciles

from .conftest import HTMX, books, form_actions

ACTIONS = {"adjust": "stock-adjust", "count": "stock-count", "settings": "stock-settings"}
VALID = {
    "adjust": {"delta": "-5", "reason": "Damaged in transit"},
    "count": {"counted_quantity": "48", "note": ""},
    "settings": {"safety_level": "20", "daily_consumption": "2.50", "releasable_to": "ALL"},
}


def offered(client, stock) -> set[str]:
    html = client.get(reverse("stock-detail", args=[stock.pk])).content.decode()
    return {a for a, name in ACTIONS.items() if reverse(name, args=[stock.pk]) in form_actions(html)}


# stock -> role -> the forms offered: own nation's logistics officers adjust, count and edit; the center's
# operators count; everyone else who sees the stock (liaison officers, other participating nations,
# coordinators) only reads it.
FORMS = {
    "fra_private": {
        "fra_logistics": {"adjust", "count", "settings"},
        "dual_hat": {"adjust", "count", "settings"},
        "fra_liaison": set(),
        "mlc_a_operator": {"count"},
    },
    "deu_shared": {
        "deu_logistics": {"adjust", "count", "settings"},
        "deu_liaison": set(),
        "fra_logistics": set(),
        "fra_liaison": set(),
        "dual_hat": set(),
        "mlc_a_operator": {"count"},
        "coordinator": set(),
    },
    "ita_shared": {"ita_logistics": {"adjust", "count", "settings"}, "nat_b_operator": {"count"}, "coordinator": set()},
}


@pytest.mark.parametrize("stock_name", list(FORMS))
def test_stock_page_offers_exactly_the_actions_the_role_may_take(world, browser, stock_name):
    stock = world.stocks[stock_name]
    for user, expected in FORMS[stock_name].items():
        assert offered(browser(user), stock) == expected, (stock_name, user)


def test_stock_page_shows_figures_ledger_counts_chart_and_open_flags(world, browser):
    from .conftest import count_discrepancy_on, shortfall_on

    stock = world.stocks["fra_private"]
    shortfall_on(stock)
    count_discrepancy_on(stock, counted=47, by=world.users["mlc_a_operator"])
    html = browser("fra_logistics").get(reverse("stock-detail", args=[stock.pk])).content.decode()
    assert 'data-testid="on-hand">50 EA<' in html
    assert "test receipt" in html  # the ledger line of the seeded receipt
    assert 'data-chart="stock-chart-data"' in html and 'id="stock-chart-data"' in html  # Chart.js draws it
    assert "Below safety level" in html and "Physical count differs from the books" in html
    assert ">47<" in html  # the recorded count


# --- success ---------------------------------------------------------------------------------------------------------


def test_adjusting_books_a_ledger_movement_and_refreshes_the_page(world, browser):
    stock = world.stocks["fra_private"]
    response = browser("fra_logistics").post(reverse("stock-adjust", args=[stock.pk]), VALID["adjust"], headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Refresh"] == "true"
    stock.refresh_from_db()
    assert stock.on_hand == 45
    movement = Movement.objects.filter(stock=stock).order_by("-id").first()
    assert (movement.kind, movement.quantity, movement.actor, movement.reason) == (
        MovementKind.ADJUSTMENT,
        -5,
        world.users["fra_logistics"],
        "Damaged in transit",
    )
    assert_ledger_reconciles()


def test_a_plain_post_redirects_back_to_the_stock_page_with_a_message(world, browser):
    stock = world.stocks["fra_private"]
    client = browser("fra_logistics")
    response = client.post(reverse("stock-adjust", args=[stock.pk]), {"delta": "10", "reason": "Found a pallet"})
    assert response.status_code == 302 and response["Location"] == reverse("stock-detail", args=[stock.pk])
    assert "Adjustment booked." in client.get(response["Location"]).content.decode()


def test_an_operator_counts_a_stock_of_their_center_as_an_operator(world, browser):
    stock = world.stocks["deu_private"]
    response = browser("mlc_a_operator").post(
        reverse("stock-count", args=[stock.pk]), {"counted_quantity": "98", "note": "Shelf B"}, headers=HTMX
    )
    assert response.status_code == 200
    count = StockCount.objects.get(stock=stock)
    assert (count.counted_quantity, count.source, count.note) == (98, CountSource.OPERATOR, "Shelf B")
    stock.refresh_from_db()
    assert stock.on_hand == 100  # a count is a finding, not a booking


def test_settings_change_the_planning_figures_and_sharing_only(world, browser):
    stock = world.stocks["fra_private"]
    response = browser("fra_logistics").post(
        reverse("stock-settings", args=[stock.pk]), VALID["settings"], headers=HTMX
    )
    assert response.status_code == 200
    stock.refresh_from_db()
    assert (stock.safety_level, stock.daily_consumption, stock.shared, stock.on_hand) == (20, Decimal("2.50"), True, 50)
    # choosing nothing takes it out of the pool again (private)
    browser("fra_logistics").post(
        reverse("stock-settings", args=[stock.pk]), {"safety_level": "20", "daily_consumption": "2.50"}, headers=HTMX
    )
    stock.refresh_from_db()
    assert stock.shared is False


# --- 404 -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user",
    ["deu_logistics", "deu_liaison", "ita_logistics", "nat_b_operator", "nat_f_operator", "coordinator", "no_role"],
)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_actions_on_another_nations_private_stock_are_404(world, browser, user, action):
    stock = world.stocks["fra_private"]
    before = books(stock)
    for headers in ({}, HTMX):
        response = browser(user).post(reverse(ACTIONS[action], args=[stock.pk]), VALID[action], headers=headers)
        assert response.status_code == 404, (user, action)
    assert books(stock) == before


def test_actions_on_a_missing_stock_are_404(world, browser):
    for name in ACTIONS.values():
        assert browser("fra_logistics").post(reverse(name, args=[999999]), {}).status_code == 404


def test_stock_actions_answer_only_posts(world, browser):
    stock = world.stocks["fra_private"]
    for name in ACTIONS.values():
        assert browser("fra_logistics").get(reverse(name, args=[stock.pk])).status_code == 405


# --- 403 -------------------------------------------------------------------------------------------------------------

FORBIDDEN = [
    ("fra_liaison", "fra_private", "adjust"),  # a liaison officer adjusting their own nation's stock
    ("fra_liaison", "fra_private", "count"),
    ("fra_liaison", "fra_private", "settings"),
    ("fra_logistics", "deu_shared", "adjust"),  # another participating nation's officer, on a shared stock
    ("fra_logistics", "deu_shared", "count"),
    ("fra_logistics", "deu_shared", "settings"),
    ("dual_hat", "deu_shared", "adjust"),  # DEU's liaison officer: sees it, may not book on it
    ("mlc_a_operator", "fra_private", "adjust"),  # an operator counts, never books
    ("mlc_a_operator", "fra_private", "settings"),
    ("coordinator", "ita_shared", "adjust"),  # a coordinator reads the pool, never books
    ("coordinator", "ita_shared", "count"),
    ("coordinator", "ita_shared", "settings"),
]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
@pytest.mark.parametrize(("user", "stock_name", "action"), FORBIDDEN)
def test_a_visible_stock_refuses_an_action_the_role_may_not_take_with_403(
    world, browser, user, stock_name, action, htmx
):
    stock = world.stocks[stock_name]
    before = books(stock)
    response = browser(user).post(
        reverse(ACTIONS[action], args=[stock.pk]), VALID[action], headers=HTMX if htmx else {}
    )
    assert response.status_code == 403
    assert "You may not" in response.content.decode()
    assert books(stock) == before


# --- 400 / 409 -------------------------------------------------------------------------------------------------------

BAD_INPUT = [
    ("adjust", {}),
    ("adjust", {"delta": "0", "reason": "Nothing"}),
    ("adjust", {"delta": "five", "reason": "Typo"}),
    ("adjust", {"delta": "1.5", "reason": "Half"}),
    ("adjust", {"delta": "5", "reason": ""}),  # a reason is required
    ("adjust", {"delta": "5", "reason": "   "}),
    ("count", {"counted_quantity": "-1"}),
    ("count", {"counted_quantity": ""}),
    ("count", {"counted_quantity": "lots"}),
    ("settings", {"safety_level": "-1", "daily_consumption": "1"}),
    ("settings", {"safety_level": "1", "daily_consumption": "-0.5"}),
    ("settings", {"safety_level": "", "daily_consumption": ""}),
    ("settings", {"safety_level": "1", "daily_consumption": "NaN"}),
]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
@pytest.mark.parametrize(("action", "body"), BAD_INPUT)
def test_bad_input_is_400_with_the_error_and_changes_nothing(world, browser, action, body, htmx):
    stock = world.stocks["fra_private"]
    before = books(stock)
    response = browser("fra_logistics").post(
        reverse(ACTIONS[action], args=[stock.pk]), body, headers=HTMX if htmx else {}
    )
    assert response.status_code == 400, response.content
    assert 'class="error" role="alert"' in response.content.decode()
    assert books(stock) == before


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_adjusting_below_what_is_reserved_is_409_and_changes_nothing(world, browser, htmx):
    from .conftest import make_request

    stock = world.stocks["deu_shared"]
    make_request(world, "approved", quantity=150)  # 150 of the 200 reserved
    before = books(stock)
    response = browser("deu_logistics").post(
        reverse("stock-adjust", args=[stock.pk]), {"delta": "-60", "reason": "Spill"}, headers=HTMX if htmx else {}
    )
    assert response.status_code == 409
    assert "Only 50 available (150 reserved); cannot take 60." in response.content.decode()
    assert books(stock) == before
