"""The audit log (nations.audit): each security-relevant event writes exactly one entry, with the actor, the
nation, the object and the time, in the same transaction as the event; the database refuses to change or
remove an entry; the page and the API show it to administrators, coordinators and nations' officers, each the
entries that follow their visibility (tests/nations/test_audit_visibility.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone

from coordination import services
from coordination.models import RequestStatus
from core.errors import InsufficientStock
from inventory.services import adjust_stock
from nations import access
from nations.models import AuditEntry, AuditKind
from nations.roles import Role
from nations.tokens import issue_token, revoke_token
from tests.api.conftest import PROBLEM_JSON, build_scenario, session_client, token_client
from tests.factories import UserFactory
from tests.web.conftest import count_discrepancy_on, make_request

PASSWORD = "test-password-123"  # tests.factories.UserFactory's


@pytest.fixture
def world(db):
    return build_scenario()


def entries(kind: str, **filters) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(kind=kind, **filters).order_by("id"))


def only_entry(kind: str, **filters) -> AuditEntry:
    found = entries(kind, **filters)
    assert len(found) == 1, f"expected one {kind} entry, found {found}"
    return found[0]


def assert_recent(entry: AuditEntry) -> None:
    assert timezone.now() - dt.timedelta(minutes=1) < entry.at <= timezone.now()


# --- sign-ins -------------------------------------------------------------------------------------------------------


def test_a_sign_in_writes_one_entry_with_the_user_nation_and_address(world):
    user = world.users["fra_logistics"]
    response = Client().post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302

    entry = only_entry(AuditKind.LOGIN)
    assert (entry.actor, entry.username, entry.nation) == (user, "fra-logistics", world.fra)
    assert (entry.object_type, entry.object_id) == ("auth.user", str(user.pk))
    assert (entry.ip_address, entry.path) == ("127.0.0.1", "/login/")
    assert_recent(entry)


def test_a_failed_sign_in_records_the_username_tried_and_the_address_but_no_actor(world):
    response = Client().post("/login/", {"username": "fra-logistics", "password": "wrong"})
    assert response.status_code == 200  # the form again, with its error

    entry = only_entry(AuditKind.LOGIN_FAILED)
    assert (entry.actor, entry.username, entry.ip_address) == (None, "fra-logistics", "127.0.0.1")
    assert entry.details == {"locked_out": False}
    assert not entries(AuditKind.LOGIN)


def test_a_failed_sign_in_from_a_signed_in_browser_has_no_actor(world):
    client = Client()
    client.force_login(world.users["coordinator"])
    client.post("/login/", {"username": "fra-liaison", "password": "wrong"})
    entry = only_entry(AuditKind.LOGIN_FAILED)
    assert (entry.actor, entry.username) == (None, "fra-liaison")


def test_a_lockout_is_recorded_once_and_every_refused_attempt_as_a_failure(world, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": "deu-liaison", "password": "guess"})
    assert len(entries(AuditKind.LOGIN_FAILED, username="deu-liaison")) == settings.AXES_FAILURE_LIMIT
    lockout = only_entry(AuditKind.LOCKED_OUT)
    assert (lockout.username, lockout.ip_address, lockout.actor) == ("deu-liaison", "127.0.0.1", None)

    # locked out: even the right password is refused, and recorded as a failure, not as a second lockout
    response = client.post("/login/", {"username": "deu-liaison", "password": PASSWORD})
    assert response.status_code == 429
    refused = entries(AuditKind.LOGIN_FAILED, username="deu-liaison")
    assert len(refused) == settings.AXES_FAILURE_LIMIT + 1
    assert refused[-1].details == {"locked_out": True}
    assert len(entries(AuditKind.LOCKED_OUT)) == 1
    assert not entries(AuditKind.LOGIN)


# --- roles ----------------------------------------------------------------------------------------------------------


def test_granting_and_revoking_a_role_each_write_one_entry(world):
    user = UserFactory(username="new-officer")
    access.grant_role(user, Role.LIAISON, world.ita)
    granted = only_entry(AuditKind.ROLE_GRANTED, object_id=str(user.pk))
    assert granted.nation == world.ita
    assert granted.actor is None  # not made over HTTP: a command or a shell
    assert granted.details["role"] == "liaison" and granted.details["target"] == "ITA"
    assert granted.summary == "Liaison officer of ITA granted to new-officer"

    access.grant_role(user, Role.LIAISON, world.ita)  # held already: nothing changes, nothing is recorded
    assert len(entries(AuditKind.ROLE_GRANTED, object_id=str(user.pk))) == 1

    access.revoke_role(user, Role.LIAISON, world.ita)
    revoked = only_entry(AuditKind.ROLE_REVOKED, object_id=str(user.pk))
    assert (revoked.nation, revoked.details["role"]) == (world.ita, "liaison")
    access.revoke_role(user, Role.LIAISON, world.ita)  # not held: nothing recorded
    assert len(entries(AuditKind.ROLE_REVOKED, object_id=str(user.pk))) == 1


def test_role_changes_made_outside_grant_role_are_recorded_too(world):
    """The admin's user form, ``group.user_set``, ``user.groups.clear()``: every path changes the same table."""
    user = world.users["dual_hat"]  # FRA logistics officer and DEU liaison officer
    group = Group.objects.get(name="FRA logistics officers")
    group.user_set.remove(user)
    group.user_set.remove(user)  # no longer a member: nothing to record
    assert only_entry(AuditKind.ROLE_REVOKED, object_id=str(user.pk)).nation == world.fra

    user.groups.clear()  # the remaining DEU liaison role
    assert [e.details["target"] for e in entries(AuditKind.ROLE_REVOKED, object_id=str(user.pk))] == ["FRA", "DEU"]

    mark = AuditEntry.objects.latest("id").pk
    access.grant_role(user, Role.COORDINATOR)
    coordinator = only_entry(AuditKind.ROLE_GRANTED, object_id=str(user.pk), id__gt=mark)
    assert coordinator.nation is None and coordinator.details["role"] == "coordinator"
    assert coordinator.summary == "Alliance coordinator (alliance-wide) granted to dual-hat"


