"""Errors as application/problem+json (RFC 9457) for every status the API answers; bearer tokens for national
systems (stored hashed, expiring, revocable; issued by ``manage.py issue_token``); throttling per token and per
user with Retry-After.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from core.api.base import etag_for
from inventory.models import StockCount
from nations import access
from nations.models import ApiToken
from nations.roles import Role
from nations.tokens import issue_token, revoke_token
from tests.factories import UserFactory

from .conftest import FUEL_NSN, assert_problem, session_client, token_client
from .helpers import approved_request, request_payload, submitted_request

pytestmark = pytest.mark.django_db


def assert_rfc9457(response, status: int, code: str | None = None) -> dict:
    """The full problem shape: conftest's assert_problem plus the exact content type and every member."""
    body = assert_problem(response, status, code)
    assert response["Content-Type"] == "application/problem+json"
    assert {"type", "title", "status", "detail", "code"} <= body.keys(), body
    assert body["type"].startswith("https://") and body["type"].endswith(body["code"].replace("_", "-"))
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["code"], str) and body["code"]
    return body


@pytest.fixture(autouse=True)
def _fresh_throttle_budgets():
    cache.clear()
    yield
    cache.clear()


def _bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


# --- problem+json for every error status ---------------------------------------------------------------------


def test_400_lists_the_errors_of_every_bad_field(world):
    client = token_client(world.users["fra_logistics"])
    payload = request_payload(0, supplying_nation="ZZZ", priority="whenever")
    del payload["justification"]

    response = client.post("/api/v1/requests/", payload, format="json")

    problem = assert_rfc9457(response, 400, "invalid")
    errors = problem["errors"]
    assert isinstance(errors, list)  # one flat shape for every error: field path, code, message
    assert {e["field"] for e in errors} == {"quantity", "supplying_nation", "priority", "justification"}
    for error in errors:
        assert set(error) == {"field", "code", "message"}
        assert isinstance(error["message"], str) and error["message"] and error["code"]
    assert {e["code"] for e in errors if e["field"] == "justification"} == {"required"}


def test_400_for_bad_lines_of_a_bulk_report_names_each_line_and_records_nothing(world):
    client = token_client(world.users["deu_logistics"])
    lines = [
        {"nsn": FUEL_NSN, "quantity": 90},
        {"nsn": FUEL_NSN, "quantity": 3},
        {"nsn": "9999-99-999-9999", "quantity": 1},
    ]

    response = client.post(
        "/api/v1/stock-reports/", {"nation": "DEU", "center": "MLC-A", "lines": lines}, format="json"
    )

    problem = assert_rfc9457(response, 400, "invalid")
    assert {e["field"] for e in problem["errors"]} == {"lines[1].nsn", "lines[2].nsn"}
    assert not StockCount.objects.exists()


