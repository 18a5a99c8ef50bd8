"""Acknowledging shortfalls and discrepancies, settling count discrepancies, starting reconciliation runs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from coordination.models import Discrepancy, DiscrepancyKind, DiscrepancyResolution, ReconciliationRun, Shortfall
from inventory.models import Movement, MovementKind
from tests.api.conftest import assert_ledger_reconciles

from .conftest import HTMX, books, count_discrepancy_on, shortfall_on

# --- acknowledge ---------------------------------------------------------------------------------------------------


def flag_on(world, kind: str, stock_name: str):
    stock = world.stocks[stock_name]
    return shortfall_on(stock) if kind == "shortfalls" else count_discrepancy_on(stock, counted=1, by=world.seeder)


# Who acknowledges a flag on DEU's shared fuel at MLC-A: those it is addressed to (DEU's officers, MLC-A's
# operators) and coordinators.  FRA's officers see it through the pool but may not acknowledge it for DEU.
ACKNOWLEDGE = {
    "deu_logistics": 200,
    "deu_liaison": 200,
    "dual_hat": 200,
    "mlc_a_operator": 200,
    "coordinator": 200,
    "fra_logistics": 403,
    "fra_liaison": 403,
    "ita_logistics": 404,
    "nat_b_operator": 404,
    "nat_f_operator": 404,
    "no_role": 404,
}


@pytest.mark.parametrize("kind", ["shortfalls", "discrepancies"])
@pytest.mark.parametrize(("user", "status"), ACKNOWLEDGE.items())
def test_acknowledging_a_flag_is_for_those_it_is_addressed_to(world, browser, kind, user, status):
    flag = flag_on(world, kind, "deu_shared")
    for headers in (HTMX, {}):
        response = browser(user).post(reverse("flag-acknowledge", args=[kind, flag.pk]), headers=headers)
        assert response.status_code == (302 if status == 200 and not headers else status), headers
    flag.refresh_from_db()
    if status == 200:
        assert flag.acknowledged_by == world.users[user] and flag.acknowledged_at is not None
    else:
        assert flag.acknowledged_at is None and flag.acknowledged_by is None


@pytest.mark.parametrize("kind", ["shortfalls", "discrepancies"])
def test_the_acknowledge_button_shows_exactly_for_those_who_may_acknowledge(world, browser, kind):
    flag = flag_on(world, kind, "deu_shared")
    if kind == "shortfalls":  # one row per stock: a checkbox holds the stock's open flags for bulk acknowledgement
        control = f'name="flags" value="{flag.pk}" form="flg-ack"'
        page = reverse("shortfall-list") + "?scope=all"
    else:
        control = f'action="{reverse("flag-acknowledge", args=[kind, flag.pk])}"'
        page = reverse("discrepancy-list")
    for user, status in ACKNOWLEDGE.items():
        if status != 404:
            assert (control in browser(user).get(page).content.decode()) is (status == 200), user


def test_acknowledging_answers_in_place_and_keeps_the_first_acknowledgement(world, browser):
    flag = shortfall_on(world.stocks["deu_shared"])
    response = browser("deu_logistics").post(reverse("flag-acknowledge", args=["shortfalls", flag.pk]), headers=HTMX)
    assert response.status_code == 200
    assert "Acknowledged by deu-logistics" in response.content.decode()
    flag.refresh_from_db()
    first = flag.acknowledged_at
    browser("coordinator").post(reverse("flag-acknowledge", args=["shortfalls", flag.pk]))
    flag.refresh_from_db()
    assert (flag.acknowledged_by, flag.acknowledged_at) == (world.users["deu_logistics"], first)


def test_a_plain_acknowledgement_goes_back_to_the_list(world, browser):
    flag = shortfall_on(world.stocks["fra_private"])
    response = browser("fra_logistics").post(reverse("flag-acknowledge", args=["shortfalls", flag.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("shortfall-list")
    response = browser("fra_logistics").post(
        reverse("flag-acknowledge", args=["shortfalls", flag.pk]), {"next": "/shortfalls/?severity=warning"}
    )
    assert response["Location"] == "/shortfalls/?severity=warning"


def test_acknowledge_never_redirects_off_the_site(world, browser):
    flag = shortfall_on(world.stocks["fra_private"])
    response = browser("fra_logistics").post(
        reverse("flag-acknowledge", args=["shortfalls", flag.pk]), {"next": "https://evil.example/phish"}
    )
    assert response.status_code == 302
    assert not response["Location"].startswith("https://evil.example")


@pytest.mark.parametrize("user", ["ita_logistics", "deu_logistics", "coordinator", "nat_f_operator", "no_role"])
@pytest.mark.parametrize("kind", ["shortfalls", "discrepancies"])
def test_a_flag_on_a_stock_the_user_may_not_see_is_404(world, browser, user, kind):
    stock = world.stocks["fra_private"]
    flag = shortfall_on(stock) if kind == "shortfalls" else count_discrepancy_on(stock, counted=40, by=world.seeder)
    for headers in ({}, HTMX):
        assert browser(user).post(reverse("flag-acknowledge", args=[kind, flag.pk]), headers=headers).status_code == 404
    flag.refresh_from_db()
    assert flag.acknowledged_at is None


def test_acknowledging_under_an_unknown_kind_is_404(world, browser):
    flag = shortfall_on(world.stocks["fra_private"])
    response = browser("fra_logistics").post(reverse("flag-acknowledge", args=["stocks", flag.pk]))
    assert response.status_code == 404
    flag.refresh_from_db()
    assert flag.acknowledged_at is None


# --- settle a count discrepancy ------------------------------------------------------------------------------------


def test_accepting_a_count_books_the_difference_as_a_count_correction(world, browser):
    stock = world.stocks["fra_private"]  # 50 on the books
    flag = count_discrepancy_on(stock, counted=46, by=world.users["mlc_a_operator"])
    response = browser("fra_logistics").post(
        reverse("discrepancy-resolve", args=[flag.pk]), {"decision": "accept"}, headers=HTMX
    )
    assert response.status_code == 200
    assert response.content.decode().startswith(f'<tr id="disc-{flag.pk}"')
    stock.refresh_from_db()
    assert stock.on_hand == 46
    movement = Movement.objects.filter(stock=stock).order_by("-id").first()
    assert (movement.kind, movement.quantity) == (MovementKind.COUNT_CORRECTION, -4)
    flag.refresh_from_db()
    assert flag.resolution == DiscrepancyResolution.COUNT_ACCEPTED and flag.resolved_at is not None
    assert_ledger_reconciles()


def test_rejecting_a_count_keeps_the_books(world, browser):
    stock = world.stocks["fra_private"]
    flag = count_discrepancy_on(stock, counted=46, by=world.users["mlc_a_operator"])
    before = books(stock)
    response = browser("fra_logistics").post(reverse("discrepancy-resolve", args=[flag.pk]), {"decision": "reject"})
    assert response.status_code == 302
    assert books(stock) == before
    flag.refresh_from_db()
    assert flag.resolution == DiscrepancyResolution.COUNT_REJECTED


def test_settle_buttons_only_for_the_owning_nations_logistics_officers(world, browser):
    flag = count_discrepancy_on(world.stocks["fra_private"], counted=46, by=world.seeder)
    action = f'action="{reverse("discrepancy-resolve", args=[flag.pk])}"'
    for user, shown in (("fra_logistics", True), ("fra_liaison", False), ("mlc_a_operator", False)):
        assert (action in browser(user).get(reverse("discrepancy-list")).content.decode()) is shown, user


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
@pytest.mark.parametrize("user", ["fra_liaison", "mlc_a_operator"])
def test_settling_a_count_the_user_sees_but_may_not_settle_is_403(world, browser, user, htmx):
    stock = world.stocks["fra_private"]
    flag = count_discrepancy_on(stock, counted=46, by=world.seeder)
    before = books(stock)
    response = browser(user).post(
        reverse("discrepancy-resolve", args=[flag.pk]), {"decision": "accept"}, headers=HTMX if htmx else {}
    )
    assert response.status_code == 403
    assert books(stock) == before
    flag.refresh_from_db()
    assert flag.resolved_at is None


@pytest.mark.parametrize("user", ["deu_logistics", "ita_logistics", "coordinator"])
def test_settling_a_count_on_a_stock_the_user_may_not_see_is_404(world, browser, user):
    stock = world.stocks["fra_private"]
    flag = count_discrepancy_on(stock, counted=46, by=world.seeder)
    before = books(stock)
    response = browser(user).post(reverse("discrepancy-resolve", args=[flag.pk]), {"decision": "accept"})
    assert response.status_code == 404
    assert books(stock) == before


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_settling_a_resolved_discrepancy_again_is_409(world, browser, htmx):
    stock = world.stocks["fra_private"]
    flag = count_discrepancy_on(stock, counted=46, by=world.seeder)
    client = browser("fra_logistics")
    assert client.post(reverse("discrepancy-resolve", args=[flag.pk]), {"decision": "accept"}).status_code == 302
    before = books(stock)
    response = client.post(
        reverse("discrepancy-resolve", args=[flag.pk]), {"decision": "accept"}, headers=HTMX if htmx else {}
    )
    assert response.status_code == 409
    assert "This discrepancy is already resolved." in response.content.decode()
    assert books(stock) == before


def test_only_count_discrepancies_are_settled_by_a_decision(world, browser):
    stock = world.stocks["fra_private"]
    flag = count_discrepancy_on(stock, counted=46, by=world.seeder)
    Discrepancy.objects.filter(pk=flag.pk).update(kind=DiscrepancyKind.LEDGER_MISMATCH)
    before = books(stock)
    response = browser("fra_logistics").post(
        reverse("discrepancy-resolve", args=[flag.pk]), {"decision": "accept"}, headers=HTMX
    )
    assert response.status_code == 409
    assert books(stock) == before


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
@pytest.mark.parametrize("body", [{}, {"decision": ""}, {"decision": "maybe"}], ids=["none", "empty", "maybe"])
def test_settling_without_a_clear_decision_is_400_and_changes_nothing(world, browser, body, htmx):
    stock = world.stocks["fra_private"]
    flag = count_discrepancy_on(stock, counted=46, by=world.seeder)
    before = books(stock)
    response = browser("fra_logistics").post(
        reverse("discrepancy-resolve", args=[flag.pk]), body, headers=HTMX if htmx else {}
    )
    assert response.status_code == 400
    assert books(stock) == before
    flag.refresh_from_db()
    assert flag.resolved_at is None and flag.resolution == ""


# --- reconciliation runs -------------------------------------------------------------------------------------------


def test_a_coordinator_starts_an_alliance_wide_run_and_gets_its_progress_bar(world, browser):
    response = browser("coordinator").post(reverse("reconciliation-start"), {"center": ""}, headers=HTMX)
    assert response.status_code == 200
    run = ReconciliationRun.objects.get()
    assert (run.center, run.started_by, run.trigger) == (None, world.users["coordinator"], "browser")
    html = response.content.decode()
    assert 'id="run-progress"' in html and reverse("reconciliation-progress", args=[run.pk]) in html


def test_an_operator_starts_a_run_for_their_own_center(world, browser):
    response = browser("mlc_a_operator").post(reverse("reconciliation-start"), {"center": "MLC-A"})
    assert response.status_code == 302
    assert ReconciliationRun.objects.get().center == world.mlc_a


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
@pytest.mark.parametrize(
    ("user", "center"),
    [
        ("fra_logistics", "MLC-A"),
        ("fra_logistics", ""),
        ("deu_liaison", "MLC-A"),
        ("mlc_a_operator", ""),  # an operator never runs every center
        ("nat_b_operator", "MLC-A"),  # nor another center
        ("no_role", ""),
    ],
)
def test_starting_a_run_without_the_right_is_403_and_starts_nothing(world, browser, user, center, htmx):
    response = browser(user).post(reverse("reconciliation-start"), {"center": center}, headers=HTMX if htmx else {})
    assert response.status_code == 403
    assert not ReconciliationRun.objects.exists()


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_starting_a_run_while_one_covers_the_same_centers_is_409(world, browser, htmx):
    client = browser("coordinator")
    assert client.post(reverse("reconciliation-start"), {"center": ""}, headers=HTMX).status_code == 200
    response = client.post(reverse("reconciliation-start"), {"center": "MLC-A"}, headers=HTMX if htmx else {})
    assert response.status_code == 409
    assert "is still running for these centers" in response.content.decode()
    assert ReconciliationRun.objects.count() == 1


def test_starting_a_run_for_an_unknown_center_is_404_and_starts_nothing(world, browser):
    response = browser("coordinator").post(reverse("reconciliation-start"), {"center": "MLC-NOWHERE"})
    assert response.status_code == 404
    assert not ReconciliationRun.objects.exists()


def test_shortfall_model_is_untouched_by_page_reads(world, browser):
    flag = shortfall_on(world.stocks["fra_private"])
    before = Shortfall.objects.values().get(pk=flag.pk)
    for name in ("home", "shortfall-list"):
        browser("fra_logistics").get(reverse(name))
    assert Shortfall.objects.values().get(pk=flag.pk) == before
