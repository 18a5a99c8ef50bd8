"""The permission matrix of the API (in the manner of NetBox's ``utilities/testing/api.py``): every role ×
every endpoint, asserting the status code and, for lists, the exact set of objects returned.

Roles and objects: ``scenario.py`` (shared with the IDOR sweep over every route, ``tests/test_idor_sweep.py``).
"""

from types import SimpleNamespace

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from coordination.models import SupplyRequest
from inventory.models import Stock

from .conftest import FUEL_NSN, PROBLEM_JSON, assert_problem, session_client, token_client
from .scenario import (
    AUDIT_NATION_READERS,
    AUDIT_READERS,
    AUTHENTICATED,
    REFERENCE,
    ROLES,
    TOKEN_ROLES,
    VISIBLE,
    build_matrix,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def matrix(world) -> SimpleNamespace:
    return build_matrix(world)


def client_for(world, role: str) -> APIClient:
    if role == "anonymous":
        return APIClient()
    if role in TOKEN_ROLES:
        return token_client(world.users[role])
    return session_client(world.users[role])


LIST_URLS = {
    "nations": "/api/v1/nations/",
    "centers": "/api/v1/centers/",
    "items": "/api/v1/items/",
    "stocks": "/api/v1/stocks/",
    "movements": "/api/v1/movements/",
    "stock-reports": "/api/v1/stock-reports/",
    "requests": "/api/v1/requests/",
    "shortfalls": "/api/v1/shortfalls/",
    "discrepancies": "/api/v1/discrepancies/",
    "reconciliations": "/api/v1/reconciliations/",
    "notifications": "/api/v1/notifications/",
    "webhooks": "/api/v1/webhooks/",
    "audit-events": "/api/v1/audit-events/",
    "requisitions": "/api/v1/requisitions/",
    "shipments": "/api/v1/shipments/",
    "sourcing": f"/api/v1/sourcing/?nsn={FUEL_NSN}&quantity=10&destination=NAT-F",
}


def test_matrix_covers_every_list_endpoint_of_the_router():
    from config.api_urls import router

    assert {prefix for prefix, _, _ in router.registry} | {"sourcing"} == set(LIST_URLS)
    assert set(VISIBLE) | {"anonymous"} == set(ROLES)
    for role, table in VISIBLE.items():
        assert set(table) | set(REFERENCE) | {"audit-events"} == set(LIST_URLS), role


def names_in(matrix, endpoint: str, body) -> list[str]:
    """The scenario names of the objects in a list response (a list, so duplicates would show)."""
    if endpoint == "sourcing":
        by_id = {s.pk: name for name, s in matrix.stocks.items()}
        return [by_id.get(row["stock"], f"unexpected stock #{row['stock']}") for row in body]
    rows = body["results"]
    assert body["count"] == len(rows), "the matrix expects every visible row on one page"
    if endpoint in ("nations", "centers"):
        return [row["code"] for row in rows]
    if endpoint == "items":
        return [row["nsn"] for row in rows]
    if endpoint == "audit-events":  # named by their summaries, which differ in the scenario (reads left out)
        return [row["summary"] for row in rows if row["kind"] != "audit.read"]
    named = {
        "stocks": matrix.stocks,
        "movements": matrix.movements,
        "requests": matrix.requests,
        "shortfalls": matrix.shortfalls,
        "discrepancies": matrix.discrepancies,
        "stock-reports": matrix.reports,
        "reconciliations": matrix.runs,
        "notifications": matrix.notifications,
        "webhooks": matrix.webhooks,
        "requisitions": matrix.requisitions,
        "shipments": matrix.shipments,
    }[endpoint]
    by_id = {obj.pk: name for name, obj in named.items()}
    return [by_id.get(row["id"], f"unexpected {endpoint} #{row['id']}") for row in rows]


def expected_list(role: str, endpoint: str) -> set[str]:
    if endpoint == "audit-events":  # whatever the log holds by now, by the rule of scenario.AUDIT_READERS
        from django.db.models import Q

        from nations.models import AuditEntry, AuditKind

        entries = AuditEntry.objects.exclude(kind=AuditKind.AUDIT_READ)
        if role in AUDIT_READERS:
            entries = entries.filter(Q(stock__isnull=True) | Q(stock__shared=True))
        elif role in AUDIT_NATION_READERS:
            entries = entries.filter(nation__code=AUDIT_NATION_READERS[role])
        else:
            return set()
        return set(entries.values_list("summary", flat=True))
    return REFERENCE[endpoint] if endpoint in REFERENCE else VISIBLE[role][endpoint]


@pytest.mark.parametrize("endpoint", list(LIST_URLS))
@pytest.mark.parametrize("role", AUTHENTICATED)
def test_list_returns_exactly_what_the_role_may_see(matrix, role, endpoint):
    url = LIST_URLS[endpoint]
    response = client_for(matrix.world, role).get(url + ("&" if "?" in url else "?") + "page_size=1000")

    assert response.status_code == 200, response.content
    names = names_in(matrix, endpoint, response.json())
    assert len(names) == len(set(names)), f"duplicates in {names}"
    assert set(names) == expected_list(role, endpoint)


@pytest.mark.parametrize("endpoint", list(LIST_URLS))
def test_anonymous_gets_401_problem_with_a_challenge_on_every_list(matrix, endpoint):
    response = APIClient().get(LIST_URLS[endpoint])

    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize("header", ["Bearer alp_not-a-real-token", "Bearer", "Token a b"])
def test_a_bad_token_gets_401_problem_and_sees_nothing(matrix, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(LIST_URLS["stocks"])

    assert_problem(response, 401)
    assert "results" not in response.json()
    assert response["WWW-Authenticate"].lower().startswith("bearer")


def test_a_revoked_or_expired_token_sees_nothing(matrix):
    from datetime import timedelta

    from nations.models import ApiToken
    from nations.tokens import issue_token, revoke_token

    user = matrix.world.users["fra_system"]
    revoked, revoked_raw = issue_token(user=user)
    revoke_token(token=revoked)
    expired, expired_raw = issue_token(user=user, expires_in_days=1)
    ApiToken.objects.filter(pk=expired.pk).update(
        created_at=timezone.now() - timedelta(days=2), expires_at=timezone.now() - timedelta(seconds=1)
    )

    for raw in (revoked_raw, expired_raw):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert_problem(client.get(LIST_URLS["stocks"]), 401)


# --- single objects --------------------------------------------------------------------------------------------


def detail_url(matrix, endpoint: str, name: str) -> str:
    if endpoint == "nations":
        return f"/api/v1/nations/{name}/"
    if endpoint == "centers":
        return f"/api/v1/centers/{name}/"
    if endpoint == "items":
        return f"/api/v1/items/{name}/"
    if endpoint == "audit-events":
        from nations.models import AuditEntry

        return f"/api/v1/audit-events/{AuditEntry.objects.get(summary=name).pk}/"
    obj = {
        "stocks": matrix.stocks,
        "movements": matrix.movements,
        "requests": matrix.requests,
        "shortfalls": matrix.shortfalls,
        "discrepancies": matrix.discrepancies,
        "stock-reports": matrix.reports,
        "reconciliations": matrix.runs,
        "notifications": matrix.notifications,
        "webhooks": matrix.webhooks,
        "requisitions": matrix.requisitions,
        "shipments": matrix.shipments,
    }[endpoint][name]
    return f"{LIST_URLS[endpoint]}{obj.pk}/"


DETAILS = [
    ("stocks", "fra_private"),  # own
    ("stocks", "deu_private"),  # another nation's private stock at a center FRA takes part in
    ("stocks", "deu_shared"),  # another nation's shared stock at a center FRA takes part in
    ("stocks", "ita_shared"),  # shared, at a center FRA does not take part in
    ("stocks", "ita_private"),
    ("requests", "r_fra"),  # own
    ("requests", "r_ita"),  # other nations' requests
    ("requests", "r_deu"),
    ("movements", "mv_fra_private"),
    ("movements", "mv_deu_private"),
    ("movements", "mv_deu_shared"),
    ("shortfalls", "sf_deu_private"),
    ("shortfalls", "pool_nat_b"),
    ("discrepancies", "d_deu_shared"),
    ("discrepancies", "d_r_deu"),
    ("stock-reports", "rep_fra"),
    ("stock-reports", "rep_deu"),
    ("nations", "ITA"),
    ("centers", "NAT-B"),
    ("items", FUEL_NSN),
    ("reconciliations", "run_mlc_a"),
    ("notifications", "n_fra_logistics"),  # one's own notifications only
    ("webhooks", "wh_fra"),
    ("webhooks", "wh_deu"),
    ("audit-events", "Logistics officer of FRA granted to fra-logistics"),  # coordinators and FRA's officers
    ("requisitions", "q_fra"),  # own
    ("requisitions", "q_deu"),  # another nation's, one line of it addressed to ITA
    ("requisitions", "q_ita"),  # another nation's draft
    ("shipments", "s_deu"),  # inbound to FRA, from MLC-A
]


@pytest.mark.parametrize("endpoint,name", DETAILS, ids=[f"{e}-{n}" for e, n in DETAILS])
@pytest.mark.parametrize("role", ROLES)
def test_detail_answers_200_to_whoever_sees_it_and_404_to_everyone_else(matrix, role, endpoint, name):
    response = client_for(matrix.world, role).get(detail_url(matrix, endpoint, name))

    if role == "anonymous":
        assert_problem(response, 401)
    elif name in expected_list(role, endpoint):
        assert response.status_code == 200, response.content
        body = response.json()
        key = {"nations": "code", "centers": "code", "items": "nsn"}.get(endpoint)
        assert body[key] == name if key else body["id"] == int(detail_url(matrix, endpoint, name).split("/")[-2])
    else:
        assert_problem(response, 404)


def test_details_cover_own_other_private_and_other_shared():
    named = {n for _, n in DETAILS}
    assert {"fra_private", "deu_private", "deu_shared", "r_fra", "r_ita"} <= named
    assert {e for e, _ in DETAILS} == set(LIST_URLS) - {"sourcing"}


# --- writes: status code per role × object ---------------------------------------------------------------------

STOCK_PATCH = {
    #                 fra_logistics fra_liaison mlc_a_operator coordinator fra_system ita_system anonymous
    "fra_private": dict(zip(ROLES, [200, 403, 403, 404, 200, 404, 401], strict=True)),
    "deu_private": dict(zip(ROLES, [404, 404, 403, 404, 404, 404, 401], strict=True)),
    "deu_shared": dict(zip(ROLES, [403, 403, 403, 403, 403, 404, 401], strict=True)),
    "ita_shared": dict(zip(ROLES, [404, 404, 404, 403, 404, 200, 401], strict=True)),
}


@pytest.mark.parametrize("stock", list(STOCK_PATCH))
@pytest.mark.parametrize("role", ROLES)
def test_stock_patch_matrix(matrix, role, stock):
    target = matrix.stocks[stock]
    before = Stock.objects.values("safety_level", "shared", "on_hand", "reserved").get(pk=target.pk)

    response = client_for(matrix.world, role).patch(
        f"/api/v1/stocks/{target.pk}/", {"safety_level": 7}, format="json", HTTP_IF_MATCH="*"
    )

    expected = STOCK_PATCH[stock][role]
    after = Stock.objects.values("safety_level", "shared", "on_hand", "reserved").get(pk=target.pk)
    if expected == 200:
        assert response.status_code == 200, response.content
        assert after == {**before, "safety_level": 7}
    else:
        assert_problem(response, expected)
        assert after == before


REQUEST_CANCEL = {
    #           fra_logistics fra_liaison mlc_a_operator coordinator fra_system ita_system anonymous
    "r_fra": dict(zip(ROLES, [200, 403, 403, 403, 200, 404, 401], strict=True)),
    "r_ita": dict(zip(ROLES, [404, 404, 403, 403, 404, 200, 401], strict=True)),
    "r_deu": dict(zip(ROLES, [404, 404, 404, 403, 404, 403, 401], strict=True)),
}


@pytest.mark.parametrize("request_name", list(REQUEST_CANCEL))
@pytest.mark.parametrize("role", ROLES)
def test_request_action_matrix(matrix, role, request_name):
    target = matrix.requests[request_name]

    response = client_for(matrix.world, role).post(f"/api/v1/requests/{target.pk}/cancel/", {}, format="json")

    expected = REQUEST_CANCEL[request_name][role]
    status = SupplyRequest.objects.get(pk=target.pk).status
    if expected == 200:
        assert response.status_code == 200, response.content
        assert status == "cancelled"
    else:
        assert_problem(response, expected)
        assert status == "draft"


ACKNOWLEDGE = {
    #                   fra_logistics fra_liaison mlc_a_operator coordinator fra_system ita_system anonymous
    "d_fra_private": dict(zip(ROLES, [200, 200, 200, 404, 200, 404, 401], strict=True)),
    "d_deu_private": dict(zip(ROLES, [404, 404, 200, 404, 404, 404, 401], strict=True)),
    "d_r_deu": dict(zip(ROLES, [404, 404, 404, 200, 404, 200, 401], strict=True)),
}


@pytest.mark.parametrize("flag", list(ACKNOWLEDGE))
@pytest.mark.parametrize("role", ROLES)
def test_acknowledge_matrix(matrix, role, flag):
    target = matrix.discrepancies[flag]

    response = client_for(matrix.world, role).post(f"/api/v1/discrepancies/{target.pk}/acknowledge/", {}, format="json")

    expected = ACKNOWLEDGE[flag][role]
    target.refresh_from_db()
    if expected == 200:
        assert response.status_code == 200, response.content
        assert response.json()["acknowledged_at"] is not None
        assert target.acknowledged_by == matrix.world.users[role]
    else:
        assert_problem(response, expected)
        assert target.acknowledged_at is None


def test_problem_json_is_the_content_type_of_every_refusal(matrix):
    fra = client_for(matrix.world, "fra_logistics")
    refusals = [
        fra.get(f"/api/v1/stocks/{matrix.stocks['deu_private'].pk}/"),  # 404
        fra.patch(f"/api/v1/stocks/{matrix.stocks['deu_shared'].pk}/", {"shared": False}, format="json"),  # 403
        fra.get("/api/v1/sourcing/?nsn=bad&quantity=0"),  # 400
        APIClient().get("/api/v1/stocks/"),  # 401
    ]
    assert [r.status_code for r in refusals] == [404, 403, 400, 401]
    for response in refusals:
        assert response["Content-Type"].startswith(PROBLEM_JSON)
