"""From a shortage to a request in one click (issue 14): the new-request form opens prefilled from a stock, from a
request's remainder or from plain codes, with its sourcing suggestions already shown; items are found by name or
NSN, with or without dashes; the date input holds an ISO date in every language.

The scenario is the web pages' (``tests/web/conftest.py``): FRA's officers see their own stocks, DEU's shared fuel at
MLC-A (a center FRA participates in), never DEU's private rations nor ITA's stock at NAT-B."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from coordination import services
from coordination.follow_up import remainder_of
from coordination.models import DaysOfSupplyTarget, Priority, RequestStatus, Severity, ShortfallKind, SupplyRequest
from coordination.prefill import restock_quantity, target_days
from inventory.lookup import LOOKUP_LIMIT, entry_of
from inventory.models import Stock
from tests.api.conftest import build_scenario
from tests.factories import ItemFactory, stock_with
from tests.web.conftest import HTMX, make_request, raise_request, shortfall_on
from tests.web.test_i18n import french

pytestmark = pytest.mark.django_db

NEW = reverse("request-new")
REFUSED = "The link you followed names nothing your nation can request supplies for"


def _html(response) -> str:
    return response.content.decode()


def _initial(response) -> dict:
    form = response.context["form"]
    return {name: form[name].value() for name in form.fields}


def _suggested(html: str) -> list[str]:
    return re.findall(r'name="source_option"[^>]*value="([^"]+)"', html)


@pytest.fixture
def world(db):
    return build_scenario()


@pytest.fixture
def browser(world):
    """``browser("fra_logistics")``: a client signed in as that scenario user, posting forms as a browser does."""

    def signed_in(name: str) -> Client:
        client = Client()
        client.force_login(world.users[name])
        return client

    return signed_in


@pytest.fixture
def fra_fuel(world):
    """FRA's fuel at its own center NAT-F: 12 available (20 on hand, 8 reserved), safety level 40."""
    stock = stock_with(20, actor=world.seeder, nation=world.fra, center=world.nat_f, item=world.fuel, safety_level=40)
    Stock.objects.filter(pk=stock.pk).update(reserved=8)
    stock.refresh_from_db()
    return stock


# --- the quantity that restores a stock ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on_hand", "safety", "daily", "days", "expected"),
    [
        (12, 40, "1", 15, 28),  # the safety level is the higher floor: 40 - 12
        (12, 40, "3.5", 15, 41),  # 15 days at 3.5 a day is 52.5, rounded up to 53: 53 - 12
        (12, 40, "0", 15, 28),  # nothing consumed: the safety level alone
        (100, 40, "2", 15, 1),  # already above both floors: 1, a starting point
        (0, 0, "0.1", 15, 2),  # 1.5 rounded up
    ],
)
def test_the_restock_quantity_reaches_the_higher_of_safety_level_and_days_of_supply_target(
    on_hand, safety, daily, days, expected
):
    stock = Stock(on_hand=on_hand, reserved=0, safety_level=safety, daily_consumption=Decimal(daily))
    assert restock_quantity(stock, days) == expected


def test_the_days_of_supply_target_is_the_nations_own_else_the_default(world, settings):
    settings.DEFAULT_DAYS_OF_SUPPLY_TARGET = 15
    DaysOfSupplyTarget.objects.create(nation=world.fra, supply_class="III", days=30)
    assert target_days(world.fra.pk, "III") == 30
    assert target_days(world.fra.pk, "I") == 15
    assert target_days(world.deu.pk, "III") == 15


# --- from a stock --------------------------------------------------------------------------------------------------


