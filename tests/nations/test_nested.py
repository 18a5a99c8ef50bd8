"""Objects shown inside others follow visibility (``nations.access.nested``; PRODUCT.md, "Visibility follows every
object, nested ones too"; issue 12, findings 2 and 3).

Scenario (``tests/api/conftest.py``): DEU shares fuel at MLC-A, where FRA takes part; ITA asks DEU for fuel from
MLC-A.  FRA's officers see DEU's shared stock and so its ledger, but not ITA's request: the transfer shows as
"transfer to another nation", without its reference, reason or the DEU officer who dispatched it.  Coordinators
read the audit log but not DEU's private stock: the log leaves out the entry about its adjustment, and were one
shown, it would name neither the stock nor the reason.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from coordination import services
from coordination.models import EventType, Notification, SupplyRequest
from inventory.models import Movement, Stock
from inventory.services import adjust_stock
from nations.access import restrict
from nations.access.nested import NEUTRAL_ACTOR, Disclosure, audit_subject, matches, neutral_text
from nations.access.visibility import condition_for
from nations.models import AuditEntry
from tests.api.conftest import build_scenario, session_client

pytestmark = pytest.mark.django_db

TRANSFER = str(neutral_text("coordination.supplyrequest"))
PRIVATE_STOCK = str(neutral_text("inventory.stock"))
SECRET_REASON = "found 3 crates behind the hangar"


@pytest.fixture
def world():
    return build_scenario()


@pytest.fixture
def third_party_transfer(world) -> SupplyRequest:
    """ITA asks DEU for fuel from MLC-A, DEU approves and dispatches it from its stock shared at MLC-A."""
    u = world.users
    request = services.create_request(
        requester=u["ita_logistics"],
        requesting_nation=world.ita,
        supplying_nation=world.deu,
        item=world.fuel,
        source_center=world.mlc_a,
        destination_center=world.nat_b,
        quantity=5,
        required_by=timezone.localdate() + dt.timedelta(days=10),
        justification="Exercise resupply",
    )
    services.submit_request(request=request, actor=u["ita_logistics"])
    services.approve_request(request=request, approver=u["deu_liaison"])
    return services.dispatch_request(request=request, actor=u["deu_logistics"])


def _movement_rows(client, stock: Stock) -> list[dict]:
    response = client.get(f"/api/v1/movements/?stock={stock.pk}&page_size=100")
    assert response.status_code == 200
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    return [r for r in rows if r["stock"] == stock.pk]


# --- a movement's request -----------------------------------------------------------------------------------------


def test_a_shared_stocks_ledger_read_by_a_third_nation_shows_no_reference_of_the_transfer_api(
    world, third_party_transfer
):
    stock = world.stocks["deu_shared"]
    client = session_client(world.users["fra_logistics"])

    rows = _movement_rows(client, stock)
    response = client.get(f"/api/v1/movements/?stock={stock.pk}&page_size=100")

    dispatch = next(r for r in rows if r["kind"] == "transfer_out")
    assert dispatch["quantity"] == -5  # the balance change is seen ...
    assert dispatch["request"] == TRANSFER  # ... not which request, nor its route, nor who moved it
    assert dispatch["reason"] == TRANSFER
    assert dispatch["actor"] == str(NEUTRAL_ACTOR)
    body = response.content.decode()
    assert third_party_transfer.reference not in body
    assert "NAT-B" not in body
    assert world.users["deu_logistics"].username not in body


def test_the_parties_of_the_transfer_read_its_reference_in_the_same_ledger(world, third_party_transfer):
    stock = world.stocks["deu_shared"]
    for reader in ("deu_logistics", "ita_logistics_would_not_see_the_stock", "coordinator"):
        if reader not in world.users:
            continue
        rows = _movement_rows(session_client(world.users[reader]), stock)
        dispatch = next(r for r in rows if r["kind"] == "transfer_out")
        assert dispatch["request"] == third_party_transfer.reference, reader
        assert third_party_transfer.reference in dispatch["reason"], reader
        assert dispatch["actor"] == world.users["deu_logistics"].username, reader


def test_a_shared_stocks_page_read_by_a_third_nation_shows_no_reference_of_the_transfer(world, third_party_transfer):
    stock = world.stocks["deu_shared"]
    response = session_client(world.users["fra_logistics"]).get(reverse("stock-detail", args=[stock.pk]))

    assert response.status_code == 200
    body = response.content.decode()
    assert third_party_transfer.reference not in body
    assert f"/requests/{third_party_transfer.pk}/" not in body
    assert "Dispatched for" not in body
    assert TRANSFER in body
    assert str(NEUTRAL_ACTOR) in body


def test_the_supplier_reads_the_transfer_on_its_stocks_page_with_a_link(world, third_party_transfer):
    stock = world.stocks["deu_shared"]
    response = session_client(world.users["deu_logistics"]).get(reverse("stock-detail", args=[stock.pk]))

    body = response.content.decode()
    assert f'href="/requests/{third_party_transfer.pk}/">{third_party_transfer.reference}</a>' in body
    assert TRANSFER not in body


# --- an audit entry's subject -------------------------------------------------------------------------------------


@pytest.fixture
def private_adjustment(world) -> Movement:
    return adjust_stock(
        stock=world.stocks["deu_private"], delta=3, actor=world.users["deu_logistics"], reason=SECRET_REASON
    )


def test_a_coordinators_audit_log_names_no_private_stock_adjustment_api(world, private_adjustment):
    stock = world.stocks["deu_private"]
    response = session_client(world.users["coordinator"]).get("/api/v1/audit-events/?kind=stock.adjusted")

    assert response.status_code == 200
    assert [e for e in response.json()["results"] if e["kind"] == "stock.adjusted"] == []
    body = response.content.decode()
    assert SECRET_REASON not in body
    assert f"Stock {stock.pk} " not in body
    assert f'"movement":{private_adjustment.pk}' not in body.replace(" ", "")


def test_a_coordinators_audit_log_page_names_no_private_stock_adjustment(world, private_adjustment):
    stock = world.stocks["deu_private"]
    response = session_client(world.users["coordinator"]).get(reverse("audit-log") + "?kind=stock.adjusted")

    assert response.status_code == 200
    body = response.content.decode()
    assert SECRET_REASON not in body
    assert f"Stock {stock.pk} " not in body


def test_an_entry_whose_subject_the_reader_may_not_see_is_rendered_neutral(world, private_adjustment):
    """The second line of defence, should an entry about a private stock reach a coordinator's page."""
    entry = AuditEntry.objects.get(kind="stock.adjusted", object_id=str(world.stocks["deu_private"].pk))

    subject = audit_subject(Disclosure(world.users["coordinator"]), entry)

    assert subject.hidden and subject.object_id == "" and str(subject.object_repr) == PRIVATE_STOCK
    assert PRIVATE_STOCK in str(subject.summary) and SECRET_REASON not in str(subject.summary)
    assert subject.details == {}


