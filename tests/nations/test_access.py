"""The rules of PRODUCT.md "Who may do what", as tables: who sees which stock, movement, count and request,
and who may do what to them.

One scenario serves every table:

    nations   FRA, DEU, ITA
    MLC-A     multinational, hosted by DEU; participants FRA and DEU (not ITA)
    NAT-B     national, ITA; participant ITA
    stocks    deu_private @MLC-A   deu_shared @MLC-A   fra_private @MLC-A
              ita_shared @NAT-B    ita_private @NAT-B
    requests  r1 FRA->DEU  MLC-A -> MLC-A   raised by dual-hat (FRA logistics and DEU liaison)
              r2 ITA->DEU  MLC-A -> NAT-B   raised by ita-logistics
              r3 DEU->ITA  NAT-B -> MLC-A   raised by deu-logistics
              r4 FRA->ITA  NAT-B -> NAT-B   raised by fra-logistics

Every table lists, for each row, exactly who is allowed; every other user of the scenario must be refused.
"""

from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from coordination.models import SupplyRequest
from inventory.models import CenterKind, Movement, Stock, StockCount
from nations import access
from nations.models import ServiceAccount
from nations.roles import Role
from tests.factories import (
    CenterFactory,
    ItemFactory,
    NationFactory,
    SupplyRequestFactory,
    UserFactory,
    stock_with,
)

pytestmark = pytest.mark.django_db

USERS = [
    "fra-logistics",
    "fra-liaison",
    "fra-system",  # service account of FRA's national system, holding the FRA logistics role
    "deu-logistics",
    "deu-liaison",
    "ita-logistics",
    "dual-hat",  # FRA logistics officer and DEU liaison officer at once
    "mlc-a-operator",
    "nat-b-operator",
    "coordinator",
    "no-role",
    "inactive",  # holds the FRA logistics role, but the account is disabled
    "anonymous",
    "superuser",
]
STOCKS = ["deu_private", "deu_shared", "fra_private", "ita_shared", "ita_private"]
REQUESTS = ["r1", "r2", "r3", "r4"]


@pytest.fixture
def world():
    fra = NationFactory(code="FRA", name="France", ncb_code="14")
    deu = NationFactory(code="DEU", name="Germany", ncb_code="12")
    ita = NationFactory(code="ITA", name="Italy", ncb_code="15")
    mlc_a = CenterFactory(code="MLC-A", host_nation=deu, kind=CenterKind.MULTINATIONAL)
    mlc_a.participants.set([fra, deu])
    nat_b = CenterFactory(code="NAT-B", host_nation=ita, kind=CenterKind.NATIONAL)
    nat_b.participants.set([ita])
    rations, fuel = ItemFactory(nsn="8970-14-000-0001"), ItemFactory(nsn="9130-12-000-0002")

    users = {name: UserFactory(username=name) for name in USERS if name not in {"anonymous", "superuser"}}
    users["anonymous"] = AnonymousUser()
    users["superuser"] = get_user_model().objects.create_superuser("superuser", "root@example.org", "x")
    grants = {
        "fra-logistics": [(Role.LOGISTICS, fra)],
        "fra-liaison": [(Role.LIAISON, fra)],
        "fra-system": [(Role.LOGISTICS, fra)],
        "deu-logistics": [(Role.LOGISTICS, deu)],
        "deu-liaison": [(Role.LIAISON, deu)],
        "ita-logistics": [(Role.LOGISTICS, ita)],
        "dual-hat": [(Role.LOGISTICS, fra), (Role.LIAISON, deu)],
        "mlc-a-operator": [(Role.OPERATOR, mlc_a)],
        "nat-b-operator": [(Role.OPERATOR, nat_b)],
        "coordinator": [(Role.COORDINATOR, None)],
        "inactive": [(Role.LOGISTICS, fra)],
    }
    for name, roles in grants.items():
        for role, target in roles:
            access.grant_role(users[name], role, target)
    ServiceAccount.objects.create(user=users["fra-system"], nation=fra, description="FRA national system")
    users["inactive"].is_active = False
    users["inactive"].save(update_fields=["is_active"])

    seeder = UserFactory(username="seeder")
    stocks = {
        "deu_private": stock_with(100, actor=seeder, nation=deu, center=mlc_a, item=rations, shared=False),
        "deu_shared": stock_with(200, actor=seeder, nation=deu, center=mlc_a, item=fuel, shared=True),
        "fra_private": stock_with(50, actor=seeder, nation=fra, center=mlc_a, item=rations, shared=False),
        "ita_shared": stock_with(70, actor=seeder, nation=ita, center=nat_b, item=rations, shared=True),
        "ita_private": stock_with(80, actor=seeder, nation=ita, center=nat_b, item=fuel, shared=False),
    }
    for stock in stocks.values():
        StockCount.objects.create(
            stock=stock, counted_quantity=stock.on_hand, counted_at=timezone.now(), counted_by=seeder
        )

    requests = {
        "r1": SupplyRequestFactory(
            requesting_nation=fra,
            supplying_nation=deu,
            item=fuel,
            source_center=mlc_a,
            destination_center=mlc_a,
            created_by=users["dual-hat"],
        ),
        "r2": SupplyRequestFactory(
            requesting_nation=ita,
            supplying_nation=deu,
            item=fuel,
            source_center=mlc_a,
            destination_center=nat_b,
            created_by=users["ita-logistics"],
        ),
        "r3": SupplyRequestFactory(
            requesting_nation=deu,
            supplying_nation=ita,
            item=rations,
            source_center=nat_b,
            destination_center=mlc_a,
            created_by=users["deu-logistics"],
        ),
        "r4": SupplyRequestFactory(
            requesting_nation=fra,
            supplying_nation=ita,
            item=rations,
            source_center=nat_b,
            destination_center=nat_b,
            created_by=users["fra-logistics"],
        ),
    }
    return SimpleNamespace(
        fra=fra,
        deu=deu,
        ita=ita,
        mlc_a=mlc_a,
        nat_b=nat_b,
        users=users,
        stocks=stocks,
        requests=requests,
        centers={"MLC-A": mlc_a, "NAT-B": nat_b, None: None},
    )


