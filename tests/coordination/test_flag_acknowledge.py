"""Who may acknowledge a flag: those it is addressed to, not everyone who can see it."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from coordination.models import Discrepancy, DiscrepancyKind, Shortfall, ShortfallKind
from nations import access
from tests.factories import CenterFactory, NationFactory, StockFactory, SupplyRequestFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene():
    fra, deu = NationFactory(code="FRA", ncb_code="14"), NationFactory(code="DEU", ncb_code="12")
    center = CenterFactory(code="MLC-ACK", host_nation=deu)
    center.participants.add(fra, deu)
    stock = StockFactory(nation=deu, center=center, shared=True, safety_level=10)
    now = timezone.now()
    shortfall = Shortfall.objects.create(
        kind=ShortfallKind.BELOW_SAFETY,
        stock=stock,
        nation=deu,
        center=center,
        item=stock.item,
        first_seen=now,
        last_seen=now,
    )
    pool = Shortfall.objects.create(
        kind=ShortfallKind.UNMET_DEMAND, center=center, item=stock.item, first_seen=now, last_seen=now
    )
    request = SupplyRequestFactory(
        requesting_nation=fra, supplying_nation=deu, source_center=center, destination_center=center
    )
    overdue = Discrepancy.objects.create(
        kind=DiscrepancyKind.OVERDUE_DISPATCH, request=request, first_seen=now, last_seen=now
    )
    users = {
        name: UserFactory(username=name) for name in ("fra-log", "deu-log", "deu-liaison", "operator", "coordinator")
    }
    access.grant_role(users["fra-log"], "logistics", fra)
    access.grant_role(users["deu-log"], "logistics", deu)
    access.grant_role(users["deu-liaison"], "liaison", deu)
    access.grant_role(users["operator"], "operator", center)
    access.grant_role(users["coordinator"], "coordinator")
    return users, shortfall, pool, overdue


def _ack(user, path):
    client = APIClient()
    client.force_authenticate(user)
    return client.post(path).status_code


@pytest.mark.parametrize(
    ("who", "stock_flag", "pool_flag", "request_flag"),
    [
        ("fra-log", 403, 403, 200),  # sees DEU's shared stock and the pool, but they are not FRA's to acknowledge
        ("deu-log", 200, 403, 200),
        ("deu-liaison", 200, 403, 200),
        ("operator", 200, 200, 200),
        ("coordinator", 200, 200, 200),
    ],
)
def test_acknowledging_is_for_those_the_flag_is_addressed_to(scene, who, stock_flag, pool_flag, request_flag):
    users, shortfall, pool, overdue = scene
    assert _ack(users[who], f"/api/v1/shortfalls/{shortfall.pk}/acknowledge/") == stock_flag
    assert _ack(users[who], f"/api/v1/shortfalls/{pool.pk}/acknowledge/") == pool_flag
    assert _ack(users[who], f"/api/v1/discrepancies/{overdue.pk}/acknowledge/") == request_flag
    shortfall.refresh_from_db()
    assert (shortfall.acknowledged_at is not None) == (stock_flag == 200)


def test_the_browser_button_and_action_follow_the_same_rule(scene, client):
    users, shortfall, _pool, _overdue = scene
    client.force_login(users["fra-log"])
    # the list offers a stock's open flags for acknowledgement as a checkbox: only to those who may acknowledge
    checkbox = f'name="flags" value="{shortfall.pk}" form="flg-ack"'
    page = client.get("/shortfalls/?scope=all").content.decode()
    assert shortfall.item.nsn in page and checkbox not in page
    assert client.post(f"/flags/shortfalls/{shortfall.pk}/acknowledge/").status_code == 403
    client.force_login(users["deu-log"])
    assert checkbox in client.get("/shortfalls/?scope=all").content.decode()
    assert client.post(f"/flags/shortfalls/{shortfall.pk}/acknowledge/").status_code == 302