def test_a_stock_opens_the_form_prefilled_with_its_sourcing_shown(world, browser, fra_fuel):
    response = browser("fra_logistics").get(NEW, {"stock": fra_fuel.pk})

    assert response.status_code == 200
    initial = _initial(response)
    assert initial["requesting_nation"] == "FRA"
    assert initial["nsn"] == entry_of(world.fuel) == "9130-12-000-0002 — Diesel fuel (L)"
    assert initial["destination_center"] == "NAT-F"
    assert initial["quantity"] == 28  # back to the safety level of 40 from 12 available
    assert initial["priority"] == Priority.ROUTINE  # no open shortfall
    assert initial["required_by"] == timezone.localdate() + dt.timedelta(days=14)
    assert initial["justification"] == "Restore Diesel fuel at NAT-F to its safety level: available 12, safety 40"
    html = _html(response)
    # the suggestions are in the page itself, not fetched after typing: DEU's shared fuel, the first one selected
    assert _suggested(html) == ["DEU|MLC-A"] and 'value="DEU|MLC-A" checked' in html
    assert "Filled in from your stock of Diesel fuel at NAT-F" in html


def test_a_days_of_supply_target_above_the_safety_level_sets_quantity_and_justification(world, browser, fra_fuel):
    DaysOfSupplyTarget.objects.create(nation=world.fra, supply_class="III", days=20)
    Stock.objects.filter(pk=fra_fuel.pk).update(daily_consumption=Decimal("2.5"))  # 20 days: 50 > safety 40

    initial = _initial(browser("fra_logistics").get(NEW, {"stock": fra_fuel.pk}))

    assert initial["quantity"] == 38
    assert initial["justification"] == (
        "Restore Diesel fuel at NAT-F to 20 days of supply: available 12, consumption 2.50 a day"
    )


@pytest.mark.parametrize(
    ("severities", "priority", "within"),
    [
        ([Severity.WARNING], Priority.PRIORITY, 7),
        ([Severity.WARNING, Severity.CRITICAL], Priority.URGENT, 3),
        ([], Priority.ROUTINE, 14),
    ],
)
def test_the_worst_open_shortfall_of_the_stock_sets_priority_and_required_by(
    world, browser, fra_fuel, severities, priority, within
):
    kinds = [ShortfallKind.BELOW_SAFETY, ShortfallKind.LOW_DAYS_OF_SUPPLY]
    for kind, severity in zip(kinds, severities, strict=False):
        shortfall_on(fra_fuel, kind=kind, severity=severity)
    # a resolved critical flag no longer counts
    shortfall_on(fra_fuel, kind=ShortfallKind.BELOW_SAFETY, severity=Severity.CRITICAL, resolved_at=timezone.now())

    initial = _initial(browser("fra_logistics").get(NEW, {"stock": fra_fuel.pk}))

    assert initial["priority"] == priority
    assert initial["required_by"] == timezone.localdate() + dt.timedelta(days=within)


