"""Release lists (issue 12, NATO's REL TO): a stock is private, shared with ALL, or releasable to named nations, and
everything derived from it follows: its ledger, counts, shortfalls, stock discrepancies, sourcing; the pool stays
"shared with ALL" only.

Scenario: tests/api/conftest.py.  DEU's private rations at MLC-A (100, MLC-A's participants are FRA and DEU) are
released to ITA, which does not take part in MLC-A (an explicit release needs no participation).  Expected:

    sees the released stock    DEU's officers (owner), ITA's officers and ITA's national system (listed),
                               MLC-A's operator (its center)
    does not                   FRA's officers (participate at MLC-A, not listed), the coordinator (REL TO names
                               nations, not the alliance), NAT-B's operator, a user without a role
"""

import datetime as dt

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from coordination.models import Discrepancy, PoolSummary, RequestStatus, Shortfall, ShortfallKind, SupplyRequest
from coordination.reconciliation import reconcile_center
from inventory import services
from inventory.models import ALL, Movement, ReleaseList, Stock, StockCount
from nations import access
from nations.models import AuditEntry, AuditKind
from tests.api.conftest import RATIONS_NSN, build_scenario, session_client, token_client
from tests.factories import ItemFactory, stock_with

STOCKS = "/api/v1/stocks/"

SEES = {"deu_logistics", "deu_liaison", "ita_logistics", "ita_liaison", "ita_system", "mlc_a_operator"}
BLIND = {"fra_logistics", "fra_liaison", "coordinator", "nat_b_operator", "no_role"}


@pytest.fixture
def world(db):
    world = build_scenario()
    world.released = world.stocks["deu_private"]
    services.update_stock_settings(
        stock=world.released, actor=world.users["deu_logistics"], safety_level=20, releasable_to=["ITA"]
    )
    world.released.refresh_from_db()
    return world


def api(world, name):
    user = world.users[name]
    return token_client(user) if name.endswith("_system") else session_client(user)


def reconcile(world, center=None):
    """One reconciliation pass of `center` (MLC-A): flags and the pool."""
    return reconcile_center((center or world.mlc_a).pk, now=timezone.now())


# --- what the release list lets a user see --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SEES | BLIND))
def test_a_released_stock_is_seen_by_its_owner_its_listed_nations_and_its_centers_operators(world, name):
    client = api(world, name)
    listed = {row["id"] for row in client.get(STOCKS, {"page_size": 1000}).json()["results"]}
    detail = client.get(f"{STOCKS}{world.released.pk}/")
    if name in SEES:
        assert world.released.pk in listed
        assert detail.status_code == 200
        assert detail.json()["releasable_to"] == ["ITA"] and detail.json()["shared"] is False
    else:
        assert world.released.pk not in listed
        assert detail.status_code == 404


@pytest.mark.parametrize("name", sorted(SEES | BLIND))
def test_the_ledger_counts_shortfalls_and_discrepancies_of_a_released_stock_follow_it(world, name):
    # below safety (20) after issuing 90; a physical count that differs from the books
    services.adjust_stock(stock=world.released, delta=-90, actor=world.users["deu_logistics"], reason="used")
    services.record_count(stock=world.released, counted_quantity=7, counted_by=world.users["mlc_a_operator"])
    reconcile(world)
    shortfall = Shortfall.objects.get(stock=world.released, kind=ShortfallKind.BELOW_SAFETY, resolved_at=None)
    discrepancy = Discrepancy.objects.get(stock=world.released, resolved_at=None)
    assert shortfall.release_list_id == world.released.release_list_id  # copied from the stock
    client = api(world, name)
    movements = {m["id"] for m in client.get("/api/v1/movements/", {"stock": world.released.pk}).json()["results"]}
    shortfalls = {f["id"] for f in client.get("/api/v1/shortfalls/", {"page_size": 1000}).json()["results"]}
    discrepancies = {d["id"] for d in client.get("/api/v1/discrepancies/", {"page_size": 1000}).json()["results"]}
    user = world.users[name]
    counts = set(StockCount.objects.visible_to(user).filter(stock=world.released).values_list("pk", flat=True))
    ledger = set(Movement.objects.filter(stock=world.released).values_list("pk", flat=True))
    seen = name in SEES
    assert (movements == ledger) is seen and (movements == set()) is not seen
    assert (shortfall.pk in shortfalls) is seen
    assert (discrepancy.pk in discrepancies) is seen
    assert bool(counts) is seen
    flag_page = client.get(reverse("shortfall-list") + "?scope=all")  # the page and the API ask the same rule
    assert (f"/stocks/{world.released.pk}/" in flag_page.content.decode()) is (seen and not name.endswith("_system"))


