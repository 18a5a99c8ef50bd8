"""The shortfall list as officers work through it: one row per stock with its flags' kinds, scoped to the user's
own nation by default, sorted, acknowledged in bulk (all or none), and never showing another nation's private
stock.  Also the dashboard's shortfall card and when reconciliation last ran."""

import re
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from coordination import services
from coordination.models import CenterPass, Severity, Shortfall, ShortfallKind
from nations import access
from tests.factories import CenterFactory, ItemFactory, NationFactory, StockFactory, UserFactory, stock_with

pytestmark = pytest.mark.django_db

BELOW, LOW_DAYS, UNMET = ShortfallKind.BELOW_SAFETY, ShortfallKind.LOW_DAYS_OF_SUPPLY, ShortfallKind.UNMET_DEMAND


def flag(stock=None, *, kind=BELOW, severity=Severity.WARNING, days=None, available=0, center=None, item=None):
    now = timezone.now()
    return Shortfall.objects.create(
        kind=kind,
        severity=severity,
        stock=stock,
        nation=stock.nation if stock else None,
        center=stock.center if stock else center,
        item=stock.item if stock else item,
        available=available,
        threshold=Decimal(15 if kind == LOW_DAYS else 40),
        days_of_supply=days,
        first_seen=now,
        last_seen=now,
    )


@pytest.fixture
def scene():
    fra, deu = NationFactory(code="FRA", ncb_code="14"), NationFactory(code="DEU", ncb_code="12")
    center = CenterFactory(code="MLC-FLG", host_nation=deu)
    center.participants.add(fra, deu)
    water, fuel, tyres = (ItemFactory(name=n) for n in ("Water, bottled", "Fuel, diesel", "Tyre, 14.00 R20"))
    stocks = {
        "fra_water": StockFactory(nation=fra, center=center, item=water, safety_level=40),
        "fra_fuel": StockFactory(nation=fra, center=center, item=fuel, safety_level=40),
        # FRA holds spare shared tyres at the center: it can help with DEU's tyres and the tyre pool
        "fra_tyres": stock_with(500, nation=fra, center=center, item=tyres, shared=True, safety_level=40),
        "deu_water": StockFactory(nation=deu, center=center, item=water, shared=True, safety_level=40),
        "deu_tyres": StockFactory(nation=deu, center=center, item=tyres, shared=True, safety_level=40),
        "deu_private": StockFactory(nation=deu, center=center, item=fuel, safety_level=40),
    }
    flags = {
        "fra_water_below": flag(stocks["fra_water"], kind=BELOW, days=Decimal("4.5"), available=20),
        "fra_water_days": flag(stocks["fra_water"], kind=LOW_DAYS, days=Decimal("4.5"), available=20),
        "fra_fuel_days": flag(stocks["fra_fuel"], kind=LOW_DAYS, severity=Severity.CRITICAL, days=Decimal("1.2")),
        "deu_water": flag(stocks["deu_water"], severity=Severity.CRITICAL, days=Decimal("0.5")),
        "deu_tyres": flag(stocks["deu_tyres"], days=Decimal("6")),
        "deu_private": flag(stocks["deu_private"], severity=Severity.CRITICAL),
        "tyre_pool": flag(kind=UNMET, center=center, item=tyres, available=460),
    }
    users = {name: UserFactory(username=name) for name in ("fra-log", "deu-log", "operator", "coordinator")}
    access.grant_role(users["fra-log"], "logistics", fra)
    access.grant_role(users["deu-log"], "logistics", deu)
    access.grant_role(users["operator"], "operator", center)
    access.grant_role(users["coordinator"], "coordinator")
    return users, stocks, flags


def rows_of(client, query=""):
    response = client.get(reverse("shortfall-list") + query)
    assert response.status_code == 200
    return [row.stock_id or f"pool {row.item_name}" for row in response.context["page"]], response


def login(client, user):
    client.force_login(user)
    return client


# --- grouping, scopes, sorting -------------------------------------------------------------------------------------


def test_one_row_per_stock_with_its_kinds_most_severe_first(scene, client):
    users, stocks, flags = scene
    rows, response = rows_of(login(client, users["fra-log"]))
    assert rows == [stocks["fra_fuel"].pk, stocks["fra_water"].pk]  # critical first; water's two flags: one row
    water = response.context["page"].object_list[1]
    assert water.kinds == [BELOW, LOW_DAYS]
    assert water.to_acknowledge == sorted([flags["fra_water_below"].pk, flags["fra_water_days"].pk])
    html = response.content.decode()
    assert "Below safety level" in html and "Low days of supply" in html
    assert "40 EA" in html  # the safety level is a quantity in the item's unit
    assert "4.5 d of 15" in html  # days of supply against the target, in days