def _comparable(html: str) -> str:
    """The page without what differs between any two answers: CSRF tokens, and the language switcher's echo of the
    page's own address."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    html = re.sub(r'<input name="next"[^>]*>', "", html)
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", html)


@pytest.mark.parametrize("stock", ["deu_private", "ita_private", "deu_shared", "missing", "not-a-number"])
def test_a_stock_the_user_may_not_request_for_opens_an_empty_form_that_tells_nothing_about_it(world, browser, stock):
    """Invisible (DEU's and ITA's private stocks), visible but another nation's (DEU's shared fuel), missing or
    malformed: the same empty form and the same message, so the answer says nothing of what exists."""
    ident = world.stocks[stock].pk if stock in world.stocks else (987654321 if stock == "missing" else stock)
    client = browser("fra_logistics")

    response = client.get(NEW, {"stock": ident})

    assert response.status_code == 200
    html = _html(response)
    assert REFUSED in html
    assert response.context["form"].initial == {"follow_up": None}
    assert 'name="source_option"' not in html
    baseline = client.get(NEW, {"stock": 987654321})
    assert _comparable(html) == _comparable(_html(baseline))


def test_the_stock_page_offers_request_supplies_to_its_own_nations_logistics_officers_only(world, browser, fra_fuel):
    link = f'href="{NEW}?stock={fra_fuel.pk}"'
    assert link in _html(browser("fra_logistics").get(reverse("stock-detail", args=[fra_fuel.pk])))
    assert link not in _html(browser("nat_f_operator").get(reverse("stock-detail", args=[fra_fuel.pk])))
    shared = world.stocks["deu_shared"]  # FRA sees it, but raises no request for DEU's stock
    assert f"?stock={shared.pk}" not in _html(browser("fra_logistics").get(reverse("stock-detail", args=[shared.pk])))


# --- the remainder of a request ------------------------------------------------------------------------------------


def _approved_short(world, approved=4, *, quantity=10, then=()):
    request = make_request(world, RequestStatus.SUBMITTED, quantity=quantity)
    request = services.approve_request(request=request, approver=world.users["deu_liaison"], quantity=approved)
    if "dispatch" in then:
        request = services.dispatch_request(request=request, actor=world.users["deu_logistics"])
    if "receive" in then:
        request = services.receive_request(request=request, actor=world.users["nat_f_operator"], quantity=1)
    return request


def test_the_remainder_of_each_kind_of_request(world):
    assert remainder_of(make_request(world, RequestStatus.REJECTED, quantity=10)) == 10
    assert remainder_of(_approved_short(world, 4)) == 6
    assert remainder_of(_approved_short(world, 4, then=("dispatch",))) == 6  # still open
    assert remainder_of(_approved_short(world, 4, then=("dispatch", "receive"))) == 3  # 4 dispatched, 1 received
    for status in (RequestStatus.DRAFT, RequestStatus.SUBMITTED, RequestStatus.CANCELLED, RequestStatus.APPROVED):
        assert remainder_of(make_request(world, status, quantity=10)) == 0, status  # approved in full
    assert remainder_of(make_request(world, RequestStatus.RECEIVED, quantity=10)) == 0  # received in full


@pytest.fixture
def ita_fuel_at_mlc_a(world):
    """A second source FRA may see: ITA's shared fuel at MLC-A."""
    return stock_with(300, actor=world.seeder, nation=world.ita, center=world.mlc_a, item=world.fuel, shared=True)


def test_a_rejected_request_opens_its_remainder_with_the_refusing_supplier_left_out(world, browser, ita_fuel_at_mlc_a):
    previous = make_request(world, RequestStatus.REJECTED, quantity=10)
    client = browser("fra_logistics")

    response = client.get(NEW, {"follow_up": previous.pk})

    initial = _initial(response)
    assert (initial["requesting_nation"], initial["nsn"], initial["destination_center"]) == (
        "FRA",
        entry_of(world.fuel),
        "NAT-F",
    )
    assert initial["quantity"] == 10
    assert initial["priority"] == previous.priority
    assert initial["required_by"] == previous.required_by
    assert initial["follow_up"] == previous.pk
    assert initial["justification"].startswith(f"Remainder of {previous.reference}: rejected by DEU, 10 still needed.")
    assert _suggested(_html(response)) == ["ITA|MLC-A"]  # not DEU, which refused it
    # the suggestions fetched again as the user edits keep leaving DEU out
    query = {"nsn": entry_of(world.fuel), "quantity": "12", "destination_center": "NAT-F"}
    assert _suggested(_html(client.get(reverse("request-sourcing"), {**query, "follow_up": previous.pk}))) == [
        "ITA|MLC-A"
    ]
    assert set(_suggested(_html(client.get(reverse("request-sourcing"), query)))) == {"ITA|MLC-A", "DEU|MLC-A"}


def test_a_request_approved_short_opens_its_remainder(world, browser):
    previous = _approved_short(world, 4)
    initial = _initial(browser("fra_logistics").get(NEW, {"follow_up": previous.pk}))
    assert initial["quantity"] == 6
    assert initial["justification"].startswith(
        f"Remainder of {previous.reference}: DEU approved 4 of 10, 6 still needed.\nExercise resupply"
    )


def test_a_short_receipt_opens_its_remainder_with_a_date_not_in_the_past(world, browser):
    previous = _approved_short(world, 4, then=("dispatch", "receive"))
    SupplyRequest.objects.filter(pk=previous.pk).update(required_by=timezone.localdate() - dt.timedelta(days=2))
    initial = _initial(browser("fra_logistics").get(NEW, {"follow_up": previous.pk}))
    assert initial["quantity"] == 3
    assert initial["justification"].startswith(f"Remainder of {previous.reference}: 1 of 4 received, 3 still needed.")
    assert initial["required_by"] == timezone.localdate() + dt.timedelta(days=14)  # routine