def test_401_without_credentials_names_the_scheme(world):
    response = APIClient().get("/api/v1/stocks/")
    assert_rfc9457(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_403_for_a_visible_request_the_caller_may_not_approve(world):
    request = submitted_request(world, 7)
    response = token_client(world.users["fra_logistics"]).post(
        f"/api/v1/requests/{request.pk}/approve/", {}, format="json"
    )
    assert_rfc9457(response, 403, "permission_denied")


def test_404_for_a_request_the_caller_may_not_see(world):
    request = submitted_request(world, 7)
    outsider = token_client(world.users["ita_logistics"])
    for response in (
        outsider.get(f"/api/v1/requests/{request.pk}/"),
        outsider.post(f"/api/v1/requests/{request.pk}/approve/", {}, format="json"),
        outsider.get("/api/v1/requests/999999/"),
    ):
        assert_rfc9457(response, 404, "not_found")


@pytest.mark.parametrize("method", ["delete", "put"])
def test_405_for_a_method_a_request_does_not_allow(world, method):
    request = submitted_request(world, 7)
    client = token_client(world.users["fra_logistics"])

    response = getattr(client, method)(f"/api/v1/requests/{request.pk}/", {"quantity_requested": 1}, format="json")

    assert_rfc9457(response, 405, "method_not_allowed")
    request.refresh_from_db()
    assert request.quantity_requested == 7


def test_409_for_a_wrong_state_and_for_insufficient_stock(world):
    liaison = token_client(world.users["deu_liaison"])
    approved = approved_request(world, 7)
    assert_rfc9457(
        liaison.post(f"/api/v1/requests/{approved.pk}/approve/", {}, format="json"), 409, "invalid_transition"
    )
    too_big = submitted_request(world, 500)
    assert_rfc9457(
        liaison.post(f"/api/v1/requests/{too_big.pk}/approve/", {}, format="json"), 409, "insufficient_stock"
    )


def test_412_for_a_patch_with_a_stale_etag(world):
    stock = world.stocks["deu_shared"]
    client = token_client(world.users["deu_logistics"])
    url = f"/api/v1/stocks/{stock.pk}/"
    read = client.get(url)
    assert read.status_code == 200
    etag = read["ETag"]
    assert etag == etag_for(stock)
    changed = client.patch(url, {"safety_level": 10}, format="json", HTTP_IF_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert client.get(url)["ETag"] == changed["ETag"]

    stale = client.patch(url, {"safety_level": 20}, format="json", HTTP_IF_MATCH=etag)

    assert_rfc9457(stale, 412, "precondition_failed")
    stock.refresh_from_db()
    assert stock.safety_level == 10


def test_422_for_an_idempotency_key_reused_with_another_body(world):
    client = token_client(world.users["fra_logistics"])
    for quantity, expected in ((7, 201), (8, 422)):
        response = client.post(
            "/api/v1/requests/",
            json.dumps(request_payload(quantity)),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="k-1",
        )
        assert response.status_code == expected
    assert_rfc9457(response, 422, "unprocessable")


def test_429_when_over_budget_says_when_to_retry(world, settings):
    settings.API_RATE_TOKEN = "1/minute"
    client = token_client(world.users["fra_logistics"])
    assert client.get("/api/v1/nations/").status_code == 200

    response = client.get("/api/v1/nations/")

    assert_rfc9457(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60


# --- tokens ----------------------------------------------------------------------------------------------------


def test_a_valid_token_authenticates_as_its_user_and_records_its_use(world):
    token, raw = issue_token(user=world.users["fra_logistics"], name="FRA national system")
    response = _bearer(raw).get("/api/v1/requests/")
    assert response.status_code == 200
    submitted_request(world, 7)
    listed = _bearer(raw).get("/api/v1/requests/").json()["results"]
    assert [r["created_by"] for r in listed] == ["fra-logistics"]
    token.refresh_from_db()
    assert token.last_used_at is not None
    # the "Token" keyword works too
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert client.get("/api/v1/requests/").status_code == 200


@pytest.mark.parametrize("header", ["Bearer alp_unknown-token", "Bearer", "Bearer two parts"])
def test_an_unknown_or_malformed_token_answers_401(world, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_rfc9457(client.get("/api/v1/nations/"), 401)


def test_an_expired_token_answers_401(world):
    token, raw = issue_token(user=world.users["fra_logistics"], expires_in_days=1)
    assert _bearer(raw).get("/api/v1/nations/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(
        created_at=timezone.now() - timedelta(days=2), expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert_rfc9457(_bearer(raw).get("/api/v1/nations/"), 401, "authentication_failed")


def test_a_revoked_token_answers_401_and_other_tokens_keep_working(world):
    token, raw = issue_token(user=world.users["fra_logistics"])
    _, other_raw = issue_token(user=world.users["fra_logistics"])
    assert _bearer(raw).get("/api/v1/nations/").status_code == 200

    revoke_token(token=token)

    assert_rfc9457(_bearer(raw).get("/api/v1/nations/"), 401, "authentication_failed")
    assert _bearer(other_raw).get("/api/v1/nations/").status_code == 200


def test_the_token_of_an_inactive_user_answers_401(world):
    _, raw = issue_token(user=world.users["fra_logistics"])
    world.users["fra_logistics"].is_active = False
    world.users["fra_logistics"].save(update_fields=["is_active"])
    assert_rfc9457(_bearer(raw).get("/api/v1/nations/"), 401, "authentication_failed")


def test_a_token_is_stored_only_as_its_hash(world):
    token, raw = issue_token(user=world.users["fra_logistics"], name="FRA national system")

    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw.startswith(token.prefix) and len(token.prefix) < len(raw) // 3
    dump = io.StringIO()
    call_command("dumpdata", "nations", stdout=dump)
    assert raw not in dump.getvalue()
    assert token.key_hash in dump.getvalue()


def test_issue_token_prints_a_working_token_once(world):
    out, err = io.StringIO(), io.StringIO()

    call_command("issue_token", "fra-logistics", stdout=out, stderr=err)

    raw = out.getvalue().strip()
    assert len(out.getvalue().strip().splitlines()) == 1
    assert raw not in err.getvalue()
    token = ApiToken.objects.get(user=world.users["fra_logistics"])
    # no --expires: the default lifetime (every token expires)
    assert abs(token.expires_at - (timezone.now() + timedelta(days=settings.API_TOKEN_DEFAULT_DAYS))) < timedelta(
        minutes=1
    )
    assert token.key_hash != raw
    assert _bearer(raw).get("/api/v1/requests/").status_code == 200


def test_issue_token_expires_sets_the_expiry(world):
    out = io.StringIO()
    call_command("issue_token", "fra-logistics", "--expires", "7", stdout=out, stderr=io.StringIO())
    token = ApiToken.objects.get(user=world.users["fra_logistics"])
    assert abs(token.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    assert _bearer(out.getvalue().strip()).get("/api/v1/nations/").status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody"], "No user named"),
        (["fra-logistics", "--expires", "0"], "at least one day"),
        (["fra-logistics", "--expires", "366"], "at most 365 days"),
    ],
)
def test_issue_token_refuses_an_unknown_user_or_a_bad_expiry(world, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("issue_token", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not ApiToken.objects.exists()


def test_issue_token_refuses_an_inactive_user(world):
    UserFactory(username="retired-system", is_active=False)
    with pytest.raises(CommandError, match="inactive"):
        call_command("issue_token", "retired-system", stdout=io.StringIO(), stderr=io.StringIO())
    assert not ApiToken.objects.exists()


# --- throttling ------------------------------------------------------------------------------------------------


def test_each_token_has_its_own_budget(world, settings):
    settings.API_RATE_TOKEN = "3/minute"
    settings.API_RATE_USER = "1000/minute"
    first, second = token_client(world.users["fra_logistics"]), token_client(world.users["fra_logistics"])

    assert [first.get("/api/v1/nations/").status_code for _ in range(3)] == [200, 200, 200]
    throttled = first.get("/api/v1/nations/")
    assert_rfc9457(throttled, 429, "throttled")
    assert int(throttled["Retry-After"]) > 0

    # a second token of the same user has a budget of its own
    assert [second.get("/api/v1/nations/").status_code for _ in range(3)] == [200, 200, 200]
    assert second.get("/api/v1/nations/").status_code == 429


def test_each_signed_in_user_has_its_own_budget(world, settings):
    settings.API_RATE_USER = "3/minute"
    settings.API_RATE_TOKEN = "1000/minute"
    officer, colleague = session_client(world.users["fra_logistics"]), session_client(world.users["deu_liaison"])

    assert [officer.get("/api/v1/nations/").status_code for _ in range(3)] == [200, 200, 200]
    throttled = officer.get("/api/v1/nations/")
    assert_rfc9457(throttled, 429, "throttled")
    assert int(throttled["Retry-After"]) > 0

    assert colleague.get("/api/v1/nations/").status_code == 200
    # the user's tokens are budgeted separately from its browser session
    assert token_client(world.users["fra_logistics"]).get("/api/v1/nations/").status_code == 200


def test_a_token_granted_a_role_later_sees_it_without_a_new_token(world):
    """Tokens carry the user's current rights: a grant applies to the next call."""
    newcomer = UserFactory(username="fra-system-2")
    client = token_client(newcomer)
    request = submitted_request(world, 7)
    assert client.get(f"/api/v1/requests/{request.pk}/").status_code == 404
    access.grant_role(newcomer, Role.LOGISTICS, world.fra)
    assert client.get(f"/api/v1/requests/{request.pk}/").status_code == 200


def test_line_errors_found_by_the_serializer_have_the_same_flat_shape_as_those_found_by_the_service(world):
    # a quantity that is not a number is the serializer's error (nested under lines/0 in DRF's own shape)
    client = token_client(world.users["deu_logistics"])
    response = client.post(
        "/api/v1/stock-reports/",
        {"nation": "DEU", "center": "MLC-A", "lines": [{"nsn": FUEL_NSN, "quantity": "many"}]},
        format="json",
    )

    problem = assert_rfc9457(response, 400, "invalid")
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [("lines[0].quantity", "invalid")]
    assert not StockCount.objects.exists()


def test_an_error_about_the_body_as_a_whole_has_a_null_field():
    from rest_framework.exceptions import ErrorDetail

    from core.api.problems import flat_errors

    detail = {
        "non_field_errors": [ErrorDetail("Pick one.", code="invalid")],
        "lines": [{}, {"nsn": [ErrorDetail("Unknown.", code="does_not_exist")]}],
        "tags": {2: [ErrorDetail("Too long.", code="max_length")]},
    }
    assert flat_errors(detail) == [
        {"field": None, "code": "invalid", "message": "Pick one."},
        {"field": "lines[1].nsn", "code": "does_not_exist", "message": "Unknown."},
        {"field": "tags[2]", "code": "max_length", "message": "Too long."},
    ]
