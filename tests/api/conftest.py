"""One scenario shared by the API tests, and clients that authenticate the way real callers do.

    nations   FRA (requester), DEU (supplier), ITA (outsider to FRA's business)
    MLC-A     multinational, hosted by DEU; participants FRA and DEU (not ITA)
    NAT-B     national, ITA; participant ITA
    NAT-F     national, FRA; participant FRA (destination of FRA's requests; nobody holds stock there yet)
    items     fuel 9130-12-000-0002, rations 8970-14-000-0001
    stocks    deu_shared  DEU fuel    @MLC-A  200  shared   (the supplier's stock of FRA's requests)
              deu_private DEU rations @MLC-A  100
              fra_private FRA rations @MLC-A   50
              ita_shared  ITA fuel    @NAT-B   70  shared
              ita_private ITA rations @NAT-B   80
    users     fra_logistics, fra_liaison, deu_logistics, deu_liaison, ita_logistics, ita_liaison,
              mlc_a_operator, nat_b_operator, nat_f_operator, coordinator, no_role,
              dual_hat (FRA logistics officer and DEU liaison officer at once),
              fra_system / ita_system (national systems: service accounts holding their nation's logistics role)

Humans authenticate with a real session (``force_login``), national systems with a real
``Authorization: Bearer`` token, so the tests go through the same authentication classes as production.
"""

from types import SimpleNamespace

import pytest
from django.db.models import Sum
from django.db.models.functions import Coalesce

from coordination.models import RequestStatus, SupplyRequest
from inventory.models import Stock
from nations.roles import Role
from tests.factories import UserFactory, stock_with

# FUEL_NSN, RATIONS_NSN, session_client and token_client are imported from here by the API tests
from tests.scenario import (  # noqa: F401
    FUEL_NSN,
    RATIONS_NSN,
    build_alliance,
    common_grants,
    national_systems,
    session_client,
    session_clients,
    token_client,
    users_with_roles,
)

PROBLEM_JSON = "application/problem+json"


def build_scenario() -> SimpleNamespace:
    alliance = build_alliance(with_nat_f=True)
    fra, deu, ita, mlc_a, nat_b, nat_f = (
        alliance.fra,
        alliance.deu,
        alliance.ita,
        alliance.mlc_a,
        alliance.nat_b,
        alliance.nat_f,
    )
    fuel, rations = alliance.fuel, alliance.rations
    users = users_with_roles(
        {
            **common_grants(alliance),
            "ita_liaison": [(Role.LIAISON, ita)],
            "dual_hat": [(Role.LOGISTICS, fra), (Role.LIAISON, deu)],
            "nat_f_operator": [(Role.OPERATOR, nat_f)],
        }
    )
    national_systems(users, {"fra_system": fra, "ita_system": ita})

    seeder = UserFactory(username="ledger-seeder")
    stocks = {
        "deu_shared": stock_with(200, actor=seeder, nation=deu, center=mlc_a, item=fuel, shared=True),
        "deu_private": stock_with(100, actor=seeder, nation=deu, center=mlc_a, item=rations, shared=False),
        "fra_private": stock_with(50, actor=seeder, nation=fra, center=mlc_a, item=rations, shared=False),
        "ita_shared": stock_with(70, actor=seeder, nation=ita, center=nat_b, item=fuel, shared=True),
        "ita_private": stock_with(80, actor=seeder, nation=ita, center=nat_b, item=rations, shared=False),
    }
    return SimpleNamespace(
        fra=fra,
        deu=deu,
        ita=ita,
        mlc_a=mlc_a,
        nat_b=nat_b,
        nat_f=nat_f,
        fuel=fuel,
        rations=rations,
        users=users,
        stocks=stocks,
        seeder=seeder,
    )


@pytest.fixture
def world(db) -> SimpleNamespace:
    return build_scenario()


@pytest.fixture
def as_user(world):
    """``as_user("deu_liaison")``: a session client for a scenario user (cached per test)."""
    return session_clients(world.users)


# --- assertions about the books ------------------------------------------------------------------------------


def assert_ledger_reconciles() -> None:
    """Every stock's on_hand equals the sum of its movements, and its last movement's balance_after."""
    for stock in Stock.objects.annotate(ledger=Coalesce(Sum("movements__quantity"), 0)):
        assert stock.on_hand == stock.ledger, f"stock {stock.pk}: on_hand {stock.on_hand} != ledger {stock.ledger}"
        last = stock.movements.order_by("-id").first()
        if last is not None:
            assert last.balance_after == stock.on_hand, f"stock {stock.pk}: last balance_after != on_hand"
        assert 0 <= stock.reserved <= stock.on_hand


def assert_reservations_reconcile() -> None:
    """Every stock's reserved equals what approved, not yet dispatched requests hold at it."""
    for stock in Stock.objects.all():
        held = SupplyRequest.objects.filter(
            status=RequestStatus.APPROVED,
            supplying_nation_id=stock.nation_id,
            source_center_id=stock.center_id,
            item_id=stock.item_id,
        ).aggregate(total=Coalesce(Sum("quantity_approved"), 0))["total"]
        assert stock.reserved == held, f"stock {stock.pk}: reserved {stock.reserved} != approved {held}"


def assert_books_reconcile() -> None:
    assert_ledger_reconciles()
    assert_reservations_reconcile()


def assert_problem(response, status: int, code: str | None = None) -> dict:
    """The response is an RFC 9457 problem with `status` (and `code`, when given)."""
    assert response.status_code == status, (response.status_code, getattr(response, "data", response.content))
    assert response["Content-Type"].startswith(PROBLEM_JSON), response["Content-Type"]
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["type"] and "detail" in body
    if code is not None:
        assert body["code"] == code, body
    return body