def test_a_role_granted_in_the_admin_names_the_administrator(world):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    officer = UserFactory(username="to-promote")
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/auth/user/",
        {
            "action": "grant_role_action",
            "_selected_action": [officer.pk],
            "apply": "1",
            "role": "logistics",
            "target": "DEU",
        },
    )
    assert response.status_code == 302
    entry = only_entry(AuditKind.ROLE_GRANTED, object_id=str(officer.pk))
    assert (entry.actor, entry.nation, entry.path) == (admin, world.deu, "/admin/auth/user/")


def test_a_role_given_to_one_user_directly_is_recorded(world):
    from guardian.shortcuts import assign_perm, remove_perm

    user = UserFactory(username="direct")
    assign_perm("nations.act_as_logistics_officer", user, world.deu)
    assert only_entry(AuditKind.ROLE_GRANTED, object_id=str(user.pk)).details["via"] == "user object permission"
    remove_perm("nations.act_as_logistics_officer", user, world.deu)
    assert only_entry(AuditKind.ROLE_REVOKED, object_id=str(user.pk)).nation == world.deu


# --- tokens ---------------------------------------------------------------------------------------------------------


def test_issuing_and_revoking_a_token_each_write_one_entry(world):
    system = world.users["fra_system"]
    token, _raw = issue_token(user=system, name="ERP", expires_in_days=30)
    issued = only_entry(AuditKind.TOKEN_ISSUED, object_id=str(token.pk))
    assert (issued.nation, issued.object_type, issued.details["user"]) == (world.fra, "nations.apitoken", "fra-system")
    assert token.prefix in issued.summary and "expires" in issued.summary

    revoke_token(token=token)
    revoke_token(token=token)  # revoked already: changes nothing, records nothing
    revoked = only_entry(AuditKind.TOKEN_REVOKED, object_id=str(token.pk))
    assert (revoked.nation, revoked.actor) == (world.fra, None)
    assert_recent(revoked)


# --- requests and stock -----------------------------------------------------------------------------------------------


def test_every_request_transition_writes_one_entry_for_the_side_that_made_it(world):
    request = make_request(world, RequestStatus.RECEIVED)
    trail = entries(AuditKind.REQUEST_TRANSITION, object_id=str(request.pk))
    assert [(e.details["from_status"], e.details["to_status"]) for e in trail] == [
        ("", "draft"),
        ("draft", "submitted"),
        ("submitted", "approved"),
        ("approved", "dispatched"),
        ("dispatched", "received"),
    ]
    assert [e.username for e in trail] == [
        "fra-logistics",
        "fra-logistics",
        "deu-liaison",
        "deu-logistics",
        "nat-f-operator",
    ]
    assert [e.nation.code for e in trail] == ["FRA", "FRA", "DEU", "DEU", "FRA"]
    assert all(e.object_type == "coordination.supplyrequest" and e.object_repr == request.reference for e in trail)
    assert [e.details["event"] for e in trail] == list(request.events.order_by("id").values_list("id", flat=True))