def fresh(user):
    """The user as a new web request would load it: no permission caches carried over."""
    if not user.is_authenticated:
        return AnonymousUser()
    return get_user_model().objects.get(pk=user.pk)


def names_of(objects, named: dict) -> set[str]:
    by_pk = {obj.pk: name for name, obj in named.items()}
    return {by_pk.get(obj.pk, f"unexpected #{obj.pk}") for obj in objects}


# --- visibility -------------------------------------------------------------------------------------------------

OFFICERS_FRA = {"fra_private", "deu_shared"}  # own stock, plus what is shared at MLC-A where FRA participates
OFFICERS_DEU = {"deu_private", "deu_shared"}  # nothing is shared by others at MLC-A
OFFICERS_ITA = {"ita_shared", "ita_private"}  # ITA does not participate in MLC-A: DEU's shared stock is hidden

VISIBLE_STOCKS = {
    "fra-logistics": OFFICERS_FRA,
    "fra-liaison": OFFICERS_FRA,
    "fra-system": OFFICERS_FRA,
    "deu-logistics": OFFICERS_DEU,
    "deu-liaison": OFFICERS_DEU,
    "ita-logistics": OFFICERS_ITA,
    "dual-hat": OFFICERS_FRA | OFFICERS_DEU,
    "mlc-a-operator": {"deu_private", "deu_shared", "fra_private"},  # everything held at the center
    "nat-b-operator": {"ita_shared", "ita_private"},
    "coordinator": {"deu_shared", "ita_shared"},  # shared stock only
    "no-role": set(),
    "inactive": set(),
    "anonymous": set(),
    "superuser": set(STOCKS),
}

VISIBLE_REQUESTS = {
    "fra-logistics": {"r1", "r4"},
    "fra-liaison": {"r1", "r4"},
    "fra-system": {"r1", "r4"},
    "deu-logistics": {"r1", "r2", "r3"},
    "deu-liaison": {"r1", "r2", "r3"},
    "ita-logistics": {"r2", "r3", "r4"},
    "dual-hat": {"r1", "r2", "r3", "r4"},
    "mlc-a-operator": {"r1", "r2", "r3"},  # source or destination MLC-A
    "nat-b-operator": {"r2", "r3", "r4"},  # source or destination NAT-B
    "coordinator": set(REQUESTS),
    "no-role": set(),
    "inactive": set(),
    "anonymous": set(),
    "superuser": set(REQUESTS),
}


