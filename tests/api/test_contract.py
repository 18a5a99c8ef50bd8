"""The API contract a generated client relies on (issue 13): versioned resources (ETag, If-Match, If-None-Match),
Location on 201, byte-identical replays, RateLimit headers, ordering and filters whose values are part of the
schema (400 otherwise), JSON bodies only.  Each test names the behaviour; each would fail on the API before it."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from coordination.models import Notification, SupplyRequest, WebhookEndpoint
from inventory.models import Stock

from .conftest import assert_problem, token_client
from .helpers import request_payload

STOCKS = "/api/v1/stocks/"


@pytest.fixture(autouse=True)
def _fresh_budgets():
    cache.clear()
    yield
    cache.clear()


def stock_url(stock) -> str:
    return f"{STOCKS}{stock.pk}/"


# --- versioned resources -----------------------------------------------------------------------------------------


def test_a_change_without_if_match_is_428_and_changes_nothing(world):
    stock = world.stocks["fra_private"]
    client = token_client(world.users["fra_system"])

    response = client.patch(stock_url(stock), {"safety_level": 3}, format="json")

    body = assert_problem(response, 428, "precondition_required")
    assert "If-Match" in body["detail"]
    stock.refresh_from_db()
    assert stock.safety_level != 3


def test_a_change_with_the_current_etag_succeeds_and_answers_the_next_etag(world):
    stock = world.stocks["fra_private"]
    client = token_client(world.users["fra_system"])
    etag = client.get(stock_url(stock))["ETag"]

    changed = client.patch(stock_url(stock), {"safety_level": 3}, format="json", HTTP_IF_MATCH=etag)

    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert_problem(client.patch(stock_url(stock), {"safety_level": 4}, format="json", HTTP_IF_MATCH=etag), 412)
    stock.refresh_from_db()
    assert stock.safety_level == 3


def test_old_clients_may_change_without_if_match_when_the_setting_is_off(world, settings):
    settings.API_REQUIRE_IF_MATCH = False
    stock = world.stocks["fra_private"]

    response = token_client(world.users["fra_system"]).patch(stock_url(stock), {"safety_level": 3}, format="json")

    assert response.status_code == 200
    stock.refresh_from_db()
    assert stock.safety_level == 3


def test_a_caller_who_may_not_change_the_resource_hears_403_not_428(world):
    response = token_client(world.users["fra_system"]).patch(
        stock_url(world.stocks["deu_shared"]), {"safety_level": 3}, format="json"
    )
    assert_problem(response, 403)


def test_get_with_a_current_if_none_match_answers_304_without_a_body(world):
    client = token_client(world.users["fra_system"])
    url = stock_url(world.stocks["fra_private"])
    etag = client.get(url)["ETag"]

    for header in (etag, f"W/{etag}", f'"other", {etag}'):
        response = client.get(url, HTTP_IF_NONE_MATCH=header)
        assert response.status_code == 304, header
        assert response.content == b""
        assert response["ETag"] == etag

    assert client.get(url, HTTP_IF_NONE_MATCH='"stale"').status_code == 200


def test_every_single_resource_has_a_strong_etag(world):
    from tests.api.helpers import submitted_request

    request = submitted_request(world)
    note = Notification.objects.filter(user=world.users["deu_liaison"]).first()
    assert note is not None
    fra = token_client(world.users["fra_system"])
    urls = {
        fra: [
            "/api/v1/nations/FRA/",
            "/api/v1/centers/MLC-A/",
            stock_url(world.stocks["fra_private"]),
            f"/api/v1/requests/{request.pk}/",
        ],
    }
    from tests.scenario import session_client

    deu_liaison = session_client(world.users["deu_liaison"])
    urls[deu_liaison] = [f"/api/v1/notifications/{note.pk}/"]
    for client, paths in urls.items():
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, path
            etag = response["ETag"]
            assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/"), path


def test_reading_a_notification_changes_its_etag(world):
    from tests.api.helpers import submitted_request
    from tests.scenario import session_client

    submitted_request(world)
    note = Notification.objects.filter(user=world.users["deu_liaison"]).first()
    client = session_client(world.users["deu_liaison"])
    before = client.get(f"/api/v1/notifications/{note.pk}/")["ETag"]

    assert client.post(f"/api/v1/notifications/{note.pk}/read/").status_code == 200

    assert client.get(f"/api/v1/notifications/{note.pk}/")["ETag"] != before


def test_webhook_patch_and_delete_need_the_current_etag(world, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    client = token_client(world.users["fra_system"])
    created = client.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/hook", "secret": "s" * 32}, format="json")
    assert created.status_code == 201, created.content
    url = created["Location"]
    read = client.get(url)
    assert read.status_code == 200, read.content
    etag = read["ETag"]

    assert_problem(client.patch(url, {"active": False}, format="json"), 428)
    assert_problem(client.patch(url, {"active": False}, format="json", HTTP_IF_MATCH='"stale"'), 412)
    assert_problem(client.delete(url), 428)
    assert_problem(client.delete(url, HTTP_IF_MATCH='"stale"'), 412)
    assert WebhookEndpoint.objects.filter(active=True).count() == 1

    changed = client.patch(url, {"active": False}, format="json", HTTP_IF_MATCH=etag)
    assert changed.status_code == 200
    assert client.delete(url, HTTP_IF_MATCH=changed["ETag"]).status_code == 204
    assert not WebhookEndpoint.objects.exists()


# --- 201 Location and replays ------------------------------------------------------------------------------------


def test_201_says_where_the_new_resource_is_and_a_replay_is_byte_identical(world):
    client = token_client(world.users["fra_logistics"])

    first = client.post("/api/v1/requests/", request_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    replay = client.post("/api/v1/requests/", request_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == replay.status_code == 201
    created = SupplyRequest.objects.get()
    assert first["Location"] == f"http://testserver/api/v1/requests/{created.pk}/"
    assert client.get(first["Location"]).status_code == 200
    assert replay["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert replay.content == first.content  # the same bytes, keys in the same order
    assert (replay["Location"], replay["ETag"]) == (first["Location"], first["ETag"])


# --- RateLimit headers ---------------------------------------------------------------------------------------


def test_every_counted_answer_says_the_budget_and_what_remains(world, settings):
    settings.API_RATE_TOKEN = "3/minute"
    client = token_client(world.users["fra_system"])

    answers = [client.get("/api/v1/nations/") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert {a["RateLimit-Policy"] for a in answers} == {'"token";q=3;w=60'}
    remaining = [a["RateLimit"].split(";")[1] for a in answers]
    assert remaining == ["r=2", "r=1", "r=0", "r=0"]
    reset = int(answers[-1]["RateLimit"].split("t=")[1])
    assert 0 < reset <= 60 and int(answers[-1]["Retry-After"]) == reset


def test_anonymous_answers_carry_the_address_budget(world):
    response = APIClient().get("/api/v1/stocks/")
    assert response.status_code == 401
    assert response["RateLimit-Policy"].startswith('"address";q=')


# --- ordering and filters as a contract ------------------------------------------------------------------------


def test_ordering_takes_payload_field_names(world):
    client = token_client(world.users["fra_system"])

    by_nsn = client.get(STOCKS, {"ordering": "-nsn"}).json()["results"]
    by_available = client.get(STOCKS, {"ordering": "available,id"}).json()["results"]

    assert [s["nsn"] for s in by_nsn] == sorted((s["nsn"] for s in by_nsn), reverse=True)
    assert [s["available"] for s in by_available] == sorted(s["available"] for s in by_available)
    assert len(by_nsn) == Stock.objects.visible_to(world.users["fra_system"]).count() > 1


@pytest.mark.parametrize("value", ["item__nsn", "colour", "-", "nsn,,id", "center__code"])
def test_an_unknown_ordering_is_400_naming_the_allowed_values(world, value):
    response = token_client(world.users["fra_system"]).get(STOCKS, {"ordering": value})

    body = assert_problem(response, 400, "invalid")
    [error] = body["errors"]
    assert error["field"] == "ordering"
    assert "nsn" in error["message"] and "available" in error["message"]


def test_requests_sort_by_priority_rank_not_alphabet(world):
    client = token_client(world.users["fra_logistics"])
    for priority in ("routine", "urgent", "priority"):
        assert client.post("/api/v1/requests/", request_payload(priority=priority), format="json").status_code == 201

    ordered = client.get("/api/v1/requests/", {"ordering": "priority"}).json()["results"]

    assert [r["priority"] for r in ordered] == ["urgent", "priority", "routine"]


def test_a_filter_value_outside_its_choices_is_400(world):
    client = token_client(world.users["fra_system"])
    assert_problem(client.get("/api/v1/requests/", {"status": "lost"}), 400, "invalid")
    assert_problem(client.get("/api/v1/notifications/", {"unread": "perhaps"}), 400, "invalid")


def test_unread_notifications_filter(world):
    from tests.api.helpers import submitted_request
    from tests.scenario import session_client

    submitted_request(world)
    submitted_request(world)
    client = session_client(world.users["deu_liaison"])
    first, *_ = Notification.objects.filter(user=world.users["deu_liaison"]).order_by("id")
    client.post(f"/api/v1/notifications/{first.pk}/read/")

    unread = client.get("/api/v1/notifications/", {"unread": "true"}).json()["results"]
    read = client.get("/api/v1/notifications/", {"unread": "false"}).json()["results"]

    assert first.pk not in {n["id"] for n in unread} and unread
    assert [n["id"] for n in read] == [first.pk]


# --- the schema declares all of it ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))


def _parameters(operation) -> dict:
    return {p["name"]: p for p in operation.get("parameters", [])}


def test_the_schema_offers_json_bodies_only(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                assert list(operation["requestBody"]["content"]) == ["application/json"], (method, path)


def test_the_schema_declares_the_headers_of_the_contract(schema):
    patch = schema["paths"]["/api/v1/stocks/{id}/"]["patch"]
    assert _parameters(patch)["If-Match"]["required"] is True
    assert {"ETag", "RateLimit", "RateLimit-Policy"} <= set(patch["responses"]["200"]["headers"])
    assert "428" in patch["responses"] and "412" in patch["responses"]
    assert "Retry-After" in patch["responses"]["429"]["headers"]

    get = schema["paths"]["/api/v1/stocks/{id}/"]["get"]
    assert "If-None-Match" in _parameters(get)
    assert "ETag" in get["responses"]["304"]["headers"]

    create = schema["paths"]["/api/v1/requests/"]["post"]
    assert "Idempotency-Key" in _parameters(create)
    assert {"Location", "ETag", "Idempotent-Replayed"} <= set(create["responses"]["201"]["headers"])

    ordering = _parameters(schema["paths"]["/api/v1/stocks/"]["get"])["ordering"]
    assert "-nsn" in ordering["schema"]["items"]["enum"] and "item__nsn" not in ordering["schema"]["items"]["enum"]
    assert "unread" in _parameters(schema["paths"]["/api/v1/notifications/"]["get"])


def test_the_error_list_is_declared_flat(schema):
    problem = schema["components"]["schemas"]["Problem"]
    errors = problem["properties"]["errors"]
    assert errors["type"] == "array"


# --- versioning: deprecations are announced ------------------------------------------------------------------------


def test_a_deprecated_operation_says_since_when_until_when_and_where_to_read(world, monkeypatch):
    import datetime as dt

    from core.api.deprecation import Deprecation
    from inventory.api.views import NationViewSet

    since = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    notice = Deprecation(since=since, sunset=since + dt.timedelta(days=200), link="https://example.invalid/v2")
    monkeypatch.setattr(NationViewSet, "deprecated_actions", {"list": notice}, raising=False)
    client = token_client(world.users["fra_system"])

    listed = client.get("/api/v1/nations/")
    one = client.get("/api/v1/nations/FRA/")

    assert listed["Deprecation"] == f"@{int(since.timestamp())}"
    assert listed["Sunset"] == "Tue, 20 Jul 2027 00:00:00 GMT"
    assert listed["Link"] == '<https://example.invalid/v2>; rel="deprecation"'
    assert not one.has_header("Deprecation")  # only the operation announced

    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert paths["/api/v1/nations/"]["get"].get("deprecated") is True
    assert not paths["/api/v1/nations/{code}/"]["get"].get("deprecated")


def test_the_readmes_signature_check_accepts_our_signatures_and_refuses_others():
    import re
    import time
    from pathlib import Path

    from coordination.webhooks import sign

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", readme.split("### Webhooks", 1)[1], re.S).group(1)
    namespace: dict = {}
    exec(snippet, namespace)  # the receiver's code as a reader copies it
    verified = namespace["verified"]
    body, now = b'{"event":"ping"}', int(time.time())

    assert verified("s" * 32, sign("s" * 32, now, body), body)
    assert not verified("s" * 32, sign("t" * 32, now, body), body)  # another secret
    assert not verified("s" * 32, sign("s" * 32, now, body), body + b" ")  # another body
    assert not verified("s" * 32, sign("s" * 32, now - 3600, body), body)  # replayed an hour later