def test_a_request_with_nothing_outstanding_says_so_and_leaves_the_quantity_to_the_user(world, browser):
    previous = make_request(world, RequestStatus.APPROVED, quantity=10)
    response = browser("fra_logistics").get(NEW, {"follow_up": previous.pk})
    assert f"{previous.reference} has nothing outstanding" in _html(response)
    assert _initial(response)["quantity"] is None


def test_a_request_the_user_may_not_follow_up_opens_an_empty_form(world, browser):
    # DEU asks FRA: fra_logistics sees it (as the supplier's officer) but does not raise DEU's requests
    theirs = raise_request(
        world, by="deu_logistics", nation=world.deu, supplier=world.fra, item=world.rations,
        source=world.mlc_a, destination=world.mlc_a, quantity=5,
    )  # fmt: skip
    theirs = services.reject_request(
        request=services.submit_request(request=theirs, actor=world.users["deu_logistics"]),
        approver=world.users["fra_liaison"],
        reason="No",
    )
    client = browser("fra_logistics")
    for ident in (theirs.pk, 987654321, "x"):
        response = client.get(NEW, {"follow_up": ident})
        assert REFUSED in _html(response) and theirs.reference not in _html(response)
        assert response.context["form"].initial == {"follow_up": None}
    # ITA's officer does not even see FRA's request: the same answer
    previous = make_request(world, RequestStatus.REJECTED)
    response = browser("ita_logistics").get(NEW, {"follow_up": previous.pk})
    assert REFUSED in _html(response) and previous.reference not in _html(response)


# --- from plain codes ----------------------------------------------------------------------------------------------


def test_plain_codes_prefill_the_form(world, browser):
    query = {"nsn": "9130120000002", "destination_center": "NAT-F", "quantity": "25", "requesting_nation": "FRA"}
    response = browser("fra_logistics").get(NEW, query)
    initial = _initial(response)
    assert (initial["nsn"], initial["destination_center"], initial["quantity"], initial["requesting_nation"]) == (
        entry_of(world.fuel),
        "NAT-F",
        25,
        "FRA",
    )
    assert _suggested(_html(response)) == ["DEU|MLC-A"]


def test_bad_codes_are_ignored(world, browser):
    query = {"nsn": "0000-00-000-0000", "destination_center": "NOWHERE", "quantity": "-3", "requesting_nation": "DEU"}
    response = browser("fra_logistics").get(NEW, query)
    assert response.status_code == 200
    initial = response.context["form"].initial
    assert initial == {"follow_up": None}
    assert _initial(response)["requesting_nation"] == "FRA"  # the officer's only nation, as without any code


# --- finding the item ----------------------------------------------------------------------------------------------


LOOKUP = reverse("item-lookup")


@pytest.mark.parametrize("text", ["diesel", "DIESEL", "9130-12", "9130120000002", "9130 12 000 0002"])
def test_the_autocomplete_finds_an_item_by_name_or_nsn_with_or_without_dashes(world, browser, text):
    html = _html(browser("fra_logistics").get(LOOKUP, {"q": text}, headers=HTMX))
    assert '<option value="9130-12-000-0002 — Diesel fuel (L)">' in html
    assert "Ration pack" not in html


def test_the_autocomplete_reads_the_forms_own_input_and_an_entry_already_picked(world, browser):
    html = _html(browser("fra_logistics").get(LOOKUP, {"nsn": entry_of(world.rations)}))
    assert html.count("<option") == 1 and "Ration pack" in html


