"""No request body, whatever its shape, makes the API answer 5xx: what the JSON parser cannot read (nesting deeper
than Python's recursion limit included) is a 400 problem+json, and what it can read goes to the serializers."""

from __future__ import annotations

import pytest

from tests.api.conftest import PROBLEM_JSON, build_scenario, session_client, token_client
from tests.web.conftest import make_request

DEPTH = 100_000

BODIES = {
    "nested arrays": b"[" * DEPTH + b"]" * DEPTH,
    "nested objects": b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    "nested arrays, unclosed": b"[" * DEPTH,
    "nested objects in a field": b'{"requesting_nation":' + b'{"a":' * DEPTH + b"1" + b"}" * DEPTH + b"}",
    "nested arrays in lines": b'{"lines":' + b"[" * DEPTH + b"]" * DEPTH + b"}",
    "a huge integer": b'{"quantity": ' + b"9" * 100_000 + b"}",
    "a huge float": b'{"quantity": 1e999999}',
    "a huge negative exponent": b'{"quantity": 1e-999999}',
    "invalid UTF-8": b'{"requesting_nation": "\xff\xfe\xfa"}',
    "a lone surrogate escape": b'{"requesting_nation": "\\ud800"}',
    "truncated JSON": b'{"requesting_nation": "FR',
    "NaN": b'{"quantity": NaN}',
    "Infinity": b'{"quantity": Infinity}',
    "-Infinity": b'{"quantity": -Infinity}',
    "a 1 MB string": b'{"requesting_nation": "' + b"x" * 1_000_000 + b'"}',
    "a 1 MB key": b'{"' + b"k" * 1_000_000 + b'": 1}',
    "a bare number": b"42",
    "a bare string": b'"FRA"',
    "null": b"null",
    "an empty body": b"",
    "whitespace": b" \n\t ",
    "a BOM": b'\xef\xbb\xbf{"requesting_nation": "FRA"}',
    "trailing garbage": b'{"requesting_nation": "FRA"} trailing',
    "duplicate keys": b'{"quantity": 1, "quantity": 2}',
    "many keys": b"{" + b",".join(b'"k%d": %d' % (i, i) for i in range(50_000)) + b"}",
    "a long flat array": b'{"lines": [' + b",".join([b"{}"] * 50_000) + b"]}",
}


@pytest.fixture
def world(db):
    return build_scenario()


def _endpoints(world) -> list[str]:
    request = make_request(world)  # submitted: DEU's liaison officer may approve it
    return ["/api/v1/requests/", "/api/v1/stock-reports/", f"/api/v1/requests/{request.pk}/approve/"]


@pytest.mark.parametrize("shape", BODIES)
def test_no_request_body_yields_a_server_error(world, shape, settings):
    settings.API_RATE_TOKEN = settings.API_RATE_USER = settings.API_RATE_ANON = ""
    body = BODIES[shape]
    callers = {
        "national system": token_client(world.users["fra_system"]),
        "officer": session_client(world.users["deu_liaison"]),
    }
    for who, client in callers.items():
        for path in _endpoints(world):
            for content_type in ("application/json", "application/json; charset=utf-8"):
                response = client.generic("POST", path, body, content_type=content_type)
                assert response.status_code < 500, f"{shape}: {who} POST {path} -> {response.status_code}"
                if response.status_code == 400:
                    assert response["Content-Type"] == PROBLEM_JSON, f"{shape}: {who} POST {path}"
        patch = client.generic("PATCH", "/api/v1/webhooks/0/", body, content_type="application/json")
        assert patch.status_code < 500, f"{shape}: {who} PATCH -> {patch.status_code}"


def test_deeply_nested_json_is_a_400_problem_saying_the_body_cannot_be_read(world):
    response = token_client(world.users["fra_system"]).generic(
        "POST", "/api/v1/requests/", b"[" * DEPTH + b"]" * DEPTH, content_type="application/json"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM_JSON
    body = response.json()
    assert body["code"] == "parse_error"
    assert "nested" in body["detail"].lower()


def test_the_api_reads_json_only_and_answers_415_problem_to_forms_and_multipart(world):
    # one body type in the contract: a generated client never sends multipart by mistake and succeeds
    client = token_client(world.users["fra_system"])
    response = client.post("/api/v1/requests/", {"requesting_nation": "FRA"}, format="json")
    assert response.status_code == 400
    assert "requesting_nation" not in str(response.json().get("errors", [])), response.json()
    before = _request_count()
    for fmt in ("multipart",):
        response = client.post("/api/v1/requests/", {"requesting_nation": "FRA"}, format=fmt)
        assert response.status_code == 415, fmt
        assert response["Content-Type"] == PROBLEM_JSON
    form = client.generic(
        "POST", "/api/v1/requests/", "requesting_nation=FRA", content_type="application/x-www-form-urlencoded"
    )
    assert form.status_code == 415
    assert form.json()["code"] == "unsupported_media_type"
    assert _request_count() == before


def _request_count() -> int:
    from coordination.models import SupplyRequest

    return SupplyRequest.objects.count()


def test_nesting_the_parser_could_build_is_refused_past_the_cap_too(world):
    # 500 levels parse in Python, but no payload nests like that; later steps need not recurse through it
    response = token_client(world.users["fra_system"]).generic(
        "POST", "/api/v1/stock-reports/", b'{"lines":' + b"[" * 500 + b"]" * 500 + b"}", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
