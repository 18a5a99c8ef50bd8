"""Priorities that mean something (issue 16, items 4 and 7): the UMMIPS priority designator from the force activity
designator and the urgency of need, shown on the pages and in the API, the order of every queue (designator, then
required-by date), the force activity designator set by coordinators only (page and API) for what is raised
afterwards, and the approval queue narrowed to one requisition with its "Approve all" / "Reject all"."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from coordination import priority, services
from coordination.designators import CELL, describe
from coordination.models import RequestStatus, SupplyRequest
from inventory.models import Stock
from nations.models import AuditEntry, AuditKind, Nation
from tests.api.conftest import assert_problem
from tests.requisitions.conftest import in_days, raise_requisition
from tests.scenario import session_clients, token_client

pytestmark = pytest.mark.django_db

QUEUE = "/requests/approvals/"

# The UMMIPS matrix (DoD 4140.01-M), written out independently of coordination/priority.py: FAD -> (A, B, C)
UMMIPS = {1: (1, 4, 11), 2: (2, 5, 12), 3: (3, 6, 13), 4: (7, 9, 14), 5: (8, 10, 15)}
CELLS = [(fad, urgency, row[i]) for fad, row in UMMIPS.items() for i, urgency in enumerate("ABC")]


@pytest.fixture
def as_user(world):
    return session_clients(world.users)


@pytest.fixture
def browser(world):
    clients: dict[str, Client] = {}

    def get(name: str) -> Client:
        if name not in clients:
            clients[name] = Client()
            clients[name].force_login(world.users[name])
        return clients[name]

    return get


def a_request(world, *, designator: int, in_days_: int, by: str = "fra_logistics", status=RequestStatus.SUBMITTED):
    """A FRA -> DEU fuel request from MLC-A, submitted, given `designator` and a required-by date."""
    request = services.create_request(
        requester=world.users[by],
        requesting_nation=world.fra,
        supplying_nation=world.deu,
        item=world.fuel,
        source_center=world.mlc_a,
        destination_center=world.nat_f,
        quantity=5,
        required_by=in_days(in_days_),
        justification="Exercise resupply",
        submit=status != RequestStatus.DRAFT,
    )
    SupplyRequest.objects.filter(pk=request.pk).update(priority_designator=designator)
    return request


def references(html: str, *, marker: str) -> list[str]:
    return re.findall(marker + r".*?>(REQ-\d+)</a>", html, flags=re.S)


# --- the matrix and the groups --------------------------------------------------------------------------------


@pytest.mark.parametrize(("fad", "urgency", "expected"), CELLS, ids=[f"FAD{f}-{u}" for f, u, _ in CELLS])
def test_each_cell_of_the_ummips_matrix_gives_its_designator(fad, urgency, expected):
    assert priority.designator(fad, urgency) == expected
    shown = describe(expected)
    # read backwards: the designator says which FAD and urgency made it
    assert (CELL[expected], shown.urgency) == ((fad, urgency), urgency)
    assert shown.activity_designator == ["I", "II", "III", "IV", "V"][fad - 1]
    assert shown.label == f"{expected:02d}"


def test_the_fifteen_cells_give_fifteen_different_designators():
    assert sorted(pd for _f, _u, pd in CELLS) == list(range(1, 16))


@pytest.mark.parametrize(
    ("designators", "group"), [((1, 2, 3), 1), ((4, 5, 6, 7, 8), 2), ((9, 10, 11, 12, 13, 14, 15), 3)]
)
def test_designators_fall_into_three_priority_groups(designators, group):
    for pd in designators:
        assert priority.group(pd) == group
        assert describe(pd).group == group
        assert describe(pd).explanation.startswith(f"Group {group} · FAD ")


def test_a_requisitions_requests_carry_its_designator_and_its_group_as_priority(world):
    req = raise_requisition(world, [(world.fuel, 300)], urgency="A")  # split DEU / ITA

    raised = list(req.requests.all())
    assert (req.activity_designator, req.priority_designator) == (4, 7)  # the default FAD IV with urgency A
    assert len(raised) == 2
    assert {(r.priority_designator, r.priority) for r in raised} == {(7, "priority")}  # 07 is in group 2


# --- shown on the pages and in the API -------------------------------------------------------------------------


def test_the_request_page_shows_the_designator_its_group_fad_and_urgency(world, browser):
    request = a_request(world, designator=5, in_days_=4)  # FAD II, urgency B

    html = browser("deu_liaison").get(reverse("request-detail-page", args=[request.pk])).content.decode()

    shown = re.search(r'data-testid="designator">(.*?)</dd>', html, re.S).group(1)
    assert '<strong class="pd">05</strong>' in shown and "Group 2 · FAD II · urgency B" in shown


def test_the_request_api_gives_the_two_digit_designator_and_its_group(world, as_user):
    request = a_request(world, designator=3, in_days_=4)

    one = as_user("fra_logistics").get(f"/api/v1/requests/{request.pk}/").json()
    listed = as_user("deu_liaison").get("/api/v1/requests/").json()["results"]

    assert (one["priority_designator"], one["priority_group"]) == ("03", 1)
    assert [(r["priority_designator"], r["priority_group"]) for r in listed] == [("03", 1)]


def test_the_designator_is_read_only_in_the_api(world, as_user):
    body = {
        "supplying_nation": "DEU",
        "nsn": world.fuel.nsn,
        "source_center": "MLC-A",
        "destination_center": "NAT-F",
        "quantity": 1,
        "priority": "urgent",
        "priority_designator": "01",
        "justification": "Exercise",
        "required_by": in_days(5).isoformat(),
    }
    created = as_user("fra_logistics").post("/api/v1/requests/", body, format="json")

    assert created.status_code == 201
    assert created.json()["priority_designator"] == "07"  # urgent at FAD IV, whatever the body said


def test_the_request_list_has_a_designator_column_and_puts_open_work_in_designator_then_date_order(world, browser):
    late_first = a_request(world, designator=3, in_days_=20)
    routine = a_request(world, designator=14, in_days_=1)
    soon_first = a_request(world, designator=3, in_days_=5)
    middle = a_request(world, designator=7, in_days_=2)
    closed = a_request(world, designator=1, in_days_=1)
    services.cancel_request(request=closed, actor=world.users["fra_logistics"])

    html = browser("fra_logistics").get(reverse("request-list")).content.decode()

    order = [int(pk) for pk in re.findall(r'href="/requests/(\d+)/"', html)]
    assert order == [soon_first.pk, late_first.pk, middle.pk, routine.pk, closed.pk]
    assert '<abbr class="pd" title="Group 1 · FAD III · urgency A">03</abbr>' in html
    by_designator = browser("fra_logistics").get(reverse("request-list") + "?sort=-priority_designator")
    descending = [int(pk) for pk in re.findall(r'href="/requests/(\d+)/"', by_designator.content.decode())]
    assert descending[:2] == [routine.pk, middle.pk]


def test_the_request_list_exports_the_designator_as_two_digits(world, browser):
    a_request(world, designator=3, in_days_=4)

    response = browser("fra_logistics").get(reverse("request-list") + "?format=csv")
    export = b"".join(response.streaming_content).decode("utf-8-sig")

    header, row = export.splitlines()[:2]
    assert header.split(",")[3] == "priority_designator" and row.split(",")[3] == "03"


def test_the_approval_queue_sorts_by_designator_then_required_by_date(world, browser):
    late = a_request(world, designator=3, in_days_=20)
    routine_soonest = a_request(world, designator=11, in_days_=1)
    soon = a_request(world, designator=3, in_days_=5)
    middle = a_request(world, designator=7, in_days_=2)

    html = browser("deu_liaison").get(QUEUE).content.decode()

    expected = [soon, late, middle, routine_soonest]
    assert references(html, marker='<tr data-testid="queue-row">') == [r.reference for r in expected]
    assert re.findall(r'data-testid="queue-designator"><abbr[^>]*>(\d\d)<', html) == ["03", "03", "07", "11"]


def test_the_dashboard_queue_sorts_by_designator_then_required_by_date(world, browser):
    routine_soonest = a_request(world, designator=14, in_days_=1)
    pressing = a_request(world, designator=2, in_days_=9)
    middle = a_request(world, designator=7, in_days_=3)

    html = browser("deu_liaison").get(reverse("home")).content.decode()

    card = re.search(r'<section class="card" aria-labelledby="q-approval">(.*?)</section>', html, re.S).group(1)
    assert references(card, marker="<tr><td>") == [pressing.reference, middle.reference, routine_soonest.reference]


def test_the_api_orders_by_priority_designator(world, as_user):
    late = a_request(world, designator=3, in_days_=20)
    routine = a_request(world, designator=14, in_days_=1)
    soon = a_request(world, designator=3, in_days_=5)
    middle = a_request(world, designator=7, in_days_=2)
    client = as_user("deu_liaison")

    queue = client.get("/api/v1/requests/", {"ordering": "priority,required_by"}).json()["results"]
    backwards = client.get("/api/v1/requests/", {"ordering": "-priority_designator"}).json()["results"]

    assert [r["id"] for r in queue] == [soon.pk, late.pk, middle.pk, routine.pk]
    assert [r["priority_designator"] for r in backwards] == ["14", "07", "03", "03"]


# --- the force activity designator, set by coordinators --------------------------------------------------------


def etag(client, code: str) -> str:
    return client.get(f"/api/v1/nations/{code}/")["ETag"]


def test_a_coordinator_sets_a_fad_through_the_api_for_requisitions_raised_afterwards(world, as_user):
    before = raise_requisition(world, [(world.fuel, 10)], urgency="A")
    lone = a_request(world, designator=7, in_days_=5)
    client = as_user("coordinator")

    response = client.patch(
        "/api/v1/nations/FRA/", {"activity_designator": "II"}, format="json", headers={"If-Match": etag(client, "FRA")}
    )

    assert response.status_code == 200, response.content
    assert response.json()["activity_designator"] == "II" and response.json()["code"] == "FRA"
    assert Nation.objects.get(code="FRA").activity_designator == 2
    assert client.get("/api/v1/nations/FRA/").json()["activity_designator"] == "II"
    (entry,) = AuditEntry.objects.filter(kind=AuditKind.ACTIVITY_DESIGNATOR)
    assert (entry.actor, entry.nation, entry.details) == (world.users["coordinator"], world.fra, {"from": 4, "to": 2})
    assert entry.summary == "FRA force activity designator IV → II"
    world.fra.refresh_from_db()
    after = raise_requisition(world, [(world.fuel, 10)], urgency="A")
    raised_alone = services.create_request(
        requester=world.users["fra_logistics"],
        requesting_nation=world.fra,
        supplying_nation=world.deu,
        item=world.fuel,
        source_center=world.mlc_a,
        destination_center=world.nat_f,
        quantity=1,
        required_by=in_days(5),
        justification="After the change",
        priority="urgent",
    )
    before.refresh_from_db()
    lone.refresh_from_db()
    assert (before.activity_designator, before.priority_designator) == (4, 7)  # kept
    assert {r.priority_designator for r in before.requests.all()} == {7}
    assert lone.priority_designator == 7
    assert (after.activity_designator, after.priority_designator) == (2, 2)  # FAD II, urgency A
    assert {r.priority_designator for r in after.requests.all()} == {2}
    assert raised_alone.priority_designator == 2


def test_a_coordinator_sets_a_fad_on_the_nations_page_for_requisitions_raised_afterwards(world, browser):
    before = raise_requisition(world, [(world.fuel, 10)], urgency="C")
    page = browser("coordinator").get(reverse("nation-list-page")).content.decode()
    assert 'action="/nations/FRA/activity-designator/"' in page  # the form is offered to coordinators

    response = browser("coordinator").post(
        reverse("nation-activity-designator", args=["FRA"]), {"activity_designator": "1"}
    )

    assert response.status_code == 302 and response["Location"] == reverse("nation-list-page")
    shown = browser("coordinator").get(response["Location"]).content.decode()
    assert "FRA: force activity designator I, for requisitions and requests raised from now on." in shown
    world.fra.refresh_from_db()
    assert world.fra.activity_designator == 1
    after = raise_requisition(world, [(world.fuel, 10)], urgency="C")
    before.refresh_from_db()
    assert before.priority_designator == 14 and after.priority_designator == 11  # FAD I, urgency C


@pytest.mark.parametrize("user", ["fra_logistics", "fra_liaison", "deu_liaison", "mlc_a_operator", "no_role"])
def test_only_coordinators_set_a_fad_through_the_api(world, as_user, user):
    client = as_user(user)

    response = client.patch(
        "/api/v1/nations/FRA/", {"activity_designator": "I"}, format="json", headers={"If-Match": etag(client, "FRA")}
    )

    assert_problem(response, 403)
    assert Nation.objects.get(code="FRA").activity_designator == 4


def test_a_national_system_may_not_set_a_fad_and_a_visitor_is_not_signed_in(world):
    system = token_client(world.users["fra_system"])
    refused = system.patch(
        "/api/v1/nations/FRA/", {"activity_designator": "I"}, format="json", headers={"If-Match": "*"}
    )
    anonymous = Client().patch(
        "/api/v1/nations/FRA/",
        '{"activity_designator": "I"}',
        content_type="application/json",
        headers={"If-Match": "*"},
    )

    assert_problem(refused, 403)
    assert anonymous.status_code == 401
    assert Nation.objects.get(code="FRA").activity_designator == 4


@pytest.mark.parametrize("user", ["fra_logistics", "deu_liaison", "mlc_a_operator", "no_role"])
def test_only_coordinators_set_a_fad_on_the_page_and_others_are_not_offered_the_form(world, browser, user):
    page = browser(user).get(reverse("nation-list-page"))
    response = browser(user).post(reverse("nation-activity-designator", args=["FRA"]), {"activity_designator": "1"})

    assert page.status_code == 200 and 'data-testid="fad-form"' not in page.content.decode()
    assert re.search(r"<td>FRA</td>.*?<td data-testid=\"fad\">IV</td>", page.content.decode(), re.S)
    assert response.status_code == 403
    assert Nation.objects.get(code="FRA").activity_designator == 4


@pytest.mark.parametrize("value", ["VI", "0", "", ["I"]])
def test_a_fad_outside_i_to_v_is_refused_by_the_api(world, as_user, value):
    client = as_user("coordinator")

    response = client.patch(
        "/api/v1/nations/FRA/", {"activity_designator": value}, format="json", headers={"If-Match": etag(client, "FRA")}
    )

    body = assert_problem(response, 400)
    assert "activity_designator" in str(body)
    assert Nation.objects.get(code="FRA").activity_designator == 4


@pytest.mark.parametrize("value", ["6", "IV", ""])
def test_a_fad_outside_i_to_v_is_refused_on_the_page(world, browser, value):
    response = browser("coordinator").post(
        reverse("nation-activity-designator", args=["FRA"]), {"activity_designator": value}
    )

    assert response.status_code == 400
    assert Nation.objects.get(code="FRA").activity_designator == 4


def test_the_fad_api_accepts_lower_case_and_names_only_the_designator(world, as_user):
    client = as_user("coordinator")

    response = client.patch(
        "/api/v1/nations/DEU/",
        {"activity_designator": "iii", "name": "Renamed"},
        format="json",
        headers={"If-Match": etag(client, "DEU")},
    )

    assert response.status_code == 200
    deu = Nation.objects.get(code="DEU")
    assert (deu.activity_designator, deu.name) == (3, world.deu.name)  # the name is not the coordinator's to change


def test_setting_a_fad_needs_the_current_version(world, as_user):
    client = as_user("coordinator")
    stale = etag(client, "FRA")
    assert (
        client.patch(
            "/api/v1/nations/FRA/", {"activity_designator": "II"}, format="json", headers={"If-Match": stale}
        ).status_code
        == 200
    )

    response = client.patch(
        "/api/v1/nations/FRA/", {"activity_designator": "I"}, format="json", headers={"If-Match": stale}
    )

    assert_problem(response, 412)
    assert Nation.objects.get(code="FRA").activity_designator == 2


def test_an_unknown_nation_answers_404_on_the_page_and_in_the_api(world, as_user, browser):
    assert (
        browser("coordinator").post("/nations/ZZZ/activity-designator/", {"activity_designator": "1"}).status_code
        == 404
    )
    response = as_user("coordinator").patch(
        "/api/v1/nations/ZZZ/", {"activity_designator": "I"}, format="json", headers={"If-Match": "*"}
    )
    assert_problem(response, 404)


# --- the approval queue narrowed to one requisition ------------------------------------------------------------


@pytest.fixture
def mixed(world):
    """A FRA requisition of fuel (DEU 200, ITA 100) and jet fuel (DEU 100), and a DEU request outside it."""
    req = raise_requisition(world, [(world.fuel, 300), (world.jet, 100)])
    outside = a_request(world, designator=1, in_days_=1)
    by_key = {(r.supplying_nation.code, r.item_id): r for r in req.requests.select_related("supplying_nation")}
    return {
        "requisition": req,
        "deu_fuel": by_key[("DEU", world.fuel.pk)],
        "deu_jet": by_key[("DEU", world.jet.pk)],
        "ita_fuel": by_key[("ITA", world.fuel.pk)],
        "outside": outside,
    }


def results(html: str) -> list[str]:
    rows = re.findall(r'data-testid="bulk-result">(.*?)</tr>', html, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", row)).strip() for row in rows]


def queue_rows(html: str) -> list[str]:
    return references(html, marker='<tr data-testid="queue-row">')


def test_the_queue_narrowed_to_a_requisition_lists_its_lines_addressed_to_the_viewer_only(world, browser, mixed):
    reference = mixed["requisition"].reference

    deu = browser("deu_liaison").get(QUEUE, {"requisition": reference}).content.decode()
    ita = browser("ita_liaison").get(QUEUE, {"requisition": reference.lower()}).content.decode()
    whole = browser("deu_liaison").get(QUEUE).content.decode()

    assert sorted(queue_rows(deu)) == sorted([mixed["deu_fuel"].reference, mixed["deu_jet"].reference])
    assert f"Only the lines of {reference} addressed to you." in deu and 'data-testid="approve-all"' in deu
    assert queue_rows(ita) == [mixed["ita_fuel"].reference]
    assert mixed["outside"].reference in queue_rows(whole) and 'data-testid="approve-all"' not in whole


def test_the_queue_of_an_unknown_or_foreign_requisition_is_empty(world, browser, mixed):
    reference = mixed["requisition"].reference

    unknown = browser("deu_liaison").get(QUEUE, {"requisition": "RQN-999999"}).content.decode()
    requester = browser("fra_liaison").get(QUEUE, {"requisition": reference}).content.decode()

    assert queue_rows(unknown) == [] and queue_rows(requester) == []


def test_approve_all_approves_each_line_of_the_requisition_for_the_viewer_and_reports_each(world, browser, mixed):
    Stock.objects.filter(pk=world.stocks["deu_jet"].pk).update(reserved=450)  # 50 available: too few for 100
    reference = mixed["requisition"].reference

    response = browser("deu_liaison").post(
        f"{QUEUE}?requisition={reference}", {"requisition": reference, "all": "approve", "comment": "Go"}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "1 request approved." in html
    outcome = {line.split(" ", 1)[0]: line for line in results(html)}
    assert set(outcome) == {mixed["deu_fuel"].reference, mixed["deu_jet"].reference}
    assert "Approved 200 L; MLC-A can dispatch." in outcome[mixed["deu_fuel"].reference]
    assert "Not done (409)" in outcome[mixed["deu_jet"].reference]  # its own transaction: nothing changed for it
    statuses = {r.pk: r.status for r in SupplyRequest.objects.all()}
    assert statuses[mixed["deu_fuel"].pk] == RequestStatus.APPROVED
    assert statuses[mixed["deu_jet"].pk] == RequestStatus.SUBMITTED
    assert statuses[mixed["ita_fuel"].pk] == RequestStatus.SUBMITTED  # not DEU's to decide
    assert statuses[mixed["outside"].pk] == RequestStatus.SUBMITTED  # not in the requisition
    assert queue_rows(html) == [mixed["deu_jet"].reference]  # the queue again, still narrowed


def test_reject_all_needs_a_reason_then_rejects_each_line_for_the_viewer(world, browser, mixed):
    reference = mixed["requisition"].reference
    client = browser("deu_liaison")

    refused = client.post(f"{QUEUE}?requisition={reference}", {"requisition": reference, "all": "reject"})
    assert refused.status_code == 400
    assert not SupplyRequest.objects.filter(status=RequestStatus.REJECTED).exists()

    response = client.post(
        f"{QUEUE}?requisition={reference}", {"requisition": reference, "all": "reject", "comment": "Not this week"}
    )

    assert response.status_code == 200 and "2 requests rejected." in response.content.decode()
    rejected = set(SupplyRequest.objects.filter(status=RequestStatus.REJECTED).values_list("pk", flat=True))
    assert rejected == {mixed["deu_fuel"].pk, mixed["deu_jet"].pk}


def test_approve_all_without_a_requisition_or_with_nothing_waiting_is_refused(world, browser, mixed):
    client = browser("deu_liaison")

    whole_queue = client.post(QUEUE, {"all": "approve"})
    nothing = client.post(f"{QUEUE}?requisition=RQN-999999", {"requisition": "RQN-999999", "all": "approve"})
    foreign = browser("fra_liaison").post(QUEUE, {"requisition": mixed["requisition"].reference, "all": "approve"})

    assert whole_queue.status_code == 400 and "applies to the lines of one requisition" in whole_queue.content.decode()
    assert nothing.status_code == 400 and "No line of RQN-999999 waits for your decision." in nothing.content.decode()
    assert foreign.status_code == 400
    assert not SupplyRequest.objects.filter(status=RequestStatus.APPROVED).exists()


def test_the_checked_rows_of_a_narrowed_queue_are_decided_as_before(world, browser, mixed):
    reference = mixed["requisition"].reference

    response = browser("deu_liaison").post(
        f"{QUEUE}?requisition={reference}",
        {"requisition": reference, "decision": "approve", "request": [str(mixed["deu_jet"].pk)]},
    )

    assert response.status_code == 200
    assert SupplyRequest.objects.get(pk=mixed["deu_jet"].pk).status == RequestStatus.APPROVED
    assert SupplyRequest.objects.get(pk=mixed["deu_fuel"].pk).status == RequestStatus.SUBMITTED


def test_every_line_keeps_its_required_by_date_in_the_narrowed_queue_order(world, browser, mixed):
    SupplyRequest.objects.filter(pk=mixed["deu_jet"].pk).update(required_by=timezone.localdate() + dt.timedelta(days=2))
    reference = mixed["requisition"].reference

    html = browser("deu_liaison").get(QUEUE, {"requisition": reference}).content.decode()

    assert queue_rows(html) == [mixed["deu_jet"].reference, mixed["deu_fuel"].reference]
