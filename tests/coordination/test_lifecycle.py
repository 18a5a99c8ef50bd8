"""The lifecycle table is the one source of the request lifecycle: every status is reachable through it, and every
row is served by a service, an API action, a browser action and a button on the request panel.  A row added to the
table is picked up by both channels with nothing else to write but its service."""

from __future__ import annotations

import inspect
from dataclasses import replace

import pytest
from django.test import Client
from django.urls import resolve, reverse
from rest_framework.routers import SimpleRouter
from rest_framework.test import APIRequestFactory, force_authenticate

from coordination import lifecycle, services
from coordination.api.serializers import transition_serializer
from coordination.api.views import SupplyRequestViewSet, _add_transition_actions
from coordination.models import RequestStatus, SupplyRequest
from nations import access
from nations.access import Party, rules
from tests.api.conftest import build_scenario
from tests.web.conftest import PATHS, make_request

ROWS = [pytest.param(row, id=row.action) for row in lifecycle.TRANSITIONS]
# who acts as each party on the scenario's FRA -> DEU requests (a new row needs no entry of its own here)
PARTY_USER = {
    Party.REQUESTER: "fra_logistics",
    Party.SUPPLIER_LIAISON: "deu_liaison",
    Party.DISPATCHER: "deu_logistics",
    Party.RECEIVER: "nat_f_operator",
}


@pytest.fixture
def world(db):
    return build_scenario()


def _client(world, name: str) -> Client:
    client = Client()
    client.force_login(world.users[name])
    return client


def test_every_status_is_the_initial_draft_or_the_target_of_a_row():
    targets = {row.target for row in lifecycle.TRANSITIONS}
    assert set(RequestStatus.values) == targets | {RequestStatus.DRAFT}
    # and every status a row leaves is one the model knows
    assert {s for row in lifecycle.TRANSITIONS for s in row.sources} <= set(RequestStatus.values)


def test_action_names_and_events_are_unique():
    assert len(lifecycle.BY_ACTION) == len(lifecycle.TRANSITIONS)
    events = [row.event for row in lifecycle.TRANSITIONS if row.event]
    assert len(set(events)) == len(events)
    queues = [row.queue for row in lifecycle.TRANSITIONS if row.queue]
    assert sorted(queues) == ["approval", "dispatch", "draft", "receipt"]


@pytest.mark.parametrize("row", ROWS)
def test_every_row_has_a_keyword_only_service_taking_its_inputs(row):
    service = getattr(services, row.service)
    parameters = inspect.signature(service).parameters
    expected = {"request", row.actor, *(spec.name for spec in row.fields)}
    assert expected <= set(parameters), (row.action, set(parameters))
    assert all(parameters[name].kind is inspect.Parameter.KEYWORD_ONLY for name in expected)
    # the rule it registered with the access layer names its refusal
    assert access.refusal(row.permission) == str(row.refusal)


@pytest.mark.parametrize("row", ROWS)
def test_every_row_has_an_api_action_with_its_own_input_serializer(row):
    url = reverse(f"request-{row.action}", args=[5])
    assert url == f"/api/v1/requests/5/{row.action}/"
    match = resolve(url)
    assert match.func.cls is SupplyRequestViewSet
    handler = match.func.actions["post"]
    assert SupplyRequestViewSet.transition_actions[handler] is row
    assert set(transition_serializer(row)().fields) == {spec.name for spec in row.fields}


@pytest.mark.parametrize("row", ROWS)
def test_every_row_has_a_browser_action(row):
    url = reverse("request-action", args=[5, row.action])
    assert resolve(url).url_name == "request-action"


@pytest.mark.parametrize("row", ROWS)
def test_every_row_renders_on_the_panel_of_a_user_who_may_take_it(world, row):
    status = next(s for s in PATHS if s in row.sources)
    request = make_request(world, status)
    user = PARTY_USER[row.party]
    assert row in lifecycle.available_actions(world.users[user], request)
    html = _client(world, user).get(reverse("request-detail-page", args=[request.pk])).content.decode()
    panel = html.split(f'data-testid="request-action-{row.action}"')[1].split("</form>")[0]
    assert f'action="{reverse("request-action", args=[request.pk, row.action])}"' in html
    assert f">{row.label}</button>" in panel
    for spec in row.fields:
        assert f'name="{spec.name}"' in panel


def test_a_new_row_is_served_by_both_channels_with_nothing_but_its_service(world, monkeypatch):
    """A throwaway 'withdraw' (submitted -> cancelled, by the requester, through cancel_request): the table row
    and the rule it registers are all that is added."""
    withdraw = replace(
        lifecycle.transition("cancel"),
        action="withdraw",
        sources=frozenset({RequestStatus.SUBMITTED}),
        label="Withdraw",
        confirm="Withdraw this request?",
    )
    monkeypatch.setattr(lifecycle, "TRANSITIONS", (*lifecycle.TRANSITIONS, withdraw))
    monkeypatch.setitem(lifecycle.BY_ACTION, "withdraw", withdraw)
    monkeypatch.setitem(rules._RULES, withdraw.permission, lifecycle.rule_of(withdraw))

    # the browser: the panel offers it, and posting it makes it
    first = make_request(world, RequestStatus.SUBMITTED)
    browser = _client(world, "fra_logistics")
    html = browser.get(reverse("request-detail-page", args=[first.pk])).content.decode()
    assert 'data-testid="request-action-withdraw"' in html and ">Withdraw</button>" in html
    response = browser.post(reverse("request-action", args=[first.pk, "withdraw"]), {"comment": "web"})
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.status == RequestStatus.CANCELLED

    # the API: the viewset's generated actions include it (on a fresh class, as the router builds it at import)
    class Viewset(SupplyRequestViewSet):
        transition_actions = {}

    _add_transition_actions(Viewset)
    router = SimpleRouter()
    router.register("requests", Viewset, basename="throwaway")
    pattern = next(u for u in router.urls if u.name == "throwaway-withdraw")
    second = make_request(world, RequestStatus.SUBMITTED)
    api_request = APIRequestFactory().post("/", {"comment": "api"}, format="json")
    force_authenticate(api_request, user=world.users["fra_logistics"])
    response = pattern.callback(api_request, pk=second.pk)
    assert response.status_code == 200, response.data
    assert response.data["status"] == RequestStatus.CANCELLED
    assert SupplyRequest.objects.get(pk=second.pk).events.order_by("-id").first().comment == "api"
