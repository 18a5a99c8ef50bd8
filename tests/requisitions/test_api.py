"""``/api/v1/requisitions/`` and ``/api/v1/requests/bulk-decide/`` (coordination/api/requisitions.py): a requisition
raised and submitted in one call, its lines and their figures as each caller may see them, the requester's actions,
the suppliers' decisions (one transaction per request), and the API's guarantees (field paths, idempotency, ETags,
query-count ceilings)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from coordination import requisitions, services
from coordination.models import (
    EventType,
    Notification,
    RequestStatus,
    Requisition,
    RequisitionStatus,
    SupplyRequest,
    WebhookDelivery,
    WebhookEndpoint,
)
from coordination.requisitions import LineInput
from inventory.models import Stock
from inventory.services import adjust_stock
from tests.api.conftest import assert_problem
from tests.factories import ItemFactory, stock_with
from tests.requisitions.conftest import in_days, raise_requisition
from tests.scenario import session_clients, token_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/requisitions/"
BULK = "/api/v1/requests/bulk-decide/"


@pytest.fixture
def as_user(world):
    return session_clients(world.users)


def payload(world, lines, **extra) -> dict:
    return {
        "requesting_nation": "FRA",
        "destination_center": "NAT-F",
        "required_by": in_days(10).isoformat(),
        "urgency": "B",
        "justification": "Resupply of the 2nd battalion",
        "lines": lines,
        **extra,
    }


def deu_items(world, n: int, on_hand: int = 100) -> list:
    """`n` new items DEU holds (shared) at MLC-A, where FRA takes part."""
    items = [ItemFactory() for _ in range(n)]
    for item in items:
        stock_with(on_hand, actor=world.seeder, nation=world.deu, center=world.mlc_a, item=item, shared=True)
    return items


def detail(client, requisition) -> dict:
    response = client.get(f"{URL}{requisition.pk}/")
    assert response.status_code == 200, response.content
    return response.json()


def lines_of(body) -> dict[int, dict]:
    return {line["number"]: line for line in body["lines"]}


def fields_of(problem: dict) -> set[str]:
    return {error["field"] for error in problem["errors"]}


def decide(world, user, request, decision="approve", **inputs):
    service = services.approve_request if decision == "approve" else services.reject_request
    return service(request=request, approver=world.users[user], **inputs)


# --- raising and submitting --------------------------------------------------------------------------------------


def test_a_40_line_requisition_is_created_sourced_and_submitted_in_one_call(world, as_user):
    world.fra.activity_designator = 3  # FAD III, urgency B: priority designator 06
    world.fra.save(update_fields=["activity_designator"])
    extra = deu_items(world, 38)
    lines = [
        {"nsn": world.fuel.nsn, "quantity": 400},  # more than any one donor spares: split, 50 left outstanding
        {"nsn": world.rations.nsn, "quantity": 5, "required_by": in_days(5).isoformat()},  # nobody shares rations
        *[{"nsn": item.nsn, "quantity": 10} for item in extra],
    ]

    response = as_user("fra_logistics").post(URL, payload(world, lines, submit=True))

    assert response.status_code == 201, response.content
    body = response.json()
    req = Requisition.objects.get()
    assert response["Location"].endswith(f"{URL}{req.pk}/") and response["ETag"]
    assert (body["reference"], body["status"], body["partial"]) == (req.reference, "open", False)
    assert body["reference"].startswith("RQN-") and body["submitted_at"]
    assert (body["urgency"], body["activity_designator"], body["priority_designator"]) == ("B", "III", "06")
    assert (body["priority_group"], body["line_count"], body["lines_outstanding"]) == (2, 40, 2)
    by_number = lines_of(body)
    assert sorted(by_number) == list(range(1, 41))
    split = by_number[1]
    assert {k: split[k] for k in ("requested", "sourced", "approved", "received", "cancelled", "outstanding")} == {
        "requested": 400,
        "sourced": 350,
        "approved": 0,
        "received": 0,
        "cancelled": 0,
        "outstanding": 50,
    }
    assert sorted((r["supplying_nation"], r["source_center"], r["quantity_requested"]) for r in split["requests"]) == [
        ("DEU", "MLC-A", 200),
        ("ITA", "MLC-A", 150),
    ]
    assert all(r["status"] == "submitted" and r["reference"].startswith("REQ-") for r in split["requests"])
    assert (by_number[2]["outstanding"], by_number[2]["requests"], by_number[2]["required_by"]) == (
        5,
        [],
        in_days(5).isoformat(),
    )
    assert all(by_number[n]["sourced"] == 10 and by_number[n]["outstanding"] == 0 for n in range(3, 41))
    assert SupplyRequest.objects.filter(requisition=req).count() == 2 + 38


def test_every_nsn_of_a_call_is_looked_up_in_one_query(world, as_user):
    extra = deu_items(world, 30)
    client = as_user("fra_logistics")

    def create(items) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            response = client.post(URL, payload(world, [{"nsn": i.nsn, "quantity": 1} for i in items]))
        assert response.status_code == 201, response.content
        return [q["sql"] for q in captured.captured_queries]

    few, many = create(extra[:3]), create(extra)

    item_lookups = [sql for sql in many if 'FROM "inventory_item"' in sql]
    assert len(item_lookups) == 1, item_lookups
    assert len(many) == len(few), "a draft of 30 lines costs the queries of a draft of 3"


def test_a_draft_is_submitted_with_the_requesters_choice_for_one_line(world, as_user):
    client = as_user("fra_logistics")
    created = client.post(
        URL, payload(world, [{"nsn": world.fuel.nsn, "quantity": 30}, {"nsn": world.jet.nsn, "quantity": 20}])
    )
    assert created.status_code == 201 and created.json()["status"] == "draft"
    assert all(line["requests"] == [] and line["sourced"] == 0 for line in created.json()["lines"])
    req = Requisition.objects.get()

    choice = {"1": [{"supplying_nation": "ITA", "source_center": "MLC-A", "quantity": 30}]}
    response = client.post(f"{URL}{req.pk}/submit/", {"lines": choice})

    assert response.status_code == 200, response.content
    by_number = lines_of(response.json())
    assert [(r["supplying_nation"], r["quantity_requested"]) for r in by_number[1]["requests"]] == [("ITA", 30)]
    assert [(r["supplying_nation"], r["nsn"]) for r in by_number[2]["requests"]] == [("DEU", world.jet.nsn)]
    assert response.json()["status"] == "open" and response["ETag"]


def test_the_requesting_nation_defaults_to_the_callers_only_nation(world, as_user):
    body = payload(world, [{"nsn": world.fuel.nsn, "quantity": 5}])
    del body["requesting_nation"]

    assert as_user("dual_hat").post(URL, body).json()["requesting_nation"] == "FRA"  # FRA logistics, DEU liaison
    assert_problem(as_user("fra_liaison").post(URL, body), 403)  # a liaison officer raises nothing
    assert Requisition.objects.count() == 1


def test_a_national_system_raises_a_requisition_with_its_token(world):
    response = token_client(world.users["fra_system"]).post(
        URL, payload(world, [{"nsn": world.fuel.nsn, "quantity": 5}])
    )

    assert response.status_code == 201, response.content
    assert Requisition.objects.get().created_by == world.users["fra_system"]


def _many_lines(world, n):
    return [{"nsn": world.fuel.nsn, "quantity": 1}] * n


BAD_INPUT = {
    "unknown NSN": (
        lambda w: payload(w, [{"nsn": w.fuel.nsn, "quantity": 1}, {"nsn": "1111-11-111-1111", "quantity": 1}]),
        {"lines[1].nsn"},
    ),
    "zero quantity": (lambda w: payload(w, [{"nsn": w.fuel.nsn, "quantity": 0}]), {"lines[0].quantity"}),
    "past RDD": (
        lambda w: payload(
            w,
            [
                {"nsn": w.fuel.nsn, "quantity": 1},
                {"nsn": w.jet.nsn, "quantity": 1, "required_by": in_days(-1).isoformat()},
            ],
            required_by=in_days(-2).isoformat(),
        ),
        {"required_by", "lines[1].required_by"},
    ),
    "duplicate NSN": (
        lambda w: payload(w, [{"nsn": w.fuel.nsn, "quantity": 1}, {"nsn": w.fuel.nsn, "quantity": 2}]),
        {"lines[1].nsn"},
    ),
    "too many lines": (lambda w: payload(w, _many_lines(w, requisitions.MAX_LINES + 1)), {"lines"}),
    "no lines": (lambda w: payload(w, []), {"lines"}),
    "unknown center": (
        lambda w: payload(w, [{"nsn": w.fuel.nsn, "quantity": 1}], destination_center="NOWHERE"),
        {"destination_center"},
    ),
    "unknown supplier in a source": (
        lambda w: payload(
            w,
            [
                {
                    "nsn": w.fuel.nsn,
                    "quantity": 5,
                    "sources": [{"supplying_nation": "ZZZ", "source_center": "MLC-A", "quantity": 5}],
                }
            ],
            submit=True,
        ),
        {"lines[0].sources[0].supplying_nation"},
    ),
    "a source that cannot spare it": (
        lambda w: payload(
            w,
            [
                {
                    "nsn": w.fuel.nsn,
                    "quantity": 500,
                    "sources": [{"supplying_nation": "DEU", "source_center": "MLC-A", "quantity": 500}],
                }
            ],
            submit=True,
        ),
        {"lines[0].sources[0]"},
    ),
    "sources without submitting": (
        lambda w: payload(
            w,
            [
                {
                    "nsn": w.fuel.nsn,
                    "quantity": 5,
                    "sources": [{"supplying_nation": "DEU", "source_center": "MLC-A", "quantity": 5}],
                }
            ],
        ),
        {"lines[0].sources"},
    ),
    "bad urgency": (lambda w: payload(w, [{"nsn": w.fuel.nsn, "quantity": 1}], urgency="Z"), {"urgency"}),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_a_400_naming_each_field_path_and_changes_nothing(world, as_user, case):
    build, fields = BAD_INPUT[case]
    requests_before = SupplyRequest.objects.count()

    response = as_user("fra_logistics").post(URL, build(world))

    assert fields_of(assert_problem(response, 400, "invalid")) == fields
    assert Requisition.objects.count() == 0 and SupplyRequest.objects.count() == requests_before


def test_a_submit_choice_for_a_line_the_requisition_lacks_or_a_bad_choice_is_a_400_by_line_number(world, as_user):
    req = raise_requisition(world, [(world.fuel, 30), (world.jet, 10)], submit=False)
    client = as_user("fra_logistics")

    missing = client.post(
        f"{URL}{req.pk}/submit/",
        {"lines": {"9": [{"supplying_nation": "DEU", "source_center": "MLC-A", "quantity": 1}]}},
    )
    too_much = client.post(
        f"{URL}{req.pk}/submit/",
        {"lines": {"2": [{"supplying_nation": "DEU", "source_center": "MLC-A", "quantity": 900}]}},
    )

    assert fields_of(assert_problem(missing, 400)) == {"lines[9]"}
    assert fields_of(assert_problem(too_much, 400)) == {"lines[2][0]"}  # line 2's first source
    req.refresh_from_db()
    assert req.status == RequisitionStatus.DRAFT and not SupplyRequest.objects.filter(requisition=req).exists()


# --- who sees what -------------------------------------------------------------------------------------------------


@pytest.fixture
def two_suppliers(world):
    """FRA's requisition: line 1 fuel 400 (DEU 200 + ITA 150, 50 outstanding), line 2 jet fuel 30 (DEU only)."""
    return raise_requisition(world, [(world.fuel, 400), (world.jet, 30)])


