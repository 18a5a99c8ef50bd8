"""The permission matrix of the API (in the manner of NetBox's ``utilities/testing/api.py``): every role ×
every endpoint, asserting the status code and, for lists, the exact set of objects returned.

Roles: FRA's logistics officer, FRA's liaison officer, MLC-A's operator, a coordinator, FRA's national system
(token), ITA's national system (token, another nation), anonymous.  Humans log in with a session; national
systems send ``Authorization: Bearer``.

Objects (scenario of ``conftest.py``, plus the rows below):
    stocks         fra_private (own), fra_shared (own fuel, shared at MLC-A), deu_private (another nation's
                   private stock at MLC-A, where FRA takes part), deu_shared (another nation's shared fuel at MLC-A),
                   ita_shared / ita_private (at NAT-B, where FRA does not take part)
    movements      mv_<stock>: the receipt that stocked each of them
    requests       r_fra  FRA -> DEU, MLC-A -> NAT-F      r_ita  ITA -> DEU, MLC-A -> NAT-B
                   r_deu  DEU -> ITA, NAT-B -> NAT-B
    shortfalls     sf_<stock> on each stock; pool_mlc_a, pool_nat_b (unmet demand of a center's pool)
    discrepancies  d_<stock> on each stock; d_r_fra, d_r_deu on requests (short receipts)
    stock-reports  rep_fra (FRA @ MLC-A), rep_deu (DEU @ MLC-A), rep_ita (ITA @ NAT-B)
    runs           run_all (every center), run_mlc_a
    notifications  n_<user>: one for each user of the matrix, and n_deu_logistics
    webhooks       wh_fra (registered by FRA's system), wh_deu, wh_ita
"""

from types import SimpleNamespace

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from coordination.models import (
    Discrepancy,
    DiscrepancyKind,
    EventType,
    Notification,
    ReconciliationRun,
    RunStatus,
    Shortfall,
    ShortfallKind,
    SupplyRequest,
    WebhookEndpoint,
)
from inventory.models import Stock, StockReport
from tests.factories import SupplyRequestFactory, stock_with

from .conftest import FUEL_NSN, PROBLEM_JSON, RATIONS_NSN, assert_problem, session_client, token_client

pytestmark = pytest.mark.django_db

ROLES = ["fra_logistics", "fra_liaison", "mlc_a_operator", "coordinator", "fra_system", "ita_system", "anonymous"]
TOKEN_ROLES = {"fra_system", "ita_system"}
AUTHENTICATED = [r for r in ROLES if r != "anonymous"]