def test_a_transition_over_the_api_records_the_path_and_the_token(world):
    request = make_request(world, RequestStatus.DRAFT, creator="fra_system")
    client = token_client(world.users["fra_system"])
    response = client.post(f"/api/v1/requests/{request.pk}/submit/", {"comment": "go"})
    assert response.status_code == 200
    entry = entries(AuditKind.REQUEST_TRANSITION, object_id=str(request.pk))[-1]
    assert (entry.username, entry.path) == ("fra-system", f"/api/v1/requests/{request.pk}/submit/")
    assert entry.details["api_token"].startswith("alp_") and entry.details["comment"] == "go"


def test_a_refused_transition_writes_no_entry(world):
    request = make_request(world, RequestStatus.SUBMITTED, quantity=500)  # DEU holds 200
    before = AuditEntry.objects.count()
    with pytest.raises(InsufficientStock):
        services.approve_request(request=request, approver=world.users["deu_liaison"])
    assert AuditEntry.objects.count() == before  # nothing changed, nothing recorded


def test_a_stock_adjustment_writes_one_entry(world):
    stock = world.stocks["fra_private"]
    movement = adjust_stock(stock=stock, delta=-3, actor=world.users["fra_logistics"], reason="Damaged in transit")
    entry = only_entry(AuditKind.STOCK_ADJUSTED)
    assert (entry.actor, entry.nation, entry.object_type, entry.object_id) == (
        world.users["fra_logistics"],
        world.fra,
        "inventory.stock",
        str(stock.pk),
    )
    assert entry.details == {
        "quantity": -3,
        "balance_after": 47,
        "reason": "Damaged in transit",
        "movement": movement.pk,
    }
    assert_recent(entry)


def test_accepting_and_rejecting_a_count_each_write_one_entry(world):
    stock = world.stocks["deu_private"]
    officer = world.users["deu_logistics"]
    accepted = count_discrepancy_on(stock, counted=96, by=world.users["mlc_a_operator"])
    services.resolve_count_discrepancy(discrepancy=accepted, user=officer, accept=True, comment="recount done")
    entry = only_entry(AuditKind.COUNT_ACCEPTED)
    assert (entry.actor, entry.nation, entry.object_id) == (officer, world.deu, str(stock.pk))
    assert (entry.details["quantity"], entry.details["discrepancy"]) == (-4, accepted.pk)
    assert entry.details["movement"] == stock.movements.latest("id").pk

    stock.refresh_from_db()
    rejected = count_discrepancy_on(stock, counted=90, by=world.users["mlc_a_operator"])
    services.resolve_count_discrepancy(discrepancy=rejected, user=officer, accept=False)
    entry = only_entry(AuditKind.COUNT_REJECTED)
    assert (entry.details["movement"], entry.details["quantity"], entry.nation) == (None, 0, world.deu)
    assert not entries(AuditKind.STOCK_ADJUSTED)  # a count correction is its own kind of entry


# --- append-only ------------------------------------------------------------------------------------------------------


def _an_entry(world) -> AuditEntry:
    issue_token(user=world.users["ita_system"])
    return AuditEntry.objects.latest("id")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE nations_auditentry SET summary = 'nothing happened' WHERE id = %s",
        "DELETE FROM nations_auditentry WHERE id = %s",
    ],
    ids=["raw-update", "raw-delete"],
)
def test_the_database_refuses_to_change_or_remove_an_entry(world, statement):
    entry = _an_entry(world)
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [entry.pk])
    entry.refresh_from_db()
    assert entry.summary.startswith("API token")


def test_the_orm_cannot_change_or_remove_an_entry_either(world):
    entry = _an_entry(world)
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(summary="edited")
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        entry.delete()
    assert AuditEntry.objects.filter(pk=entry.pk, summary__startswith="API token").exists()


# --- who reads it: the page ----------------------------------------------------------------------------------------------


