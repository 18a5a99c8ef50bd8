"""Change history (history/models.py): PostgreSQL triggers record every change of the tracked tables, also
those made by bulk ``queryset.update()`` and raw SQL, with who made them when they came through the portal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client

from coordination.models import RequestStatus, SupplyRequest
from history import models as history
from inventory.services import adjust_stock, update_stock_settings
from nations import access
from nations.models import ApiToken, Nation
from nations.roles import Role
from nations.tokens import authenticate_token, issue_token, revoke_token
from tests.api.conftest import build_scenario, session_client
from tests.factories import UserFactory
from tests.web.conftest import make_request

pytestmark = pytest.mark.postgres


@pytest.fixture
def world(db):
    return build_scenario()


def labels(event_model, obj) -> list[str]:
    return list(event_model.objects.filter(pgh_obj_id=obj.pk).order_by("pgh_id").values_list("pgh_label", flat=True))


def test_a_bulk_queryset_update_is_recorded_row_by_row(world):
    Nation.objects.filter(code__in=["FRA", "DEU"]).update(active=False)
    for nation in (world.fra, world.deu):
        latest = history.NationEvent.objects.filter(pgh_obj_id=nation.pk).latest("pgh_id")
        assert (latest.pgh_label, latest.active, latest.code) == ("update", False, nation.code)
    assert labels(history.NationEvent, world.ita) == ["insert"]  # untouched


def test_a_raw_sql_update_is_recorded(world):
    request = make_request(world, RequestStatus.SUBMITTED)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE coordination_supplyrequest SET justification = %s WHERE id = %s",
            ["changed behind the portal's back", request.pk],
        )
    latest = history.SupplyRequestEvent.objects.filter(pgh_obj_id=request.pk).latest("pgh_id")
    assert (latest.pgh_label, latest.justification) == ("update", "changed behind the portal's back")
    assert latest.pgh_context is None  # nobody the portal knows: the change did not come through it
    assert labels(history.SupplyRequestEvent, request) == ["insert", "update", "update", "update"]


def test_a_raw_sql_delete_is_recorded_with_the_row_as_it_was(world):
    target = world.fra.supply_targets.create(supply_class="III", days=20)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM coordination_daysofsupplytarget WHERE id = %s", [target.pk])
    deleted = history.SupplyTargetEvent.objects.filter(pgh_obj_id=target.pk).latest("pgh_id")
    assert (deleted.pgh_label, deleted.days, deleted.nation_id) == ("delete", 20, world.fra.pk)


def test_stock_settings_are_recorded_before_and_after_but_quantities_are_not(world):
    stock = world.stocks["fra_private"]
    adjust_stock(stock=stock, delta=-5, actor=world.users["fra_logistics"], reason="Spoiled")
    assert not history.StockSettingsEvent.objects.exists()  # on_hand moved: the ledger is its history

    update_stock_settings(
        stock=stock, actor=world.users["fra_logistics"], safety_level=30, daily_consumption=Decimal("2.5")
    )
    before, after = history.StockSettingsEvent.objects.filter(pgh_obj_id=stock.pk).order_by("pgh_id")
    assert (before.pgh_label, before.safety_level, before.daily_consumption) == ("settings_from", 0, Decimal("0"))
    assert (after.pgh_label, after.safety_level, after.daily_consumption) == ("settings_to", 30, Decimal("2.5"))


def test_a_change_through_the_api_says_who_made_it_and_with_which_token(world):
    request = make_request(world, RequestStatus.SUBMITTED)
    system = world.users["fra_system"]
    token, raw = issue_token(user=system, name="ERP")
    response = Client().post(
        f"/api/v1/requests/{request.pk}/cancel/",
        {"comment": "not needed"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 200
    event = history.SupplyRequestEvent.objects.filter(pgh_obj_id=request.pk).latest("pgh_id")
    assert event.status == RequestStatus.CANCELLED
    assert event.pgh_context == {
        "user": system.pk,
        "url": f"/api/v1/requests/{request.pk}/cancel/",
        "api_token": token.prefix,
    }


def test_a_change_in_the_browser_says_who_made_it(world):
    officer = world.users["fra_logistics"]
    stock = world.stocks["fra_private"]
    client = Client()
    client.force_login(officer)
    response = client.post(
        f"/stocks/{stock.pk}/settings/", {"safety_level": "12", "daily_consumption": "1", "releasable_to": "ALL"}
    )
    assert response.status_code in (200, 302)
    after = history.StockSettingsEvent.objects.filter(pgh_obj_id=stock.pk, pgh_label="settings_to").get()
    assert after.shared is True and after.safety_level == 12
    assert after.pgh_context["user"] == officer.pk and after.pgh_context["url"] == f"/stocks/{stock.pk}/settings/"


def test_role_grants_are_recorded_in_the_group_membership_history(world):
    user = UserFactory(username="grantee")
    access.grant_role(user, Role.LOGISTICS, world.ita)
    group = Group.objects.get(name="ITA logistics officers")
    membership = history.UserGroupEvent.objects.filter(user_id=user.pk).get()
    assert (membership.pgh_label, membership.group_id) == ("insert", group.pk)
    access.revoke_role(user, Role.LOGISTICS, world.ita)
    assert list(
        history.UserGroupEvent.objects.filter(user_id=user.pk).order_by("pgh_id").values_list("pgh_label", flat=True)
    ) == ["insert", "delete"]


def test_a_superuser_flag_and_a_password_change_are_recorded_without_the_hash(world):
    user = world.users["no_role"]
    user.is_superuser = True
    user.save()
    user.set_password("another-password-456")
    user.save()
    assert labels(history.UserEvent, user)[-2:] == ["update", "password_changed"]
    assert "password" not in {f.name for f in history.UserEvent._meta.fields}
    user.save(update_fields=["last_login"])  # every sign-in touches last_login: not an event
    assert labels(history.UserEvent, user)[-1] == "password_changed"


def test_token_use_is_not_an_event_but_revocation_is(world):
    token, raw = issue_token(user=world.users["ita_system"])
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=None)
    assert authenticate_token(raw) is not None  # writes last_used_at
    assert labels(history.ApiTokenEvent, token) == ["insert"]
    revoke_token(token=token)
    assert labels(history.ApiTokenEvent, token) == ["insert", "update"]
    assert "key_hash" not in {f.name for f in history.ApiTokenEvent._meta.fields}


def test_a_new_webhook_secret_is_an_event_without_the_secret(world, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["192.0.2.0/24"]  # a literal address: registering it looks up no name
    client = session_client(world.users["fra_logistics"])
    created = client.post("/api/v1/webhooks/", {"url": "https://192.0.2.10/hook", "secret": "s" * 32}, format="json")
    assert created.status_code == 201, created.content
    endpoint_id = created.json()["id"]
    from coordination.models import WebhookEndpoint

    WebhookEndpoint.objects.filter(pk=endpoint_id).update(secret="t" * 32)
    assert list(
        history.WebhookEvent.objects.filter(pgh_obj_id=endpoint_id)
        .order_by("pgh_id")
        .values_list("pgh_label", flat=True)
    ) == ["insert", "update"]
    assert "secret" not in {f.name for f in history.WebhookEvent._meta.fields}


def test_every_tracked_table_has_its_triggers_installed(db):
    from pgtrigger import registry

    installed = {name for (name,) in _trigger_names()}
    expected = set()
    for model, trigger in registry.registered():
        if model._meta.app_label == "history":
            expected.add(trigger.get_pgid(model))
    assert expected and expected <= installed


def _trigger_names():
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        return cursor.fetchall()


def test_every_event_table_has_a_read_only_admin_list(db):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    for model in apps.get_app_config("history").get_models():
        if model._meta.proxy:
            continue
        url = f"/admin/history/{model._meta.model_name}/"
        assert client.get(url).status_code == 200, url
        assert client.get(url + "add/").status_code == 403, url


def test_supply_request_history_is_complete_for_a_whole_lifecycle(world):
    request = make_request(world, RequestStatus.RECEIVED)
    statuses = list(
        history.SupplyRequestEvent.objects.filter(pgh_obj_id=request.pk)
        .order_by("pgh_id")
        .values_list("status", flat=True)
    )
    # insert as draft, the reference assigned, then one update per transition
    assert statuses == ["draft", "draft", "submitted", "approved", "dispatched", "received"]
    assert SupplyRequest.objects.get(pk=request.pk).status == RequestStatus.RECEIVED