@pytest.fixture
def matrix(world) -> SimpleNamespace:
    now = timezone.now()
    u = world.users
    # FRA also shares fuel at MLC-A: sourcing must never offer a nation its own stock
    fra_shared = stock_with(30, actor=world.seeder, nation=world.fra, center=world.mlc_a, item=world.fuel, shared=True)
    stocks = {**world.stocks, "fra_shared": fra_shared}
    requests = {
        "r_fra": SupplyRequestFactory(
            requesting_nation=world.fra,
            supplying_nation=world.deu,
            item=world.fuel,
            source_center=world.mlc_a,
            destination_center=world.nat_f,
            created_by=u["fra_logistics"],
        ),
        "r_ita": SupplyRequestFactory(
            requesting_nation=world.ita,
            supplying_nation=world.deu,
            item=world.fuel,
            source_center=world.mlc_a,
            destination_center=world.nat_b,
            created_by=u["ita_logistics"],
        ),
        "r_deu": SupplyRequestFactory(
            requesting_nation=world.deu,
            supplying_nation=world.ita,
            item=world.rations,
            source_center=world.nat_b,
            destination_center=world.nat_b,
            created_by=u["deu_logistics"],
        ),
    }
    flag_times = {"first_seen": now, "last_seen": now}
    shortfalls = {
        f"sf_{name}": Shortfall.objects.create(
            kind=ShortfallKind.BELOW_SAFETY,
            stock=stock,
            nation=stock.nation,
            center=stock.center,
            item=stock.item,
            **flag_times,
        )
        for name, stock in stocks.items()
    }
    shortfalls["pool_mlc_a"] = Shortfall.objects.create(
        kind=ShortfallKind.UNMET_DEMAND, center=world.mlc_a, item=world.fuel, **flag_times
    )
    shortfalls["pool_nat_b"] = Shortfall.objects.create(
        kind=ShortfallKind.UNMET_DEMAND, center=world.nat_b, item=world.rations, **flag_times
    )
    discrepancies = {
        f"d_{name}": Discrepancy.objects.create(
            kind=DiscrepancyKind.LEDGER_MISMATCH,
            stock=stock,
            expected=stock.on_hand,
            actual=stock.on_hand + 1,
            **flag_times,
        )
        for name, stock in stocks.items()
    }
    for name in ("r_fra", "r_deu"):
        discrepancies[f"d_{name}"] = Discrepancy.objects.create(
            kind=DiscrepancyKind.SHORT_RECEIPT, request=requests[name], expected=10, actual=8, **flag_times
        )
    reports = {
        f"rep_{nation.code.lower()}": StockReport.objects.create(
            nation=nation, center=center, counted_at=now, line_count=1, submitted_by=world.seeder
        )
        for nation, center in ((world.fra, world.mlc_a), (world.deu, world.mlc_a), (world.ita, world.nat_b))
    }
    runs = {
        "run_all": ReconciliationRun.objects.create(status=RunStatus.SUCCEEDED, trigger="schedule"),
        "run_mlc_a": ReconciliationRun.objects.create(
            status=RunStatus.RUNNING, center=world.mlc_a, trigger="manual", started_by=u["coordinator"]
        ),
    }
    movements = {f"mv_{name}": stock.movements.get() for name, stock in stocks.items()}
    notifications = {
        f"n_{name}": Notification.objects.create(
            user=u[name], event=EventType.REQUEST_SUBMITTED, title=f"For {name}", link="/requests/"
        )
        for name in [*AUTHENTICATED, "deu_logistics"]
    }
    webhooks = {
        f"wh_{owner[:3]}": WebhookEndpoint.objects.create(
            nation=getattr(world, owner[:3]), owner=u[owner], url=f"https://{owner[:3]}.example/hook", secret="s" * 32
        )
        for owner in ("fra_system", "deu_logistics", "ita_system")
    }
    return SimpleNamespace(
        world=world,
        requests=requests,
        shortfalls=shortfalls,
        discrepancies=discrepancies,
        reports=reports,
        runs=runs,
        movements=movements,
        stocks=stocks,
        notifications=notifications,
        webhooks=webhooks,
    )


def client_for(world, role: str) -> APIClient:
    if role == "anonymous":
        return APIClient()
    if role in TOKEN_ROLES:
        return token_client(world.users[role])
    return session_client(world.users[role])


# --- what each role sees ---------------------------------------------------------------------------------------