def test_a_coordinator_reads_a_shared_stocks_adjustment_in_full(world):
    stock = world.stocks["deu_shared"]
    adjust_stock(stock=stock, delta=2, actor=world.users["deu_logistics"], reason=SECRET_REASON)

    entries = session_client(world.users["coordinator"]).get("/api/v1/audit-events/?kind=stock.adjusted").json()
    entry = entries["results"][0]
    assert entry["object_id"] == str(stock.pk)
    assert SECRET_REASON in entry["summary"]


# --- a notification's link ----------------------------------------------------------------------------------------


def test_a_notification_links_only_to_what_its_reader_may_see(world, third_party_transfer):
    link = reverse("request-detail-page", args=[third_party_transfer.pk])
    reader = world.users["fra_logistics"]  # e.g. addressed when they held a role they have since lost
    Notification.objects.create(user=reader, event=EventType.REQUEST_SUBMITTED, title="A request", link=link)
    client = session_client(reader)

    notes = client.get("/api/v1/notifications/").json()["results"]
    page = client.get(reverse("notification-list")).content.decode()

    assert [n["link"] for n in notes if n["title"] == "A request"] == [""]
    assert link not in page
    supplier = session_client(world.users["deu_liaison"])
    Notification.objects.create(
        user=world.users["deu_liaison"], event=EventType.REQUEST_SUBMITTED, title="A request", link=link
    )
    notes = supplier.get("/api/v1/notifications/").json()["results"]
    assert [n["link"] for n in notes if n["title"] == "A request"] == [link]


# --- the helper -----------------------------------------------------------------------------------------------------


def test_the_in_memory_decision_agrees_with_the_database_for_every_user(world, third_party_transfer):
    """`matches` evaluates the very condition `restrict` applies: both must agree on every stock and request."""
    rows = list(Stock.objects.all()) + list(SupplyRequest.objects.all())
    for user in world.users.values():
        for obj in rows:
            model = type(obj)
            in_db = restrict(model.objects.filter(pk=obj.pk), user).exists()
            assert matches(obj, condition_for(model, user)) == in_db, (user.username, model.__name__, obj.pk)


def test_a_page_is_decided_in_one_query_per_model_and_loaded_objects_in_none(world, third_party_transfer):
    disclosure = Disclosure(world.users["fra_logistics"])
    disclosure.sees(Stock, world.stocks["fra_private"].pk)  # reads the user's grants once, outside the count
    movements = list(Movement.objects.select_related("request").filter(request__isnull=False))
    stock_ids = list(Stock.objects.values_list("pk", flat=True))

    with CaptureQueriesContext(connection) as loaded:
        disclosure.prime_related(movements, "request")
    with CaptureQueriesContext(connection) as by_id:
        disclosure.prime(Stock, stock_ids)
        decided = {pk: disclosure.sees(Stock, pk) for pk in stock_ids}

    assert len(loaded) == 0
    assert len(by_id) == 1
    assert decided == {
        pk: restrict(Stock.objects.filter(pk=pk), world.users["fra_logistics"]).exists() for pk in stock_ids
    }
    assert all(not disclosure.sees_object(m.request) for m in movements)