def test_scopes_mine_by_default_help_and_all(scene, client):
    users, stocks, _flags = scene
    fra = login(client, users["fra-log"])
    assert rows_of(fra, "?scope=mine")[0] == rows_of(fra)[0]
    # what FRA's spare shared tyres could cover: DEU's tyres and the tyre pool, not DEU's water (FRA is short too)
    assert set(rows_of(fra, "?scope=help")[0]) == {stocks["deu_tyres"].pk, "pool Tyre, 14.00 R20"}
    everything = set(rows_of(fra, "?scope=all")[0])
    assert everything == {stocks[name].pk for name in ("fra_water", "fra_fuel", "deu_water", "deu_tyres")} | {
        "pool Tyre, 14.00 R20"
    }
    # a coordinator, who holds no nation, sees all shared flags by default
    coordinator = login(type(client)(), users["coordinator"])
    assert set(rows_of(coordinator)[0]) == {stocks["deu_water"].pk, stocks["deu_tyres"].pk, "pool Tyre, 14.00 R20"}


@pytest.mark.parametrize("scope", ["", "?scope=mine", "?scope=help", "?scope=all", "?scope=all&format=csv"])
def test_another_nations_private_stock_never_shows_in_any_scope(scene, client, scope):
    users, stocks, flags = scene
    response = login(client, users["fra-log"]).get(reverse("shortfall-list") + scope)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    html = body.decode()
    assert f"/stocks/{stocks['deu_private'].pk}/" not in html
    assert str(flags["deu_private"].pk) not in re.findall(r'name="flags" value="([\d,]+)"', html)
    if "csv" in scope:
        assert html.count("\n") == 1 + 5  # header, FRA's two rows, DEU's two shared ones, the pool


def test_sorted_by_days_of_supply_either_way_and_filtered_by_kind(scene, client):
    users, stocks, _flags = scene
    fra = login(client, users["fra-log"])
    ascending = rows_of(fra, "?scope=all&kind=below_safety&sort=days_of_supply")[0]
    assert ascending == [stocks["deu_water"].pk, stocks["fra_water"].pk, stocks["deu_tyres"].pk]
    assert rows_of(fra, "?scope=all&kind=below_safety&sort=-days_of_supply")[0] == ascending[::-1]
    assert rows_of(fra, "?scope=all&kind=unmet_demand")[0] == ["pool Tyre, 14.00 R20"]


def test_acknowledged_rows_leave_the_default_list_of_open_flags_only_when_asked(scene, client):
    users, stocks, flags = scene
    services.acknowledge_flags(flags=[flags["fra_fuel_days"]], user=users["fra-log"])
    fra = login(client, users["fra-log"])
    assert rows_of(fra, "?acknowledged=false")[0] == [stocks["fra_water"].pk]
    _rows, response = rows_of(fra, "?acknowledged=true")
    assert "Acknowledged by fra-log" in response.content.decode()


# --- bulk acknowledge ------------------------------------------------------------------------------------------------


def acknowledged(*flags) -> list[bool]:
    return [Shortfall.objects.get(pk=f.pk).acknowledged_at is not None for f in flags]


