"""Audit entries follow the visibility of their subject (issue 12, finding 3).

An entry about a private stock (its adjustment, a count decided on it) is read by that nation's officers and by
administrators, not by coordinators; an entry about a shared stock stays in the coordinators' log.  A nation's
officers read the entries of their nation about what they may see.  Every read of the log is itself recorded,
once per page or API call, following what it read.
"""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from coordination.models import Discrepancy, DiscrepancyKind, RequestStatus
from inventory.models import StockCount
from inventory.services import adjust_stock
from nations import audit
from nations.models import AuditEntry, AuditKind
from tests.api.conftest import build_scenario, session_client, token_client
from tests.factories import UserFactory
from tests.web.conftest import make_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_scenario()


@pytest.fixture
def admin_user():
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def adjustments(world):
    """FRA adjusts its private rations at MLC-A; DEU adjusts its fuel shared there."""
    adjust_stock(stock=world.stocks["fra_private"], delta=2, actor=world.users["fra_logistics"], reason="found")
    private = AuditEntry.objects.filter(kind=AuditKind.STOCK_ADJUSTED).latest("id")
    adjust_stock(stock=world.stocks["deu_shared"], delta=1, actor=world.users["deu_logistics"], reason="found")
    shared = AuditEntry.objects.filter(kind=AuditKind.STOCK_ADJUSTED).latest("id")
    return private, shared


def api_ids(client, query: str = "") -> set[int]:
    response = client.get(f"/api/v1/audit-events/?page_size=200{query}")
    assert response.status_code == 200
    return {e["id"] for e in response.json()["results"]}


def page_ids(user, query: str = "") -> set[int]:
    client = Client()
    client.force_login(user)
    response = client.get(f"/audit/?{query}")
    assert response.status_code == 200
    return {e.pk for e in response.context["page"].paginator.object_list}


# --- the regression: coordinators and a private stock --------------------------------------------------------------


def test_a_coordinator_does_not_get_an_entry_about_another_nations_private_stock(world, adjustments):
    private, shared = adjustments
    coordinator = world.users["coordinator"]
    client = session_client(coordinator)

    listed = api_ids(client, "&kind=stock.adjusted")
    assert private.pk not in listed
    assert shared.pk in listed  # a shared stock's entry stays in the coordinators' log
    assert client.get(f"/api/v1/audit-events/{private.pk}/").status_code == 404
    assert client.get(f"/api/v1/audit-events/{shared.pk}/").status_code == 200
    on_page = page_ids(coordinator, "kind=stock.adjusted")
    assert private.pk not in on_page and shared.pk in on_page
    assert private.pk not in api_ids(client, f"&object_type=inventory.stock&object_id={private.object_id}")


@pytest.mark.parametrize("who", ["fra_logistics", "fra_liaison"])
def test_the_nations_officers_read_the_entry_about_their_private_stock(world, adjustments, who):
    private, shared = adjustments
    user = world.users[who]
    client = session_client(user)

    assert private.pk in api_ids(client)
    detail = client.get(f"/api/v1/audit-events/{private.pk}/")
    assert detail.status_code == 200 and detail.json()["object_id"] == str(world.stocks["fra_private"].pk)
    assert private.pk in page_ids(user)
    assert shared.pk not in api_ids(client)  # DEU's entry, though FRA sees the shared stock


def test_administrators_read_every_entry(admin_user, adjustments):
    private, shared = adjustments
    assert {private.pk, shared.pk} <= api_ids(session_client(admin_user))
    assert {private.pk, shared.pk} <= page_ids(admin_user)


@pytest.mark.parametrize("who", ["deu_logistics", "deu_liaison", "ita_logistics", "mlc_a_operator", "no_role"])
def test_no_one_else_reads_the_entry_about_a_private_stock(world, adjustments, who):
    private, _ = adjustments
    client = session_client(world.users[who])
    assert private.pk not in api_ids(client)
    assert client.get(f"/api/v1/audit-events/{private.pk}/").status_code == 404


def test_a_national_system_reads_its_nations_entries_only(world, adjustments):
    private, shared = adjustments
    fra = token_client(world.users["fra_system"])
    ita = token_client(world.users["ita_system"])
    assert private.pk in api_ids(fra) and shared.pk not in api_ids(fra)
    assert private.pk not in api_ids(ita)


def test_officers_read_their_nations_entries_and_the_page_opens_to_them(world):
    request = make_request(world, RequestStatus.APPROVED)  # FRA creates and submits, DEU approves
    deu = session_client(world.users["deu_liaison"])
    listed = deu.get("/api/v1/audit-events/?kind=request.transition").json()["results"]
    assert [e["summary"] for e in listed] == [f"{request.reference} submitted → approved (7)"]
    assert {e["nation"] for e in deu.get("/api/v1/audit-events/?page_size=200").json()["results"]} == {"DEU"}
    home = deu.get("/").content.decode()
    assert 'href="/audit/"' in home
    assert deu.get("/audit/").status_code == 200


