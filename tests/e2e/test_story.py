"""The whole story of a supply request, in a real browser, on the demo scenario.

fra-logistics raises a request to DEU from a sourcing suggestion (DEU's shared stock at MLC-CENTRAL, which FRA
takes part in) for FRA's national center FRA-MIRAMAS; deu-liaison approves a smaller quantity from the approval
queue; MLC-CENTRAL's operator dispatches it; fra-logistics receives it; both stock pages show the new balances and
the transfer lines of the ledger; the coordinator runs a reconciliation and watches it finish; ITA's officer cannot
open FRA's private stock; the French interface shows the same request in French.  Every main page is screenshotted
and no page may log a JavaScript error.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import formats, timezone, translation

from coordination.models import ReconciliationRun, RequestStatus, RunStatus, SupplyRequest
from coordination.sourcing import sourcing_options
from inventory.models import LogisticsCenter, Movement, MovementKind, Stock
from nations.models import Nation

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SUPPLIER, SOURCE, DESTINATION = "DEU", "MLC-CENTRAL", "FRA-MIRAMAS"
REQUESTED, APPROVED = 40, 25  # the liaison officer approves less than was asked


def en(number: int) -> str:
    """A number as the English pages print it (USE_THOUSAND_SEPARATOR)."""
    return f"{number:,}"


def choose_supply() -> Stock:
    """DEU's shared stock at MLC-CENTRAL that fra-logistics will be offered for FRA-MIRAMAS: nothing reserved on
    it yet, a comfortable spare above its safety level, among the first ten suggestions, and (for a telling
    balance) an item FRA already holds at FRA-MIRAMAS."""
    fra_officer = get_user_model().objects.get(username="fra-logistics")
    destination = LogisticsCenter.objects.get(code=DESTINATION)
    france = Nation.objects.get(code="FRA")
    candidates = (
        Stock.objects.filter(nation__code=SUPPLIER, center__code=SOURCE, shared=True, reserved=0)
        .select_related("item")
        .order_by("item__nsn")
    )
    held_by_fra = set(
        Stock.objects.filter(nation__code="FRA", center__code=DESTINATION).values_list("item_id", flat=True)
    )
    for stock in sorted(candidates, key=lambda s: s.item_id not in held_by_fra):
        if stock.on_hand - stock.safety_level < REQUESTED * 2:
            continue
        options = sourcing_options(
            user=fra_officer,
            item=stock.item,
            quantity=REQUESTED,
            destination=destination,
            exclude_nation_ids=[france.pk],
        )[:10]
        if any(o.stock.pk == stock.pk for o in options):
            return stock
    raise AssertionError("the demo scenario offers FRA no DEU stock at MLC-CENTRAL: seed_demo changed")


def test_request_story_from_sourcing_to_receipt_in_the_browser(portal):
    from playwright.sync_api import expect

    supplier_stock = choose_supply()
    item = supplier_stock.item
    fra_stock_before = Stock.objects.filter(nation__code="FRA", center__code=DESTINATION, item=item).first()
    fra_on_hand_before = fra_stock_before.on_hand if fra_stock_before else 0
    required_by = timezone.localdate() + dt.timedelta(days=2)

    # --- fra-logistics raises the request from a sourcing suggestion -------------------------------------------
    fra = portal.login("fra-logistics")
    portal.screenshot(fra, "01-dashboard")
    fra.get_by_role("navigation", name="Main").get_by_role("link", name="Requests").click()
    expect(fra.get_by_role("heading", level=1)).to_have_text("Supply requests")
    portal.screenshot(fra, "06-requests")
    fra.get_by_role("link", name="New request").click()
    fra.wait_for_url("**/requests/new/")
    fra.wait_for_load_state("networkidle")  # the suggestions fragment is also loaded once on page load

    def suggestions_after(action):
        with fra.expect_response(re.compile(r"/requests/sourcing/")):
            action()

    suggestions_after(lambda: fra.locator("#id_destination_center").select_option(DESTINATION))
    fra.locator("#id_nsn").fill(item.nsn)
    suggestions_after(lambda: fra.locator("#id_quantity").fill(str(REQUESTED)))  # NSN's change
    suggestions_after(lambda: fra.locator("#id_quantity").press("Tab"))  # quantity's change
    suggestions = fra.locator("#sourcing table.sourcing")
    expect(suggestions).to_be_visible()
    expect(suggestions.locator("caption")).to_contain_text(item.nsn)
    choice = suggestions.locator(f'input[name="source_option"][value="{SUPPLIER}|{SOURCE}"]')
    choice.check()
    expect(choice).to_be_checked()
    portal.screenshot(fra, "07-new-request-with-suggestions")
    fra.get_by_label("Priority").select_option("priority")
    fra.get_by_label("Required by").fill(required_by.isoformat())  # earliest: first in the approval queue
    fra.get_by_label("Justification").fill("Exercise Steadfast Noon: FRA-MIRAMAS stock runs out before resupply.")
    fra.get_by_role("button", name="Raise request").click()
    fra.wait_for_url(re.compile(r"/requests/\d+/$"))
    expect(fra.get_by_test_id("status")).to_have_text("Submitted")

    supply_request = SupplyRequest.objects.select_related("supplying_nation", "source_center").get(
        pk=int(fra.url.rstrip("/").rsplit("/", 1)[1])
    )
    reference = supply_request.reference
    assert (supply_request.supplying_nation.code, supply_request.source_center.code) == (SUPPLIER, SOURCE)
    assert (supply_request.item_id, supply_request.quantity_requested) == (item.pk, REQUESTED)
    assert supply_request.status == RequestStatus.SUBMITTED
    expect(fra.get_by_role("heading", level=1)).to_contain_text(reference)
    portal.screenshot(fra, "08-request-submitted")

    # --- deu-liaison approves a smaller quantity from the approval queue, in place -----------------------------
    deu = portal.login("deu-liaison")
    queue = deu.locator("section").filter(has=deu.locator("#q-approval"))
    expect(queue.locator("tbody tr").first).to_contain_text(reference)  # needed soonest: first in the queue
    portal.screenshot(deu, "09-dashboard-approval-queue")
    queue.get_by_role("link", name=reference).click()
    deu.wait_for_url(f"**/requests/{supply_request.pk}/")
    expect(deu.get_by_test_id("status")).to_have_text("Submitted")
    portal.screenshot(deu, "10-request-to-approve")
    deu.evaluate("window.e2eSamePage = true")  # survives an in-place swap, not a page load
    deu.get_by_label("Quantity to approve").fill(str(APPROVED))
    deu.locator("#request-panel form.inline-form").first.get_by_label("Comment").fill("The rest is earmarked.")
    deu.get_by_role("button", name="Approve", exact=True).click()
    expect(deu.get_by_test_id("status")).to_have_text("Approved")
    expect(deu.get_by_test_id("qty-approved")).to_have_text(str(APPROVED))
    expect(deu.locator("#request-panel .success")).to_be_visible()
    assert deu.evaluate("window.e2eSamePage") is True, "the panel should update in place"
    assert portal.dialogs[-1] == "Approve and reserve this quantity?"
    expect(deu.get_by_role("button", name="Approve", exact=True)).to_have_count(0)  # nothing left to approve
    supplier_stock.refresh_from_db()
    assert supplier_stock.reserved == APPROVED

    # --- MLC-CENTRAL's operator dispatches it -----------------------------------------------------------------
    operator = portal.login("mlc-central-operator")
    operator.locator("section").filter(has=operator.locator("#q-dispatch")).get_by_role("link", name=reference).click()
    operator.wait_for_url(f"**/requests/{supply_request.pk}/")
    operator.get_by_role("button", name="Dispatch").click()
    expect(operator.get_by_test_id("status")).to_have_text("Dispatched")
    assert portal.dialogs[-1] == "Dispatch the approved quantity now?"

    # --- fra-logistics receives it ----------------------------------------------------------------------------
    fra.goto("/")
    fra.locator("section").filter(has=fra.locator("#q-receipt")).get_by_role("link", name=reference).click()
    fra.wait_for_url(f"**/requests/{supply_request.pk}/")
    expect(fra.get_by_label("Quantity received")).to_have_value(str(APPROVED))
    fra.get_by_role("button", name="Receive").click()
    expect(fra.get_by_test_id("status")).to_have_text("Received")
    expect(fra.locator("ol.timeline li > strong")).to_have_text(
        ["Draft", "Submitted", "Approved", "Dispatched", "Received"]
    )
    portal.screenshot(fra, "11-request-received")

    # --- both stock pages: new balances, and the transfer lines with the request's reference -------------------
    supplier_stock.refresh_from_db()
    assert supplier_stock.reserved == 0
    fra_stock = Stock.objects.get(nation__code="FRA", center__code=DESTINATION, item=item)
    assert fra_stock.on_hand == fra_on_hand_before + APPROVED

    operator.goto(f"/stocks/?center={SOURCE}&nation={SUPPLIER}&nsn={item.nsn}")
    operator.get_by_role("link", name=item.nsn).click()
    operator.wait_for_url(f"**/stocks/{supplier_stock.pk}/")
    expect(operator.get_by_test_id("on-hand")).to_have_text(f"{en(supplier_stock.on_hand)} {item.unit_of_issue}")
    expect(operator.get_by_test_id("reserved")).to_have_text("0")
    line = operator.locator("section").filter(has=operator.locator("#ledger-h")).locator("tbody tr").first
    expect(line).to_contain_text("Transfer out")
    expect(line).to_contain_text(f"-{APPROVED}")
    expect(line).to_contain_text(en(supplier_stock.on_hand))  # balance after
    expect(line.get_by_role("link", name=reference)).to_be_visible()

    fra.get_by_role("navigation", name="Main").get_by_role("link", name="Stocks").click()
    expect(fra.get_by_role("heading", level=1)).to_have_text("Stocks")
    portal.screenshot(fra, "02-stocks")
    fra.locator("select[name=center]").select_option(DESTINATION)  # a dropdown of the centers
    fra.get_by_label("Item NSN or name").fill(item.nsn)
    fra.get_by_role("button", name="Filter").click()
    expect(fra.locator("p.count")).to_have_text("1 stock")
    fra.get_by_role("link", name=item.nsn).click()
    fra.wait_for_url(f"**/stocks/{fra_stock.pk}/")
    expect(fra.get_by_test_id("on-hand")).to_have_text(f"{en(fra_stock.on_hand)} {item.unit_of_issue}")
    line = fra.locator("section").filter(has=fra.locator("#ledger-h")).locator("tbody tr").first
    expect(line).to_contain_text("Transfer in")
    expect(line).to_contain_text(f"+{APPROVED}")
    expect(line.get_by_role("link", name=reference)).to_be_visible()
    assert Movement.objects.filter(request=supply_request, kind=MovementKind.TRANSFER_IN, stock=fra_stock).exists()
    portal.screenshot(fra, "03-stock-detail")

    # --- the other main pages, as fra-logistics ---------------------------------------------------------------
    fra.get_by_role("navigation", name="Main").get_by_role("link", name="Centers").click()
    expect(fra.get_by_role("heading", level=1)).to_be_visible()
    portal.screenshot(fra, "04-centers")
    fra.get_by_role("link", name=SOURCE, exact=True).first.click()
    fra.wait_for_url(f"**/centers/{SOURCE}/")
    expect(fra.get_by_role("heading", level=1)).to_contain_text(SOURCE)
    portal.screenshot(fra, "05-center")
    for link, shot in [("Shortfalls", "12-shortfalls"), ("Discrepancies", "13-discrepancies")]:
        fra.get_by_role("navigation", name="Main").get_by_role("link", name=link).click()
        fra.wait_for_load_state()
        expect(fra.get_by_role("heading", level=1)).to_be_visible()
        portal.screenshot(fra, shot)
    fra.locator(".topbar a.bell").click()
    fra.wait_for_url("**/notifications/")
    portal.screenshot(fra, "15-notifications")

    # --- the coordinator runs a reconciliation and watches it finish -------------------------------------------
    coordinator = portal.login("coordinator")
    coordinator.get_by_role("navigation", name="Main").get_by_role("link", name="Reconciliation").click()
    coordinator.wait_for_url("**/reconciliation/")
    coordinator.get_by_role("button", name="Run now").click()
    progress = coordinator.locator("#run-progress")
    expect(progress.get_by_test_id("run-status")).to_have_text("Succeeded", timeout=120_000)
    expect(progress.locator("progress")).to_have_attribute("value", "100")
    # once finished, the list of runs below refreshes to show it
    expect(coordinator.locator("#runs tbody tr").first).to_contain_text("Succeeded")
    run = ReconciliationRun.objects.order_by("-pk").first()
    assert (
        run.status == RunStatus.SUCCEEDED and run.centers_done == run.centers_total == LogisticsCenter.objects.count()
    )
    portal.screenshot(coordinator, "14-reconciliation")

    # --- another nation cannot open FRA's private stock, nor the request ---------------------------------------
    ita = portal.login("ita-logistics")
    with portal.tolerating(r"status of 404"):
        assert ita.goto(f"/stocks/{fra_stock.pk}/").status == 404
        assert ita.goto(f"/requests/{supply_request.pk}/").status == 404
        assert ita.goto(f"/stocks/{supplier_stock.pk}/").status == 404  # ITA does not take part in MLC-CENTRAL
    ita.goto("/requests/")  # nor find it in its list
    expect(ita.get_by_role("link", name=reference)).to_have_count(0)

    # --- the French interface shows the same request in French --------------------------------------------------
    fra.goto(f"/requests/{supply_request.pk}/")
    fra.get_by_label("Language").select_option("fr")
    fra.get_by_role("button", name="Switch").click()
    expect(fra.locator("html")).to_have_attribute("lang", "fr")
    fra.wait_for_url(f"**/requests/{supply_request.pk}/")
    expect(fra.get_by_role("heading", level=1)).to_contain_text(reference)
    with translation.override("fr"):
        french_date = formats.date_format(required_by, "DATE_FORMAT")
    expect(fra.locator("#request-panel")).to_contain_text(french_date)  # e.g. « 14 novembre 2026 »
    expect(fra.get_by_role("navigation").get_by_role("link", name="Demandes")).to_be_visible()
    expect(fra.get_by_test_id("status")).to_have_text("Reçue")
    portal.screenshot(fra, "16-request-in-french")

    portal.assert_no_browser_errors()
