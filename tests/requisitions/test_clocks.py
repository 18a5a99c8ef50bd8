"""Overdue clocks (issue 16, item 4): a request not decided within its priority group's approval time, not dispatched
within its dispatch time, or travelling in a shipment past its expected arrival plus the tolerance, is flagged by
the reconciliation pass over its source center, and not a moment before; the flag resolves by itself when the
request moves on; whoever must act is told once per run, and the nations' systems by webhook."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.conf import settings
from django.utils import timezone

from coordination import clocks, runs, services, tasks
from coordination.models import (
    Discrepancy,
    DiscrepancyKind,
    DiscrepancyResolution,
    EventType,
    Notification,
    Severity,
    Shipment,
    SupplyRequest,
    TransportMode,
    WebhookDelivery,
    WebhookEndpoint,
)
from coordination.reconciliation import reconcile_center
from tests.requisitions.conftest import in_days

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)
APPROVAL, DISPATCH, ARRIVAL = (
    DiscrepancyKind.OVERDUE_APPROVAL,
    DiscrepancyKind.OVERDUE_DISPATCH,
    DiscrepancyKind.OVERDUE_ARRIVAL,
)
# one designator of each priority group, with the group's standard hours (config/settings.py defaults)
GROUPS = [(2, 1, 12, 24), (5, 2, 48, 48), (14, 3, 120, 72)]


@pytest.fixture
def passes():
    """Reconcile a center at strictly increasing times from now on, as successive runs do."""
    ticks = itertools.count(1)

    def reconcile(center):
        return reconcile_center(center.pk, now=timezone.now() + dt.timedelta(seconds=next(ticks)))

    return reconcile


def fuel_request(world, *, designator=14, supplier=None, source=None, quantity=5, required_in=10) -> SupplyRequest:
    """FRA asks `supplier` (DEU) for fuel from `source` (MLC-A) to NAT-F, submitted, with `designator`."""
    request = services.create_request(
        requester=world.users["fra_logistics"],
        requesting_nation=world.fra,
        supplying_nation=supplier or world.deu,
        item=world.fuel,
        source_center=source or world.mlc_a,
        destination_center=world.nat_f,
        quantity=quantity,
        required_by=in_days(required_in),
        justification="Exercise resupply",
        submit=True,
    )
    SupplyRequest.objects.filter(pk=request.pk).update(priority_designator=designator)
    request.refresh_from_db()
    return request


def submitted_ago(world, age: dt.timedelta, **kwargs) -> SupplyRequest:
    request = fuel_request(world, **kwargs)
    SupplyRequest.objects.filter(pk=request.pk).update(submitted_at=timezone.now() - age)
    return request


def approved_ago(world, age: dt.timedelta, **kwargs) -> SupplyRequest:
    request = services.approve_request(request=fuel_request(world, **kwargs), approver=world.users["deu_liaison"])
    SupplyRequest.objects.filter(pk=request.pk).update(approved_at=timezone.now() - age)
    return request


def travelling(world, *, expected_ago: dt.timedelta, **kwargs) -> SupplyRequest:
    """A request dispatched from MLC-A in a road shipment expected at NAT-F `expected_ago` ago (in the past)."""
    request = approved_ago(world, dt.timedelta(0), **kwargs)
    request = services.dispatch_request(request=request, actor=world.users["deu_logistics"])
    now = timezone.now()
    shipment = Shipment.objects.create(
        shipping_nation=request.supplying_nation,
        source_center=request.source_center,
        destination_center=request.destination_center,
        mode=TransportMode.ROAD,
        carrier="Convoy 7",
        departed_at=now - expected_ago - 10 * HOUR,
        expected_arrival=now - expected_ago,
        created_by=world.users["deu_logistics"],
    )
    Shipment.objects.filter(pk=shipment.pk).update(reference=f"SHP-{shipment.pk:06d}")
    SupplyRequest.objects.filter(pk=request.pk).update(shipment=shipment)
    request.refresh_from_db()
    return request


def open_flags(kind) -> list[Discrepancy]:
    return list(Discrepancy.objects.filter(kind=kind, resolved_at__isnull=True).order_by("id"))


def flagged(kind) -> set[int]:
    return {flag.request_id for flag in open_flags(kind)}


# --- each clock flags when overdue, and not before ---------------------------------------------------------------


@pytest.mark.parametrize(("designator", "group", "approve", "dispatch"), GROUPS)
def test_the_standard_times_are_the_groups(designator, group, approve, dispatch):
    assert clocks.hours_for(designator, clocks.APPROVE) == approve
    assert clocks.hours_for(designator, clocks.DISPATCH) == dispatch
    assert clocks.group_hours(group) == {"approve": approve, "dispatch": dispatch}


@pytest.mark.parametrize(("designator", "group", "approve", "_dispatch"), GROUPS)
def test_a_request_not_decided_within_its_groups_time_is_overdue_for_approval_and_not_before(
    world, passes, designator, group, approve, _dispatch
):
    late = submitted_ago(world, approve * HOUR + HOUR, designator=designator)
    in_time = submitted_ago(world, approve * HOUR - HOUR, designator=designator)

    findings = passes(world.mlc_a)

    assert flagged(APPROVAL) == {late.pk}
    assert in_time.pk not in flagged(APPROVAL)
    [flag] = open_flags(APPROVAL)
    assert (flag.expected, flag.actual, flag.severity, flag.stock_id) == (5, 0, Severity.WARNING, None)
    assert findings.counts[APPROVAL] == 1


@pytest.mark.parametrize(("designator", "group", "_approve", "dispatch"), GROUPS)
def test_an_approved_request_not_dispatched_within_its_groups_time_is_overdue_and_not_before(
    world, passes, designator, group, _approve, dispatch
):
    late = approved_ago(world, dispatch * HOUR + HOUR, designator=designator)
    in_time = approved_ago(world, dispatch * HOUR - HOUR, designator=designator)

    passes(world.mlc_a)

    assert flagged(DISPATCH) == {late.pk}
    assert in_time.pk not in flagged(DISPATCH)


def test_a_more_pressing_request_is_overdue_sooner(world, passes):
    # both submitted 13 hours ago: past group 1's 12 hours, well within group 3's 120
    urgent = submitted_ago(world, 13 * HOUR, designator=1)
    routine = submitted_ago(world, 13 * HOUR, designator=15)

    passes(world.mlc_a)

    assert flagged(APPROVAL) == {urgent.pk}
    assert routine.pk not in flagged(APPROVAL)


def test_group_3s_dispatch_time_is_still_dispatch_overdue_days(world, passes, settings):
    settings.DISPATCH_OVERDUE_DAYS = 1
    late = approved_ago(world, 25 * HOUR, designator=14)
    pressing = approved_ago(world, 25 * HOUR, designator=5)  # group 2: 48 hours

    passes(world.mlc_a)

    assert flagged(DISPATCH) == {late.pk}
    assert pressing.pk not in flagged(DISPATCH)


def test_the_standard_times_come_from_settings(world, passes, settings):
    settings.PRIORITY_STANDARD_HOURS = {**settings.PRIORITY_STANDARD_HOURS, 2: {"approve": 2, "dispatch": 3}}
    late = submitted_ago(world, 3 * HOUR, designator=6)
    late_dispatch = approved_ago(world, 4 * HOUR, designator=6)

    passes(world.mlc_a)

    assert flagged(APPROVAL) == {late.pk} and flagged(DISPATCH) == {late_dispatch.pk}


def test_a_dispatched_request_in_a_shipment_past_its_expected_arrival_and_tolerance_is_overdue(world, passes):
    tolerance = settings.ARRIVAL_OVERDUE_TOLERANCE_HOURS * HOUR
    late = travelling(world, expected_ago=tolerance + HOUR)
    within_tolerance = travelling(world, expected_ago=tolerance - HOUR)

    findings = passes(world.mlc_a)

    assert flagged(ARRIVAL) == {late.pk}
    assert within_tolerance.pk not in flagged(ARRIVAL)
    [flag] = open_flags(ARRIVAL)
    assert (flag.expected, flag.actual) == (5, 0)
    assert findings.counts[ARRIVAL] == 1


def test_an_overdue_request_past_its_required_by_date_is_critical(world, passes):
    late = submitted_ago(world, 200 * HOUR, designator=14)
    SupplyRequest.objects.filter(pk=late.pk).update(required_by=timezone.localdate() - dt.timedelta(days=1))

    passes(world.mlc_a)

    [flag] = open_flags(APPROVAL)
    assert flag.severity == Severity.CRITICAL


def test_a_request_is_flagged_at_its_source_center_only(world, passes):
    submitted_ago(world, 200 * HOUR)

    passes(world.nat_b)
    assert open_flags(APPROVAL) == []
    passes(world.mlc_a)
    assert len(open_flags(APPROVAL)) == 1


def test_running_again_keeps_one_flag_per_request_and_clock(world, passes):
    late = submitted_ago(world, 200 * HOUR)
    passes(world.mlc_a)
    [first] = open_flags(APPROVAL)

    passes(world.mlc_a)

    [again] = open_flags(APPROVAL)
    assert (again.pk, again.first_seen, again.request_id) == (first.pk, first.first_seen, late.pk)
    assert again.last_seen > first.last_seen


# --- the flags resolve when the request moves on ---------------------------------------------------------------


def test_approving_resolves_the_approval_flag_and_starts_the_dispatch_clock(world, passes):
    late = submitted_ago(world, 200 * HOUR)
    passes(world.mlc_a)
    [flag] = open_flags(APPROVAL)

    services.approve_request(request=late, approver=world.users["deu_liaison"])
    passes(world.mlc_a)

    flag.refresh_from_db()
    assert flag.resolved_at is not None and flag.resolution == DiscrepancyResolution.CLEARED
    assert open_flags(APPROVAL) == [] and open_flags(DISPATCH) == []  # approved just now: its dispatch clock runs


def test_rejecting_resolves_the_approval_flag(world, passes):
    late = submitted_ago(world, 200 * HOUR)
    passes(world.mlc_a)

    services.reject_request(request=late, approver=world.users["deu_liaison"], reason="Not this week")
    passes(world.mlc_a)

    assert open_flags(APPROVAL) == []


def test_dispatching_resolves_the_dispatch_flag(world, passes):
    late = approved_ago(world, 100 * HOUR)
    passes(world.mlc_a)
    [flag] = open_flags(DISPATCH)

    services.dispatch_request(request=late, actor=world.users["deu_logistics"])
    passes(world.mlc_a)

    flag.refresh_from_db()
    assert flag.resolved_at is not None and open_flags(DISPATCH) == []


def test_receiving_resolves_the_arrival_flag(world, passes):
    late = travelling(world, expected_ago=48 * HOUR)
    passes(world.mlc_a)
    [flag] = open_flags(ARRIVAL)

    services.receive_request(request=late, actor=world.users["nat_f_operator"])
    passes(world.mlc_a)

    flag.refresh_from_db()
    assert flag.resolved_at is not None and open_flags(ARRIVAL) == []


def test_a_shipment_expected_later_no_longer_overdue_resolves_its_flag(world, passes):
    late = travelling(world, expected_ago=48 * HOUR)
    passes(world.mlc_a)

    Shipment.objects.filter(pk=late.shipment_id).update(expected_arrival=timezone.now() + 24 * HOUR)
    passes(world.mlc_a)

    assert open_flags(ARRIVAL) == []


# --- who must act is told once per run ---------------------------------------------------------------------------


def run_reconciliation(world):
    """A run over every center, started by a coordinator and worked in process (its tasks run here, in order)."""
    run = runs.start_reconciliation(user=world.users["coordinator"], trigger="api")
    tasks.run_reconciliation(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return run


OVERDUE_EVENTS = [EventType.REQUEST_OVERDUE, EventType.SHIPMENT_OVERDUE]


def notices(world, name: str) -> list[Notification]:
    """The overdue notices of a user (the lifecycle's own notices aside)."""
    return list(Notification.objects.filter(user=world.users[name], event__in=OVERDUE_EVENTS).order_by("id"))


@pytest.fixture
def overdue(world):
    """Two requests late for approval and one for dispatch (DEU, at MLC-A); one late in a shipment to NAT-F."""
    return {
        "approval": [submitted_ago(world, 200 * HOUR, designator=d) for d in (14, 9)],
        "dispatch": approved_ago(world, 100 * HOUR),
        "arrival": travelling(world, expected_ago=48 * HOUR),
    }


def test_each_person_who_must_act_gets_one_notice_per_run_summing_up_their_flags(world, overdue):
    run_reconciliation(world)

    [liaison] = notices(world, "deu_liaison")
    late_approvals = overdue["approval"]
    assert liaison.event == EventType.REQUEST_OVERDUE
    assert liaison.title == "2 requests are overdue"
    lines = liaison.body.splitlines()
    # most pressing first: 09 before 14
    assert [line.split(" ", 1)[0] for line in lines] == [late_approvals[1].reference, late_approvals[0].reference]
    assert "not decided within 120 h of its submission (priority 09)" in lines[0]
    assert liaison.link == "/requests/approvals/"

    for name in ("deu_logistics", "mlc_a_operator"):  # the supplier's logistics officers, the source's operators
        [note] = notices(world, name)
        assert note.title == "1 request is overdue" and overdue["dispatch"].reference in note.body
        assert "not dispatched from MLC-A within 72 h of its approval (priority 14)" in note.body
        assert note.link == "/discrepancies/?kind=overdue_dispatch&open=true"

    for name in ("fra_logistics", "nat_f_operator"):  # the destination's logistics officers and operators
        [note] = notices(world, name)
        shipment = overdue["arrival"].shipment
        assert note.event == EventType.SHIPMENT_OVERDUE
        assert f"in {shipment.reference}, expected at NAT-F" in note.body and "not received" in note.body

    for name in ("fra_liaison", "ita_liaison", "ita_logistics", "nat_b_operator", "coordinator"):
        assert notices(world, name) == []


def test_someone_who_must_act_on_several_clocks_gets_one_notice(world, overdue):
    # dual_hat: FRA's logistics officer (the late arrival) and DEU's liaison officer (the late approvals)
    run_reconciliation(world)

    [note] = notices(world, "dual_hat")
    assert note.title == "3 requests are overdue" and note.event == EventType.REQUEST_OVERDUE
    assert note.link == "/discrepancies/?open=true"


def test_a_later_run_tells_nobody_again_about_flags_still_open(world, overdue):
    run_reconciliation(world)
    told = Notification.objects.filter(event__in=OVERDUE_EVENTS).count()
    deliveries = WebhookDelivery.objects.count()

    run_reconciliation(world)

    assert told == 6  # deu_liaison, dual_hat, deu_logistics, mlc_a_operator, fra_logistics, nat_f_operator
    assert Notification.objects.filter(event__in=OVERDUE_EVENTS).count() == told
    assert WebhookDelivery.objects.count() == deliveries


def test_a_new_flag_in_a_later_run_is_told_alone(world, overdue):
    run_reconciliation(world)
    newly_late = submitted_ago(world, 200 * HOUR, designator=12)

    run_reconciliation(world)

    latest = notices(world, "deu_liaison")[-1]
    assert len(notices(world, "deu_liaison")) == 2
    assert latest.title == "1 request is overdue" and latest.body.startswith(newly_late.reference)


def test_flags_found_at_several_centers_make_one_notice_per_person_per_run(world):
    at_mlc = submitted_ago(world, 200 * HOUR, supplier=world.ita, source=world.mlc_a)
    at_nat_b = submitted_ago(world, 200 * HOUR, supplier=world.ita, source=world.nat_b)

    run_reconciliation(world)

    [note] = notices(world, "ita_liaison")
    assert note.title == "2 requests are overdue"
    assert at_mlc.reference in note.body and at_nat_b.reference in note.body
    assert {at_mlc.pk, at_nat_b.pk} == flagged(APPROVAL)


def test_the_run_counts_the_overdue_flags(world, overdue):
    run = run_reconciliation(world)

    assert (run.findings[APPROVAL], run.findings[DISPATCH], run.findings[ARRIVAL]) == (2, 1, 1)


def test_the_overdue_flags_raised_by_a_run_are_those_it_first_saw(world, overdue):
    first = run_reconciliation(world)
    second = run_reconciliation(world)

    assert len(clocks.raised_by_run(first.pk)) == 4
    assert clocks.raised_by_run(second.pk) == []


# --- the nations' systems are told by webhook ----------------------------------------------------------------------


def endpoint(world, nation, owner: str) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        nation=nation, owner=world.users[owner], url="https://192.0.2.10/hook", secret="s" * 32
    )