# --- the entry names its stock --------------------------------------------------------------------------------------


def test_an_entry_names_the_stock_its_subject_belongs_to(world):
    stock = world.stocks["fra_private"]
    movement = adjust_stock(stock=stock, delta=1, actor=world.users["fra_logistics"], reason="x")
    now = timezone.now()
    count = StockCount.objects.create(stock=stock, counted_quantity=1, counted_at=now, counted_by=world.seeder)
    flag = Discrepancy.objects.create(
        kind=DiscrepancyKind.COUNT_MISMATCH,
        stock=stock,
        count=count,
        expected=2,
        actual=1,
        first_seen=now,
        last_seen=now,
    )

    for subject in (stock, movement, count, flag):
        entry = audit.record(AuditKind.STOCK_ADJUSTED, obj=subject, summary="test")
        assert entry.stock_id == stock.pk, subject
    assert audit.record(AuditKind.LOGIN, obj=world.users["fra_logistics"], summary="test").stock_id is None


@pytest.mark.postgres
def test_the_migration_fills_the_stock_of_existing_entries(world):
    """nations 0007 fills `stock` from object_type / object_id with the append-only trigger lifted."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("nations.migrations.0007_audit_subject_stock_and_chain")
    stock = world.stocks["fra_private"]
    movement = adjust_stock(stock=stock, delta=1, actor=world.users["fra_logistics"], reason="x")
    before = [
        AuditEntry.objects.create(kind=AuditKind.STOCK_ADJUSTED, summary="old", object_type=label, object_id=str(pk))
        for label, pk in (("inventory.stock", stock.pk), ("inventory.movement", movement.pk))
    ]
    other = AuditEntry.objects.create(kind=AuditKind.LOGIN, summary="old", object_type="auth.user", object_id="1")
    assert all(e.stock_id is None for e in before)

    with connection.schema_editor(atomic=False) as editor:
        migration.fill(apps, editor)

    assert [AuditEntry.objects.get(pk=e.pk).stock_id for e in before] == [stock.pk, stock.pk]
    assert AuditEntry.objects.get(pk=other.pk).stock_id is None
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE nations_auditentry SET summary = 'x' WHERE id = %s", [other.pk])  # the trigger is back


# --- reads are recorded -------------------------------------------------------------------------------------------


def reads() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(kind=AuditKind.AUDIT_READ).order_by("id"))


def test_each_read_of_the_log_is_recorded_once_with_its_filters(world, adjustments):
    coordinator = world.users["coordinator"]
    client = session_client(coordinator)
    _, shared = adjustments

    client.get("/api/v1/audit-events/?kind=stock.adjusted&nation=DEU")
    client.get(f"/api/v1/audit-events/{shared.pk}/")
    browser = Client()
    browser.force_login(coordinator)
    browser.get("/audit/?kind=login&page=1")

    api_list, api_entry, page = reads()
    assert (api_list.actor, api_list.details["channel"]) == (coordinator, "api")
    assert api_list.details["filters"] == {"kind": "stock.adjusted", "nation": "DEU"}
    assert api_entry.details["entry"] == shared.pk and api_entry.stock_id == shared.stock_id
    assert page.details == {"channel": "page", "filters": {"kind": "login"}, "page": "1"}
    assert page.path == "/audit/"


def test_who_may_not_read_the_log_leaves_no_read_entry(world):
    session_client(world.users["no_role"]).get("/api/v1/audit-events/")
    assert reads() == []


def test_a_read_about_a_private_stock_is_not_shown_to_coordinators(world, adjustments):
    private, _ = adjustments
    fra = session_client(world.users["fra_logistics"])
    fra.get(f"/api/v1/audit-events/{private.pk}/")
    fra.get(f"/api/v1/audit-events/?object_type=inventory.stock&object_id={private.object_id}")

    by_entry, by_filter = reads()
    assert by_entry.stock_id == by_filter.stock_id == private.stock_id
    coordinator = session_client(world.users["coordinator"])
    assert not {by_entry.pk, by_filter.pk} & api_ids(coordinator, "&kind=audit.read")


# --- cost ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["coordinator", "fra_logistics"])
def test_the_list_costs_the_same_queries_for_3_or_30_entries(world, who):
    client = session_client(world.users[who])
    client.get("/api/v1/audit-events/")  # the session and profile warmed

    def queries(n: int) -> int:
        for _ in range(n):
            adjust_stock(stock=world.stocks["fra_private"], delta=1, actor=world.users["fra_logistics"], reason="q")
            adjust_stock(stock=world.stocks["deu_shared"], delta=1, actor=world.users["deu_logistics"], reason="q")
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/audit-events/?kind=stock.adjusted").status_code == 200
        return len(captured.captured_queries)

    assert queries(3) == queries(27)