def test_tables_cover_every_user():
    assert set(VISIBLE_STOCKS) == set(USERS) == set(VISIBLE_REQUESTS)


@pytest.mark.parametrize("username", USERS)
def test_stocks_visible_to(world, username):
    visible = Stock.objects.visible_to(fresh(world.users[username]))
    assert names_of(visible, world.stocks) == VISIBLE_STOCKS[username]


@pytest.mark.parametrize("username", USERS)
def test_movements_follow_their_stock(world, username):
    movements = {f"{name}:{m.pk}": m for name, s in world.stocks.items() for m in s.movements.all()}
    assert len(movements) == len(STOCKS)  # one receipt each: the table below is not vacuous
    visible = names_of(Movement.objects.visible_to(fresh(world.users[username])), movements)
    assert {name.split(":")[0] for name in visible} == VISIBLE_STOCKS[username]
    assert len(visible) == len(VISIBLE_STOCKS[username])


@pytest.mark.parametrize("username", USERS)
def test_counts_follow_their_stock(world, username):
    counts = {name: s.counts.get() for name, s in world.stocks.items()}
    visible = StockCount.objects.visible_to(fresh(world.users[username]))
    assert names_of(visible, counts) == VISIBLE_STOCKS[username]


@pytest.mark.parametrize("username", USERS)
def test_requests_visible_to(world, username):
    visible = SupplyRequest.objects.visible_to(fresh(world.users[username]))
    assert names_of(visible, world.requests) == VISIBLE_REQUESTS[username]


def test_visible_to_composes_with_other_filters(world):
    # the condition is a filter, not a replacement of the queryset: it keeps what callers already narrowed
    user = fresh(world.users["mlc-a-operator"])
    shared_only = Stock.objects.filter(shared=True).visible_to(user)
    assert names_of(shared_only, world.stocks) == {"deu_shared"}
    assert Stock.objects.visible_to(user).filter(nation=world.fra).count() == 1


# --- actions ----------------------------------------------------------------------------------------------------

REQUESTER_FRA = {"fra-logistics", "fra-system", "dual-hat"}
STOCK_ACTIONS = ["stock.receipt", "stock.issue", "stock.adjust", "stock.edit"]

# (action, object, users allowed); everyone else in USERS is refused.
ACTION_TABLE = [
    # create, submit, cancel: the requesting nation's logistics officers (and its national system)
    *[(action, "r1", REQUESTER_FRA) for action in ("request.create", "request.submit", "request.cancel")],
    *[(action, "r2", {"ita-logistics"}) for action in ("request.create", "request.submit", "request.cancel")],
    *[(action, "r3", {"deu-logistics"}) for action in ("request.create", "request.submit", "request.cancel")],
    # approve, reject: the supplying nation's liaison officers, never the request's author
    ("request.approve", "r1", {"deu-liaison"}),  # dual-hat is a DEU liaison officer but raised r1
    ("request.reject", "r1", {"deu-liaison"}),
    ("request.approve", "r2", {"deu-liaison", "dual-hat"}),
    ("request.reject", "r2", {"deu-liaison", "dual-hat"}),
    ("request.approve", "r3", set()),  # the supplier (ITA) has no liaison officer; its logistics officer may not
    ("request.approve", "r4", set()),
    # dispatch: the supplier's logistics officers or the source center's operators
    ("request.dispatch", "r1", {"deu-logistics", "mlc-a-operator"}),
    ("request.dispatch", "r2", {"deu-logistics", "mlc-a-operator"}),  # not NAT-B's: it is only the destination
    ("request.dispatch", "r3", {"ita-logistics", "nat-b-operator"}),
    # receive: the requester's logistics officers or the destination center's operators
    ("request.receive", "r1", REQUESTER_FRA | {"mlc-a-operator"}),
    ("request.receive", "r2", {"ita-logistics", "nat-b-operator"}),  # not MLC-A's: it is only the source
    ("request.receive", "r3", {"deu-logistics", "mlc-a-operator"}),
    ("request.receive", "r4", REQUESTER_FRA | {"nat-b-operator"}),
    # receipt, issue, adjust, edit: the stock's own logistics officers (and national system)
    *[(action, "fra_private", REQUESTER_FRA) for action in STOCK_ACTIONS],
    *[(action, "deu_shared", {"deu-logistics"}) for action in STOCK_ACTIONS],  # shared is not editable by others
    *[(action, "ita_private", {"ita-logistics"}) for action in STOCK_ACTIONS],
    # count: own logistics officers or the center's operators
    ("stock.count", "fra_private", REQUESTER_FRA | {"mlc-a-operator"}),
    ("stock.count", "deu_shared", {"deu-logistics", "mlc-a-operator"}),
    ("stock.count", "ita_shared", {"ita-logistics", "nat-b-operator"}),
    # reconciliation: coordinators (administrators hold every model permission); operators for their center
    ("reconciliation.start", None, {"coordinator", "superuser"}),
    ("reconciliation.start", "MLC-A", {"coordinator", "superuser", "mlc-a-operator"}),
    ("reconciliation.start", "NAT-B", {"coordinator", "superuser", "nat-b-operator"}),
]


