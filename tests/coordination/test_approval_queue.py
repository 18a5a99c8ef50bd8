"""The liaison officer's approval queue (issue 14): the requests addressed to their nations, urgent first then by
required-by date, with the supplier's stock beside each; bulk approve / reject, each request through its own
service and transaction, a refusal reported on its row and changing nothing for it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from coordination.models import Priority, RequestEvent, RequestStatus, SupplyRequest
from inventory.models import Stock
from tests.web import conftest as web_pages
from tests.web.conftest import HTMX, books, make_request, raise_request

pytestmark = pytest.mark.django_db

world, browser = web_pages.world, web_pages.browser  # the scenario and its signed-in browsers, as the page tests'


QUEUE = "/requests/approvals/"


def queued(html: str) -> list[str]:
    """The references of the queue's rows, in order."""
    return re.findall(r'<tr data-testid="queue-row">.*?>(REQ-\d+)</a>', html, flags=re.S)


def results(html: str) -> list[str]:
    rows = re.findall(r'data-testid="bulk-result">(.*?)</tr>', html, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", row)).strip() for row in rows]


# The queue sorts by priority designator (issue 16): urgent, priority and routine raised at FAD IV (the default)
# are 07, 09 and 14, the order the three priorities always had.
DESIGNATOR_AT_FAD_IV = {Priority.URGENT: 7, Priority.PRIORITY: 9, Priority.ROUTINE: 14}


def request_of(world, *, priority=Priority.ROUTINE, in_days=10, quantity=7, **extra) -> SupplyRequest:
    request = make_request(world, quantity=quantity, required_by=timezone.localdate() + dt.timedelta(days=in_days))
    SupplyRequest.objects.filter(pk=request.pk).update(
        priority=priority, priority_designator=DESIGNATOR_AT_FAD_IV[priority]
    )
    return request


def test_the_queue_lists_urgent_first_then_by_required_by_date(world, browser):
    routine_soon = request_of(world, in_days=2)
    urgent_late = request_of(world, priority=Priority.URGENT, in_days=20)
    priority_soon = request_of(world, priority=Priority.PRIORITY, in_days=3)
    urgent_soon = request_of(world, priority=Priority.URGENT, in_days=5)
    make_request(world, RequestStatus.APPROVED)  # decided: not waiting

    response = browser("deu_liaison").get(QUEUE)

    assert response.status_code == 200
    expected = [urgent_soon, urgent_late, priority_soon, routine_soon]
    assert queued(response.content.decode()) == [r.reference for r in expected]


def test_each_row_shows_the_suppliers_available_and_safety_level(world, browser):
    Stock.objects.filter(pk=world.stocks["deu_shared"].pk).update(safety_level=180)
    make_request(world, quantity=30)

    html = browser("deu_liaison").get(QUEUE).content.decode()

    row = re.search(r'<tr data-testid="queue-row">(.*?)</tr>', html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[-3:] == ["200", "180", "170 · below safety"]


def test_bulk_approve_approves_what_it_can_and_reports_each_refusal(world, browser):
    stock = world.stocks["deu_shared"]  # 200 available
    fits = make_request(world, quantity=50)
    too_big = make_request(world, quantity=300)  # 409: not enough stock
    already = make_request(world, RequestStatus.APPROVED, quantity=5)  # 409: decided already
    # DEU asks FRA: deu-liaison sees it but may not approve it (403)
    not_theirs = raise_request(
        world, by="deu_logistics", nation=world.deu, supplier=world.fra, item=world.rations,
        source=world.mlc_a, destination=world.mlc_a, submit=True,
    )  # fmt: skip
    # ITA asks FRA: deu-liaison may not see it (404, as a missing one)
    hidden = raise_request(
        world, by="ita_logistics", nation=world.ita, supplier=world.fra, item=world.fuel,
        source=world.mlc_a, destination=world.nat_b, submit=True,
    )  # fmt: skip
    untouched = {r.pk: (r.status, r.events.count()) for r in (too_big, not_theirs, hidden)}
    books_before = books(stock)

    response = browser("deu_liaison").post(
        QUEUE,
        {
            "decision": "approve",
            "comment": "Bulk",
            "request": [fits.pk, too_big.pk, already.pk, not_theirs.pk, hidden.pk],
        },
        headers=HTMX,
    )

    assert response.status_code == 200  # something went through; each row says how
    html = response.content.decode()
    rows = results(html)
    assert rows[0].startswith(fits.reference) and "Approved 50 L; MLC-A can dispatch." in rows[0]
    assert rows[1].startswith(too_big.reference) and "(409)" in rows[1] and "Only 145 available" in rows[1]
    assert rows[2].startswith(already.reference) and "(409)" in rows[2]
    assert rows[3].startswith(not_theirs.reference) and "(403)" in rows[3]
    assert rows[4] == f"#{hidden.pk} Not done (404): No such request."
    assert hidden.reference not in html
    fits.refresh_from_db()
    assert fits.status == RequestStatus.APPROVED and fits.quantity_approved == 50
    assert RequestEvent.objects.filter(request=fits, to_status=RequestStatus.APPROVED, comment="Bulk").exists()
    stock.refresh_from_db()
    assert stock.reserved == books_before[1] + 50  # only the one that went through reserved anything
    for pk, before in untouched.items():
        request = SupplyRequest.objects.get(pk=pk)
        assert (request.status, request.events.count()) == before
    assert fits.reference not in queued(html) and too_big.reference in queued(html)


def test_bulk_reject_gives_every_request_the_one_reason(world, browser):
    first, second = make_request(world), make_request(world)

    response = browser("deu_liaison").post(
        QUEUE, {"decision": "reject", "comment": "Stock held for exercise", "request": [first.pk, second.pk]}
    )

    assert response.status_code == 200
    for request in (first, second):
        request.refresh_from_db()
        assert request.status == RequestStatus.REJECTED
        assert request.events.get(to_status=RequestStatus.REJECTED).comment == "Stock held for exercise"
    assert "2 requests rejected." in response.content.decode()


@pytest.mark.parametrize(
    ("decision", "comment", "chosen", "message"),
    [
        ("reject", " ", True, "Give the reason for the refusal"),
        ("approve", "", False, "Select at least one request."),
        ("destroy", "", True, "Choose to approve or to reject."),
    ],
)
def test_a_decision_that_cannot_apply_changes_nothing(world, browser, decision, comment, chosen, message):
    request = make_request(world)
    stock_before = books(world.stocks["deu_shared"])

    response = browser("deu_liaison").post(
        QUEUE, {"decision": decision, "comment": comment, "request": [request.pk] if chosen else []}
    )

    assert response.status_code == 400
    assert message in response.content.decode()
    request.refresh_from_db()
    assert request.status == RequestStatus.SUBMITTED
    assert books(world.stocks["deu_shared"]) == stock_before


def test_all_refused_answers_the_refusals_status(world, browser):
    request = make_request(world, quantity=300)  # more than the 200 available

    response = browser("deu_liaison").post(QUEUE, {"decision": "approve", "request": [request.pk]}, headers=HTMX)

    assert response.status_code == 409
    request.refresh_from_db()
    assert request.status == RequestStatus.SUBMITTED


def test_the_author_of_a_request_never_sees_it_in_their_queue_nor_approves_it(world, browser):
    # dual-hat: FRA's logistics officer and DEU's liaison officer (separation of duties)
    own = make_request(world, creator="dual_hat")

    client = browser("dual_hat")
    assert own.reference not in queued(client.get(QUEUE).content.decode())
    response = client.post(QUEUE, {"decision": "approve", "request": [own.pk]}, headers=HTMX)

    assert response.status_code == 403
    own.refresh_from_db()
    assert own.status == RequestStatus.SUBMITTED


def test_someone_who_is_no_liaison_officer_has_an_empty_queue_and_decides_nothing(world, browser):
    request = make_request(world)

    client = browser("fra_logistics")
    html = client.get(QUEUE).content.decode()
    response = client.post(QUEUE, {"decision": "approve", "request": [request.pk]}, headers=HTMX)

    assert "no request waits for your approval" in html and queued(html) == []
    assert response.status_code == 403
    request.refresh_from_db()
    assert request.status == RequestStatus.SUBMITTED


def test_visitors_are_sent_to_sign_in(world, browser):
    response = Client().post(QUEUE, {"decision": "approve", "request": [make_request(world).pk]})

    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_queue_reads_no_query_per_row(world, browser):
    client = browser("deu_liaison")
    make_request(world)
    client.get(QUEUE)  # session, profile and template caches warm

    with CaptureQueriesContext(connection) as one_row:
        client.get(QUEUE)
    for _ in range(6):
        make_request(world)
    with CaptureQueriesContext(connection) as seven_rows:
        html = client.get(QUEUE).content.decode()

    assert len(queued(html)) == 7
    assert len(seven_rows) == len(one_row)


def test_the_dashboard_card_links_to_the_queue(world, browser):
    make_request(world)

    html = browser("deu_liaison").get(reverse("home")).content.decode()

    assert f'href="{reverse("approval-queue")}"' in html