def test_a_supplier_sees_only_the_lines_addressed_to_it_and_only_its_own_requests(world, as_user, two_suppliers):
    req = two_suppliers

    ita = detail(as_user("ita_liaison"), req)
    deu = detail(as_user("deu_liaison"), req)

    assert (ita["partial"], ita["line_count"], ita["lines_outstanding"]) == (True, 1, None)
    (line,) = ita["lines"]
    assert (line["number"], line["requested"], line["sourced"], line["outstanding"], line["cancelled"]) == (
        1,
        400,
        150,
        None,
        None,
    )
    assert [r["supplying_nation"] for r in line["requests"]] == ["ITA"]
    deu_requests = {n: [r["supplying_nation"] for r in line["requests"]] for n, line in lines_of(deu).items()}
    assert deu_requests == {1: ["DEU"], 2: ["DEU"]}
    assert lines_of(deu)[1]["sourced"] == 200  # its own part, not ITA's
    # nothing of ITA's request reaches DEU
    ita_request = SupplyRequest.objects.get(requisition=req, supplying_nation=world.ita)
    assert ita_request.reference not in str(deu)


@pytest.mark.parametrize("user", ["fra_logistics", "fra_liaison", "nat_f_operator", "coordinator"])
def test_the_requester_the_destination_and_coordinators_see_every_line(world, as_user, two_suppliers, user):
    body = detail(as_user(user), two_suppliers)

    assert (body["partial"], body["line_count"], body["lines_outstanding"]) == (False, 2, 1)
    assert len(lines_of(body)[1]["requests"]) == 2 and lines_of(body)[1]["outstanding"] == 50