def test_shortfalls_follow_a_change_of_the_release_list_at_once(world):
    services.adjust_stock(stock=world.released, delta=-90, actor=world.users["deu_logistics"], reason="used")
    reconcile(world)
    flag = Shortfall.objects.get(stock=world.released, resolved_at=None, kind=ShortfallKind.BELOW_SAFETY)

    def sees(name):
        user = world.users[name]
        access.forget_profile(user)  # read afresh, as every request does
        return Shortfall.objects.visible_to(user).filter(pk=flag.pk).exists()

    ita_sees, fra_sees = (lambda: sees("ita_logistics")), (lambda: sees("fra_logistics"))
    assert ita_sees() and not fra_sees()
    services.update_stock_settings(stock=world.released, actor=world.users["deu_logistics"], releasable_to=["FRA"])
    assert fra_sees() and not ita_sees()  # a trigger copied the new list, no reconciliation needed
    services.update_stock_settings(stock=world.released, actor=world.users["deu_logistics"], releasable_to=[])
    assert not fra_sees() and not ita_sees()


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("ita_logistics", 200),
        ("deu_logistics", 200),
        ("mlc_a_operator", 200),
        ("fra_logistics", 404),
        ("coordinator", 404),
    ],
)
def test_the_stock_pages_show_the_marking_to_those_who_see_it(world, name, status):
    client = Client()
    client.force_login(world.users[name])
    page = client.get(reverse("stock-detail", args=[world.released.pk]))
    assert page.status_code == status
    listing = client.get(reverse("stock-list"), {"marking": "rel_to"}).content.decode()
    if status == 200:
        assert "REL TO ITA" in page.content.decode()
        assert "REL TO ITA" in listing and f"/stocks/{world.released.pk}/" in listing
    else:
        assert f"/stocks/{world.released.pk}/" not in listing


def test_the_stock_list_filters_by_marking_and_by_nation_released_to(world):
    client = session_client(world.users["deu_logistics"])

    def ids(**query):
        return {row["id"] for row in client.get(STOCKS, query).json()["results"]}

    released, shared = world.released.pk, world.stocks["deu_shared"].pk
    assert ids(marking="rel_to") == {released}
    assert ids(marking="all") == {shared}
    assert released not in ids(marking="private") and shared not in ids(marking="private")
    assert ids(releasable_to="ITA") == {released}
    assert ids(releasable_to="FRA") == set()
    assert ids(releasable_to="all") == {shared}


# --- sourcing, requests and the pool ------------------------------------------------------------------------------


def _sourcing(world, name, quantity=5):
    response = api(world, name).get(
        "/api/v1/sourcing/", {"nsn": RATIONS_NSN, "quantity": quantity, "destination": "NAT-B"}
    )
    assert response.status_code == 200
    return {(o["nation"], o["center"]) for o in response.json()}


def test_sourcing_offers_a_stock_released_to_the_requesting_nation_never_below_safety(world):
    assert ("DEU", "MLC-A") in _sourcing(world, "ita_logistics")
    assert ("DEU", "MLC-A") in _sourcing(world, "ita_system")
    assert ("DEU", "MLC-A") not in _sourcing(world, "ita_logistics", quantity=81)  # 100 - 81 < safety level 20
    assert ("DEU", "MLC-A") not in _sourcing(world, "fra_logistics")  # FRA takes part at MLC-A but is not listed
    # the center's operator sees the stock, but it is not released to a nation it requests for
    assert ("DEU", "MLC-A") not in _sourcing(world, "mlc_a_operator")


