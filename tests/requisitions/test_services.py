"""The requisition services (coordination/requisitions.py) and the figures read from their requests
(coordination/requisition_state.py): sourcing nearest first, splitting, substitutes, backorders, re-sourcing,
cancelling what is outstanding, closing, and bad input that changes nothing."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from coordination import requisitions, services
from coordination.models import (
    RequestEvent,
    RequestStatus,
    Requisition,
    RequisitionLine,
    RequisitionStatus,
    SupplyRequest,
)
from coordination.requisition_state import with_figures
from coordination.requisitions import LineInput, SourceChoice
from core.errors import Conflict, InvalidTransition
from nations.models import AuditEntry, AuditKind
from tests.requisitions.conftest import in_days, raise_requisition

pytestmark = pytest.mark.django_db


def figures(requisition) -> dict[int, dict]:
    keys = ("quantity", "sourced", "approved", "dispatched", "received", "cancelled", "in_flight", "outstanding")
    return {
        line.number: {k: getattr(line, k) for k in keys} for line in with_figures(requisition.lines.order_by("number"))
    }


def requests_of(requisition, **filters) -> list[SupplyRequest]:
    return list(requisition.requests.filter(**filters).select_related("supplying_nation", "source_center", "item"))


def test_a_line_one_donor_covers_goes_to_the_nearest_such_donor_whole(world):
    req = raise_requisition(world, [(world.fuel, 120)])

    (only,) = requests_of(req)
    # DEU (200 spare) and ITA (150) both hold fuel at MLC-A, the same distance: the larger spare first
    assert (only.supplying_nation, only.source_center, only.quantity_requested) == (world.deu, world.mlc_a, 120)
    assert only.status == RequestStatus.SUBMITTED and only.reference.startswith("REQ-")
    assert only.requisition_line.number == 1 and only.requisition == req
    assert figures(req)[1] == {
        "quantity": 120,
        "sourced": 120,
        "approved": 0,
        "dispatched": 0,
        "received": 0,
        "cancelled": 0,
        "in_flight": 120,
        "outstanding": 0,
    }


def test_a_line_no_single_nation_can_cover_is_split_and_the_rest_stays_outstanding(world):
    req = raise_requisition(world, [(world.fuel, 400)])

    split = sorted((r.supplying_nation.code, r.quantity_requested) for r in requests_of(req))
    assert split == [("DEU", 200), ("ITA", 150)]  # both donors' whole spare, never below their safety levels
    assert figures(req)[1]["outstanding"] == 50
    assert req.status == RequisitionStatus.OPEN and req.plan.uncovered == {1: 50}


def test_sourcing_never_goes_below_a_donors_safety_level(world):
    deu = world.stocks["deu_shared"]
    deu.safety_level = 150
    deu.save(update_fields=["safety_level"])

    req = raise_requisition(world, [(world.fuel, 120)])

    split = sorted((r.supplying_nation.code, r.quantity_requested) for r in requests_of(req))
    assert split == [("ITA", 120)]  # DEU could spare only 50: ITA covers the line whole


def test_private_and_own_stock_are_never_sources(world):
    own = world.stocks["fra_private"]
    own.shared = True  # FRA's own rations, even shared, are not asked of FRA
    own.save(update_fields=["shared"])

    req = raise_requisition(world, [(world.rations, 10)])

    assert requests_of(req) == []  # DEU's and ITA's rations are private
    assert figures(req)[1]["outstanding"] == 10


def test_the_requests_carry_the_requisitions_priority_designator_and_dates(world):
    world.fra.activity_designator = 2
    world.fra.save(update_fields=["activity_designator"])
    req = raise_requisition(world, [LineInput(item=world.fuel, quantity=10, required_by=in_days(3))], urgency="A")

    (r,) = requests_of(req)
    assert (req.activity_designator, req.priority_designator) == (2, 2)  # FAD II, urgency A: 02
    assert (r.priority_designator, r.priority, r.required_by) == (2, "urgent", in_days(3))
    assert r.submitted_at is not None and r.justification.startswith(f"{req.reference} line 1:")


def test_each_raised_request_has_its_timeline_and_audit_entries(world):
    req = raise_requisition(world, [(world.fuel, 400)])

    for r in requests_of(req):
        steps = list(RequestEvent.objects.filter(request=r).values_list("from_status", "to_status"))
        assert steps == [("", "draft"), ("draft", "submitted")]
        assert (
            AuditEntry.objects.filter(kind=AuditKind.REQUEST_TRANSITION, object_id=str(r.pk), nation=world.fra).count()
            == 2
        )


def test_the_suppliers_liaison_officers_get_one_notice_per_requisition(world):
    req = raise_requisition(world, [(world.fuel, 400)])
    deu_liaison = world.users["deu_liaison"]

    notices = list(deu_liaison.notifications.all())
    assert len(notices) == 1
    assert req.reference in notices[0].title and "REQ-" in notices[0].body


def test_a_substitute_is_offered_only_for_what_the_item_cannot_cover_and_only_when_allowed(world):
    not_allowed = raise_requisition(world, [(world.fuel, 500)])
    assert sorted(r.quantity_requested for r in requests_of(not_allowed)) == [150, 200]
    assert {r.item_id for r in requests_of(not_allowed)} == {world.fuel.pk}  # no substitute: 150 outstanding
    assert figures(not_allowed)[1]["outstanding"] == 150

    allowed = raise_requisition(world, [LineInput(item=world.fuel, quantity=500, allow_substitutes=True)])
    # the fuel's spare is all asked for by the first requisition: jet fuel stands in, marked as such
    assert [(r.item.nsn, r.quantity_requested, r.substitute_for_id) for r in requests_of(allowed)] == [
        (world.jet.nsn, 500, world.fuel.pk)
    ]


def test_a_substitute_covers_only_what_the_item_itself_cannot(world):
    req = raise_requisition(world, [LineInput(item=world.fuel, quantity=400, allow_substitutes=True)])

    by_item = sorted((r.item.nsn, r.quantity_requested, r.substitute_for_id) for r in requests_of(req))
    assert by_item == [(world.fuel.nsn, 150, None), (world.fuel.nsn, 200, None), (world.jet.nsn, 50, world.fuel.pk)]


def test_a_one_way_substitute_does_not_stand_in_the_other_way(world):
    assert requisitions.substitutes_of({world.jet.pk}) == {}
    assert requisitions.substitutes_of({world.fuel.pk}) == {world.fuel.pk: [world.jet.pk]}


def test_two_lines_of_one_plan_never_count_a_donors_spare_twice(world):
    plan = requisitions.plan_sources(
        Requisition(requesting_nation=world.fra, destination_center=world.nat_f),
        [(RequisitionLine(number=1, item=world.fuel, quantity=300), 300),
         (RequisitionLine(number=2, item=world.fuel, quantity=300), 300)],
        choices={},
    )  # fmt: skip

    taken: dict[int, int] = {}
    for allocation in plan.allocations:
        taken[allocation.stock.pk] = taken.get(allocation.stock.pk, 0) + allocation.quantity
    assert taken == {world.stocks["deu_shared"].pk: 200, world.stocks["ita_mlc_fuel"].pk: 150}
    assert plan.uncovered == {2: 250}


def test_the_requesters_own_choice_of_sources_is_kept(world):
    choice = SourceChoice(supplying_nation=world.ita, source_center=world.mlc_a, quantity=30)
    req = raise_requisition(world, [LineInput(item=world.fuel, quantity=50, sources=(choice,))])

    assert [(r.supplying_nation.code, r.quantity_requested) for r in requests_of(req)] == [("ITA", 30)]
    assert figures(req)[1]["outstanding"] == 20  # chose less than the line: the rest stays outstanding


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        (dict(supplying_nation="ita", source_center="mlc_a", quantity=151), "can spare only 150"),
        (dict(supplying_nation="deu", source_center="nat_b", quantity=5), "can spare only 0"),
        (dict(supplying_nation="ita", source_center="mlc_a", quantity=0), "whole number"),
    ],
)
def test_a_bad_choice_of_source_is_refused_and_nothing_is_created(world, choice, message):
    choice = SourceChoice(
        supplying_nation=getattr(world, choice["supplying_nation"]),
        source_center=getattr(world, choice["source_center"]),
        quantity=choice["quantity"],
    )
    with pytest.raises(ValidationError) as refused:
        raise_requisition(world, [LineInput(item=world.fuel, quantity=200, sources=(choice,))])

    assert message in str(refused.value.message_dict["lines[0].sources[0]"])
    assert not Requisition.objects.exists() and not SupplyRequest.objects.exists()


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([], "lines"),
        ([("fuel", 0)], "lines[0].quantity"),
        ([("fuel", 5), ("rations", -1)], "lines[1].quantity"),
        ([("fuel", 5), ("fuel", 6)], "lines[1].nsn"),
    ],
)
def test_bad_lines_are_refused_by_field_and_change_nothing(world, lines, field):
    with pytest.raises(ValidationError) as refused:
        raise_requisition(world, [(getattr(world, item), q) for item, q in lines])

    assert field in refused.value.message_dict
    assert not Requisition.objects.exists() and not RequisitionLine.objects.exists()


def test_a_past_delivery_date_and_an_empty_justification_are_refused(world):
    with pytest.raises(ValidationError) as refused:
        requisitions.create_requisition(
            requester=world.users["fra_logistics"],
            requesting_nation=world.fra,
            destination_center=world.nat_f,
            required_by=in_days(-1),
            justification="  ",
            urgency="Z",
            lines=[LineInput(item=world.fuel, quantity=1, required_by=in_days(-2))],
        )
    assert set(refused.value.message_dict) == {"required_by", "justification", "urgency", "lines[0].required_by"}
    assert not Requisition.objects.exists()


@pytest.mark.parametrize("user", ["fra_liaison", "deu_logistics", "coordinator", "mlc_a_operator"])
def test_only_the_nations_logistics_officers_raise_its_requisitions(world, user):
    with pytest.raises(PermissionDenied):
        raise_requisition(world, [(world.fuel, 1)], user=user)
    assert not Requisition.objects.exists()


def test_a_draft_is_sourced_on_submit_and_only_once(world):
    draft = raise_requisition(world, [(world.fuel, 10)], submit=False)
    assert draft.status == RequisitionStatus.DRAFT and not SupplyRequest.objects.exists()

    submitted = requisitions.submit_requisition(requisition=draft, actor=world.users["fra_logistics"])

    assert submitted.status == RequisitionStatus.OPEN and submitted.submitted_at is not None
    with pytest.raises(InvalidTransition):
        requisitions.submit_requisition(requisition=draft, actor=world.users["fra_logistics"])
    assert SupplyRequest.objects.count() == 1


def test_what_is_refused_or_approved_short_stays_outstanding_and_is_resourced_in_one_action(world):
    req = raise_requisition(world, [(world.fuel, 300)])
    deu_request = requests_of(req, supplying_nation=world.deu)[0]
    ita_request = requests_of(req, supplying_nation=world.ita)[0]
    services.approve_request(request=ita_request, approver=world.users["ita_liaison"], quantity=60)  # 100 asked
    services.reject_request(request=deu_request, approver=world.users["deu_liaison"], reason="Needed at home")

    line = figures(req)[1]
    assert (line["approved"], line["in_flight"], line["outstanding"]) == (60, 60, 240)

    plan = requisitions.resource_lines(requisition=req, actor=world.users["fra_logistics"])

    # DEU refused this line: left out; ITA at MLC-A has 150 - 60 reserved = 90 spare
    new = requests_of(req, status=RequestStatus.SUBMITTED)
    assert [(r.supplying_nation.code, r.quantity_requested) for r in new] == [("ITA", 90)]
    assert plan.uncovered == {1: 150}
    assert figures(req)[1]["outstanding"] == 150


def test_resourcing_a_line_with_nothing_outstanding_is_a_conflict(world):
    req = raise_requisition(world, [(world.fuel, 10)])

    with pytest.raises(Conflict):
        requisitions.resource_lines(requisition=req, actor=world.users["fra_logistics"])
    assert SupplyRequest.objects.count() == 1


def test_cancelling_the_outstanding_closes_a_requisition_with_nothing_in_flight(world):
    req = raise_requisition(world, [(world.fuel, 120), (world.rations, 10)])
    (fuel_request,) = requests_of(req)
    services.reject_request(request=fuel_request, approver=world.users["deu_liaison"], reason="No")

    given_up = requisitions.cancel_lines(requisition=req, actor=world.users["fra_logistics"])

    req.refresh_from_db()
    assert given_up == 130 and req.status == RequisitionStatus.CLOSED and req.closed_at is not None
    assert figures(req)[1]["cancelled"] == 120 and figures(req)[2]["cancelled"] == 10
    assert "closed" in world.users["fra_logistics"].notifications.latest("id").title


def test_the_requisition_closes_with_the_receipt_of_its_last_line_and_not_before(world):
    req = raise_requisition(world, [(world.fuel, 300)])
    deu_request, ita_request = (
        requests_of(req, supplying_nation=world.deu)[0],
        requests_of(req, supplying_nation=world.ita)[0],
    )
    for r, approver in ((deu_request, world.users["deu_liaison"]), (ita_request, world.users["ita_liaison"])):
        services.approve_request(request=r, approver=approver)
    services.dispatch_request(request=deu_request, actor=world.users["deu_logistics"])
    services.receive_request(request=deu_request, actor=world.users["nat_f_operator"])
    req.refresh_from_db()
    assert req.status == RequisitionStatus.OPEN  # ITA's 100 are still in flight

    services.dispatch_request(request=ita_request, actor=world.users["mlc_a_operator"])
    services.receive_request(request=ita_request, actor=world.users["fra_logistics"], quantity=90)
    req.refresh_from_db()
    assert req.status == RequisitionStatus.OPEN  # received short: 10 outstanding, a backorder
    assert figures(req)[1]["outstanding"] == 10 and figures(req)[1]["received"] == 290

    requisitions.cancel_lines(requisition=req, actor=world.users["fra_logistics"], numbers=[1])
    req.refresh_from_db()
    assert req.status == RequisitionStatus.CLOSED


def test_a_suppliers_officers_see_only_the_lines_addressed_to_them(world):
    req = raise_requisition(world, [(world.fuel, 120), (world.rations, 10)])  # fuel to DEU; rations to nobody

    def lines_seen(user):
        return set(RequisitionLine.objects.visible_to(world.users[user]).values_list("number", flat=True))

    assert lines_seen("fra_logistics") == {1, 2}
    assert lines_seen("deu_liaison") == {1}
    assert lines_seen("ita_logistics") == set()
    assert Requisition.objects.visible_to(world.users["ita_logistics"]).count() == 0
    assert Requisition.objects.visible_to(world.users["deu_liaison"]).get() == req
    assert Requisition.objects.visible_to(world.users["coordinator"]).get() == req
    assert Requisition.objects.visible_to(world.users["nat_f_operator"]).get() == req
