"""A unit's resupply as one requisition, from a sheet to the last receipt, in the browser alone (issue 16's story).

fra-logistics imports a 40-line sheet of NSNs and quantities into a new requisition and submits it: every line is
sourced from the nearest nation that can spare it, and the sheet was chosen so that two nations share the lines.
Each supplier's liaison officer opens the lines addressed to them; one approves a line short, then both approve the
rest of their lines in one action.  fra-logistics sees what stays outstanding and re-sources it in one click; its
supplier approves.  Each supplier's logistics officer dispatches their requests together as a shipment; fra-logistics
receives every shipment in full, and the requisition closes.

Screenshots go to test-artifacts/screenshots/story16-*.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.utils import timezone

from coordination.models import (
    RequestStatus,
    Requisition,
    RequisitionLine,
    RequisitionStatus,
    Shipment,
    SupplyRequest,
)
from coordination.requisitions import plan_sources
from inventory.models import LogisticsCenter, Stock
from nations.models import Nation

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LINES = 40
QUANTITY = 6  # per line; the short approval gives half
SHORT = QUANTITY // 2


def forty_lines_for_two_nations():
    """A destination of FRA's and 40 items that automatic sourcing sends whole to one center of one of two nations
    (so that two liaison officers share the lines, and each supplier ships from one center).  Read through the
    portal's own sourcing plan on an unsaved requisition, so the sheet matches what submitting will do."""
    fra = Nation.objects.get(code="FRA")
    offered_items = list(
        Stock.objects.filter(shared=True)
        .exclude(nation=fra)
        .order_by("item_id")
        .values_list("item_id", flat=True)
        .distinct()
    )
    for destination in LogisticsCenter.objects.filter(participants=fra).order_by("code"):
        draft = Requisition(requesting_nation=fra, destination_center=destination)
        lines = [
            RequisitionLine(number=n, item_id=item_id, quantity=QUANTITY) for n, item_id in enumerate(offered_items, 1)
        ]
        plan = plan_sources(draft, [(line, QUANTITY) for line in lines], choices={})
        whole = Counter(a.line.number for a in plan.allocations)
        by_source = defaultdict(list)  # (nation, center) -> items sourced whole there
        for allocation in plan.allocations:
            if whole[allocation.line.number] == 1 and allocation.substitute_for is None:
                by_source[(allocation.stock.nation, allocation.stock.center)].append(allocation.stock.item)
        ranked = sorted(by_source.items(), key=lambda kv: -len(kv[1]))
        if not ranked:
            continue
        (first_nation, _), first_items = ranked[0]
        second = next(((key, items) for key, items in ranked[1:] if key[0] != first_nation), None)
        if second is None:
            continue
        take_second = min(len(second[1]), LINES // 2)
        take_first = LINES - take_second
        if len(first_items) >= take_first:
            return destination, first_items[:take_first] + second[1][:take_second]
    pytest.fail("no destination of FRA's where two nations could supply 40 lines whole")


def requisition_on(page) -> Requisition:
    return Requisition.objects.get(pk=int(re.search(r"/requisitions/(\d+)/", page.url).group(1)))


def decide_lines(page, requisition: Requisition):
    """A supplier's liaison officer opens the requisition and follows "Decide the lines addressed to you"."""
    from playwright.sync_api import expect

    page.goto(f"/requisitions/{requisition.pk}/")
    expect(page.get_by_test_id("supplier-part")).to_be_visible()  # only their part, not the whole requisition
    page.get_by_test_id("decide-lines").click()
    expect(page.get_by_test_id("queue-requisition")).to_contain_text(requisition.reference)


def approve_all(page, requisition: Requisition, expected: int):
    from playwright.sync_api import expect

    decide_lines(page, requisition)
    expect(page.get_by_test_id("queue-row")).to_have_count(expected)
    page.get_by_test_id("approve-all").click()  # hx-confirm: accepted by the portal fixture
    results = page.get_by_test_id("bulk-result")
    expect(results).to_have_count(expected)
    expect(page.locator("[data-testid=bulk-result].dc-refused")).to_have_count(0)


def test_a_forty_line_requisition_from_a_sheet_to_closed_in_the_browser(portal, tmp_path):
    from playwright.sync_api import expect

    destination, items = forty_lines_for_two_nations()
    sheet = tmp_path / "resupply.csv"
    with sheet.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["nsn", "quantity"])
        writer.writerows([item.nsn, QUANTITY] for item in items)

    # --- fra-logistics: a new requisition, the sheet imported, submitted -------------------------------------------
    fra = portal.login("fra-logistics")
    fra.locator(".mainnav").get_by_role("link", name="Requisitions").click()
    fra.get_by_test_id("new-requisition").click()
    fra.get_by_label("Destination center").select_option(destination.code)
    fra.get_by_label("Justification").fill("Resupply of 3rd battalion before the exercise.")
    fra.locator('input[name="sheet"]').set_input_files(str(sheet))
    fra.get_by_role("button", name="Import sheet").click()
    expect(fra.get_by_test_id("import-done")).to_contain_text(f"{LINES} lines read from the sheet")
    expect(fra.get_by_label("Destination center")).to_have_value(destination.code)  # the header survived the import
    for n, item in ((1, items[0]), (LINES, items[-1])):  # each row shows its NSN and the item's name
        expect(fra.get_by_label(f"Item of line {n}", exact=True)).to_have_value(re.compile(f"^{item.nsn} "))
    portal.screenshot(fra, "story16-imported")
    fra.get_by_test_id("submit-requisition").click()
    fra.wait_for_url(re.compile(r"/requisitions/\d+/$"))
    expect(fra.get_by_test_id("status")).to_have_text("Open")
    requisition = requisition_on(fra)
    assert requisition.lines.count() == LINES
    for n in (1, LINES):
        expect(fra.get_by_test_id(f"line-{n}").get_by_test_id("outstanding")).to_have_text("0")
    portal.screenshot(fra, "story16-submitted")

    requests = SupplyRequest.objects.filter(requisition=requisition)
    assert requests.count() == LINES and set(requests.values_list("status", flat=True)) == {RequestStatus.SUBMITTED}
    per_nation = Counter(requests.values_list("supplying_nation__code", flat=True))
    assert len(per_nation) == 2, per_nation  # two nations share the lines
    (short_nation, short_count), (other_nation, other_count) = per_nation.most_common()

    # --- the first supplier: one line approved short, then every other line of theirs in one action ---------------
    liaison = portal.login(f"{short_nation.lower()}-liaison")
    short_request = requests.filter(supplying_nation__code=short_nation).order_by("requisition_line__number").first()
    decide_lines(liaison, requisition)
    liaison.get_by_role("link", name=short_request.reference, exact=True).click()
    liaison.locator("#id_approve_quantity").fill(str(SHORT))
    liaison.get_by_test_id("request-action-approve").get_by_role("button", name="Approve").click()
    expect(liaison.get_by_test_id("status")).to_have_text("Approved")
    approve_all(liaison, requisition, short_count - 1)
    portal.screenshot(liaison, "story16-bulk-approved")

    # --- the second supplier approves all their lines at once -----------------------------------------------------
    other_liaison = portal.login(f"{other_nation.lower()}-liaison")
    approve_all(other_liaison, requisition, other_count)
    assert set(requests.values_list("status", flat=True)) == {RequestStatus.APPROVED}

    # --- fra-logistics: the short line is outstanding; re-source it in one click ------------------------------------
    short_line = short_request.requisition_line.number
    fra.reload()
    line = fra.get_by_test_id(f"line-{short_line}")
    expect(line.get_by_test_id("outstanding")).to_have_text(str(QUANTITY - SHORT))
    fra.get_by_test_id("resource").click()  # hx-confirm accepted; every line, since none is ticked
    expect(line.get_by_test_id("outstanding")).to_have_text("0")
    expect(line.get_by_test_id("line-request")).to_have_count(2)
    requested, sourced, approved = (line.locator("td.num").nth(k) for k in range(3))
    expect(requested).to_have_text(str(QUANTITY))
    expect(sourced).to_have_text(str(QUANTITY))  # the approved part and the re-sourced rest, never more
    expect(approved).to_have_text(str(SHORT))
    remainder = SupplyRequest.objects.get(requisition=requisition, status=RequestStatus.SUBMITTED)
    assert remainder.quantity_requested == QUANTITY - SHORT
    assert remainder.requisition_line.number == short_line and remainder.item_id == short_request.item_id
    portal.screenshot(fra, "story16-resourced")

    # --- the remainder's supplier approves it ----------------------------------------------------------------------
    remainder_liaison = portal.login(f"{remainder.supplying_nation.code.lower()}-liaison")
    approve_all(remainder_liaison, requisition, 1)

    # --- each supplier's logistics officer dispatches their requests together, one shipment per source center -------
    approved = SupplyRequest.objects.filter(requisition=requisition, status=RequestStatus.APPROVED)
    assert approved.count() == LINES + 1
    groups = defaultdict(list)
    for r in approved.select_related("supplying_nation", "source_center"):
        groups[(r.supplying_nation.code, r.source_center.code)].append(r.pk)
    arrival = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    shippers = {}
    for (nation, _center), pks in sorted(groups.items()):
        shipper = shippers.get(nation) or shippers.setdefault(nation, portal.login(f"{nation.lower()}-logistics"))
        shipper.goto("/shipments/")
        shipper.get_by_role("link", name="Dispatch requests together").click()
        group = shipper.get_by_test_id("shipment-group").filter(has=shipper.locator(f"#shp-pick-{pks[0]}"))
        for pk in pks:
            group.locator(f"#shp-pick-{pk}").check()
        group.get_by_label("Mode").select_option("road")
        group.get_by_label("Carrier or convoy").fill(f"{nation} convoy 7")
        group.get_by_label("Expected arrival (UTC)").fill(arrival)
        group.get_by_role("button", name="Dispatch together").click()
        shipper.wait_for_url(re.compile(r"/shipments/\d+/$"))
        expect(shipper.get_by_test_id("shipment-requests").locator("tbody tr")).to_have_count(len(pks))
    portal.screenshot(shipper, "story16-dispatched")
    shipments = list(Shipment.objects.filter(requests__requisition=requisition).distinct().order_by("pk"))
    assert len(shipments) == len(groups)

    # --- fra-logistics receives every shipment in full; the requisition closes -------------------------------------
    for shipment in shipments:
        fra.locator(".mainnav").get_by_role("link", name="Shipments").click()
        fra.get_by_role("link", name=shipment.reference, exact=True).click()
        fra.get_by_test_id("receive-shipment").get_by_role("button", name="Receive all in full").click()
        expect(fra.get_by_test_id("shipment-state")).to_have_text("Arrived")
    portal.screenshot(fra, "story16-received")
    fra.goto(f"/requisitions/{requisition.pk}/")
    expect(fra.get_by_test_id("status")).to_have_text("Closed")
    portal.screenshot(fra, "story16-closed")
    requisition.refresh_from_db()
    assert requisition.status == RequisitionStatus.CLOSED
    assert set(SupplyRequest.objects.filter(requisition=requisition).values_list("status", flat=True)) == {
        RequestStatus.RECEIVED
    }
    portal.assert_no_browser_errors()
