"""The shipment pages: the list (inbound and outbound, in transit first, overdue marked), one shipment, and
dispatching several approved requests together."""

from __future__ import annotations

import pytest
from django.utils import timezone

from coordination.models import RequestStatus, Shipment, SupplyRequest
from tests.requisitions.test_shipments import approved, books, in_hours, ship
from tests.web.conftest import browser  # noqa: F401 - the fixture, over this directory's `world`

pytestmark = pytest.mark.django_db

FORM_TIME = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends


def _form(requests, **extra) -> dict:
    return {
        "request": [str(r.pk) for r in requests],
        "group": "DEU|MLC-A|NAT-F",
        "mode": "road",
        "carrier": "Convoy 12",
        "departed_at": "",
        "expected_arrival": in_hours(36).strftime(FORM_TIME),
        **extra,
    }


# --- the list --------------------------------------------------------------------------------------------------------


def test_the_list_shows_inbound_and_outbound_in_transit_first_overdue_marked(world, browser):  # noqa: F811
    arrived_request = approved(world, world.rations, 2)
    arrived = ship(world, [arrived_request], departed_at=in_hours(-90), expected_arrival=in_hours(-80))
    from coordination import services

    services.receive_request(request=arrived_request, actor=world.users["nat_f_operator"])
    late = ship(world, [approved(world, world.fuel, 4)], departed_at=in_hours(-96), expected_arrival=in_hours(-48))
    soon = ship(world, [approved(world, world.jet, 4)], expected_arrival=in_hours(5))

    page = browser("fra_logistics").get("/shipments/")

    assert page.status_code == 200
    html = page.content.decode()
    # in transit first, the soonest expected first (the late one), then those arrived
    assert html.index(late.reference) < html.index(soon.reference) < html.index(arrived.reference)
    assert html.count('class="badge critical" data-testid="shipment-state">Overdue') == 1
    assert "Inbound" in html and "/shipments/new/" in html
    assert f'href="/shipments/{late.pk}/"' in html
    assert 'href="/shipments/"' in html  # the navigation's link

    outbound = browser("deu_logistics").get("/shipments/?direction=outbound").content.decode()
    assert all(s.reference in outbound for s in (late, soon, arrived))
    overdue_only = browser("fra_logistics").get("/shipments/?overdue=true").content.decode()
    assert late.reference in overdue_only and soon.reference not in overdue_only


def test_the_list_of_a_third_nation_holds_none_of_it(world, browser):  # noqa: F811
    shipment = ship(world, [approved(world, world.fuel, 4)])

    for name in ("ita_logistics", "nat_b_operator", "no_role"):
        page = browser(name).get("/shipments/")
        assert page.status_code == 200
        assert shipment.reference not in page.content.decode(), name
    assert browser("anonymous").get("/shipments/").status_code == 302


def test_the_list_exports_what_it_shows(world, browser):  # noqa: F811
    shipment = ship(world, [approved(world, world.fuel, 4)])

    export = browser("nat_f_operator").get("/shipments/?format=csv")

    text = b"".join(export.streaming_content).decode()
    assert text.splitlines()[0].startswith("reference,state,direction,mode")
    assert f"{shipment.reference},in_transit,inbound,road" in text


# --- one shipment ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("fra_logistics", 200),
        ("fra_liaison", 200),
        ("deu_logistics", 200),
        ("mlc_a_operator", 200),
        ("nat_f_operator", 200),
        ("coordinator", 200),
        ("ita_logistics", 404),
        ("nat_b_operator", 404),
        ("no_role", 404),
        ("anonymous", 302),
    ],
)
def test_a_shipment_page_by_role(world, browser, name, status):  # noqa: F811
    request = approved(world, world.fuel, 4)
    shipment = ship(world, [request])

    page = browser(name).get(f"/shipments/{shipment.pk}/")

    assert page.status_code == status
    if status == 200:
        html = page.content.decode()
        assert shipment.reference in html and request.reference in html and "Convoy 7" in html
        assert "In transit" in html
    else:
        assert shipment.reference not in page.content.decode()
    assert browser("fra_logistics").get("/shipments/987654/").status_code == 404


def test_a_shipment_page_hides_a_request_of_another_nation_travelling_along(world, browser):  # noqa: F811
    fra_request = approved(world, world.fuel, 4)
    ita_request = approved(world, world.jet, 6, nation=world.ita)
    shipment = ship(world, [fra_request, ita_request])

    fra_page = browser("fra_logistics").get(f"/shipments/{shipment.pk}/").content.decode()
    operator_page = browser("nat_f_operator").get(f"/shipments/{shipment.pk}/").content.decode()

    assert fra_request.reference in fra_page
    assert ita_request.reference not in fra_page and f"/requests/{ita_request.pk}/" not in fra_page
    assert fra_request.reference in operator_page and ita_request.reference in operator_page


def test_a_shipment_page_shows_what_was_received_and_the_arrival(world, browser):  # noqa: F811
    from coordination import services

    first, second = approved(world, world.fuel, 10), approved(world, world.jet, 20)
    shipment = ship(world, [first, second])
    services.receive_request(request=first, actor=world.users["nat_f_operator"], quantity=7)
    services.receive_request(request=second, actor=world.users["nat_f_operator"])

    html = browser("fra_logistics").get(f"/shipments/{shipment.pk}/").content.decode()

    assert "Arrived" in html and "7 L" in html and "20 L" in html