@pytest.fixture
def admin_user(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def browser_of(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize("who", ["coordinator", "admin"])
def test_coordinators_and_administrators_read_the_audit_page(world, admin_user, who):
    make_request(world, RequestStatus.SUBMITTED)
    user = admin_user if who == "admin" else world.users["coordinator"]
    response = browser_of(user).get("/audit/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Audit log" in html and "REQ-" in html and "draft → submitted" in html
    assert 'href="/audit/"' in html  # in the navigation


@pytest.mark.parametrize("who", ["mlc_a_operator", "no_role"])
def test_everyone_else_is_refused_the_audit_page(world, who):
    response = browser_of(world.users[who]).get("/audit/")
    assert response.status_code == 403
    assert 'href="/audit/"' not in browser_of(world.users[who]).get("/").content.decode()


def test_an_anonymous_visitor_is_sent_to_sign_in(world):
    response = Client().get("/audit/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_audit_page_filters_by_kind_actor_nation_and_date_and_pages_by_25(world):
    make_request(world, RequestStatus.APPROVED)  # 3 transitions: FRA, FRA, DEU
    for _ in range(3):
        Client().post("/login/", {"username": "nobody", "password": "x"})
    client = browser_of(world.users["coordinator"])

    def count(query: str) -> int:
        response = client.get(f"/audit/?{query}")
        assert response.status_code == 200
        return response.context["page"].paginator.count

    assert count("kind=login.failed") == 3
    assert count("kind=login.failed&kind=request.transition") == 6
    assert count("actor=DEU-LIAISON") == 1
    assert count("nation=fra&kind=request.transition") == 2
    today = timezone.localdate()
    assert count(f"date_from={today}&date_to={today}&kind=request.transition") == 3
    assert count(f"date_from={today + dt.timedelta(days=1)}") == 0
    assert count(f"date_to={today - dt.timedelta(days=1)}") == 0

    UserFactory(username="someone-else")  # an unknown username is recorded by its hash (test_failed_login_audit.py)
    for _ in range(55):
        Client().post("/login/", {"username": "someone-else", "password": "x"})
    page_three = client.get("/audit/?actor=someone-else&kind=login.failed&page=3")
    assert len(page_three.context["page"].object_list) == 5  # 55 entries, 25 a page
    assert "actor=someone-else&amp;kind=login.failed&amp;page=2" in page_three.content.decode()


# --- who reads it: the API -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["coordinator", "admin"])
def test_coordinators_and_administrators_list_and_read_audit_events(world, admin_user, who):
    request = make_request(world, RequestStatus.SUBMITTED)
    client = session_client(admin_user if who == "admin" else world.users["coordinator"])
    response = client.get("/api/v1/audit-events/", {"kind": "request.transition", "nation": "FRA"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["summary"] for r in results] == [
        f"{request.reference} draft → submitted",
        f"{request.reference} created as draft (7)",
    ]
    first = results[0]
    assert set(first) == {
        "id",
        "at",
        "kind",
        "actor",
        "nation",
        "object_type",
        "object_id",
        "object_repr",
        "summary",
        "details",
        "ip_address",
        "path",
    }
    assert (first["actor"], first["nation"], first["object_id"]) == ("fra-logistics", "FRA", str(request.pk))
    detail = client.get(f"/api/v1/audit-events/{first['id']}/")
    assert detail.status_code == 200 and detail.json() == first


@pytest.mark.parametrize("who", ["mlc_a_operator", "no_role"])
def test_others_see_no_entry_in_the_list_and_404_for_one(world, who):
    """As every list of the API: what the caller may not see is not there, and one entry answers 404."""
    make_request(world, RequestStatus.SUBMITTED)
    entry = AuditEntry.objects.latest("id")
    client = session_client(world.users[who])
    listing = client.get("/api/v1/audit-events/")
    assert listing.status_code == 200 and listing.json()["count"] == 0
    missing = client.get(f"/api/v1/audit-events/{entry.pk}/")
    assert missing.status_code == 404 and missing["Content-Type"].startswith(PROBLEM_JSON)


def test_a_national_system_token_reads_its_nations_entries_only_and_anonymous_callers_must_authenticate(world):
    entry = _an_entry(world)  # ITA's
    system = token_client(world.users["fra_system"])
    listed = system.get("/api/v1/audit-events/").json()
    assert listed["count"] > 0 and {e["nation"] for e in listed["results"]} == {"FRA"}
    assert system.get(f"/api/v1/audit-events/{entry.pk}/").status_code == 404
    assert Client().get("/api/v1/audit-events/").status_code == 401


def test_the_api_cannot_write_to_the_log(world):
    entry = _an_entry(world)
    client = session_client(world.users["coordinator"])
    assert client.post("/api/v1/audit-events/", {"summary": "x"}).status_code == 405
    assert client.patch(f"/api/v1/audit-events/{entry.pk}/", {"summary": "x"}).status_code == 405
    assert client.delete(f"/api/v1/audit-events/{entry.pk}/").status_code == 405


def test_the_admin_shows_the_log_read_only(world, admin_user):
    entry = _an_entry(world)
    client = browser_of(admin_user)
    assert client.get("/admin/nations/auditentry/").status_code == 200
    page = client.get(f"/admin/nations/auditentry/{entry.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(f"/admin/nations/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