def test_the_listed_nation_requests_a_released_stock_end_to_end(world):
    ita, deu_liaison, deu = (api(world, n) for n in ("ita_logistics", "deu_liaison", "deu_logistics"))
    created = ita.post(
        "/api/v1/requests/",
        {
            "supplying_nation": "DEU",
            "nsn": RATIONS_NSN,
            "source_center": "MLC-A",
            "destination_center": "NAT-B",
            "quantity": 30,
            "priority": "priority",
            "required_by": (timezone.localdate() + dt.timedelta(days=5)).isoformat(),
            "justification": "Released to ITA for the exercise",
            "submit": True,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert deu_liaison.post(f"/api/v1/requests/{pk}/approve/", {}, format="json").status_code == 200
    assert deu.post(f"/api/v1/requests/{pk}/dispatch/", {}, format="json").status_code == 200
    assert ita.post(f"/api/v1/requests/{pk}/receive/", {}, format="json").status_code == 200
    assert SupplyRequest.objects.get(pk=pk).status == RequestStatus.RECEIVED
    world.released.refresh_from_db()
    assert (world.released.on_hand, world.released.reserved) == (70, 0)
    assert Stock.objects.get(nation=world.ita, center=world.nat_b, item=world.rations).on_hand == 80 + 30


def test_the_pool_counts_only_stock_shared_with_all(world):
    reconcile(world)
    pool = PoolSummary.objects.get(center=world.mlc_a, item=world.rations)
    assert pool.shared_available == 0  # DEU's rations are released to ITA only, FRA's are private
    services.update_stock_settings(stock=world.released, actor=world.users["deu_logistics"], releasable_to=ALL)
    reconcile(world)
    pool.refresh_from_db()
    assert pool.shared_available == 100


# --- writes -------------------------------------------------------------------------------------------------------


def _patch(world, name, body, stock=None):
    return api(world, name).patch(f"{STOCKS}{(stock or world.released).pk}/", body, format="json", HTTP_IF_MATCH="*")


def test_releasable_to_takes_all_a_list_or_nothing_and_shared_reads_true_only_for_all(world):
    response = _patch(world, "deu_logistics", {"releasable_to": ["ita", "FRA", "FRA", "DEU"]})
    assert response.status_code == 200, response.content
    # codes upper-cased, duplicates collapsed, the owner's own code dropped
    assert (response.json()["releasable_to"], response.json()["shared"]) == (["FRA", "ITA"], False)
    assert ReleaseList.objects.get(key="FRA,ITA").stocks.get() == world.released
    assert set(ReleaseList.objects.get(key="FRA,ITA").nations.values_list("code", flat=True)) == {"FRA", "ITA"}
    response = _patch(world, "deu_logistics", {"releasable_to": "ALL"})
    assert (response.json()["releasable_to"], response.json()["shared"]) == ("ALL", True)
    response = _patch(world, "deu_logistics", {"releasable_to": []})
    assert (response.json()["releasable_to"], response.json()["shared"]) == ([], False)
    # an old client: shared true is ALL; false withdraws ALL but leaves a list alone
    assert _patch(world, "deu_logistics", {"shared": True}).json()["releasable_to"] == "ALL"
    assert _patch(world, "deu_logistics", {"shared": False}).json()["releasable_to"] == []
    _patch(world, "deu_logistics", {"releasable_to": ["ITA"]})
    assert _patch(world, "deu_logistics", {"shared": False, "safety_level": 5}).json()["releasable_to"] == ["ITA"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"releasable_to": ["ITA", "XYZ"], "safety_level": 3}, "XYZ"),
        ({"releasable_to": "EVERYONE"}, None),
        ({"releasable_to": [1, 2]}, None),
        ({"releasable_to": ["ITA"], "shared": True}, None),
    ],
)
def test_a_bad_release_answers_400_and_changes_nothing(world, body, named):
    before = Stock.objects.values("shared", "release_list_id", "safety_level", "updated_at").get(pk=world.released.pk)
    released = AuditEntry.objects.filter(kind=AuditKind.STOCK_RELEASED)
    lists, entries = ReleaseList.objects.count(), released.count()
    response = _patch(world, "deu_logistics", body)
    assert response.status_code == 400, response.content
    messages = [e["message"] for e in response.json()["errors"] if e["field"] == "releasable_to"]
    assert messages
    if named:
        assert named in messages[0]
    after = Stock.objects.values("shared", "release_list_id", "safety_level", "updated_at").get(pk=world.released.pk)
    assert after == before and ReleaseList.objects.count() == lists and released.count() == entries


def test_only_the_owners_logistics_officers_change_the_release(world):
    assert _patch(world, "ita_logistics", {"releasable_to": "ALL"}).status_code == 403  # listed: sees, may not edit
    assert _patch(world, "fra_logistics", {"releasable_to": "ALL"}).status_code == 404  # may not see it
    assert _patch(world, "coordinator", {"releasable_to": "ALL"}).status_code == 404
    world.released.refresh_from_db()
    assert world.released.releasable_to == ["ITA"]


