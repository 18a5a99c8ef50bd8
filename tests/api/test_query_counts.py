"""Query-count ceilings for every list endpoint (and the request detail with its timeline).

Each endpoint is read with a few rows and again with many more, every row pointing at different related
objects (items, centers, nations, users, requests), so a serializer field that loads a relation per row, or a
visibility check run per row, adds queries.  The count must be the same for both sizes and stay under the
endpoint's ceiling.  Callers: FRA's logistics officer (session) and FRA's national system (token).
"""

import itertools
from string import ascii_uppercase

import pytest
from django.utils import timezone

from coordination.models import (
    Discrepancy,
    DiscrepancyKind,
    EventType,
    Notification,
    ReconciliationRun,
    RequestEvent,
    RequestStatus,
    RunStatus,
    Shortfall,
    ShortfallKind,
    WebhookEndpoint,
)
from inventory.models import MovementKind, StockReport
from inventory.services import post_movement
from nations.models import Nation
from tests.factories import (
    CenterFactory,
    ItemFactory,
    SupplyRequestFactory,
    UserFactory,
    stock_with,
)

from .conftest import FUEL_NSN, session_client, token_client

pytestmark = pytest.mark.django_db

FEW, MANY = 5, 40  # MANY stays under one page (50), so every row is serialized
_serial = itertools.count(1)


def _item():
    return ItemFactory(nsn=f"6505-14-{next(_serial) % 1000:03d}-{next(_serial) % 10000:04d}")


def _user():
    return UserFactory(username=f"qc-user-{next(_serial)}")


def _center(world, *participants):
    hosts = (world.fra, world.deu, world.ita)
    number = next(_serial)
    center = CenterFactory(code=f"QC-{number}", host_nation=hosts[number % 3])
    center.participants.set(participants or [world.fra])
    return center


def _nation():
    """A new nation with a code and NCB code of its own (the shared factory cycles through 60 NCB codes)."""
    taken = set(Nation.objects.values_list("ncb_code", flat=True))
    ncb = next(f"{n:02d}" for n in range(10, 100) if f"{n:02d}" not in taken)
    taken_codes = set(Nation.objects.values_list("code", flat=True))
    code = next(c for c in (f"Y{a}{b}" for a in ascii_uppercase for b in ascii_uppercase) if c not in taken_codes)
    return Nation.objects.create(code=code, name=f"Nation {code}", ncb_code=ncb)


def _fra_stock(world, on_hand=10):
    return stock_with(
        on_hand, actor=_user(), nation=world.fra, center=world.mlc_a, item=_item(), safety_level=5, daily_consumption=2
    )


def _fra_request(world, **kwargs):
    return SupplyRequestFactory(
        requesting_nation=world.fra,
        supplying_nation=world.deu,
        item=_item(),
        source_center=world.mlc_a,
        destination_center=_center(world),
        created_by=_user(),
        reference=f"REQ-Q{next(_serial):06d}",
        **kwargs,
    )


def add_stocks(world, n):
    for i in range(n):
        if i % 2:
            _fra_stock(world)
        else:  # shared by DEU at a center FRA takes part in: visible through the participation rule
            stock_with(10, actor=_user(), nation=world.deu, center=world.mlc_a, item=_item(), shared=True)


def add_movements(world, n):
    for i in range(n):
        if i % 2:
            _fra_stock(world)  # one receipt
        else:  # a movement that belongs to a request
            stock = _fra_stock(world, on_hand=0)
            request = _fra_request(world)
            post_movement(stock=stock, kind=MovementKind.TRANSFER_IN, quantity=3, actor=_user(), request=request)


def add_requests(world, n):
    for _ in range(n):
        _fra_request(world)


def add_events(world, n):
    request = world.query_count_request
    for _ in range(n):
        RequestEvent.objects.create(
            request=request,
            from_status=RequestStatus.DRAFT,
            to_status=RequestStatus.DRAFT,
            actor=_user(),
            at=timezone.now(),
            comment="note",
            quantity=1,
        )


def _flag_times():
    now = timezone.now()
    return {"first_seen": now, "last_seen": now}