def test_late_requests_and_late_shipments_are_sent_to_the_nations_systems(world, overdue):
    fra, deu, ita = (
        endpoint(world, world.fra, "fra_system"),
        endpoint(world, world.deu, "deu_logistics"),
        endpoint(world, world.ita, "ita_system"),
    )

    run_reconciliation(world)

    def sent(to, event):
        return [d.payload for d in WebhookDelivery.objects.filter(endpoint=to, event=event).order_by("id")]

    late_requests = {overdue["dispatch"].reference, *(r.reference for r in overdue["approval"])}
    for system in (fra, deu):  # both nations of each late request
        payloads = sent(system, EventType.REQUEST_OVERDUE)
        assert {p["data"]["reference"] for p in payloads} == late_requests
        assert all(p["event"] == "request.overdue" and p["data"]["priority_designator"] for p in payloads)
        [shipment] = sent(system, EventType.SHIPMENT_OVERDUE)  # the shipping nation's and the requester's
        assert shipment["data"]["reference"] == overdue["arrival"].shipment.reference
        assert [r["reference"] for r in shipment["data"]["requests"]] == [overdue["arrival"].reference]
    assert not WebhookDelivery.objects.filter(endpoint=ita).exists()


def test_an_endpoint_not_subscribed_to_overdue_events_gets_none(world, overdue):
    fra = endpoint(world, world.fra, "fra_system")
    fra.events = [EventType.REQUEST_APPROVED]
    fra.save(update_fields=["events"])

    run_reconciliation(world)

    assert not WebhookDelivery.objects.filter(endpoint=fra).exists()