def test_a_nation_with_no_line_addressed_to_it_sees_nothing_of_the_requisition(world, as_user):
    req = raise_requisition(world, [(world.jet, 30)])  # DEU alone holds jet fuel
    client = as_user("ita_liaison")

    assert_problem(client.get(f"{URL}{req.pk}/"), 404)
    for action, body in (
        ("submit", {}),
        ("resource", {}),
        ("cancel-lines", {}),
        ("cancel", {}),
        ("decide", {"decision": "approve"}),
    ):
        assert_problem(client.post(f"{URL}{req.pk}/{action}/", body), 404)
    assert client.get(URL).json()["count"] == 0
    assert req.reference not in client.get(URL).content.decode()


def test_the_list_summarises_each_requisition_as_its_caller_sees_it(world, as_user, two_suppliers):
    draft = raise_requisition(world, [(world.fuel, 10)], submit=False)

    own = {row["reference"]: row for row in as_user("fra_logistics").get(URL).json()["results"]}
    supplier = as_user("ita_liaison").get(URL).json()["results"]

    assert (own[two_suppliers.reference]["line_count"], own[two_suppliers.reference]["lines_outstanding"]) == (2, 1)
    assert (own[draft.reference]["line_count"], own[draft.reference]["lines_outstanding"]) == (1, 1)
    assert [(r["reference"], r["partial"], r["line_count"], r["lines_outstanding"]) for r in supplier] == [
        (two_suppliers.reference, True, 1, None)
    ]