def test_the_request_page_says_which_shipment_carries_it(world, browser):  # noqa: F811
    request = approved(world, world.fuel, 4)
    dispatcher_page = browser("deu_logistics").get(f"/requests/{request.pk}/").content.decode()
    assert f"/shipments/new/?request={request.pk}" in dispatcher_page  # dispatch it with others
    shipment = ship(world, [request], mode="air")

    html = browser("fra_logistics").get(f"/requests/{request.pk}/").content.decode()

    assert f'<a href="/shipments/{shipment.pk}/">{shipment.reference}</a>' in html
    assert "(Air, expected arrival" in html


# --- dispatching together ----------------------------------------------------------------------------------------


def test_the_dispatch_page_groups_the_approved_requests_the_user_may_dispatch(world, browser):  # noqa: F811
    fuel, jet = approved(world, world.fuel, 4), approved(world, world.jet, 6)
    elsewhere = approved(world, world.rations, 2, destination=world.mlc_a)
    other_supplier = approved(world, world.fuel, 3, supplier=world.ita)

    page = browser("deu_logistics").get(f"/shipments/new/?request={fuel.pk}")

    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('data-testid="shipment-group"') == 2  # to NAT-F, and to MLC-A
    assert fuel.reference in html and jet.reference in html and elsewhere.reference in html
    assert other_supplier.reference not in html  # ITA's to dispatch, not DEU's
    assert f'value="{fuel.pk}" id="shp-pick-{fuel.pk}" checked' in html
    assert f'value="{jet.pk}" id="shp-pick-{jet.pk}" aria-label' in html
    # the source center's operator may dispatch both suppliers' requests: three groups
    operator = browser("mlc_a_operator").get("/shipments/new/").content.decode()
    assert operator.count('data-testid="shipment-group"') == 3
    # whoever may dispatch nothing sees an empty page, not someone else's requests
    for name in ("fra_logistics", "nat_f_operator", "no_role"):
        empty = browser(name).get("/shipments/new/")
        assert empty.status_code == 200 and fuel.reference not in empty.content.decode(), name


def test_dispatch_together_from_the_page(world, browser):  # noqa: F811
    fuel, jet = approved(world, world.fuel, 4), approved(world, world.jet, 6)

    response = browser("deu_logistics").post("/shipments/new/", _form([fuel, jet]))

    shipment = Shipment.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/shipments/{shipment.pk}/"
    assert (shipment.mode, shipment.carrier, shipment.created_by) == ("road", "Convoy 12", world.users["deu_logistics"])
    assert set(shipment.requests.values_list("status", flat=True)) == {RequestStatus.DISPATCHED}
    assert abs((shipment.departed_at - timezone.now()).total_seconds()) < 60
    followed = browser("deu_logistics").get(response["Location"]).content.decode()
    assert "dispatched: 2 requests on their way" in followed


def test_the_page_refuses_as_the_api_does_and_changes_nothing(world, browser):  # noqa: F811
    fuel, jet = approved(world, world.fuel, 4), approved(world, world.jet, 6)
    elsewhere = approved(world, world.rations, 2, destination=world.mlc_a)
    deu = browser("deu_logistics")
    before = books()

    early = deu.post("/shipments/new/", _form([fuel], expected_arrival=in_hours(-5).strftime(FORM_TIME)))
    assert early.status_code == 400 and "before the departure" in early.content.decode()
    assert deu.post("/shipments/new/", _form([])).status_code == 400
    mixed = deu.post("/shipments/new/", _form([fuel, elsewhere]))
    assert mixed.status_code == 400 and "MLC-A, NAT-F" in mixed.content.decode()
    missing_mode = deu.post("/shipments/new/", _form([fuel], mode=""))
    assert missing_mode.status_code == 400
    assert browser("fra_logistics").post("/shipments/new/", _form([fuel, jet])).status_code == 403
    # a request the user may not see reads as one that does not exist
    assert browser("ita_logistics").post("/shipments/new/", _form([fuel])).status_code == 400
    assert books() == before
    jet.refresh_from_db()
    assert jet.status == RequestStatus.APPROVED
    ship(world, [jet])
    before = books()
    assert deu.post("/shipments/new/", _form([fuel, jet])).status_code == 409
    assert books() == before


def test_receive_all_in_full_from_the_shipment_page(world, browser):  # noqa: F811
    first, second = approved(world, world.fuel, 10), approved(world, world.jet, 20)
    shipment = ship(world, [first, second])
    page = f"/shipments/{shipment.pk}/"
    assert 'data-testid="receive-shipment"' not in browser("deu_logistics").get(page).content.decode()  # the shipper
    assert 'data-testid="receive-shipment"' in browser("nat_f_operator").get(page).content.decode()

    answer = browser("nat_f_operator").post(f"{page}receive/", {"comment": "Complete."}, follow=True)

    assert answer.status_code == 200
    assert "2 requests received in full." in answer.content.decode()
    assert 'data-testid="receive-shipment"' not in answer.content.decode()  # nothing left to receive
    assert {r.status for r in SupplyRequest.objects.filter(shipment=shipment)} == {RequestStatus.RECEIVED}
    again = browser("nat_f_operator").post(f"{page}receive/", follow=True).content.decode()
    assert "Nothing in" in again and "left for you to receive" in again
    assert browser("ita_logistics").post(f"{page}receive/").status_code == 404