def add_shortfalls(world, n):
    for i in range(n):
        if i % 2:
            stock = _fra_stock(world)
            Shortfall.objects.create(
                kind=ShortfallKind.BELOW_SAFETY,
                stock=stock,
                nation=world.fra,
                center=stock.center,
                item=stock.item,
                acknowledged_by=_user(),
                acknowledged_at=timezone.now(),
                **_flag_times(),
            )
        else:  # a pool flag at a center FRA takes part in
            Shortfall.objects.create(
                kind=ShortfallKind.UNMET_DEMAND, center=_center(world), item=_item(), **_flag_times()
            )


def add_discrepancies(world, n):
    for i in range(n):
        if i % 2:
            Discrepancy.objects.create(
                kind=DiscrepancyKind.LEDGER_MISMATCH,
                stock=_fra_stock(world),
                expected=1,
                actual=2,
                acknowledged_by=_user(),
                acknowledged_at=timezone.now(),
                **_flag_times(),
            )
        else:
            Discrepancy.objects.create(
                kind=DiscrepancyKind.SHORT_RECEIPT, request=_fra_request(world), expected=3, actual=1, **_flag_times()
            )


def add_stock_reports(world, n):
    for _ in range(n):
        StockReport.objects.create(
            nation=world.fra, center=_center(world), submitted_by=_user(), counted_at=timezone.now(), line_count=3
        )


def add_nations(world, n):
    for _ in range(n):
        _nation()


def add_centers(world, n):
    for i in range(n):
        _center(world, *[(world.fra, world.deu, world.ita)[j] for j in range(i % 3 + 1)])


def add_items(world, n):
    for _ in range(n):
        _item()


def add_runs(world, n):
    for i in range(n):
        ReconciliationRun.objects.create(
            status=RunStatus.SUCCEEDED,
            center=_center(world) if i % 2 else None,
            started_by=_user() if i % 3 else None,
            findings={"ledger_mismatch": i},
        )


def add_notifications(world, n):
    for i in range(n):
        Notification.objects.create(
            user=world.users["fra_logistics"], event=EventType.REQUEST_APPROVED, title=f"Request {i} approved"
        )
        Notification.objects.create(
            user=world.users["fra_system"], event=EventType.REQUEST_APPROVED, title=f"Request {i} approved"
        )


def add_webhooks(world, n):
    for i in range(n):
        WebhookEndpoint.objects.create(
            nation=world.fra,
            owner=_user(),
            url=f"https://fra.example/hook/{i}",
            secret="s" * 32,
            events=[EventType.REQUEST_APPROVED],
        )


def add_audit_entries(world, n):
    from nations import audit
    from nations.models import AuditKind

    for i in range(n):
        audit.record(AuditKind.LOGIN_FAILED, username=f"guess{i}", summary=f"Sign-in failed for guess{i}")


def add_requisitions(world, n):
    """FRA requisitions, each with two lines, one of them sourced by a request (the summary figures read them)."""
    from coordination.models import Requisition, RequisitionLine

    for _ in range(n):
        requisition = Requisition.objects.create(
            reference=f"RQN-Q{next(_serial):06d}",
            requesting_nation=world.fra,
            destination_center=world.nat_f,
            required_by=timezone.localdate(),
            activity_designator=4,
            priority_designator=14,
            justification="Query count",
            status="open",
            created_by=_user(),
        )
        first = RequisitionLine.objects.create(requisition=requisition, number=1, item=_item(), quantity=5)
        RequisitionLine.objects.create(requisition=requisition, number=2, item=_item(), quantity=5)
        _fra_request(world, requisition=requisition, requisition_line=first)


def add_shipments(world, n):
    """DEU shipments from MLC-A, each carrying an FRA request (FRA sees what is inbound)."""
    from coordination.models import Shipment

    now = timezone.now()
    for _ in range(n):
        shipment = Shipment.objects.create(
            reference=f"SHP-Q{next(_serial):06d}",
            shipping_nation=world.deu,
            source_center=world.mlc_a,
            destination_center=world.nat_f,
            mode="road",
            departed_at=now,
            expected_arrival=now,
            created_by=_user(),
        )
        _fra_request(world, shipment=shipment)


def add_sourcing_options(world, n):
    for _ in range(n):
        center = _center(world, world.fra, world.deu)
        stock_with(100, actor=_user(), nation=world.deu, center=center, item=world.fuel, shared=True)