def test_the_list_sorts_by_priority_designator_then_rdd_and_filters(world, as_user):
    routine = raise_requisition(world, [(world.fuel, 1)], urgency="C", submit=False)  # FAD III: 13
    pressing_late = raise_requisition(world, [(world.fuel, 1)], urgency="A", submit=False)  # 03
    pressing_soon = requisitions.create_requisition(
        requester=world.users["fra_logistics"],
        requesting_nation=world.fra,
        destination_center=world.nat_f,
        required_by=in_days(2),
        justification="Now",
        urgency="A",
        lines=[LineInput(item=world.fuel, quantity=1)],
    )
    client = as_user("fra_logistics")

    def references(query=""):
        return [row["reference"] for row in client.get(URL + query).json()["results"]]

    assert references() == [pressing_soon.reference, pressing_late.reference, routine.reference]
    assert references("?ordering=-id") == [pressing_soon.reference, pressing_late.reference, routine.reference]
    assert references("?ordering=id") == [routine.reference, pressing_late.reference, pressing_soon.reference]
    requisitions.submit_requisition(requisition=routine, actor=world.users["fra_logistics"])
    assert references("?status=open") == [routine.reference]
    assert references("?status=draft&destination_center=nat-f&requesting_nation=FRA") == [
        pressing_soon.reference,
        pressing_late.reference,
    ]
    assert_problem(client.get(URL + "?ordering=priority"), 400)


# --- the requester's actions: 403 / 409 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "action", "body"),
    [
        ("deu_liaison", "resource", {}),  # a supplier sees the requisition, acts on nothing of the requester's
        ("deu_liaison", "cancel-lines", {}),
        ("fra_liaison", "resource", {}),  # the requesting nation's liaison officer sees it whole, raises nothing
        ("coordinator", "cancel-lines", {}),
        ("fra_logistics", "decide", {"decision": "approve"}),  # no request of it is addressed to FRA
    ],
)
def test_a_visible_requisition_the_caller_may_not_act_on_is_403(world, as_user, two_suppliers, user, action, body):
    version = two_suppliers.version

    assert_problem(as_user(user).post(f"{URL}{two_suppliers.pk}/{action}/", body), 403)
    two_suppliers.refresh_from_db()
    assert two_suppliers.version == version


