"""The ledger's ``?request=<reference>`` filter matches only a request the caller may see: a reference is not a
way to learn which movements belong to someone else's request."""

import pytest
from django.db import transaction

from inventory.models import MovementKind
from inventory.services import lock_stock, post_movement
from nations import access
from tests.factories import CenterFactory, NationFactory, SupplyRequestFactory, UserFactory, stock_with

from .conftest import session_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def transfer():
    """A's shared stock at a center where C also participates; one of its movements belongs to B's request to A."""
    supplier, requester, bystander = NationFactory(), NationFactory(), NationFactory()
    center = CenterFactory(host_nation=supplier)
    center.participants.add(supplier, requester, bystander)
    stock = stock_with(20, nation=supplier, center=center, shared=True)
    request = SupplyRequestFactory(
        requesting_nation=requester,
        supplying_nation=supplier,
        source_center=center,
        destination_center=center,
        item=stock.item,
    )
    with transaction.atomic():
        post_movement(
            stock=lock_stock(stock.pk),
            kind=MovementKind.ISSUE,
            quantity=-5,
            actor=request.created_by,
            reason="for the request",
            request=request,
        )
    users = {"requester": UserFactory(), "bystander": UserFactory()}
    access.grant_role(users["requester"], access.Role.LOGISTICS, requester)
    access.grant_role(users["bystander"], access.Role.LOGISTICS, bystander)
    return request, users


def _ids(response):
    assert response.status_code == 200
    return [row["id"] for row in response.json()["results"]]


def test_a_party_to_the_request_finds_its_movements_by_reference(transfer):
    request, users = transfer
    assert len(_ids(session_client(users["requester"]).get(f"/api/v1/movements/?request={request.reference}"))) == 1


def test_someone_who_sees_the_stock_but_not_the_request_finds_nothing_by_its_reference(transfer):
    request, users = transfer
    client = session_client(users["bystander"])
    assert len(_ids(client.get("/api/v1/movements/"))) == 2  # the shared stock's ledger is visible to them
    assert _ids(client.get(f"/api/v1/movements/?request={request.reference}")) == []