# endpoint -> (url, add rows, ceiling).  The ceilings are what the endpoints need today with a session (a token
# needs one query fewer): session, user, COUNT, page, and for lists filtered by the access rules the caller's
# grants (access.profile: one query, whose nation and center ids the list's conditions then name; cheaper than
# the permission subqueries it replaced, which were planned inside every COUNT and page query).  Centers prefetch
# participants (1); sourcing reads the caller's access profile.
# Raising a ceiling needs a reason.
ENDPOINTS = {
    "stocks": ("/api/v1/stocks/", add_stocks, 5),
    "movements": ("/api/v1/movements/", add_movements, 5),
    "requests": ("/api/v1/requests/", add_requests, 5),
    "request-detail": (None, add_events, 5),
    "shortfalls": ("/api/v1/shortfalls/", add_shortfalls, 5),
    "discrepancies": ("/api/v1/discrepancies/", add_discrepancies, 5),
    "stock-reports": ("/api/v1/stock-reports/", add_stock_reports, 5),
    "nations": ("/api/v1/nations/", add_nations, 4),
    "centers": ("/api/v1/centers/", add_centers, 5),
    "items": ("/api/v1/items/", add_items, 4),
    # + the caller's grants and one query for the counts of findings a nation may see on the page (run_findings.py)
    "reconciliations": ("/api/v1/reconciliations/", add_runs, 6),
    "notifications": ("/api/v1/notifications/", add_notifications, 4),
    "webhooks": ("/api/v1/webhooks/", add_webhooks, 4),
    # read by a coordinator: the coordinator check (the user's and the groups' permissions, 2); one page holds the
    # scenario's own entries (role grants, sign-in, token) and the added ones
    # the failed sign-ins added: each read of the log is itself an entry (audit.read), which would grow the count
    "audit-events": ("/api/v1/audit-events/?page_size=200&kind=login.failed", add_audit_entries, 6),
    "sourcing": (f"/api/v1/sourcing/?nsn={FUEL_NSN}&quantity=10&destination=NAT-F", add_sourcing_options, 10),
    # + the lines' summary figures of the page (line count, lines outstanding) in one query
    "requisitions": ("/api/v1/requisitions/", add_requisitions, 7),
    # + the page's requests, prefetched through their own visibility rule
    "shipments": ("/api/v1/shipments/", add_shipments, 6),
}


def test_every_list_endpoint_of_the_router_has_a_ceiling():
    from config.api_urls import router

    assert {prefix for prefix, _, _ in router.registry} <= set(ENDPOINTS)


def _rows(body) -> int:
    return len(body) if isinstance(body, list) else len(body["results"])


@pytest.mark.parametrize("caller", ["session", "token"])
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_query_count_does_not_grow_with_rows(world, django_assert_max_num_queries, endpoint, caller):
    url, add_rows, ceiling = ENDPOINTS[endpoint]
    if url is None:  # the request detail, whose timeline grows
        world.query_count_request = _fra_request(world)
        url = f"/api/v1/requests/{world.query_count_request.pk}/"
    user = world.users["fra_logistics" if caller == "session" else "fra_system"]
    if endpoint == "audit-events":  # only coordinators read the log: FRA's callers would see no row
        user = world.users["coordinator"]
    client = session_client(user) if caller == "session" else token_client(user)

    def rows_now() -> int:
        body = client.get(url).json()
        return len(body["timeline"]) if endpoint == "request-detail" else _rows(body)

    baseline = rows_now()  # also warms up: the token's first use records it, caches fill
    add_rows(world, FEW)
    with django_assert_max_num_queries(ceiling) as captured:
        response = client.get(url)
    few_queries = [q["sql"] for q in captured.captured_queries]  # read now: the next request clears the log
    assert response.status_code == 200
    few_rows = rows_now()

    add_rows(world, MANY - FEW)
    with django_assert_max_num_queries(ceiling) as captured:
        response = client.get(url)
    many_queries = [q["sql"] for q in captured.captured_queries]
    assert response.status_code == 200
    many_rows = rows_now()

    # the rows were really there (and serialized) in both reads: the comparison is not vacuous
    assert few_rows == baseline + FEW and many_rows == baseline + MANY, (baseline, few_rows, many_rows)
    assert len(many_queries) == len(few_queries) > 0, "\n".join(many_queries)
