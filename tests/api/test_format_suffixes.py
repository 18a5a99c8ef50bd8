"""The router serves every route also with a format suffix (``/api/v1/requests/5/cancel.json``).  The extra
actions used to fail there with a 500 (the handler got an unexpected ``format`` argument); found by the IDOR
sweep over every route (``tests/test_idor_sweep.py``)."""

import pytest
from django.utils import timezone

from config.api_urls import router
from coordination import requisitions
from coordination.models import (
    Discrepancy,
    DiscrepancyKind,
    Notification,
    RequestStatus,
    Shipment,
    Shortfall,
    ShortfallKind,
    SupplyRequest,
    WebhookEndpoint,
)

from .helpers import submitted_request

pytestmark = pytest.mark.django_db


def test_a_request_action_works_through_its_format_suffix(world, as_user):
    request = submitted_request(world)

    response = as_user("fra_logistics").post(f"/api/v1/requests/{request.pk}/cancel.json", {}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == RequestStatus.CANCELLED
    request.refresh_from_db()
    assert request.status == RequestStatus.CANCELLED


def _shipment_carrying(world, request):
    """A shipment FRA sees: it carries FRA's request (not dispatched: receiving it answers 409, not 404)."""
    now = timezone.now()
    shipment = Shipment.objects.create(
        reference="SHP-SUFFIX",
        shipping_nation=world.deu,
        source_center=world.mlc_a,
        destination_center=world.nat_f,
        mode="road",
        departed_at=now,
        expected_arrival=now,
        created_by=world.users["deu_logistics"],
    )
    SupplyRequest.objects.filter(pk=request.pk).update(shipment=shipment)
    return shipment


def test_every_extra_action_answers_through_its_format_suffix(world, as_user):
    """One call per extra action of every viewset of the router, by a caller who may see its object."""
    request = submitted_request(world)
    flag_stock = world.stocks["fra_private"]
    now = timezone.now()
    objects = {
        "request": request,
        "shortfall": Shortfall.objects.create(
            kind=ShortfallKind.BELOW_SAFETY,
            stock=flag_stock,
            nation=world.fra,
            center=world.mlc_a,
            item=world.rations,
            first_seen=now,
            last_seen=now,
        ),
        "discrepancy": Discrepancy.objects.create(
            kind=DiscrepancyKind.LEDGER_MISMATCH, stock=flag_stock, expected=1, actual=2, first_seen=now, last_seen=now
        ),
        "notification": Notification.objects.create(
            user=world.users["fra_logistics"], event="request.approved", title="Hello"
        ),
        "webhook": WebhookEndpoint.objects.create(
            nation=world.fra, owner=world.users["fra_logistics"], url="https://fra.example/hook", secret="s" * 32
        ),
        "shipment": _shipment_carrying(world, request),
        "requisition": requisitions.create_requisition(
            requester=world.users["fra_logistics"],
            requesting_nation=world.fra,
            destination_center=world.nat_f,
            required_by=timezone.localdate(),
            justification="Format suffixes",
            lines=[requisitions.LineInput(item=world.fuel, quantity=1)],
        ),
    }
    client = as_user("fra_logistics")
    answered = {}
    for prefix, viewset, basename in router.registry:
        for extra in viewset.get_extra_actions():
            method = next(iter(extra.mapping)).upper()
            if extra.detail:
                url = f"/api/v1/{prefix}/{objects[basename].pk}/{extra.url_path}.json"
            else:
                url = f"/api/v1/{prefix}/{extra.url_path}.json"
            response = client.generic(method, url, "{}", content_type="application/json")
            answered[url] = response.status_code
    assert answered and all(status < 500 for status in answered.values()), answered
    # each answers as it does without the suffix: permitted, or refused by a rule, never "not found"
    assert not [url for url, status in answered.items() if status in (404, 405)], answered
