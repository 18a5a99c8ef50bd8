"""What fuzzing the API found (tests/api/test_fuzz.py, bench/fuzz.py; bench/RESULTS-fuzz.md), one test each: answers
that broke the documented schema, and inputs that reached the database and failed there with a 500."""

import pytest
from django.utils import timezone

from coordination.models import (
    Discrepancy,
    DiscrepancyKind,
    ReconciliationRun,
    RunStatus,
    Shortfall,
    ShortfallKind,
    SupplyRequest,
)
from nations.tokens import issue_token
from tests.factories import SupplyRequestFactory
from tests.fuzzing import CHECKS, in_this_transaction, load_schema

from .conftest import PROBLEM_JSON, assert_problem

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return load_schema()


def documented(schema, world, method: str, path: str, role: str = "coordinator", **parts):
    """Send one call through schemathesis as `role` and check its answer against the schema (raises if not)."""
    headers = {"Authorization": f"Bearer {issue_token(user=world.users[role], name='fuzz findings')[1]}"}
    case = schema[path][method].Case(**parts)
    with in_this_transaction():
        response = case.call(headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers)
    return response


def test_flags_and_runs_without_stock_nation_count_or_center_answer_as_documented(world, schema):
    now = timezone.now()
    pool = Shortfall.objects.create(
        kind=ShortfallKind.UNMET_DEMAND, center=world.mlc_a, item=world.fuel, first_seen=now, last_seen=now
    )  # no stock, no nation
    request = SupplyRequestFactory(
        requesting_nation=world.fra,
        supplying_nation=world.deu,
        item=world.fuel,
        source_center=world.mlc_a,
        destination_center=world.nat_f,
    )
    short = Discrepancy.objects.create(
        kind=DiscrepancyKind.SHORT_RECEIPT, request=request, expected=10, actual=8, first_seen=now, last_seen=now
    )  # no stock, no count, not resolved: ""
    run = ReconciliationRun.objects.create(status=RunStatus.SUCCEEDED, trigger="schedule")  # every center: none

    answers = [
        documented(schema, world, "GET", "/api/v1/shortfalls/{id}/", path_parameters={"id": pool.pk}),
        documented(schema, world, "GET", "/api/v1/discrepancies/{id}/", path_parameters={"id": short.pk}),
        documented(schema, world, "GET", "/api/v1/reconciliations/{id}/", path_parameters={"id": run.pk}),
    ]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].json()["stock"] is None and answers[0].json()["nation"] is None
    assert answers[1].json()["count"] is None and answers[1].json()["resolution"] == ""
    assert answers[2].json()["center"] is None


def test_audit_entries_without_a_nation_answer_as_documented(world, schema):
    from nations.models import AuditEntry

    assert AuditEntry.objects.filter(nation__isnull=True).exists()  # the scenario's role grants of coordinators

    response = documented(schema, world, "GET", "/api/v1/audit-events/", query={"page_size": 1000})

    assert any(entry["nation"] is None for entry in response.json()["results"])


def test_a_page_past_the_end_of_a_list_is_a_documented_404(world, schema):
    response = documented(schema, world, "GET", "/api/v1/stocks/", role="fra_system", query={"page": 99})
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.parametrize("path", ["/api/v1/stocks/1.5e-3/", "/api/v1/no-such-resource/", "/api/v1/items/12/"])
def test_an_api_address_that_matches_no_route_answers_problem_json(as_user, path):
    assert_problem(as_user("fra_logistics").get(path), 404, "not_found")


def test_a_page_address_that_matches_no_route_is_still_the_portals_page(as_user):
    response = as_user("fra_logistics").get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_updated_after_with_an_offset_postgresql_cannot_store_compares_the_same_instant(world, as_user):
    client = as_user("fra_logistics")
    # -18:50 is valid ISO 8601 but beyond PostgreSQL's +-15:59: the query failed in the database (500)
    far_offset = client.get("/api/v1/stocks/", {"updated_after": "2000-01-01T00:00:00-18:50"})
    same_in_utc = client.get("/api/v1/stocks/", {"updated_after": "2000-01-01T18:50:00Z"})
    page = client.get("/stocks/", {"updated_after": "2000-01-01T00:00:00-18:50"})

    assert far_offset.status_code == same_in_utc.status_code == page.status_code == 200
    assert far_offset.json()["count"] == same_in_utc.json()["count"] == 2  # FRA's stock, DEU's shared fuel


def test_updated_after_shifted_before_the_first_day_of_the_calendar_is_400(as_user):
    response = as_user("fra_logistics").get("/api/v1/stocks/", {"updated_after": "0001-01-01T00:00:00+05:00"})
    assert_problem(response, 400)


def test_nul_characters_are_refused_with_400_and_change_nothing(world, as_user):
    client = as_user("fra_logistics")
    requests_before = SupplyRequest.objects.count()
    runs_before = ReconciliationRun.objects.count()

    api = [
        client.get("/api/v1/nations/F%00A/"),  # a path lookup by code: DataError in PostgreSQL, a 500
        client.get("/api/v1/sourcing/", {"nsn": "8970\x00", "quantity": 1, "destination": "NAT-F"}),
        client.post("/api/v1/requests/", {"requesting_nation": "FRA", "supplying_nation": "DE\x00U"}, format="json"),
    ]
    pages = [
        client.get("/centers/MLC%00A/"),
        client.post("/reconciliation/start/", {"center": "MLC\x00A"}, format="multipart"),
    ]

    for response in api:
        body = assert_problem(response, 400, "bad_request")
        assert "NUL" in body["detail"]
    assert [p.status_code for p in pages] == [400, 400]
    assert not pages[0]["Content-Type"].startswith(PROBLEM_JSON)
    assert SupplyRequest.objects.count() == requests_before and ReconciliationRun.objects.count() == runs_before


def test_a_body_of_another_media_type_is_a_documented_415(world, as_user, schema):
    request = SupplyRequestFactory(
        requesting_nation=world.fra,
        supplying_nation=world.deu,
        item=world.fuel,
        source_center=world.mlc_a,
        destination_center=world.nat_f,
    )

    response = as_user("deu_logistics").post(
        f"/api/v1/requests/{request.pk}/dispatch/", "g{ö[", content_type="text/plain"
    )

    assert_problem(response, 415)
    assert "415" in schema.raw_schema["paths"]["/api/v1/requests/{id}/dispatch/"]["post"]["responses"]
