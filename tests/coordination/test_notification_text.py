"""What a request's notices say (issue 14, observation 7): the quantities so far, the comment, and the next step;
the source center's operators are told to dispatch an approved request, the destination's to receive a dispatched
one; nobody who may not see the request is told, and every notice's link opens for its reader."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from coordination import services
from coordination.models import EventType, Notification, RequestStatus
from tests.web import conftest as web_pages
from tests.web.conftest import make_request

pytestmark = pytest.mark.django_db

world, browser = web_pages.world, web_pages.browser  # the scenario and its signed-in browsers, as the page tests'
FRA_LOGISTICS = {"fra-logistics", "dual-hat"}  # the scenario's dual-hat is FRA's logistics officer too


def notice(world, user: str, event: str) -> Notification:
    return Notification.objects.get(user=world.users[user], event=event)


def told(event: str) -> set[str]:
    return set(Notification.objects.filter(event=event).values_list("user__username", flat=True))


def test_an_approval_tells_the_requester_the_quantities_the_comment_and_what_comes_next(world):
    request = make_request(world, quantity=10)

    services.approve_request(
        request=request, approver=world.users["deu_liaison"], quantity=6, comment="Rest held for exercise"
    )

    note = notice(world, "fra_logistics", EventType.REQUEST_APPROVED)
    assert note.title == f"{request.reference}: request approved"
    for line in (
        "FRA asks DEU for 10 L × 9130-12-000-0002 Diesel fuel (MLC-A → NAT-F).",
        "Requested: 10 L",
        "Approved: 6 L",
        "Comment: Rest held for exercise",
        "Next: MLC-A dispatches 6 L to NAT-F.",
        "4 L were not approved: raise the remainder from the next source.",
    ):
        assert line in note.body.splitlines(), (line, note.body)
    assert "Dispatched" not in note.body  # no figure before it exists


def test_the_source_centers_operators_are_told_to_dispatch(world):
    request = make_request(world, quantity=10)

    services.approve_request(request=request, approver=world.users["deu_liaison"], quantity=6)

    assert told(EventType.REQUEST_APPROVED) == FRA_LOGISTICS | {"mlc-a-operator"}
    note = notice(world, "mlc_a_operator", EventType.REQUEST_APPROVED)
    assert note.title == f"{request.reference}: dispatch 6 L from MLC-A"
    assert "Next: dispatch 6 L from MLC-A to NAT-F." in note.body
    assert "raise the remainder" not in note.body  # the requester's business, not the operators'


def test_the_destinations_operators_are_told_to_receive(world):
    request = make_request(world, RequestStatus.APPROVED, quantity=8)

    services.dispatch_request(request=request, actor=world.users["mlc_a_operator"], comment="Truck 12, ETA 18:00")

    assert told(EventType.REQUEST_DISPATCHED) == FRA_LOGISTICS | {"nat-f-operator"}
    note = notice(world, "nat_f_operator", EventType.REQUEST_DISPATCHED)
    assert note.title == f"{request.reference}: receive 8 L at NAT-F"
    for line in (
        "Dispatched: 8 L",
        "Comment: Truck 12, ETA 18:00",
        "Next: receive 8 L at NAT-F and book what arrived.",
    ):
        assert line in note.body.splitlines(), (line, note.body)


def test_a_short_receipt_tells_what_is_missing_and_how_to_follow_it_up(world):
    request = make_request(world, RequestStatus.DISPATCHED, quantity=8)

    services.receive_request(request=request, actor=world.users["nat_f_operator"], quantity=5, comment="3 damaged")

    note = notice(world, "fra_logistics", EventType.REQUEST_RECEIVED)
    for line in ("Received: 5 L", "Comment: 3 damaged"):
        assert line in note.body.splitlines()
    assert "3 L did not arrive: a short-receipt discrepancy is open." in note.body


def test_a_full_receipt_says_nothing_more_is_to_be_done(world):
    request = make_request(world, RequestStatus.RECEIVED, quantity=8)

    assert "Received in full: nothing more to do." in notice(world, "fra_logistics", EventType.REQUEST_RECEIVED).body
    assert request.quantity_received == 8


def test_a_refusal_gives_its_reason_and_proposes_another_source(world):
    request = make_request(world)

    services.reject_request(request=request, approver=world.users["deu_liaison"], reason="Held for exercise")

    body = notice(world, "fra_logistics", EventType.REQUEST_REJECTED).body
    assert "Reason for the refusal: Held for exercise" in body
    assert "Next: raise the 7 L from another source." in body


def test_a_submission_points_the_liaison_officer_to_the_approval_queue(world):
    make_request(world)

    assert "approval queue" in notice(world, "deu_liaison", EventType.REQUEST_SUBMITTED).body


def test_nobody_who_may_not_see_the_request_is_told_and_every_link_opens(world, browser):
    request = make_request(world, RequestStatus.RECEIVED)

    readers = set(Notification.objects.values_list("user__username", flat=True))

    # the two nations' officers and the two centers' operators see a request: ITA's people, NAT-B's operator and
    # the service accounts hear nothing
    assert readers == FRA_LOGISTICS | {"deu-liaison", "mlc-a-operator", "nat-f-operator"}
    for note in Notification.objects.select_related("user"):
        name = note.user.username.replace("-", "_")
        assert note.link == reverse("request-detail-page", args=[request.pk])
        assert browser(name).get(note.link).status_code == 200, name


def test_operators_notices_are_emailed_with_the_same_text(world, django_capture_on_commit_callbacks):
    operator = world.users["mlc_a_operator"]
    operator.email = "mlc-a.ops@example.org"
    operator.save()
    request = make_request(world, quantity=10)

    with django_capture_on_commit_callbacks(execute=True):
        services.approve_request(request=request, approver=world.users["deu_liaison"], quantity=10)

    [sent] = [m for m in mail.outbox if m.to == ["mlc-a.ops@example.org"]]
    note = notice(world, "mlc_a_operator", EventType.REQUEST_APPROVED)
    assert sent.subject == f"[Alliance Logistics] {request.reference}: dispatch 10 L from MLC-A"
    assert sent.body == note.body


def test_a_dual_hatted_reader_gets_one_notice(world):
    # FRA's logistics officer who also operates NAT-F hears of the dispatch once, as the requester
    from nations import access

    access.grant_role(world.users["fra_logistics"], access.Role.OPERATOR, world.nat_f)
    request = make_request(world, RequestStatus.APPROVED)

    services.dispatch_request(request=request, actor=world.users["deu_logistics"])

    assert (
        Notification.objects.filter(user=world.users["fra_logistics"], event=EventType.REQUEST_DISPATCHED).count() == 1
    )
