"""The alliance the API and job tests share: three nations, their centers, two items, users holding roles, and
clients that authenticate the way real callers do.

    nations   FRA, DEU, ITA
    MLC-A     multinational, hosted by DEU; participants FRA and DEU (not ITA)
    NAT-B     national, ITA; participant ITA
    NAT-F     national, FRA; participant FRA (only where asked for)
    items     fuel 9130-12-000-0002 (supply class III), rations 8970-14-000-0001 (supply class I)

Each suite's conftest adds the users, service accounts and stocks its tests need.
"""

from __future__ import annotations

from types import SimpleNamespace

from rest_framework.test import APIClient

from inventory.models import CenterKind
from nations import access
from nations.models import ServiceAccount
from nations.roles import Role
from nations.tokens import issue_token
from tests.factories import CenterFactory, ItemFactory, NationFactory, UserFactory

FUEL_NSN = "9130-12-000-0002"
RATIONS_NSN = "8970-14-000-0001"


def build_alliance(*, with_nat_f: bool = False) -> SimpleNamespace:
    """The nations, centers and items above (fra, deu, ita, mlc_a, nat_b, nat_f or None, fuel, rations)."""
    fra = NationFactory(code="FRA", name="France", ncb_code="14")
    deu = NationFactory(code="DEU", name="Germany", ncb_code="12")
    ita = NationFactory(code="ITA", name="Italy", ncb_code="15")
    mlc_a = CenterFactory(code="MLC-A", host_nation=deu, kind=CenterKind.MULTINATIONAL, latitude=50, longitude=7)
    mlc_a.participants.set([fra, deu])
    nat_b = CenterFactory(code="NAT-B", host_nation=ita, kind=CenterKind.NATIONAL, latitude=45, longitude=9)
    nat_b.participants.set([ita])
    nat_f = None
    if with_nat_f:
        nat_f = CenterFactory(code="NAT-F", host_nation=fra, kind=CenterKind.NATIONAL, latitude=48, longitude=2)
        nat_f.participants.set([fra])
    fuel = ItemFactory(nsn=FUEL_NSN, name="Diesel fuel", supply_class="III", unit_of_issue="L")
    rations = ItemFactory(nsn=RATIONS_NSN, name="Ration pack", supply_class="I", unit_of_issue="EA")
    return SimpleNamespace(fra=fra, deu=deu, ita=ita, mlc_a=mlc_a, nat_b=nat_b, nat_f=nat_f, fuel=fuel, rations=rations)


def common_grants(alliance: SimpleNamespace) -> dict:
    """The users both suites have, as {name: [(role, the nation or center it is held on, or None)]}: FRA's and DEU's
    logistics and liaison officers, ITA's logistics officer, the operators of MLC-A and NAT-B, a coordinator, FRA's
    and ITA's national systems and a user without any role."""
    a = alliance
    return {
        "fra_logistics": [(Role.LOGISTICS, a.fra)],
        "fra_liaison": [(Role.LIAISON, a.fra)],
        "deu_logistics": [(Role.LOGISTICS, a.deu)],
        "deu_liaison": [(Role.LIAISON, a.deu)],
        "ita_logistics": [(Role.LOGISTICS, a.ita)],
        "mlc_a_operator": [(Role.OPERATOR, a.mlc_a)],
        "nat_b_operator": [(Role.OPERATOR, a.nat_b)],
        "coordinator": [(Role.COORDINATOR, None)],
        "fra_system": [(Role.LOGISTICS, a.fra)],
        "ita_system": [(Role.LOGISTICS, a.ita)],
        "no_role": [],
    }


def users_with_roles(grants: dict, emails: dict | None = None) -> dict:
    """{name: user} for {name: [(role, the nation or center it is held on, or None), ...]}; usernames are the names
    with dashes."""
    users = {}
    for name, roles in grants.items():
        users[name] = UserFactory(username=name.replace("_", "-"), email=(emails or {}).get(name, ""))
        for role, target in roles:
            access.grant_role(users[name], role, target)
    return users


def national_systems(users: dict, nations: dict) -> None:
    """Make each of `users` named in `nations` ({user name: nation}) its nation's service account."""
    for name, nation in nations.items():
        ServiceAccount.objects.create(user=users[name], nation=nation, description=f"{nation.code} national system")


def session_client(user) -> APIClient:
    """A client logged in with a real session, as the browser is."""
    client = APIClient()
    client.force_login(user)
    return client


def token_client(user) -> APIClient:
    """A client sending ``Authorization: Bearer <token>``, as a national system does."""
    _, raw = issue_token(user=user, name="tests", expires_in_days=30)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def session_clients(users: dict):
    """``get("deu_liaison")``: a session client for one of `users`, made once and reused."""
    clients: dict[str, APIClient] = {}

    def get(name: str) -> APIClient:
        if name not in clients:
            clients[name] = session_client(users[name])
        return clients[name]

    return get
