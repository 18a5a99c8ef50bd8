"""One scenario for the background-job tests (reconciliation, runs, events), and helpers to build stocks whose
ledger has movements at chosen times.

    nations   FRA, DEU, ITA
    MLC-A     multinational, hosted by DEU; participants FRA and DEU (not ITA)
    NAT-B     national, ITA; participant ITA
    items     fuel (supply class III), rations (supply class I)
    users     fra_logistics (email), fra_logistics_2 (no email), fra_liaison, deu_logistics, deu_liaison (email),
              ita_logistics, mlc_a_operator, nat_b_operator, coordinator, no_role,
              fra_system (service account holding the FRA logistics role),
              deu_system (service account holding the DEU logistics and liaison roles),
              ita_system (service account holding the ITA logistics role)

No stock is created here: each test builds the stocks its rule needs with ``make_stock``.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.utils import timezone

from coordination import services
from coordination.models import SupplyRequest
from inventory.models import Movement, MovementKind, Stock, StockCount
from inventory.services import post_movement
from nations.roles import Role
from tests.factories import ItemFactory, StockFactory, UserFactory

# session_client and token_client are imported from here by the job tests
from tests.scenario import (  # noqa: F401
    build_alliance,
    common_grants,
    national_systems,
    session_client,
    session_clients,
    token_client,
    users_with_roles,
)


def build_world() -> SimpleNamespace:
    alliance = build_alliance()
    fra, deu, ita, mlc_a, nat_b = alliance.fra, alliance.deu, alliance.ita, alliance.mlc_a, alliance.nat_b
    fuel, rations = alliance.fuel, alliance.rations
    users = users_with_roles(
        {
            **common_grants(alliance),
            "fra_logistics_2": [(Role.LOGISTICS, fra)],
            "deu_system": [(Role.LOGISTICS, deu), (Role.LIAISON, deu)],
        },
        emails={
            "fra_logistics": "fra.logistics@example.org",
            "deu_liaison": "deu.liaison@example.org",
            "fra_system": "fra.system@example.org",
            "deu_system": "deu.system@example.org",
        },
    )
    national_systems(users, {"fra_system": fra, "deu_system": deu, "ita_system": ita})
    seeder = UserFactory(username="ledger-seeder")
    return SimpleNamespace(
        fra=fra, deu=deu, ita=ita, mlc_a=mlc_a, nat_b=nat_b, fuel=fuel, rations=rations, users=users, seeder=seeder
    )


@pytest.fixture
def world(db) -> SimpleNamespace:
    return build_world()


class Clock:
    """Strictly increasing `now` values for successive reconciliation passes."""

    def __init__(self, start: dt.datetime | None = None):
        self.current = start or timezone.now()

    def tick(self, **delta) -> dt.datetime:
        self.current += dt.timedelta(**delta) if delta else dt.timedelta(minutes=1)
        return self.current


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_stock(world, on_hand: int = 0, *, nation=None, center=None, item=None, received_at=None, **fields) -> Stock:
    """A stock whose on_hand is booked as one receipt at `received_at` (default: now), so the ledger
    reconciles; other fields (safety_level, daily_consumption, shared) are set as given."""
    stock = StockFactory(nation=nation or world.fra, center=center or world.mlc_a, item=item or ItemFactory(), **fields)
    if on_hand:
        post_movement(
            stock=stock,
            kind=MovementKind.RECEIPT,
            quantity=on_hand,
            actor=world.seeder,
            reason="test receipt",
            occurred_at=received_at,
        )
    return stock


def move(world, stock: Stock, quantity: int, *, at=None) -> Movement:
    """One more ledger movement (receipt or issue) at `at`."""
    stock.refresh_from_db()
    kind = MovementKind.RECEIPT if quantity > 0 else MovementKind.ISSUE
    return post_movement(
        stock=stock, kind=kind, quantity=quantity, actor=world.seeder, reason="test movement", occurred_at=at
    )


def count(world, stock: Stock, counted_quantity: int, *, at) -> StockCount:
    return StockCount.objects.create(
        stock=stock, counted_quantity=counted_quantity, counted_at=at, counted_by=world.users["mlc_a_operator"]
    )


def fuel_request(world, quantity: int = 10, *, submit: bool = True, required_in_days: int = 10) -> SupplyRequest:
    """FRA asks DEU for fuel from MLC-A (DEU's stock there), raised through the service."""
    return services.create_request(
        requester=world.users["fra_logistics"],
        requesting_nation=world.fra,
        supplying_nation=world.deu,
        item=world.fuel,
        source_center=world.mlc_a,
        destination_center=world.mlc_a,
        quantity=quantity,
        required_by=timezone.localdate() + dt.timedelta(days=required_in_days),
        justification="Exercise resupply",
        submit=submit,
    )


@pytest.fixture
def as_user(world):
    """``as_user("coordinator")``: a logged-in API client for a scenario user (cached per test)."""
    return session_clients(world.users)
