"""Query-count ceilings on the list pages: the number of queries does not grow with the rows shown, so a change
that adds a query per row (a missing select_related, a permission asked row by row) fails here.

Each page is measured with 5 rows and again with 40, under the same ceiling, and both counts must be equal."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from coordination import services
from coordination.models import Discrepancy, DiscrepancyKind, RequestStatus
from inventory.models import Item, Stock
from tests.factories import ItemFactory, stock_with

from .conftest import count_discrepancy_on, shortfall_on

# The queries of a page with its rows: the session and user, the access profile (nations, centers, coordinator),
# the bell's unread count, the page's count and rows, and a handful of related lookups.  Generous enough for a
# small change to a page, far below one query per row for 40 rows.
CEILING = {
    "stocks": 12,
    "requests": 13,  # its filters' dropdowns read the nations and the centers: one query each
    "shortfalls": 15,  # grouped per stock: its dropdowns (nations, centers), the last run, the rows' stocks
    "discrepancies": 12,
    "center": 15,
    "request": 13,
    "stock": 18,
    "dashboard": 34,
}  # the dashboard: four queues, flags by severity, four charts, activity


def add_stocks(world, n: int) -> list[Stock]:
    """`n` more FRA stocks at MLC-A, of new items, some shared, some below safety (and flagged: see callers)."""
    stocks = []
    start = Item.objects.count()
    for i in range(n):
        item = ItemFactory(nsn=f"8970-14-{start + i:03d}-{1000 + start + i:04d}", name=f"Item {start + i}")
        stocks.append(
            stock_with(
                100 + i,
                actor=world.seeder,
                nation=world.fra,
                center=world.mlc_a,
                item=item,
                shared=bool(i % 2),
                safety_level=150 if i % 3 == 0 else 20,
            )
        )
    return stocks


def add_requests(world, n: int) -> None:
    """`n` more FRA -> DEU requests in every open status, each with its timeline."""
    statuses = [RequestStatus.DRAFT, RequestStatus.SUBMITTED, RequestStatus.APPROVED, RequestStatus.DISPATCHED]
    for i in range(n):
        request = services.create_request(
            requester=world.users["fra_logistics"],
            requesting_nation=world.fra,
            supplying_nation=world.deu,
            item=world.fuel,
            source_center=world.mlc_a,
            destination_center=world.nat_f,
            quantity=1,
            required_by=timezone.localdate() + dt.timedelta(days=5 + i),
            justification="Query count",
        )
        status = statuses[i % len(statuses)]
        if status != RequestStatus.DRAFT:
            request = services.submit_request(request=request, actor=world.users["fra_logistics"])
        if status in (RequestStatus.APPROVED, RequestStatus.DISPATCHED):
            request = services.approve_request(request=request, approver=world.users["deu_liaison"])
        if status == RequestStatus.DISPATCHED:
            services.dispatch_request(request=request, actor=world.users["deu_logistics"])


def add_shortfalls(world, n: int) -> None:
    for i, stock in enumerate(add_stocks(world, n)):
        flag = shortfall_on(stock, severity="critical" if i % 2 else "warning")
        if i % 3 == 0:  # some acknowledged: the acknowledger's name is shown
            services.acknowledge_flag(flag=flag, user=world.users["fra_logistics"])


def add_discrepancies(world, n: int) -> None:
    for i, stock in enumerate(add_stocks(world, n)):
        flag = count_discrepancy_on(stock, counted=stock.on_hand - 1, by=world.users["mlc_a_operator"])
        if i % 3 == 0:
            services.acknowledge_flag(flag=flag, user=world.users["fra_logistics"])
        if i % 4 == 0:  # and some on requests (a short receipt), shown with the request
            request = services.create_request(
                requester=world.users["fra_logistics"],
                requesting_nation=world.fra,
                supplying_nation=world.deu,
                item=world.fuel,
                source_center=world.mlc_a,
                destination_center=world.nat_f,
                quantity=1,
                required_by=timezone.localdate() + dt.timedelta(days=5),
                justification="Query count",
            )
            Discrepancy.objects.create(
                kind=DiscrepancyKind.SHORT_RECEIPT,
                request=request,
                expected=1,
                actual=0,
                first_seen=flag.first_seen,
                last_seen=flag.last_seen,
            )


PAGES = {
    # page: (user, url, what to add per row)
    "stocks": ("fra_logistics", lambda w: reverse("stock-list"), add_stocks),
    "requests": ("fra_logistics", lambda w: reverse("request-list"), add_requests),
    "shortfalls": ("fra_logistics", lambda w: reverse("shortfall-list"), add_shortfalls),
    "discrepancies": ("fra_logistics", lambda w: reverse("discrepancy-list"), add_discrepancies),
    "center": ("fra_logistics", lambda w: reverse("center-detail", args=["MLC-A"]), add_stocks),
    "dashboard": ("fra_logistics", lambda w: reverse("home"), lambda w, n: (add_requests(w, n), add_shortfalls(w, n))),
    "request": ("deu_liaison", None, None),
    "stock": ("fra_logistics", None, None),
}


def measure(client, url: str, ceiling: int, django_assert_max_num_queries) -> int:
    with django_assert_max_num_queries(ceiling) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("page", ["stocks", "requests", "shortfalls", "discrepancies", "center", "dashboard"])
def test_list_page_queries_do_not_grow_with_rows(world, browser, django_assert_max_num_queries, page):
    user, url_of, add = PAGES[page]
    client = browser(user)
    url = url_of(world)
    add(world, 5)
    client.get(url)  # warm: first-request caches (content types, sessions) are not the page's cost
    with_5 = measure(client, url, CEILING[page], django_assert_max_num_queries)
    add(world, 35)
    with_40 = measure(client, url, CEILING[page], django_assert_max_num_queries)
    assert with_40 == with_5, f"{page}: {with_5} queries with 5 rows, {with_40} with 40"


def test_stock_list_csv_export_queries_do_not_grow_with_rows(world, browser, django_assert_max_num_queries):
    client = browser("fra_logistics")
    url = reverse("stock-list") + "?format=csv"
    counts = []
    for n in (5, 35):
        add_stocks(world, n)
        with django_assert_max_num_queries(CEILING["stocks"]) as captured:
            response = client.get(url)
            body = b"".join(response.streaming_content)  # the rows are read while streaming
        counts.append(len(captured.captured_queries))
        assert body.count(b"\n") == 1 + Stock.objects.filter(nation=world.fra).count() + 1  # + DEU's shared fuel
    assert counts[0] == counts[1]


def test_request_page_queries_do_not_grow_with_its_timeline(world, browser, django_assert_max_num_queries):
    from .conftest import make_request

    request = make_request(world)
    client = browser("deu_liaison")
    url = reverse("request-detail-page", args=[request.pk])
    client.get(url)
    short = measure(client, url, CEILING["request"], django_assert_max_num_queries)
    for i in range(10):  # a longer timeline, by several people
        request.events.create(
            from_status=RequestStatus.SUBMITTED,
            to_status=RequestStatus.SUBMITTED,
            actor=world.users[["fra_logistics", "deu_liaison"][i % 2]],
            at=timezone.now(),
            comment=f"note {i}",
        )
    long = measure(client, url, CEILING["request"], django_assert_max_num_queries)
    assert long == short


def test_stock_page_queries_do_not_grow_with_its_ledger(world, browser, django_assert_max_num_queries):
    from inventory.services import adjust_stock

    stock = world.stocks["fra_private"]
    client = browser("fra_logistics")
    url = reverse("stock-detail", args=[stock.pk])
    client.get(url)
    short = measure(client, url, CEILING["stock"], django_assert_max_num_queries)
    for i in range(30):
        actor = world.users["fra_logistics"] if i % 2 else world.users["dual_hat"]  # two names in the ledger
        adjust_stock(stock=stock, delta=1, actor=actor, reason=f"adjustment {i}")
    long = measure(client, url, CEILING["stock"], django_assert_max_num_queries)
    assert long == short