def _target(world, name):
    if name in world.requests:
        return world.requests[name]
    if name in world.stocks:
        return world.stocks[name]
    return world.centers[name]


@pytest.mark.parametrize("action,target,allowed", [pytest.param(*row, id=f"{row[0]}-{row[1]}") for row in ACTION_TABLE])
def test_who_may_do_what(world, action, target, allowed):
    obj = _target(world, target)
    permitted = {name for name in USERS if access.can(fresh(world.users[name]), action, obj)}
    assert permitted == allowed


@pytest.mark.parametrize("username", USERS)
def test_no_action_on_what_one_cannot_see(world, username):
    # what a user may do, they may see: so a refused object answers 404 and a visible one 403, never the reverse
    user = fresh(world.users[username])
    visible_requests = set(SupplyRequest.objects.visible_to(user))
    visible_stocks = set(Stock.objects.visible_to(user))
    for action, target, _ in ACTION_TABLE:
        obj = _target(world, target)
        if access.can(user, action, obj):
            if action.startswith("request."):
                assert obj in visible_requests, (action, target)
            elif action.startswith("stock."):
                assert obj in visible_stocks, (action, target)


def test_require_raises_permission_denied(world):
    from django.core.exceptions import PermissionDenied

    access.require(world.users["deu-liaison"], "request.approve", world.requests["r1"])
    with pytest.raises(PermissionDenied):
        access.require(world.users["fra-liaison"], "request.approve", world.requests["r1"])


def test_unknown_action_is_a_programming_error(world):
    with pytest.raises(ValueError):
        access.can(world.users["fra-logistics"], "request.teleport", world.requests["r1"])
    with pytest.raises(ValueError):
        access.can(world.users["fra-logistics"], "warehouse.burn", world.stocks["fra_private"])


# --- grants change what one sees and does -----------------------------------------------------------------------


def test_granting_then_revoking_a_nation_role(world):
    user = world.users["ita-logistics"]
    fra_private = world.stocks["fra_private"]
    assert names_of(Stock.objects.visible_to(user), world.stocks) == OFFICERS_ITA
    assert not access.can(user, "stock.adjust", fra_private)

    access.grant_role(user, Role.LOGISTICS, world.fra)
    assert names_of(Stock.objects.visible_to(user), world.stocks) == OFFICERS_ITA | OFFICERS_FRA
    assert names_of(SupplyRequest.objects.visible_to(user), world.requests) == {"r1", "r2", "r3", "r4"}
    assert access.can(user, "stock.adjust", fra_private)

    access.revoke_role(user, Role.LOGISTICS, world.fra)
    assert names_of(Stock.objects.visible_to(user), world.stocks) == OFFICERS_ITA
    assert names_of(SupplyRequest.objects.visible_to(user), world.requests) == VISIBLE_REQUESTS["ita-logistics"]
    assert not access.can(user, "stock.adjust", fra_private)
    assert names_of(Stock.objects.visible_to(fresh(user)), world.stocks) == OFFICERS_ITA


def test_granting_then_revoking_the_operator_role(world):
    user = world.users["no-role"]
    access.grant_role(user, Role.OPERATOR, world.nat_b)
    assert names_of(Stock.objects.visible_to(user), world.stocks) == {"ita_shared", "ita_private"}
    assert access.can(user, "request.dispatch", world.requests["r3"])
    access.revoke_role(user, Role.OPERATOR, world.nat_b)
    assert names_of(Stock.objects.visible_to(user), world.stocks) == set()
    assert not access.can(user, "request.dispatch", world.requests["r3"])


