"""Request pages and actions: the buttons each role is offered, and each action answered as the API answers it
(403 refused right, 404 invisible, 409 wrong state, 400 bad input; nothing changes on refusal), through htmx
(a fragment with the status) and as a plain form post (the page, or a redirect on success)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from coordination.models import RequestEvent, RequestStatus, SupplyRequest
from tests.api.conftest import assert_books_reconcile

from .conftest import HTMX, books, form_actions, make_request

ACTIONS = ("submit", "approve", "reject", "dispatch", "receive", "cancel")
VALID_BODY = {"approve": {"quantity": "7"}, "reject": {"reason": "Not this week"}, "receive": {"quantity": "7"}}


def action_url(request, action: str) -> str:
    return reverse("request-action", args=[request.pk, action])


def offered(client, request) -> set[str]:
    html = client.get(reverse("request-detail-page", args=[request.pk])).content.decode()
    return {a for a in ACTIONS if action_url(request, a) in form_actions(html)}


def snapshot(request, world) -> tuple:
    request.refresh_from_db()
    return (
        request.status,
        request.quantity_approved,
        request.quantity_dispatched,
        request.quantity_received,
        request.version,
        RequestEvent.objects.filter(request=request).count(),
        books(world.stocks["deu_shared"]),
    )


# --- the buttons on a request page ---------------------------------------------------------------------------------

# status -> role -> the action buttons that role is offered on a FRA -> DEU request raised by fra_logistics.
BUTTONS = {
    RequestStatus.DRAFT: {
        "fra_logistics": {"submit", "cancel"},
        "dual_hat": {"submit", "cancel"},
        "fra_liaison": set(),
        "deu_liaison": set(),
        "deu_logistics": set(),
        "mlc_a_operator": set(),
        "nat_f_operator": set(),
        "coordinator": set(),
    },
    RequestStatus.SUBMITTED: {
        "fra_logistics": {"cancel"},
        "fra_liaison": set(),
        "deu_liaison": {"approve", "reject"},
        "dual_hat": {"cancel"},  # DEU's liaison officer, but also FRA's logistics officer: never decides FRA's
        "deu_logistics": set(),
        "mlc_a_operator": set(),
        "nat_f_operator": set(),
        "coordinator": set(),
    },
    RequestStatus.APPROVED: {
        "fra_logistics": {"cancel"},
        "dual_hat": {"cancel"},
        "fra_liaison": set(),
        "deu_liaison": set(),
        "deu_logistics": {"dispatch"},
        "mlc_a_operator": {"dispatch"},
        "nat_f_operator": set(),
        "coordinator": set(),
    },
    RequestStatus.DISPATCHED: {
        "fra_logistics": {"receive"},
        "dual_hat": {"receive"},
        "fra_liaison": set(),
        "deu_liaison": set(),
        "deu_logistics": set(),
        "mlc_a_operator": set(),
        "nat_f_operator": {"receive"},
        "coordinator": set(),
    },
    RequestStatus.RECEIVED: {
        user: set()
        for user in ("fra_logistics", "deu_liaison", "deu_logistics", "mlc_a_operator", "nat_f_operator", "coordinator")
    },
    RequestStatus.REJECTED: {user: set() for user in ("fra_logistics", "deu_liaison", "coordinator")},
    RequestStatus.CANCELLED: {user: set() for user in ("fra_logistics", "deu_liaison", "coordinator")},
}


@pytest.mark.parametrize("status", list(BUTTONS))
def test_request_page_offers_exactly_the_actions_the_role_may_take(world, browser, status):
    request = make_request(world, status)
    for user, expected in BUTTONS[status].items():
        assert offered(browser(user), request) == expected, (status, user)


def test_whoever_raised_a_request_is_never_offered_to_approve_it(world, browser):
    # dual_hat is FRA's logistics officer and DEU's liaison officer: DEU's approver, unless they raised it.
    own = make_request(world, creator="dual_hat")
    assert offered(browser("dual_hat"), own) == {"cancel"}
    assert offered(browser("deu_liaison"), own) == {"approve", "reject"}


def test_approve_form_offers_the_requested_quantity_and_receive_form_the_dispatched_one(world, browser):
    submitted = make_request(world, quantity=9)
    html = browser("deu_liaison").get(reverse("request-detail-page", args=[submitted.pk])).content.decode()
    assert 'name="quantity" value="9"' in html
    assert 'name="reason"' in html and "required" in html.split('name="reason"')[1].split(">")[0]
    dispatched = make_request(world, RequestStatus.DISPATCHED, quantity=6)
    html = browser("nat_f_operator").get(reverse("request-detail-page", args=[dispatched.pk])).content.decode()
    assert 'name="quantity" value="6"' in html


def test_timeline_shows_every_step_with_its_actor(world, browser):
    request = make_request(world, RequestStatus.DISPATCHED)
    html = browser("coordinator").get(reverse("request-detail-page", args=[request.pk])).content.decode()
    timeline = html.split('class="timeline"')[1]
    for status, actor in (
        ("Draft", "fra-logistics"),
        ("Submitted", "fra-logistics"),
        ("Approved", "deu-liaison"),
        ("Dispatched", "deu-logistics"),
    ):
        assert f"<strong>{status}</strong>" in timeline and actor in timeline


# --- actions that succeed ------------------------------------------------------------------------------------------


def test_the_whole_lifecycle_through_htmx_answers_fragments_and_books_every_step(world, browser):
    request = make_request(world, RequestStatus.DRAFT)
    stock = world.stocks["deu_shared"]
    steps = [
        ("fra_logistics", "submit", {}, "Submitted"),
        ("deu_liaison", "approve", {"quantity": "5", "comment": "Five is what we can spare"}, "Approved"),
        ("mlc_a_operator", "dispatch", {}, "Dispatched"),
        ("nat_f_operator", "receive", {"quantity": "5"}, "Received"),
    ]
    for user, action, body, label in steps:
        response = browser(user).post(action_url(request, action), body, headers=HTMX)
        assert response.status_code == 200, (action, response.content)
        html = response.content.decode()
        assert html.startswith('<div id="request-panel"')  # the fragment, not the page
        assert f'data-testid="status">{label}<' in html
        assert f"Done: the request is now {label.lower()}." in html
    request.refresh_from_db()
    assert (request.status, request.quantity_approved, request.quantity_received) == ("received", 5, 5)
    stock.refresh_from_db()
    assert (stock.on_hand, stock.reserved) == (195, 0)
    assert_books_reconcile()


def test_a_plain_post_redirects_to_the_request_page_with_a_message(world, browser):
    request = make_request(world)
    client = browser("deu_liaison")
    response = client.post(action_url(request, "approve"), {"quantity": "7"})
    assert response.status_code == 302
    assert response["Location"] == reverse("request-detail-page", args=[request.pk])
    page = client.get(response["Location"]).content.decode()
    assert "Done: the request is now approved." in page
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED and request.quantity_approved == 7
    assert world.stocks["deu_shared"].__class__.objects.get(pk=world.stocks["deu_shared"].pk).reserved == 7


def test_reject_needs_a_reason_and_records_it(world, browser):
    request = make_request(world)
    response = browser("deu_liaison").post(
        action_url(request, "reject"), {"reason": "Stock held for exercise"}, headers=HTMX
    )
    assert response.status_code == 200
    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED
    assert request.events.order_by("-id").first().comment == "Stock held for exercise"


def test_cancelling_an_approved_request_releases_its_reservation(world, browser):
    request = make_request(world, RequestStatus.APPROVED)
    response = browser("fra_logistics").post(action_url(request, "cancel"), headers=HTMX)
    assert response.status_code == 200
    world.stocks["deu_shared"].refresh_from_db()
    assert world.stocks["deu_shared"].reserved == 0
    assert_books_reconcile()


# --- 404: a request the user may not see ----------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["ita_logistics", "ita_liaison", "nat_b_operator", "no_role"])
@pytest.mark.parametrize("action", ACTIONS)
def test_actions_on_a_request_between_two_other_nations_are_404(world, browser, user, action):
    request = make_request(world, RequestStatus.DRAFT if action == "submit" else RequestStatus.SUBMITTED)
    before = snapshot(request, world)
    for headers in ({}, HTMX):
        response = browser(user).post(action_url(request, action), VALID_BODY.get(action, {}), headers=headers)
        assert response.status_code == 404, (user, action, headers)
    assert snapshot(request, world) == before


def test_an_action_on_a_missing_request_is_404(world, browser):
    assert (
        browser("deu_liaison").post(reverse("request-action", args=[999999, "approve"]), {"quantity": "1"}).status_code
        == 404
    )


def test_actions_answer_only_posts(world, browser):
    request = make_request(world)
    assert browser("deu_liaison").get(action_url(request, "approve")).status_code == 405


# --- 403: visible, not permitted ------------------------------------------------------------------------------------

# (user, status the request is in, action): each user sees the request but may not take the action.
FORBIDDEN = [
    ("mlc_a_operator", RequestStatus.SUBMITTED, "approve"),  # an operator approving
    ("mlc_a_operator", RequestStatus.SUBMITTED, "reject"),
    ("fra_logistics", RequestStatus.SUBMITTED, "approve"),  # the requester approving their own request
    ("dual_hat_own", RequestStatus.SUBMITTED, "approve"),  # DEU's liaison officer, but the request's author
    ("deu_logistics", RequestStatus.SUBMITTED, "approve"),  # the supplier, but not its liaison officer
    ("fra_liaison", RequestStatus.SUBMITTED, "approve"),  # the requester's liaison officer
    ("coordinator", RequestStatus.SUBMITTED, "approve"),
    ("deu_liaison", RequestStatus.DRAFT, "submit"),  # only the requester submits
    ("deu_liaison", RequestStatus.SUBMITTED, "cancel"),  # only the requester cancels
    ("fra_liaison", RequestStatus.DRAFT, "submit"),
    ("fra_logistics", RequestStatus.APPROVED, "dispatch"),  # only the supplier or the source center dispatches
    ("nat_f_operator", RequestStatus.APPROVED, "dispatch"),
    ("deu_liaison", RequestStatus.APPROVED, "dispatch"),
    ("deu_logistics", RequestStatus.DISPATCHED, "receive"),  # only the requester or the destination receives
    ("mlc_a_operator", RequestStatus.DISPATCHED, "receive"),
    ("coordinator", RequestStatus.DISPATCHED, "receive"),
]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
@pytest.mark.parametrize(("user", "status", "action"), FORBIDDEN)
def test_a_visible_request_refuses_an_action_the_role_may_not_take_with_403(world, browser, user, status, action, htmx):
    if user == "dual_hat_own":
        user, request = "dual_hat", make_request(world, status, creator="dual_hat")
    else:
        request = make_request(world, status)
    before = snapshot(request, world)
    body = {"quantity": "7", "reason": "No", "comment": ""}
    response = browser(user).post(action_url(request, action), body, headers=HTMX if htmx else {})
    assert response.status_code == 403, response.content
    html = response.content.decode()
    assert "You may not do that with this request." in html
    if htmx:
        assert html.startswith('<div id="request-panel"')
    else:
        assert "<html" in html
    assert snapshot(request, world) == before


# --- 409: wrong state -----------------------------------------------------------------------------------------------

# (user, status, action): the role may take the action in general, but not from this status.
WRONG_STATE = [
    ("deu_liaison", RequestStatus.APPROVED, "approve"),  # approved twice
    ("deu_liaison", RequestStatus.REJECTED, "approve"),
    ("deu_liaison", RequestStatus.APPROVED, "reject"),
    ("fra_logistics", RequestStatus.SUBMITTED, "submit"),
    ("fra_logistics", RequestStatus.DISPATCHED, "cancel"),  # too late to cancel
    ("fra_logistics", RequestStatus.RECEIVED, "cancel"),
    ("deu_logistics", RequestStatus.SUBMITTED, "dispatch"),  # not approved yet
    ("mlc_a_operator", RequestStatus.DISPATCHED, "dispatch"),  # dispatched twice
    ("nat_f_operator", RequestStatus.APPROVED, "receive"),  # not dispatched yet
    ("fra_logistics", RequestStatus.RECEIVED, "receive"),
]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
@pytest.mark.parametrize(("user", "status", "action"), WRONG_STATE)
def test_an_action_from_the_wrong_status_is_409_and_changes_nothing(world, browser, user, status, action, htmx):
    request = make_request(world, status)
    before = snapshot(request, world)
    response = browser(user).post(action_url(request, action), VALID_BODY.get(action, {}), headers=HTMX if htmx else {})
    assert response.status_code == 409, response.content
    html = response.content.decode()
    assert f"it cannot be {dict(RequestStatus.choices)[PAST[action]].lower()}" in html
    assert html.startswith('<div id="request-panel"') if htmx else "<html" in html
    assert snapshot(request, world) == before


PAST = {
    "submit": "submitted",
    "approve": "approved",
    "reject": "rejected",
    "dispatch": "dispatched",
    "receive": "received",
    "cancel": "cancelled",
}


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_approving_more_than_is_available_is_409_and_reserves_nothing(world, browser, htmx):
    stock = world.stocks["deu_shared"]  # 200 on hand
    request = make_request(world, quantity=250)
    before = snapshot(request, world)
    response = browser("deu_liaison").post(
        action_url(request, "approve"), {"quantity": "250"}, headers=HTMX if htmx else {}
    )
    assert response.status_code == 409
    assert "Only 200 available at MLC-A; cannot reserve 250." in response.content.decode()
    assert snapshot(request, world) == before
    stock.refresh_from_db()
    assert stock.reserved == 0


# --- 400: bad input -------------------------------------------------------------------------------------------------

BAD_INPUT = [
    ("deu_liaison", RequestStatus.SUBMITTED, "approve", {}),  # no quantity
    ("deu_liaison", RequestStatus.SUBMITTED, "approve", {"quantity": "0"}),
    ("deu_liaison", RequestStatus.SUBMITTED, "approve", {"quantity": "-3"}),
    ("deu_liaison", RequestStatus.SUBMITTED, "approve", {"quantity": "seven"}),
    ("deu_liaison", RequestStatus.SUBMITTED, "approve", {"quantity": "2.5"}),
    ("deu_liaison", RequestStatus.SUBMITTED, "approve", {"quantity": "8"}),  # more than the 7 requested
    ("deu_liaison", RequestStatus.SUBMITTED, "reject", {}),  # no reason
    ("deu_liaison", RequestStatus.SUBMITTED, "reject", {"reason": "   "}),
    ("nat_f_operator", RequestStatus.DISPATCHED, "receive", {}),
    ("nat_f_operator", RequestStatus.DISPATCHED, "receive", {"quantity": "-1"}),
    ("nat_f_operator", RequestStatus.DISPATCHED, "receive", {"quantity": "8"}),  # more than the 7 dispatched
    ("fra_logistics", RequestStatus.DRAFT, "submit", {"comment": "x" * 2001}),
]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
@pytest.mark.parametrize(("user", "status", "action", "body"), BAD_INPUT)
def test_bad_input_is_400_with_the_error_and_changes_nothing(world, browser, user, status, action, body, htmx):
    request = make_request(world, status)
    before = snapshot(request, world)
    response = browser(user).post(action_url(request, action), body, headers=HTMX if htmx else {})
    assert response.status_code == 400, response.content
    assert 'class="error" role="alert"' in response.content.decode()
    assert snapshot(request, world) == before


def test_an_unknown_action_is_404_and_changes_nothing(world, browser):
    request = make_request(world)
    before = snapshot(request, world)
    response = browser("deu_liaison").post(reverse("request-action", args=[request.pk, "delete"]))
    assert response.status_code == 404
    assert snapshot(request, world) == before


# --- new request and sourcing ---------------------------------------------------------------------------------------


def new_request_form(**overrides) -> dict:
    form = {
        "requesting_nation": "FRA",
        "nsn": "9130-12-000-0002",
        "quantity": "30",
        "destination_center": "NAT-F",
        "source_option": "DEU|MLC-A",
        "priority": "priority",
        "required_by": (timezone.localdate() + dt.timedelta(days=5)).isoformat(),
        "justification": "Exercise resupply",
        "submit_now": "on",
    }
    form.update(overrides)
    return form


def test_a_logistics_officer_raises_a_request_from_a_sourcing_suggestion(world, browser):
    response = browser("fra_logistics").post(reverse("request-new"), new_request_form())
    assert response.status_code == 302
    request = SupplyRequest.objects.get()
    assert response["Location"] == reverse("request-detail-page", args=[request.pk])
    assert (
        request.requesting_nation.code,
        request.supplying_nation.code,
        request.source_center.code,
        request.destination_center.code,
        request.quantity_requested,
        request.status,
        request.priority,
    ) == ("FRA", "DEU", "MLC-A", "NAT-F", 30, "submitted", "priority")
    assert request.created_by == world.users["fra_logistics"]


def test_a_supplier_chosen_by_hand_wins_over_the_pre_selected_suggestion(world, browser):
    # the page pre-selects the nearest suggestion (DEU at MLC-A); the officer picked ITA at NAT-B by hand
    form = new_request_form(supplying_nation="ITA", source_center="NAT-B")

    response = browser("fra_logistics").post(reverse("request-new"), form)

    assert response.status_code == 302, response.content.decode()[:2000]
    request = SupplyRequest.objects.get()
    assert (request.supplying_nation.code, request.source_center.code) == ("ITA", "NAT-B")


def test_half_a_hand_choice_is_refused_rather_than_mixed_with_the_suggestion(world, browser):
    response = browser("fra_logistics").post(reverse("request-new"), new_request_form(supplying_nation="ITA"))
    assert response.status_code == 400
    assert "Choose both the supplying nation and the source center" in response.content.decode()
    assert not SupplyRequest.objects.exists()


def test_a_request_without_submit_now_stays_a_draft(world, browser):
    form = new_request_form()
    del form["submit_now"]
    assert browser("fra_logistics").post(reverse("request-new"), form).status_code == 302
    assert SupplyRequest.objects.get().status == RequestStatus.DRAFT


@pytest.mark.parametrize("user", ["fra_liaison", "deu_liaison", "mlc_a_operator", "coordinator", "no_role"])
def test_only_logistics_officers_may_open_or_post_the_new_request_form(world, browser, user):
    assert browser(user).get(reverse("request-new")).status_code == 403
    assert browser(user).post(reverse("request-new"), new_request_form()).status_code == 403
    assert not SupplyRequest.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"requesting_nation": "DEU"},  # a nation the officer does not act for
        {"nsn": "0000-00-000-0000"},  # no such item
        {"quantity": "0"},
        {"quantity": "many"},
        {"destination_center": "NOWHERE"},
        {"required_by": "2001-01-01"},  # in the past
        {"justification": ""},
        {"priority": "whenever"},
        {"source_option": "", "supplying_nation": "", "source_center": ""},  # no supplier at all
        {"source_option": "FRA|MLC-A"},  # from itself
    ],
    ids=lambda o: ",".join(o),
)
def test_a_bad_new_request_is_400_and_creates_nothing(world, browser, overrides):
    response = browser("fra_logistics").post(reverse("request-new"), new_request_form(**overrides))
    assert response.status_code == 400, response.content
    assert "errorlist" in response.content.decode() or 'class="error"' in response.content.decode()
    assert not SupplyRequest.objects.exists()


def test_sourcing_suggests_only_shared_stock_the_user_may_see(world, browser):
    query = {"nsn": "9130-12-000-0002", "quantity": "30", "destination_center": "NAT-F"}
    html = browser("fra_logistics").get(reverse("request-sourcing"), query, headers=HTMX).content.decode()
    # DEU's shared fuel at MLC-A (FRA participates there); never ITA's shared fuel at NAT-B (FRA does not)
    assert 'value="DEU|MLC-A"' in html
    assert "ITA" not in html and "NAT-B" not in html


def test_sourcing_never_suggests_pushing_a_supplier_below_its_safety_level(world, browser):
    stock = world.stocks["deu_shared"]
    stock.safety_level = 180  # 200 on hand: 20 to spare
    stock.save(update_fields=["safety_level"])
    query = {"nsn": "9130-12-000-0002", "destination_center": "NAT-F"}
    client = browser("fra_logistics")
    assert 'value="DEU|MLC-A"' in client.get(reverse("request-sourcing"), {**query, "quantity": "20"}).content.decode()
    html = client.get(reverse("request-sourcing"), {**query, "quantity": "21"}).content.decode()
    assert 'value="DEU|MLC-A"' not in html and "Choose the supplier yourself below." in html


def test_sourcing_asks_for_item_quantity_and_destination_first(world, browser):
    html = browser("fra_logistics").get(reverse("request-sourcing"), {"nsn": "9130-12-000-0002"}).content.decode()
    assert "Choose an item, a quantity and a destination" in html
    html = (
        browser("fra_logistics")
        .get(reverse("request-sourcing"), {"nsn": "9130-12-000-0002", "quantity": "abc", "destination_center": "NAT-F"})
        .content.decode()
    )
    assert "Choose an item, a quantity and a destination" in html


def test_the_new_request_form_takes_an_nsn_typed_without_dashes(world, browser):
    form = new_request_form(nsn="9130120000002")  # fuel, 9130-12-000-0002

    assert browser("fra_logistics").post(reverse("request-new"), form).status_code == 302
    assert SupplyRequest.objects.get().item.nsn == "9130-12-000-0002"