def test_bulk_acknowledge_acknowledges_the_selected_rows_flags_in_one_go(scene, client):
    users, _stocks, flags = scene
    mine = [flags["fra_water_below"], flags["fra_water_days"], flags["fra_fuel_days"]]
    response = login(client, users["fra-log"]).post(
        reverse("shortfall-acknowledge"),
        {"flags": [f"{mine[0].pk},{mine[1].pk}", str(mine[2].pk)], "next": "/shortfalls/?sort=days_of_supply"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/shortfalls/?sort=days_of_supply"
    assert "3 flags acknowledged." in response.content.decode()
    assert acknowledged(*mine) == [True, True, True]
    assert Shortfall.objects.get(pk=mine[0].pk).acknowledged_by == users["fra-log"]


def test_the_page_offers_every_row_it_may_acknowledge_and_no_other(scene, client):
    users, _stocks, flags = scene
    html = login(client, users["fra-log"]).get(reverse("shortfall-list") + "?scope=all").content.decode()
    boxes = set(re.findall(r'name="flags" value="([\d,]+)" form="flg-ack"', html))
    water = ",".join(str(pk) for pk in sorted([flags["fra_water_below"].pk, flags["fra_water_days"].pk]))
    assert boxes == {water, str(flags["fra_fuel_days"].pk)}  # DEU's shared stock and the pool are not FRA's
    page_button = re.search(r'<button type="submit" class="secondary" name="flags" value="([\d,]+)"', html)
    assert set(page_button.group(1).split(",")) == set(",".join(boxes).split(","))


def test_a_flag_the_user_may_not_acknowledge_refuses_the_whole_selection(scene, client):
    users, _stocks, flags = scene
    own, theirs = flags["fra_fuel_days"], flags["deu_water"]  # FRA sees DEU's shared stock, it is not FRA's
    response = login(client, users["fra-log"]).post(
        reverse("shortfall-acknowledge"), {"flags": f"{own.pk},{theirs.pk}"}
    )
    assert response.status_code == 403
    assert acknowledged(own, theirs) == [False, False]


@pytest.mark.parametrize("hidden", ["deu_private", "missing"])
def test_a_flag_the_user_may_not_see_answers_404_and_changes_nothing(scene, client, hidden):
    users, _stocks, flags = scene
    own = flags["fra_fuel_days"]
    other = flags["deu_private"].pk if hidden == "deu_private" else 999_999
    response = login(client, users["fra-log"]).post(reverse("shortfall-acknowledge"), {"flags": f"{own.pk},{other}"})
    assert response.status_code == 404
    assert acknowledged(own, flags["deu_private"]) == [False, False]


@pytest.mark.parametrize("selection", [{}, {"flags": ""}, {"flags": "12,abc"}])
def test_an_empty_or_garbled_selection_is_a_bad_request(scene, client, selection):
    users, _stocks, flags = scene
    response = login(client, users["fra-log"]).post(reverse("shortfall-acknowledge"), selection)
    assert response.status_code == 400
    assert not Shortfall.objects.filter(acknowledged_at__isnull=False).exists()


def test_bulk_acknowledge_service_is_all_or_none_and_keeps_earlier_acknowledgements(scene):
    users, _stocks, flags = scene
    first = services.acknowledge_flags(flags=[flags["tyre_pool"]], user=users["operator"])
    when = Shortfall.objects.get(pk=flags["tyre_pool"].pk).acknowledged_at
    with pytest.raises(PermissionDenied):
        services.acknowledge_flags(flags=[flags["deu_tyres"], flags["tyre_pool"]], user=users["fra-log"])
    assert acknowledged(flags["deu_tyres"]) == [False]
    again = services.acknowledge_flags(
        flags=list(
            Shortfall.objects.filter(pk__in=[flags["tyre_pool"].pk, flags["deu_tyres"].pk]).select_related("stock")
        ),
        user=users["coordinator"],
    )
    assert (first, again) == (1, 1)  # the pool was acknowledged already: by the operator, then
    pool = Shortfall.objects.get(pk=flags["tyre_pool"].pk)
    assert (pool.acknowledged_by, pool.acknowledged_at) == (users["operator"], when)


# --- from a shortage to a request ------------------------------------------------------------------------------------


def test_request_supplies_only_for_stocks_of_nations_the_user_raises_requests_for(scene, client):
    users, stocks, _flags = scene
    html = login(client, users["fra-log"]).get(reverse("shortfall-list") + "?scope=all").content.decode()
    links = set(re.findall(r'href="/requests/new/\?stock=(\d+)"', html))
    assert links == {str(stocks["fra_water"].pk), str(stocks["fra_fuel"].pk)}


def test_the_dashboard_lists_each_stock_once_with_its_kinds_and_a_request_link(scene, client):
    users, stocks, _flags = scene
    response = login(client, users["fra-log"]).get(reverse("home"))
    card = re.search(r'<section class="card" aria-labelledby="sf-h">(.*?)</section>', response.content.decode(), re.S)
    lines = re.findall(r"<li>(.*?)</li>", card.group(1), re.S)
    assert len(lines) == 2 and "Water, bottled" in lines[1]
    assert "Below safety level" in lines[1] and "Low days of supply" in lines[1]
    assert f'href="/requests/new/?stock={stocks["fra_water"].pk}"' in lines[1]
    assert re.findall(r'<span class="badge (critical|warning)">\w+</span> (\d+)</a>', card.group(1)) == [
        ("critical", "1"),
        ("warning", "1"),
    ]  # stocks, not flags: water's two flags are one line


# --- when reconciliation last ran ----------------------------------------------------------------------------------


def test_the_page_and_the_dashboard_say_when_reconciliation_last_ran_or_that_it_never_did(scene, client):
    users, stocks, _flags = scene
    fra = login(client, users["fra-log"])
    for url in (reverse("shortfall-list"), reverse("home")):
        assert "Reconciliation has never run" in fra.get(url).content.decode()
    CenterPass.objects.create(center=stocks["fra_water"].center, passed_at=timezone.now())
    for url in (reverse("shortfall-list"), reverse("home")):
        html = fra.get(url).content.decode()
        assert "never run" not in html and "Flags as reconciliation last found them" in html


# --- queries ---------------------------------------------------------------------------------------------------------


def test_the_page_reads_the_same_number_of_queries_for_5_and_40_rows(scene, client):
    users, stocks, _flags = scene
    fra = login(client, users["fra-log"])
    center = stocks["fra_water"].center

    def add(n):
        for _ in range(n):
            stock = StockFactory(nation=stocks["fra_water"].nation, center=center, safety_level=10)
            flag(stock, kind=BELOW, days=Decimal(3))
            flag(stock, kind=LOW_DAYS, days=Decimal(3))
        flag(kind=UNMET, center=center, item=ItemFactory())

    counts = []
    fra.get(reverse("shortfall-list"))  # warm
    for n in (3, 35):
        add(n)
        with CaptureQueriesContext(connection) as captured:
            assert fra.get(reverse("shortfall-list") + "?scope=all&per_page=50").status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1] <= 15, counts