def test_the_autocomplete_answers_at_most_twenty_items_and_nothing_for_one_letter(world, browser):
    for n in range(LOOKUP_LIMIT + 5):
        ItemFactory(nsn=f"8970-14-{n:03d}-0001", name=f"Combat ration {n}")
    client = browser("fra_logistics")
    assert _html(client.get(LOOKUP, {"q": "combat"})).count("<option") == LOOKUP_LIMIT
    assert "<option" not in _html(client.get(LOOKUP, {"q": "c"}))


def test_the_autocomplete_is_for_signed_in_users(world):
    response = Client().get(LOOKUP, {"q": "diesel"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_new_request_input_points_to_the_autocomplete_list(world, browser):
    html = _html(browser("fra_logistics").get(NEW))
    assert 'list="nsn-list"' in html and '<datalist id="nsn-list">' in html
    assert f'hx-get="{LOOKUP}"' in html


def _form(**overrides) -> dict:
    return {
        "requesting_nation": "FRA",
        "nsn": "9130-12-000-0002",
        "quantity": "30",
        "destination_center": "NAT-F",
        "source_option": "DEU|MLC-A",
        "priority": "priority",
        "required_by": (timezone.localdate() + dt.timedelta(days=5)).isoformat(),
        "justification": "Exercise resupply",
        **overrides,
    }


@pytest.mark.parametrize("entry", ["9130-12-000-0002 — Diesel fuel (L)", "diesel fuel", "9130120000002"])
def test_the_form_takes_an_entry_picked_from_the_list_an_exact_name_or_an_undashed_nsn(world, browser, entry):
    response = browser("fra_logistics").post(NEW, _form(nsn=entry))
    assert response.status_code == 302, response.context["form"].errors
    assert SupplyRequest.objects.get().item == world.fuel


@pytest.mark.parametrize("entry", ["Diesel", "Twin name", "9999-99-999-9999 — Diesel fuel (L)"])
def test_a_partial_ambiguous_or_unknown_item_is_refused(world, browser, entry):
    ItemFactory(nsn="8970-14-999-0001", name="Twin name")
    ItemFactory(nsn="8970-14-999-0002", name="Twin name")
    response = browser("fra_logistics").post(NEW, _form(nsn=entry))
    assert response.status_code == 400
    assert "No item in the catalog has this NSN or name" in _html(response)
    assert not SupplyRequest.objects.exists()


def test_a_refused_form_keeps_the_suggestion_the_user_picked(world, browser, ita_fuel_at_mlc_a):
    response = browser("fra_logistics").post(NEW, _form(source_option="ITA|MLC-A", justification=""))
    assert response.status_code == 400
    html = _html(response)
    assert 'value="ITA|MLC-A" checked' in html and 'value="DEU|MLC-A" checked' not in html


def test_a_follow_up_posted_with_the_previous_supplier_is_still_the_users_choice(world, browser):
    """Leaving a supplier out of the suggestions is advice: choosing it by hand is the officer's call."""
    previous = make_request(world, RequestStatus.REJECTED)
    response = browser("fra_logistics").post(
        NEW, _form(follow_up=previous.pk, source_option="", supplying_nation="DEU", source_center="MLC-A")
    )
    assert response.status_code == 302
    assert SupplyRequest.objects.exclude(pk=previous.pk).get().supplying_nation == world.deu


# --- dates ---------------------------------------------------------------------------------------------------------


def test_the_required_by_input_holds_an_iso_date_in_french(world, browser, fra_fuel):
    expected = (timezone.localdate() + dt.timedelta(days=14)).isoformat()
    html = _html(french(browser("fra_logistics")).get(NEW, {"stock": fra_fuel.pk}))
    assert re.search(rf'<input type="date" name="required_by" value="{expected}"', html), re.findall(
        r"<input[^>]*required_by[^>]*>", html
    )
    assert '<html lang="fr">' in html


@pytest.mark.parametrize("follow_up", ["not-a-number", "987654321"])
def test_a_stale_or_forged_follow_up_never_stops_the_form(world, browser, follow_up):
    response = browser("fra_logistics").post(NEW, _form(follow_up=follow_up))
    assert response.status_code == 302, response.context["form"].errors
    assert SupplyRequest.objects.get().supplying_nation == world.deu
