"""Shipments (issue 16, item 6): approved requests dispatched together, their arrival, who sees them, the API.

The scenario (tests/requisitions/conftest.py): FRA asks DEU for fuel, rations and jet fuel held at MLC-A, delivered
at NAT-F; ITA holds shared fuel at MLC-A too and takes part there; NAT-F's operator receives."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from coordination import services, shipments
from coordination.models import EventType, Notification, RequestStatus, Shipment, SupplyRequest
from core.errors import InvalidTransition
from inventory.models import Movement, MovementKind, Stock
from tests.api.conftest import assert_books_reconcile, assert_problem
from tests.factories import stock_with
from tests.scenario import session_client, token_client
from tests.web.conftest import raise_request

pytestmark = pytest.mark.django_db

LIAISON = {"DEU": "deu_liaison", "ITA": "ita_liaison", "FRA": "fra_liaison"}
URL = "/api/v1/shipments/"


def approved(world, item, quantity=5, *, nation=None, supplier=None, source=None, destination=None):
    """A request of `nation` (FRA) to `supplier` (DEU) from `source` (MLC-A) to `destination` (NAT-F), approved."""
    nation = nation or world.fra
    supplier = supplier or world.deu
    request = raise_request(
        world,
        by=f"{nation.code.lower()}_logistics",
        nation=nation,
        supplier=supplier,
        item=item,
        source=source or world.mlc_a,
        destination=destination or world.nat_f,
        quantity=quantity,
        submit=True,
    )
    return services.approve_request(request=request, approver=world.users[LIAISON[supplier.code]])


def in_hours(n: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(hours=n)


def ship(world, requests, *, by="deu_logistics", **extra):
    values = {"mode": "road", "carrier": "Convoy 7", "expected_arrival": in_hours(48), **extra}
    return shipments.dispatch_shipment(requests=requests, actor=world.users[by], **values)


def three_requests(world):
    return [
        approved(world, world.fuel, 10),
        approved(world, world.rations, 5),
        approved(world, world.jet, 20),
    ]


def books() -> tuple:
    """Everything a dispatch changes: statuses, stocks, the ledger, shipments, notices."""
    return (
        sorted(SupplyRequest.objects.values_list("pk", "status", "shipment_id", "quantity_dispatched")),
        sorted(Stock.objects.values_list("pk", "on_hand", "reserved")),
        Movement.objects.count(),
        Shipment.objects.count(),
        Notification.objects.count(),
    )


def shipment_notices(user) -> list[Notification]:
    return list(Notification.objects.filter(user=user, event=EventType.SHIPMENT_DISPATCHED))


# --- dispatching together ----------------------------------------------------------------------------------------


def test_three_requests_travel_in_one_shipment_each_issued_from_its_stock(world):
    requests = three_requests(world)
    before = {name: Stock.objects.get(pk=world.stocks[name].pk) for name in ("deu_shared", "deu_private", "deu_jet")}

    shipment = ship(world, requests)

    assert shipment.reference == f"SHP-{shipment.pk:06d}"
    assert (shipment.shipping_nation, shipment.source_center, shipment.destination_center) == (
        world.deu,
        world.mlc_a,
        world.nat_f,
    )
    assert (shipment.mode, shipment.carrier, shipment.arrived_at) == ("road", "Convoy 7", None)
    assert shipment.departed_at <= timezone.now()
    for request in requests:
        request.refresh_from_db()
        assert request.status == RequestStatus.DISPATCHED
        assert request.shipment_id == shipment.pk
        assert request.quantity_dispatched == request.quantity_approved
        movement = Movement.objects.get(request=request)
        assert (movement.kind, movement.quantity) == (MovementKind.TRANSFER_OUT, -request.quantity_approved)
        assert request.events.filter(to_status=RequestStatus.DISPATCHED).count() == 1
    for name, quantity in (("deu_shared", 10), ("deu_private", 5), ("deu_jet", 20)):
        stock = Stock.objects.get(pk=world.stocks[name].pk)
        assert stock.on_hand == before[name].on_hand - quantity
        assert stock.reserved == before[name].reserved - quantity == 0
    assert_books_reconcile()


def test_the_destination_hears_of_a_shipment_once_per_person(world):
    shipment = ship(world, three_requests(world))

    # FRA's logistics officers (dual_hat is one too) and NAT-F's operator: one notice each, for the whole shipment
    for name in ("fra_logistics", "dual_hat", "nat_f_operator"):
        (notice,) = shipment_notices(world.users[name])
        assert notice.link == f"/shipments/{shipment.pk}/"
        assert shipment.reference in notice.title
    assert "3 requests" in shipment_notices(world.users["fra_logistics"])[0].title
    assert "receive 3 requests at NAT-F" in shipment_notices(world.users["nat_f_operator"])[0].title
    body = shipment_notices(world.users["nat_f_operator"])[0].body
    assert all(r.reference in body for r in shipment.requests.all()) and "Convoy 7" in body
    # nobody else: not the supplier, not a third nation, not a national system
    told = set(
        Notification.objects.filter(event=EventType.SHIPMENT_DISPATCHED).values_list("user__username", flat=True)
    )
    assert told == {"fra-logistics", "dual-hat", "nat-f-operator"}
    # and that one notice is all they get: no "dispatched" notice per request besides it
    assert not Notification.objects.filter(event=EventType.REQUEST_DISPATCHED).exists()


def test_a_shipment_may_hold_a_single_request_and_a_source_operator_may_dispatch_it(world):
    request = approved(world, world.fuel, 3)

    shipment = ship(world, [request], by="mlc_a_operator", departed_at=in_hours(-2), mode="air", carrier="")

    assert list(shipment.requests.values_list("pk", flat=True)) == [request.pk]
    assert shipment.departed_at < in_hours(-1) and shipment.mode == "air"


@pytest.mark.parametrize("difference", ["destination", "supplier", "source"])
def test_requests_that_do_not_travel_together_are_refused_naming_the_difference(world, difference):
    first = approved(world, world.fuel, 4)
    if difference == "destination":
        other, named = approved(world, world.rations, 2, destination=world.mlc_a), "MLC-A, NAT-F"
    elif difference == "supplier":
        other, named = approved(world, world.fuel, 2, supplier=world.ita), "DEU, ITA"
    else:
        stock_with(50, actor=world.seeder, nation=world.deu, center=world.nat_b, item=world.fuel, shared=True)
        other, named = approved(world, world.fuel, 2, source=world.nat_b), "MLC-A, NAT-B"
    before = books()

    with pytest.raises(ValidationError) as refused:
        ship(world, [first, other], by="deu_logistics" if difference != "supplier" else "mlc_a_operator")

    assert named in refused.value.message_dict["requests"][0]
    assert books() == before


def test_an_expected_arrival_before_the_departure_is_refused(world):
    request = approved(world, world.fuel, 4)
    before = books()

    with pytest.raises(ValidationError) as refused:
        ship(world, [request], departed_at=in_hours(0), expected_arrival=in_hours(-1))

    assert "expected_arrival" in refused.value.message_dict
    assert books() == before


def test_a_request_not_approved_refuses_the_whole_shipment(world):
    ready = approved(world, world.fuel, 4)
    waiting = raise_request(
        world,
        by="fra_logistics",
        nation=world.fra,
        supplier=world.deu,
        item=world.rations,
        source=world.mlc_a,
        destination=world.nat_f,
        quantity=2,
        submit=True,
    )
    before = books()

    with pytest.raises(InvalidTransition) as refused:
        ship(world, [ready, waiting])

    assert waiting.reference in refused.value.message and ready.reference not in refused.value.message
    assert books() == before
    ready.refresh_from_db()
    assert ready.status == RequestStatus.APPROVED


@pytest.mark.parametrize("caller", ["fra_logistics", "nat_f_operator", "ita_logistics"])
def test_a_caller_who_may_not_dispatch_them_is_refused_and_nothing_leaves(world, caller):
    requests = [approved(world, world.fuel, 4), approved(world, world.jet, 6)]
    before = books()

    with pytest.raises(PermissionDenied):
        ship(world, requests, by=caller)

    assert books() == before


def test_a_request_already_shipped_cannot_leave_again(world):
    request = approved(world, world.fuel, 4)
    ship(world, [request])
    before = books()

    with pytest.raises(InvalidTransition):
        ship(world, [request])

    assert books() == before


# --- arrival -----------------------------------------------------------------------------------------------------


def test_the_receipt_of_the_last_request_is_the_arrival_and_not_before(world):
    first, second = approved(world, world.fuel, 10), approved(world, world.jet, 20)
    shipment = ship(world, [first, second])
    receiver = world.users["nat_f_operator"]

    services.receive_request(request=first, actor=receiver, quantity=8)  # short: 2 missing
    shipment.refresh_from_db()
    assert shipment.arrived_at is None

    services.receive_request(request=second, actor=world.users["fra_logistics"])
    shipment.refresh_from_db()
    assert shipment.arrived_at is not None and shipment.arrived_at <= timezone.now()
    assert shipment.version == 2

    # the shipment shows per request what was received
    body = session_client(world.users["nat_f_operator"]).get(f"{URL}{shipment.pk}/").json()
    received = {row["reference"]: (row["quantity_dispatched"], row["quantity_received"]) for row in body["requests"]}
    assert received == {first.reference: (10, 8), second.reference: (20, 20)}
    assert body["in_transit"] is False and body["overdue"] is False
    assert_books_reconcile()


# --- who sees it -------------------------------------------------------------------------------------------------


def test_the_destination_sees_what_is_inbound_and_a_third_nation_does_not(world):
    shipment = ship(world, [approved(world, world.fuel, 4)])

    for name in ("fra_logistics", "fra_liaison", "fra_system", "nat_f_operator", "deu_logistics", "coordinator"):
        client = token_client(world.users[name]) if name == "fra_system" else session_client(world.users[name])
        assert client.get(f"{URL}{shipment.pk}/").status_code == 200, name
        assert [row["reference"] for row in client.get(URL).json()["results"]] == [shipment.reference], name
    for name in ("ita_logistics", "ita_system", "nat_b_operator", "no_role"):
        client = token_client(world.users[name]) if name == "ita_system" else session_client(world.users[name])
        assert_problem(client.get(f"{URL}{shipment.pk}/"), 404)
        assert client.get(URL).json()["results"] == [], name


def test_a_request_of_another_nation_travelling_along_is_not_shown(world):
    fra_request = approved(world, world.fuel, 4)
    ita_request = approved(world, world.jet, 6, nation=world.ita)  # ITA's, from DEU at MLC-A to NAT-F too
    shipment = ship(world, [fra_request, ita_request])

    for name, own, other in (
        ("fra_logistics", fra_request, ita_request),
        ("ita_logistics", ita_request, fra_request),
    ):
        client = session_client(world.users[name])
        detail, listed = client.get(f"{URL}{shipment.pk}/"), client.get(URL)
        for response in (detail, listed):
            assert response.status_code == 200
            assert own.reference in response.content.decode()
            assert other.reference not in response.content.decode(), name
        assert [row["id"] for row in detail.json()["requests"]] == [own.pk]
        assert [row["id"] for row in listed.json()["results"][0]["requests"]] == [own.pk]
    # the shipper and the destination's operator see both
    for name in ("deu_logistics", "nat_f_operator", "coordinator"):
        body = session_client(world.users[name]).get(f"{URL}{shipment.pk}/").json()
        assert {row["reference"] for row in body["requests"]} == {fra_request.reference, ita_request.reference}
    # each nation's officers hear of their own request only
    (fra_notice,) = shipment_notices(world.users["fra_logistics"])
    assert fra_request.reference in fra_notice.body and ita_request.reference not in fra_notice.body
    (ita_notice,) = shipment_notices(world.users["ita_logistics"])
    assert ita_request.reference in ita_notice.body and fra_request.reference not in ita_notice.body


# --- the API -----------------------------------------------------------------------------------------------------


def _post(client, payload, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(URL, json.dumps(payload), content_type="application/json", **headers)


def _payload(requests, **extra) -> dict:
    return {
        "requests": requests,
        "mode": "rail",
        "carrier": "DB Cargo 4711",
        "expected_arrival": in_hours(30).isoformat(),
        **extra,
    }


def test_api_dispatches_requests_named_by_id_or_reference(world):
    fuel, rations = approved(world, world.fuel, 10), approved(world, world.rations, 5)
    client = session_client(world.users["deu_logistics"])

    response = _post(client, _payload([fuel.pk, rations.reference.lower()], comment="Loaded at ramp 3"))

    assert response.status_code == 201, response.json()
    body = response.json()
    shipment = Shipment.objects.get()
    assert body["reference"] == shipment.reference and response["Location"].endswith(f"{URL}{shipment.pk}/")
    assert response["ETag"]
    assert (body["mode"], body["carrier"], body["shipping_nation"], body["destination_center"]) == (
        "rail",
        "DB Cargo 4711",
        "DEU",
        "NAT-F",
    )
    assert body["in_transit"] is True and body["overdue"] is False and body["arrived_at"] is None
    assert [row["reference"] for row in body["requests"]] == [fuel.reference, rations.reference]
    assert all(row["status"] == "dispatched" for row in body["requests"])
    assert fuel.events.filter(to_status="dispatched", comment="Loaded at ramp 3").exists()


def test_api_create_is_idempotent(world):
    request = approved(world, world.fuel, 10)
    client = token_client(world.users["deu_logistics"])

    payload = _payload([request.pk])
    first = _post(client, payload, key="deu-shp-1")
    again = _post(client, payload, key="deu-shp-1")

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Shipment.objects.count() == 1


def test_api_refusals_are_problems_and_change_nothing(world):
    request = approved(world, world.fuel, 10)
    other_destination = approved(world, world.rations, 5, destination=world.mlc_a)
    hidden = approved(world, world.fuel, 3, supplier=world.ita, source=world.nat_b)  # FRA <- ITA: not DEU's
    deu = session_client(world.users["deu_logistics"])
    before = books()

    mixed = assert_problem(_post(deu, _payload([request.pk, other_destination.pk])), 400)
    assert "MLC-A, NAT-F" in json.dumps(mixed)
    early = _payload([request.pk], departed_at=in_hours(0).isoformat(), expected_arrival=in_hours(-3).isoformat())
    assert_problem(_post(deu, early), 400)
    assert_problem(_post(deu, _payload([request.pk], mode="bicycle")), 400)
    assert_problem(_post(deu, _payload([])), 400)
    # a request the caller may not see reads as one that does not exist
    unseen = assert_problem(_post(deu, _payload([request.pk, hidden.pk])), 400)
    missing = assert_problem(_post(deu, _payload([request.pk, 987654])), 400)
    assert f"No request you may see is {hidden.pk}." in json.dumps(unseen)
    assert "No request you may see is 987654." in json.dumps(missing)
    assert_problem(_post(session_client(world.users["fra_logistics"]), _payload([request.pk])), 403)
    assert books() == before
    submitted = raise_request(
        world,
        by="fra_logistics",
        nation=world.fra,
        supplier=world.deu,
        item=world.jet,
        source=world.mlc_a,
        destination=world.nat_f,
        quantity=1,
        submit=True,
    )
    before = books()
    assert_problem(_post(deu, _payload([request.pk, submitted.reference])), 409)
    assert books() == before


def test_api_lists_filter_in_transit_overdue_centers_and_changes(world, settings):
    settings.ARRIVAL_OVERDUE_TOLERANCE_HOURS = 12
    late = ship(world, [approved(world, world.fuel, 4)], departed_at=in_hours(-96), expected_arrival=in_hours(-48))
    due_soon = ship(world, [approved(world, world.jet, 4)], departed_at=in_hours(-10), expected_arrival=in_hours(-1))
    arrived_request = approved(world, world.rations, 2)
    arrived = ship(world, [arrived_request], departed_at=in_hours(-96), expected_arrival=in_hours(-50))
    services.receive_request(request=arrived_request, actor=world.users["nat_f_operator"])
    stock_with(50, actor=world.seeder, nation=world.deu, center=world.nat_b, item=world.fuel, shared=True)
    elsewhere = ship(world, [approved(world, world.fuel, 2, source=world.nat_b)])
    client = session_client(world.users["coordinator"])

    def listed(query: str = "") -> set[str]:
        response = client.get(f"{URL}?{query}")
        assert response.status_code == 200, response.json()
        return {row["reference"] for row in response.json()["results"]}

    assert listed() == {s.reference for s in (late, due_soon, arrived, elsewhere)}
    assert listed("in_transit=true") == {late.reference, due_soon.reference, elsewhere.reference}
    assert listed("in_transit=false") == {arrived.reference}
    assert listed("overdue=true") == {late.reference}  # past its expected arrival by more than the tolerance
    assert listed("overdue=false") == {due_soon.reference, arrived.reference, elsewhere.reference}
    assert listed("source_center=NAT-B") == {elsewhere.reference}
    assert listed("destination_center=nat-f&source_center=MLC-A") == {
        late.reference,
        due_soon.reference,
        arrived.reference,
    }
    assert listed("destination_center=MLC-A") == set()
    body = client.get(f"{URL}{late.pk}/").json()
    assert body["overdue"] is True and body["in_transit"] is True
    Shipment.objects.filter(pk=late.pk).update(updated_at=timezone.now() + dt.timedelta(minutes=5))
    assert listed(f"updated_after={(timezone.now() + dt.timedelta(minutes=1)).isoformat().replace('+', '%2B')}") == {
        late.reference
    }
    assert_problem(client.get(f"{URL}?overdue=perhaps"), 400)


def test_api_direction_filter_tells_inbound_from_outbound(world):
    shipment = ship(world, [approved(world, world.fuel, 4)])

    def listed(user: str, direction: str) -> list[str]:
        body = session_client(world.users[user]).get(f"{URL}?direction={direction}").json()
        return [row["reference"] for row in body["results"]]

    assert listed("fra_logistics", "inbound") == [shipment.reference]
    assert listed("fra_logistics", "outbound") == []
    assert listed("deu_logistics", "outbound") == [shipment.reference]
    assert listed("deu_logistics", "inbound") == []
    assert listed("nat_f_operator", "inbound") == [shipment.reference]
    assert listed("mlc_a_operator", "outbound") == [shipment.reference]


def test_the_list_costs_the_same_queries_whatever_its_length(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = session_client(world.users["fra_logistics"])
    counts = []
    for _ in range(3):
        ship(world, [approved(world, world.fuel, 1), approved(world, world.jet, 1)])
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL).status_code == 200
        counts.append(len(queries))
    # session, user, the caller's grants, COUNT, the page, the requests inside it (one query for the page)
    assert counts == [6, 6, 6]


def test_api_answers_an_etag_and_304(world):
    shipment = ship(world, [approved(world, world.fuel, 4)])
    client = session_client(world.users["fra_logistics"])

    first = client.get(f"{URL}{shipment.pk}/")
    again = client.get(f"{URL}{shipment.pk}/", HTTP_IF_NONE_MATCH=first["ETag"])

    assert first.status_code == 200 and again.status_code == 304


def test_anonymous_callers_are_refused(world):
    from rest_framework.test import APIClient

    assert_problem(APIClient().get(URL), 401)
    assert_problem(_post(APIClient(), _payload([1])), 401)


# --- receiving a whole shipment ------------------------------------------------------------------------------------


def test_receiving_a_whole_shipment_receives_each_request_in_full_and_is_its_arrival(world):
    first, second = approved(world, world.fuel, 10), approved(world, world.jet, 20)
    shipment = ship(world, [first, second])

    response = session_client(world.users["nat_f_operator"]).post(
        f"{URL}{shipment.pk}/receive/", {"comment": "All there."}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json() == {
        "shipment": shipment.reference,
        "received": 2,
        "results": [
            {"request": first.reference, "ok": True, "error": None},
            {"request": second.reference, "ok": True, "error": None},
        ],
    }
    for request, quantity in ((first, 10), (second, 20)):
        request.refresh_from_db()
        assert (request.status, request.quantity_received) == (RequestStatus.RECEIVED, quantity)
        assert request.events.last().comment == "All there."
    shipment.refresh_from_db()
    assert shipment.arrived_at is not None
    assert_books_reconcile()


def test_a_receiver_receives_only_the_requests_that_are_theirs_to_receive(world):
    fra_request = approved(world, world.fuel, 4)
    ita_request = approved(world, world.jet, 6, nation=world.ita)  # travelling along, to NAT-F, for ITA
    shipment = ship(world, [fra_request, ita_request])

    receipts = shipments.receive_shipment(shipment=shipment, actor=world.users["fra_logistics"])

    assert [(r.request.pk, r.error) for r in receipts] == [(fra_request.pk, "")]  # ITA's is not FRA's to receive
    ita_request.refresh_from_db()
    assert ita_request.status == RequestStatus.DISPATCHED
    shipment.refresh_from_db()
    assert shipment.arrived_at is None  # ITA's request is still on its way


def test_nothing_left_to_receive_is_a_conflict_and_a_stranger_gets_404(world):
    shipment = ship(world, [approved(world, world.fuel, 4)])
    shipments.receive_shipment(shipment=shipment, actor=world.users["nat_f_operator"])

    again = session_client(world.users["fra_logistics"]).post(f"{URL}{shipment.pk}/receive/", {}, format="json")
    assert_problem(again, 409)
    stranger = session_client(world.users["ita_logistics"]).post(f"{URL}{shipment.pk}/receive/", {}, format="json")
    assert_problem(stranger, 404)
    supplier = session_client(world.users["deu_logistics"]).post(f"{URL}{shipment.pk}/receive/", {}, format="json")
    assert_problem(supplier, 409)  # sees it, receives none of it