def test_granting_then_revoking_the_coordinator_role(world):
    user = world.users["no-role"]
    access.grant_role(user, Role.COORDINATOR)
    assert names_of(Stock.objects.visible_to(user), world.stocks) == VISIBLE_STOCKS["coordinator"]
    assert names_of(SupplyRequest.objects.visible_to(user), world.requests) == set(REQUESTS)
    assert access.can(user, "reconciliation.start", None)
    access.revoke_role(user, Role.COORDINATOR)
    assert names_of(Stock.objects.visible_to(user), world.stocks) == set()
    assert names_of(SupplyRequest.objects.visible_to(user), world.requests) == set()
    assert not access.can(user, "reconciliation.start", None)


def test_joining_a_center_reveals_its_shared_stock_only(world):
    world.mlc_a.participants.add(world.ita)
    assert names_of(Stock.objects.visible_to(fresh(world.users["ita-logistics"])), world.stocks) == (
        OFFICERS_ITA | {"deu_shared"}
    )


def test_sharing_and_unsharing_a_stock(world):
    fra = world.users["fra-logistics"]
    deu_private = world.stocks["deu_private"]
    Stock.objects.filter(pk=deu_private.pk).update(shared=True)
    assert deu_private in set(Stock.objects.visible_to(fra))
    assert deu_private in set(Stock.objects.visible_to(world.users["coordinator"]))
    Stock.objects.filter(pk=deu_private.pk).update(shared=False)
    assert deu_private not in set(Stock.objects.visible_to(fra))


def test_a_role_for_one_nation_is_not_a_role_for_another(world):
    with pytest.raises(ValueError):
        access.grant_role(world.users["no-role"], Role.LOGISTICS, world.mlc_a)  # a nation role needs a nation
    with pytest.raises(ValueError):
        access.grant_role(world.users["no-role"], Role.OPERATOR, world.fra)  # an operator role needs a center
    with pytest.raises(ValueError):
        access.grant_role(world.users["no-role"], Role.COORDINATOR, world.fra)  # coordinators are alliance-wide


# --- cost: one query however many rows --------------------------------------------------------------------------


@pytest.fixture
def many_rows(world):
    """50 more stocks at MLC-A (two in three shared), each with a receipt and a count, and 50 requests
    FRA->DEU, so every role sees many rows."""
    seeder = UserFactory(username="seeder")
    for i in range(50):
        stock = stock_with(
            5,
            actor=seeder,
            nation=world.fra if i % 2 else world.deu,
            center=world.mlc_a,
            shared=bool(i % 3),
            item=ItemFactory(nsn=f"8970-14-500-{i:04d}"),
        )
        StockCount.objects.create(stock=stock, counted_quantity=0, counted_at=timezone.now(), counted_by=seeder)
        SupplyRequestFactory(
            requesting_nation=world.fra,
            supplying_nation=world.deu,
            item=stock.item,
            source_center=world.mlc_a,
            destination_center=world.mlc_a,
            created_by=world.users["fra-logistics"],
        )
    return world


@pytest.mark.parametrize(
    "queryset",
    [
        pytest.param(lambda u: Stock.objects.visible_to(u), id="stocks"),
        pytest.param(lambda u: Movement.objects.visible_to(u), id="movements"),
        pytest.param(lambda u: StockCount.objects.visible_to(u), id="counts"),
        pytest.param(lambda u: SupplyRequest.objects.visible_to(u), id="requests"),
    ],
)
def test_visible_to_reads_the_grants_once_then_one_query_per_list(many_rows, django_assert_max_num_queries, queryset):
    for username in USERS:
        user = fresh(many_rows.users[username])  # as loaded by a new web request: no permission caches
        # the caller's grants (one query, kept on the user for the request), then the rows
        with django_assert_max_num_queries(2, info=username):
            list(queryset(user))
        with django_assert_max_num_queries(1, info=username):
            rows = list(queryset(user))
        if username not in {"ita-logistics", "nat-b-operator", "no-role", "inactive", "anonymous"}:
            assert len(rows) >= 25, username  # the ceiling is measured over many rows (all at MLC-A)