def test_the_database_refuses_a_stock_both_shared_and_released_to_a_list(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        Stock.objects.filter(pk=world.released.pk).update(shared=True)


def test_a_release_change_is_audited_with_both_markings(world):
    entry = AuditEntry.objects.filter(kind=AuditKind.STOCK_RELEASED, object_id=str(world.released.pk)).get()
    assert entry.details["from"] == [] and entry.details["to"] == ["ITA"]
    assert entry.actor == world.users["deu_logistics"] and entry.nation_id == world.deu.pk
    assert "Private → REL TO ITA" in entry.summary
    _patch(world, "deu_logistics", {"releasable_to": "ALL"})
    latest = AuditEntry.objects.filter(kind=AuditKind.STOCK_RELEASED).order_by("-id").first()
    assert (latest.details["from"], latest.details["to"]) == (["ITA"], "ALL")
    # a change of planning figures alone is not a release
    count = AuditEntry.objects.filter(kind=AuditKind.STOCK_RELEASED).count()
    _patch(world, "deu_logistics", {"safety_level": 7})
    assert AuditEntry.objects.filter(kind=AuditKind.STOCK_RELEASED).count() == count


@pytest.mark.postgres
def test_the_change_history_records_the_release_list(world):
    from history.models import StockSettingsEvent

    events = StockSettingsEvent.objects.filter(pgh_obj_id=world.released.pk).order_by("pgh_id")
    assert [(e.pgh_label, e.release_list_id) for e in events] == [
        ("settings_from", None),
        ("settings_to", world.released.release_list_id),
    ]
    _patch(world, "deu_logistics", {"releasable_to": "ALL"})
    last = StockSettingsEvent.objects.filter(pgh_obj_id=world.released.pk, pgh_label="settings_to").last()
    assert (last.shared, last.release_list_id) == (True, None)


def test_the_settings_form_edits_the_release(world):
    client = Client()
    client.force_login(world.users["deu_logistics"])
    url = reverse("stock-settings", args=[world.released.pk])
    page = client.get(reverse("stock-detail", args=[world.released.pk])).content.decode()
    assert 'name="releasable_to"' in page and '<option value="ITA" selected>' in page
    assert '<option value="DEU"' not in page  # the owner always sees its stock
    form = {"safety_level": "20", "daily_consumption": "0"}
    client.post(url, {**form, "releasable_to": ["FRA", "ITA"]})
    world.released.refresh_from_db()
    assert world.released.release_marking == "REL TO FRA, ITA"
    response = client.post(url, {**form, "releasable_to": ["ALL", "ITA"]})
    assert response.status_code == 400
    world.released.refresh_from_db()
    assert world.released.releasable_to == ["FRA", "ITA"]
    client.post(url, form)
    world.released.refresh_from_db()
    assert world.released.release_marking == "Private"


def test_the_service_validates_before_it_writes(world):
    with pytest.raises(ValidationError) as refused:
        services.update_stock_settings(
            stock=world.released, actor=world.users["deu_logistics"], releasable_to=["QQQ", "ITA"]
        )
    assert "QQQ" in str(refused.value.message_dict["releasable_to"])


# --- the grants and the cost of the rule --------------------------------------------------------------------------


def test_the_grants_query_names_the_release_lists_of_the_users_nations_in_the_same_query(world):
    user = world.users["ita_logistics"]
    access.forget_profile(user)
    with CaptureQueriesContext(connection) as captured:
        profile = access.profile(user)
    assert len(captured) == 1
    assert profile.release_lists == {world.released.release_list_id}
    coordinator = world.users["coordinator"]
    access.forget_profile(coordinator)
    assert access.profile(coordinator).release_lists == frozenset()


def test_the_stock_list_costs_the_same_queries_with_many_release_lists(world, django_assert_max_num_queries):
    client = session_client(world.users["deu_logistics"])
    client.get(STOCKS)
    with CaptureQueriesContext(connection) as few:
        assert client.get(STOCKS).status_code == 200
    for code in ("FRA", "ITA"):  # more released stocks, on more lists
        for _ in range(4):
            stock = stock_with(5, nation=world.deu, center=world.mlc_a, item=ItemFactory())
            services.update_stock_settings(
                stock=stock, actor=world.users["deu_logistics"], releasable_to=[code, "FRA"][: 1 + (code == "ITA")]
            )
    with CaptureQueriesContext(connection) as many:
        response = client.get(STOCKS)
    assert response.status_code == 200 and len(response.json()["results"]) >= 10
    assert len(many) == len(few)


def test_the_schema_describes_releasable_to_as_all_or_a_list_of_codes(world):
    schema = yaml.safe_load(session_client(world.users["deu_logistics"]).get("/api/schema/").content)
    field = schema["components"]["schemas"]["Stock"]["properties"]["releasable_to"]
    kinds = {(option["type"], str(option.get("enum"))) for option in field["oneOf"]}
    assert kinds == {("string", "['ALL']"), ("array", "None")}
    assert "releasable_to" in {p["name"] for p in schema["paths"]["/api/v1/stocks/"]["get"]["parameters"]}
