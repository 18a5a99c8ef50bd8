"""Follow-ups on the request page (issue 14, observation 8): the remainder of a request approved short, refused or
received short is offered to the requesting nation's logistics officers as a new request from the next source;
receipt takes a comment, kept on the timeline; the request shows its own discrepancies."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from coordination import services
from coordination.models import Discrepancy, DiscrepancyKind, RequestEvent, RequestStatus
from tests.web import conftest as web_pages
from tests.web.conftest import HTMX, make_request

pytestmark = pytest.mark.django_db

world, browser = web_pages.world, web_pages.browser  # the scenario and its signed-in browsers, as the page tests'


def page(browser, name: str, request) -> str:
    response = browser(name).get(reverse("request-detail-page", args=[request.pk]))
    assert response.status_code == 200
    return response.content.decode()


def follow_up_link(request) -> str:
    return f'href="{reverse("request-new")}?follow_up={request.pk}"'


def approved_short(world, *, requested=10, approved=6):
    request = make_request(world, quantity=requested)
    return services.approve_request(request=request, approver=world.users["deu_liaison"], quantity=approved)


def test_a_partial_approval_offers_the_requester_the_remainder_from_the_next_source(world, browser):
    request = approved_short(world)

    html = page(browser, "fra_logistics", request)

    assert follow_up_link(request) in html
    assert "Raise the remainder (4 L) from the next source" in html


@pytest.mark.parametrize("viewer", ["deu_liaison", "fra_liaison", "mlc_a_operator", "coordinator"])
def test_only_the_requesting_nations_logistics_officers_are_offered_the_follow_up(world, browser, viewer):
    request = approved_short(world)

    assert 'data-testid="follow-up"' not in page(browser, viewer, request)


@pytest.mark.parametrize("status", [RequestStatus.SUBMITTED, RequestStatus.APPROVED, RequestStatus.RECEIVED])
def test_nothing_missing_offers_no_follow_up(world, browser, status):
    request = make_request(world, status)  # approved and received in full

    assert 'data-testid="follow-up"' not in page(browser, "fra_logistics", request)


def test_a_refused_request_offers_the_whole_quantity(world, browser):
    request = make_request(world, RequestStatus.REJECTED, quantity=9)

    html = page(browser, "fra_logistics", request)

    assert follow_up_link(request) in html and "Raise the remainder (9 L)" in html


def test_receipt_takes_a_comment_kept_on_the_timeline(world, browser):
    request = make_request(world, RequestStatus.DISPATCHED, quantity=7)

    response = browser("nat_f_operator").post(
        reverse("request-action", args=[request.pk, "receive"]),
        {"quantity": 5, "comment": "Two jerrycans leaking, set aside"},
        headers=HTMX,
    )

    assert response.status_code == 200
    event = RequestEvent.objects.get(request=request, to_status=RequestStatus.RECEIVED)
    assert (event.quantity, event.comment) == (5, "Two jerrycans leaking, set aside")
    assert "Two jerrycans leaking, set aside" in response.content.decode()  # the timeline of the new panel


def test_the_receive_form_asks_for_a_comment(world, browser):
    request = make_request(world, RequestStatus.DISPATCHED)

    html = page(browser, "fra_logistics", request)

    assert 'id="id_receive_comment"' in html and 'name="comment"' in html


def test_a_short_receipt_shows_its_discrepancy_and_offers_the_remainder(world, browser):
    request = make_request(world, RequestStatus.DISPATCHED, quantity=7)
    services.receive_request(request=request, actor=world.users["nat_f_operator"], quantity=4, comment="Short")

    html = page(browser, "fra_logistics", request)

    section = html[html.index('data-testid="request-discrepancies"') :]
    assert "Less received than dispatched" in section
    assert '<td class="num">7</td><td class="num">4</td>' in section  # expected, actual
    flag = Discrepancy.objects.get(request=request, kind=DiscrepancyKind.SHORT_RECEIPT)
    assert f'action="/flags/discrepancies/{flag.pk}/acknowledge/"' in section  # addressed to FRA: it can acknowledge
    assert "Raise the remainder (3 L)" in html


def test_every_discrepancy_linked_to_the_request_is_shown_and_no_other(world, browser):
    request = make_request(world, RequestStatus.APPROVED)
    other = make_request(world, RequestStatus.APPROVED)
    now = timezone.now()
    Discrepancy.objects.create(
        kind=DiscrepancyKind.OVERDUE_DISPATCH, request=request, first_seen=now, last_seen=now, expected=7
    )
    Discrepancy.objects.create(
        kind=DiscrepancyKind.OVERDUE_DISPATCH, request=other, first_seen=now, last_seen=now, expected=99
    )

    html = page(browser, "nat_f_operator", request)

    section = html[html.index('data-testid="request-discrepancies"') :]
    assert section.count("<tr>") == 1 + 1  # the header and the request's own flag
    assert ">99<" not in section


def test_a_request_without_discrepancies_shows_no_section(world, browser):
    assert 'data-testid="request-discrepancies"' not in page(browser, "fra_logistics", make_request(world))