FRA_OFFICER = {
    "stocks": {"fra_private", "fra_shared", "deu_shared"},  # own, and what DEU shares at MLC-A where FRA takes part
    "movements": {"mv_fra_private", "mv_fra_shared", "mv_deu_shared"},
    "requests": {"r_fra"},
    "shortfalls": {"sf_fra_private", "sf_fra_shared", "sf_deu_shared", "pool_mlc_a"},
    "discrepancies": {"d_fra_private", "d_fra_shared", "d_deu_shared", "d_r_fra"},
    "stock-reports": {"rep_fra"},
    "sourcing": {"deu_shared"},  # never the requester's own shared fuel
}
VISIBLE = {
    "fra_logistics": {**FRA_OFFICER, "notifications": {"n_fra_logistics"}, "webhooks": {"wh_fra"}},
    "fra_liaison": {
        **FRA_OFFICER,
        # Sourcing leaves out the nations the caller raises requests for (its logistics nations).  A liaison
        # officer raises none, so FRA's own shared fuel is listed; excluding every officer nation instead would
        # hide DEU's stock from someone who is FRA logistics and DEU liaison at once.
        "sourcing": {"deu_shared", "fra_shared"},
        "notifications": {"n_fra_liaison"},
        "webhooks": set(),  # webhooks are the logistics officers' and national system's business
    },
    "fra_system": {**FRA_OFFICER, "notifications": {"n_fra_system"}, "webhooks": {"wh_fra"}},
    "mlc_a_operator": {
        "stocks": {"fra_private", "fra_shared", "deu_private", "deu_shared"},  # everything held at the center
        "movements": {"mv_fra_private", "mv_fra_shared", "mv_deu_private", "mv_deu_shared"},
        "requests": {"r_fra", "r_ita"},  # source MLC-A
        "shortfalls": {"sf_fra_private", "sf_fra_shared", "sf_deu_private", "sf_deu_shared", "pool_mlc_a"},
        "discrepancies": {"d_fra_private", "d_fra_shared", "d_deu_private", "d_deu_shared", "d_r_fra"},
        "stock-reports": {"rep_fra", "rep_deu"},
        "sourcing": {"deu_shared", "fra_shared"},  # an operator acts for no nation: every nation's shared stock
        "notifications": {"n_mlc_a_operator"},
        "webhooks": set(),
    },
    "coordinator": {
        "stocks": {"fra_shared", "deu_shared", "ita_shared"},  # shared stock only
        "movements": {"mv_fra_shared", "mv_deu_shared", "mv_ita_shared"},
        "requests": {"r_fra", "r_ita", "r_deu"},
        "shortfalls": {"sf_fra_shared", "sf_deu_shared", "sf_ita_shared", "pool_mlc_a", "pool_nat_b"},
        "discrepancies": {"d_fra_shared", "d_deu_shared", "d_ita_shared", "d_r_fra", "d_r_deu"},
        "stock-reports": {"rep_fra", "rep_deu", "rep_ita"},
        "sourcing": {"fra_shared", "deu_shared", "ita_shared"},
        "notifications": {"n_coordinator"},
        "webhooks": set(),
    },
    "ita_system": {
        "stocks": {"ita_shared", "ita_private"},  # ITA does not take part in MLC-A: DEU's shared stock is hidden
        "movements": {"mv_ita_shared", "mv_ita_private"},
        "requests": {"r_ita", "r_deu"},
        "shortfalls": {"sf_ita_shared", "sf_ita_private", "pool_nat_b"},
        "discrepancies": {"d_ita_shared", "d_ita_private", "d_r_deu"},
        "stock-reports": {"rep_ita"},
        "sourcing": set(),  # its own shared fuel is not offered to itself
        "notifications": {"n_ita_system"},
        "webhooks": {"wh_ita"},
    },
}
# Reference data and reconciliation runs: every authenticated caller sees all of it.
REFERENCE = {
    "nations": {"FRA", "DEU", "ITA"},
    "centers": {"MLC-A", "NAT-B", "NAT-F"},
    "items": {FUEL_NSN, RATIONS_NSN},
    "reconciliations": {"run_all", "run_mlc_a"},
}

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
    "sourcing": f"/api/v1/sourcing/?nsn={FUEL_NSN}&quantity=10&destination=NAT-F",
}


def test_matrix_covers_every_list_endpoint_of_the_router():
    from config.api_urls import router

    assert {prefix for prefix, _, _ in router.registry} | {"sourcing"} == set(LIST_URLS)
    assert set(VISIBLE) | {"anonymous"} == set(ROLES)
    for role, table in VISIBLE.items():
        assert set(table) | set(REFERENCE) == set(LIST_URLS), role


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
    }[endpoint]
    by_id = {obj.pk: name for name, obj in named.items()}
    return [by_id.get(row["id"], f"unexpected {endpoint} #{row['id']}") for row in rows]


def expected_list(role: str, endpoint: str) -> set[str]:
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
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

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

    response = client_for(matrix.world, role).patch(f"/api/v1/stocks/{target.pk}/", {"safety_level": 7}, format="json")

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
