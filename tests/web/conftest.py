"""The browser pages over the API tests' scenario (``tests/api/conftest.py``: FRA, DEU, ITA; MLC-A shared by
FRA and DEU; NAT-B Italian; NAT-F French; one user per role).  Browsers log in with a real session and post
forms the way the pages do: plainly, or through htmx (``HX-Request: true``), which answers fragments.
"""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from django.test import Client
from django.utils import timezone

from coordination import services
from coordination.models import Discrepancy, DiscrepancyKind, RequestStatus, Severity, Shortfall, ShortfallKind
from inventory.models import Movement, Stock, StockCount
from tests.api.conftest import build_scenario

HTMX = {"HX-Request": "true"}

# Who moves a request through each step of its lifecycle in the scenario.
ACTORS = {
    "submit": "fra_logistics",
    "approve": "deu_liaison",
    "dispatch": "deu_logistics",
    "receive": "nat_f_operator",
    "reject": "deu_liaison",
    "cancel": "fra_logistics",
}
PATHS = {
    RequestStatus.DRAFT: [],
    RequestStatus.SUBMITTED: ["submit"],
    RequestStatus.APPROVED: ["submit", "approve"],
    RequestStatus.DISPATCHED: ["submit", "approve", "dispatch"],
    RequestStatus.RECEIVED: ["submit", "approve", "dispatch", "receive"],
    RequestStatus.REJECTED: ["submit", "reject"],
    RequestStatus.CANCELLED: ["cancel"],
}


@pytest.fixture
def world(db) -> SimpleNamespace:
    return build_scenario()


@pytest.fixture
def browser(world):
    """``browser("deu_liaison")``: a Django test client logged in as that scenario user (one per name)."""
    clients: dict[str, Client] = {}

    def get(name: str) -> Client:
        if name not in clients:
            client = Client()
            if name != "anonymous":
                client.force_login(world.users[name])
            clients[name] = client
        return clients[name]

    return get


def raise_request(world, *, by: str, nation, supplier, item, source, destination, quantity=1, submit=False):
    """A request of `nation` raised by its logistics officer `by` to `supplier`, through the services: for the
    requests that make_request's FRA -> DEU route does not cover."""
    return services.create_request(
        requester=world.users[by],
        requesting_nation=nation,
        supplying_nation=supplier,
        item=item,
        source_center=source,
        destination_center=destination,
        quantity=quantity,
        required_by=timezone.localdate() + dt.timedelta(days=5),
        justification="Exercise resupply",
        submit=submit,
    )


def make_request(
    world,
    status=RequestStatus.SUBMITTED,
    *,
    creator: str = "fra_logistics",
    quantity: int = 7,
    item=None,
    required_by: dt.date | None = None,
):
    """A FRA -> DEU request of fuel from MLC-A to NAT-F, raised by `creator` and moved to `status` through the
    services (so the books are what the lifecycle makes them)."""
    users = world.users
    request = services.create_request(
        requester=users[creator],
        requesting_nation=world.fra,
        supplying_nation=world.deu,
        item=item or world.fuel,
        source_center=world.mlc_a,
        destination_center=world.nat_f,
        quantity=quantity,
        required_by=required_by or timezone.localdate() + dt.timedelta(days=10),
        justification="Exercise resupply",
    )
    for step in PATHS[status]:
        actor = users[creator] if step in ("submit", "cancel") else users[ACTORS[step]]
        if step == "submit":
            request = services.submit_request(request=request, actor=actor)
        elif step == "approve":
            request = services.approve_request(request=request, approver=actor)
        elif step == "reject":
            request = services.reject_request(request=request, approver=actor, reason="Not this week")
        elif step == "dispatch":
            request = services.dispatch_request(request=request, actor=actor)
        elif step == "receive":
            request = services.receive_request(request=request, actor=actor)
        else:
            request = services.cancel_request(request=request, actor=actor)
    assert request.status == status
    return request


def shortfall_on(stock: Stock, *, kind=ShortfallKind.BELOW_SAFETY, severity=Severity.WARNING, **extra) -> Shortfall:
    now = timezone.now()
    return Shortfall.objects.create(
        kind=kind,
        severity=severity,
        stock=stock,
        nation_id=stock.nation_id,
        center_id=stock.center_id,
        item_id=stock.item_id,
        available=stock.available,
        threshold=10,
        first_seen=now,
        last_seen=now,
        **extra,
    )


def count_discrepancy_on(stock: Stock, *, counted: int, by) -> Discrepancy:
    """A physical count of `counted` that differs from the books, flagged as reconciliation flags it."""
    now = timezone.now()
    count = StockCount.objects.create(stock=stock, counted_quantity=counted, counted_at=now, counted_by=by)
    return Discrepancy.objects.create(
        kind=DiscrepancyKind.COUNT_MISMATCH,
        stock=stock,
        count=count,
        expected=stock.on_hand,
        actual=counted,
        first_seen=now,
        last_seen=now,
    )


def books(stock: Stock) -> tuple:
    """What a refused action must leave untouched: a stock's figures and its ledger."""
    stock.refresh_from_db()
    return (
        stock.on_hand,
        stock.reserved,
        stock.safety_level,
        stock.daily_consumption,
        stock.shared,
        Movement.objects.filter(stock=stock).count(),
        StockCount.objects.filter(stock=stock).count(),
    )


_FORM_ACTION = re.compile(r'<form[^>]*\saction="([^"]+)"')


def form_actions(html: str) -> set[str]:
    """The action URLs of the forms on a page (the buttons a user is offered)."""
    return set(_FORM_ACTION.findall(html))