def test_a_draft_is_submitted_or_cancelled_only_by_the_requesting_nations_logistics_officers(world, as_user):
    draft = raise_requisition(world, [(world.fuel, 10)], submit=False)

    assert_problem(as_user("fra_liaison").post(f"{URL}{draft.pk}/submit/", {}), 403)
    assert_problem(as_user("deu_liaison").post(f"{URL}{draft.pk}/submit/", {}), 404)  # nothing addressed to DEU yet
    response = as_user("fra_logistics").post(f"{URL}{draft.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled" and response.json()["closed_at"]


@pytest.mark.parametrize(
    ("action", "body"),
    [("submit", {}), ("cancel", {}), ("resource", {"lines": [2]}), ("cancel-lines", {"lines": [2]})],
)
def test_a_wrong_state_or_nothing_outstanding_is_409(world, as_user, two_suppliers, action, body):
    response = as_user("fra_logistics").post(f"{URL}{two_suppliers.pk}/{action}/", body)  # open; line 2 fully sourced

    assert_problem(response, 409)


def test_nothing_waiting_for_a_suppliers_decision_is_409(world, as_user, two_suppliers):
    client = as_user("deu_liaison")
    assert client.post(f"{URL}{two_suppliers.pk}/decide/", {"decision": "approve"}).status_code == 200

    assert_problem(client.post(f"{URL}{two_suppliers.pk}/decide/", {"decision": "approve"}), 409)


def test_line_numbers_the_requisition_lacks_are_a_400(world, as_user, two_suppliers):
    response = as_user("fra_logistics").post(f"{URL}{two_suppliers.pk}/cancel-lines/", {"lines": [1, 7]})

    assert fields_of(assert_problem(response, 400)) == {"lines[7]"}


# --- backorders --------------------------------------------------------------------------------------------------


def test_what_a_supplier_refused_is_resourced_elsewhere(world, as_user):
    req = raise_requisition(world, [(world.fuel, 100)])
    refused = SupplyRequest.objects.get(requisition=req)
    assert refused.supplying_nation == world.deu
    reject = {"decision": "reject", "reason": "Needed for our own exercise"}
    assert as_user("deu_liaison").post(f"{URL}{req.pk}/decide/", reject).status_code == 200

    response = as_user("fra_logistics").post(f"{URL}{req.pk}/resource/", {})

    assert response.status_code == 200, response.content
    body = response.json()
    assert [(row["line"], row["supplying_nation"], row["quantity"]) for row in body["sourced"]] == [(1, "ITA", 100)]
    assert body["uncovered"] == [] and body["reference"] == req.reference
    assert lines_of(detail(as_user("fra_logistics"), req))[1]["outstanding"] == 0


def test_what_was_approved_short_is_resourced_and_what_nobody_has_stays_uncovered(world, as_user):
    req = raise_requisition(world, [(world.fuel, 100), (world.rations, 4)])
    short = {"decision": "approve", "quantities": {"1": 60}, "comment": "All we can spare"}
    answer = as_user("deu_liaison").post(f"{URL}{req.pk}/decide/", short).json()
    assert [(row["line"], row["ok"], row["status"], row["quantity_approved"]) for row in answer["results"]] == [
        (1, True, "approved", 60)
    ]
    assert lines_of(detail(as_user("fra_logistics"), req))[1]["outstanding"] == 40

    response = as_user("fra_logistics").post(f"{URL}{req.pk}/resource/", {})

    body = response.json()
    assert sum(row["quantity"] for row in body["sourced"] if row["line"] == 1) == 40
    assert body["uncovered"] == [{"line": 2, "quantity": 4}]  # nobody shares rations with FRA
    figures = lines_of(detail(as_user("fra_logistics"), req))
    # sourced: the 60 approved of the first request (it asked 100) and the 40 re-sourced, never more than the line
    assert (figures[1]["approved"], figures[1]["sourced"], figures[1]["outstanding"]) == (60, 100, 0)


def test_resourcing_takes_the_requesters_sources_for_a_line(world, as_user):
    req = raise_requisition(world, [(world.fuel, 100)])
    decide(world, "deu_liaison", SupplyRequest.objects.get(requisition=req), "reject", reason="No")
    chosen = {"lines": [1], "sources": {"1": [{"supplying_nation": "ITA", "source_center": "MLC-A", "quantity": 70}]}}

    body = as_user("fra_logistics").post(f"{URL}{req.pk}/resource/", chosen).json()

    assert [(row["supplying_nation"], row["quantity"]) for row in body["sourced"]] == [("ITA", 70)]
    assert body["uncovered"] == [{"line": 1, "quantity": 30}]
    stray = {"lines": [1], "sources": {"2": [{"supplying_nation": "ITA", "source_center": "MLC-A", "quantity": 1}]}}
    assert fields_of(assert_problem(as_user("fra_logistics").post(f"{URL}{req.pk}/resource/", stray), 400)) == {
        "sources[2]"
    }


def _receive_in_full(world, request):
    request = decide(world, "deu_liaison", request, "approve")
    request = services.dispatch_request(request=request, actor=world.users["deu_logistics"])
    return services.receive_request(request=request, actor=world.users["fra_logistics"])


def test_cancelling_the_last_outstanding_line_closes_the_requisition(world, as_user):
    req = raise_requisition(world, [(world.jet, 30), (world.rations, 5)])  # line 2: nobody has rations to share
    _receive_in_full(world, SupplyRequest.objects.get(requisition=req))
    WebhookEndpoint.objects.create(
        nation=world.fra, owner=world.users["fra_system"], url="https://fra.example/hook", secret="s" * 32
    )

    response = as_user("fra_logistics").post(f"{URL}{req.pk}/cancel-lines/", {"lines": [2]})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "closed" and body["closed_at"] and body["lines_outstanding"] == 0
    assert (lines_of(body)[2]["cancelled"], lines_of(body)[1]["received"]) == (5, 30)
    assert Notification.objects.filter(user=world.users["fra_logistics"], event=EventType.REQUISITION_CLOSED).exists()
    # the webhook carries what coordination/api/webhooks.py documents for requisition.closed
    from coordination.api.webhooks import RequisitionClosedData

    delivery = WebhookDelivery.objects.get(event=EventType.REQUISITION_CLOSED)
    assert set(delivery.payload["data"]) == set(RequisitionClosedData().fields)
    assert delivery.payload["data"]["reference"] == req.reference


def test_cancelling_a_line_leaves_the_requisition_open_while_another_is_in_flight(world, as_user):
    req = raise_requisition(world, [(world.jet, 30), (world.rations, 5)])

    body = as_user("fra_logistics").post(f"{URL}{req.pk}/cancel-lines/", {"lines": [2]}).json()

    assert body["status"] == "open" and lines_of(body)[2]["outstanding"] == 0 and lines_of(body)[1]["sourced"] == 30


# --- suppliers' decisions ------------------------------------------------------------------------------------------


def test_a_supplier_decides_every_line_addressed_to_it_and_nothing_else(world, as_user, two_suppliers):
    response = as_user("deu_liaison").post(
        f"{URL}{two_suppliers.pk}/decide/", {"decision": "approve", "quantities": {"2": 25}}
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["decided"], body["failed"]) == (2, 0)
    assert [(row["line"], row["status"], row["quantity_approved"]) for row in body["results"]] == [
        (1, "approved", 200),
        (2, "approved", 25),
    ]
    ita = SupplyRequest.objects.get(requisition=two_suppliers, supplying_nation=world.ita)
    assert ita.status == RequestStatus.SUBMITTED  # ITA's request is ITA's to decide
    assert Stock.objects.get(pk=world.stocks["deu_jet"].pk).reserved == 25


def test_rejecting_needs_a_reason(world, as_user, two_suppliers):
    response = as_user("deu_liaison").post(f"{URL}{two_suppliers.pk}/decide/", {"decision": "reject"})

    assert fields_of(assert_problem(response, 400)) == {"reason"}
    assert not SupplyRequest.objects.filter(requisition=two_suppliers, status=RequestStatus.REJECTED).exists()


def test_naming_lines_decides_the_callers_requests_on_them_and_reports_the_others(world, as_user, two_suppliers):
    jet = SupplyRequest.objects.get(requisition=two_suppliers, item=world.jet)
    decide(world, "deu_liaison", jet)  # line 2 is decided already

    response = as_user("deu_liaison").post(
        f"{URL}{two_suppliers.pk}/decide/", {"decision": "reject", "reason": "Held back", "lines": [1, 2, 3]}
    )

    assert response.status_code == 200, response.content
    rows = [(row["line"], row["ok"], row["status"], row.get("code")) for row in response.json()["results"]]
    assert rows == [
        (1, True, "rejected", None),
        (2, False, "approved", "invalid_transition"),
        (3, False, None, "not_found"),  # no line 3: the same answer as a line not addressed to DEU
    ]
    assert response.json()["results"][2]["request"] is None


def test_a_bulk_decision_reports_each_request_and_one_failure_undoes_no_other(world, as_user, two_suppliers):
    fuel, jet = (
        SupplyRequest.objects.get(requisition=two_suppliers, supplying_nation=world.deu, item=item)
        for item in (world.fuel, world.jet)
    )
    ita = SupplyRequest.objects.get(requisition=two_suppliers, supplying_nation=world.ita)
    # DEU loses most of its jet fuel: the 30 asked of it can no longer be reserved
    adjust_stock(stock=world.stocks["deu_jet"], delta=-490, actor=world.users["deu_logistics"], reason="Spilt")
    other = raise_requisition(world, [(item, 10) for item in deu_items(world, 1)])
    third = SupplyRequest.objects.get(requisition=other)
    assert third.supplying_nation == world.deu

    response = as_user("deu_liaison").post(
        BULK,
        {"decision": "approve", "requests": [str(fuel.pk), jet.reference, third.reference, str(ita.pk), "999999"]},
    )

    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [(row["request"], row["ok"], row.get("code")) for row in rows] == [
        (fuel.reference, True, None),
        (jet.reference, False, "insufficient_stock"),
        (third.reference, True, None),
        (str(ita.pk), False, "not_found"),  # ITA's request is not DEU's to see
        ("999999", False, "not_found"),
    ]
    assert rows[1]["status"] == "submitted" and rows[1]["error"]
    assert (response.json()["decided"], response.json()["failed"]) == (2, 3)
    statuses = dict(SupplyRequest.objects.filter(pk__in=[fuel.pk, jet.pk, third.pk]).values_list("pk", "status"))
    assert statuses == {fuel.pk: "approved", jet.pk: "submitted", third.pk: "approved"}
    assert Stock.objects.get(pk=world.stocks["deu_shared"].pk).reserved == 200
    assert Stock.objects.get(pk=world.stocks["deu_jet"].pk).reserved == 0


def test_a_bulk_decision_where_nothing_goes_through_answers_the_first_refusal_as_a_problem(
    world, as_user, two_suppliers
):
    deu = SupplyRequest.objects.filter(requisition=two_suppliers, supplying_nation=world.deu).order_by("id")
    refs = [r.reference for r in deu]

    refused = as_user("fra_liaison").post(BULK, {"decision": "reject", "reason": "No", "requests": refs})

    body = assert_problem(refused, 403)
    assert [row["code"] for row in body["results"]] == ["permission_denied", "permission_denied"]
    assert not SupplyRequest.objects.filter(requisition=two_suppliers, status=RequestStatus.REJECTED).exists()


def test_a_bulk_decision_takes_at_most_200_requests_and_quantities_only_for_them(world, as_user, two_suppliers):
    client = as_user("deu_liaison")
    ref = SupplyRequest.objects.filter(supplying_nation=world.deu).first().reference

    assert fields_of(assert_problem(client.post(BULK, {"decision": "approve", "requests": ["1"] * 201}), 400)) == {
        "requests"
    }
    assert fields_of(assert_problem(client.post(BULK, {"decision": "approve", "requests": ["REQ-x"]}), 400)) == {
        "requests[0]"
    }
    stray = {"decision": "approve", "requests": [ref], "quantities": {"REQ-999999": 1}}
    assert fields_of(assert_problem(client.post(BULK, stray), 400)) == {"quantities.REQ-999999"}
    assert not SupplyRequest.objects.filter(status=RequestStatus.APPROVED).exists()


# --- the API's guarantees ----------------------------------------------------------------------------------------


def test_a_create_replayed_with_its_idempotency_key_does_the_work_once(world, as_user):
    client = as_user("fra_logistics")
    body = payload(world, [{"nsn": world.fuel.nsn, "quantity": 40}], submit=True)

    first = client.post(URL, body, HTTP_IDEMPOTENCY_KEY="rqn-1")
    again = client.post(URL, body, HTTP_IDEMPOTENCY_KEY="rqn-1")
    other = client.post(URL, {**body, "justification": "Another"}, HTTP_IDEMPOTENCY_KEY="rqn-1")

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.content == first.content
    assert again["Location"] == first["Location"] and again["ETag"] == first["ETag"]
    assert_problem(other, 422)
    assert Requisition.objects.count() == 1 and SupplyRequest.objects.count() == 1


def test_an_action_replayed_with_its_idempotency_key_is_done_once(world, as_user, two_suppliers):
    client = as_user("deu_liaison")

    first = client.post(f"{URL}{two_suppliers.pk}/decide/", {"decision": "approve"}, HTTP_IDEMPOTENCY_KEY="d-1")
    again = client.post(f"{URL}{two_suppliers.pk}/decide/", {"decision": "approve"}, HTTP_IDEMPOTENCY_KEY="d-1")

    assert first.status_code == again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert Stock.objects.get(pk=world.stocks["deu_shared"].pk).reserved == 200  # reserved once


def test_the_details_etag_changes_when_a_supplier_decides_one_of_its_requests(world, as_user, two_suppliers):
    client = as_user("fra_logistics")
    first = client.get(f"{URL}{two_suppliers.pk}/")
    etag = first["ETag"]

    assert client.get(f"{URL}{two_suppliers.pk}/", HTTP_IF_NONE_MATCH=etag).status_code == 304
    decide(world, "ita_liaison", SupplyRequest.objects.get(requisition=two_suppliers, supplying_nation=world.ita))
    changed = client.get(f"{URL}{two_suppliers.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    # a supplier's view has an ETag of its own
    assert as_user("deu_liaison").get(f"{URL}{two_suppliers.pk}/")["ETag"] not in (etag, changed["ETag"])


# --- query-count ceilings ------------------------------------------------------------------------------------------

# session, user, the caller's grants, COUNT, the page, and one query for the page's summaries (two when the page
# holds requisitions seen whole and others seen as a supplier).  Raising a ceiling needs a reason.
LIST_CEILING = 7
# session, user, grants, the requisition, its requests, its lines with their figures
DETAIL_CEILING = 6


def _raise_many(world, n):
    """`n` FRA requisitions of four lines, and one of ITA's that DEU supplies (seen whole by FRA's officers, in part
    by DEU's liaison officers: the page mixes both kinds of row for someone who is both)."""
    items = deu_items(world, 3)
    for i in range(n):
        raise_requisition(world, [(item, 1 + i % 2) for item in items] + [(world.fuel, 1)], urgency="ABC"[i % 3])
    requisitions.create_requisition(
        requester=world.users["ita_logistics"],
        requesting_nation=world.ita,
        destination_center=world.nat_b,
        required_by=in_days(9),
        justification="ITA's own",
        lines=[LineInput(item=items[0], quantity=1)],
        submit=True,
    )


@pytest.mark.parametrize("user", ["fra_logistics", "deu_liaison", "dual_hat"])
def test_the_lists_queries_do_not_grow_with_its_rows(world, as_user, django_assert_max_num_queries, user):
    client = as_user(user)

    def read(n_new) -> tuple[int, list[str]]:
        _raise_many(world, n_new)
        with django_assert_max_num_queries(LIST_CEILING) as captured:
            response = client.get(URL)
        assert response.status_code == 200
        return response.json()["count"], [q["sql"] for q in captured.captured_queries]

    few_count, few = read(2)
    many_count, many = read(12)

    assert (few_count, many_count) == {"fra_logistics": (2, 14), "deu_liaison": (3, 16), "dual_hat": (3, 16)}[user]
    assert len(many) == len(few), "\n".join(many)


@pytest.mark.parametrize("user", ["fra_logistics", "deu_liaison"])
def test_the_details_queries_do_not_grow_with_its_lines(world, as_user, django_assert_max_num_queries, user):
    client = as_user(user)
    small = raise_requisition(world, [(item, 2) for item in deu_items(world, 2)])
    large = raise_requisition(world, [(item, 2) for item in deu_items(world, 30)] + [(world.fuel, 300)])
    counts = []
    for req, lines in ((small, 2), (large, 31)):
        with django_assert_max_num_queries(DETAIL_CEILING) as captured:
            body = detail(client, req)
        assert len(body["lines"]) == lines
        counts.append(len(captured.captured_queries))

    assert counts[0] == counts[1]


def test_a_national_systems_list_keeps_the_ceiling(world, django_assert_max_num_queries):
    client = token_client(world.users["fra_system"])
    _raise_many(world, 5)
    client.get(URL)  # the token's first use records it

    with django_assert_max_num_queries(LIST_CEILING):
        assert client.get(URL).json()["count"] == 5  # FRA's five, not ITA's
