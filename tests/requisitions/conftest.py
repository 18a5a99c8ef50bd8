"""The API scenario (tests/api/conftest.py) with more to source from: FRA raises requisitions for NAT-F; DEU and
ITA hold shared fuel at MLC-A, ITA's released to FRA at NAT-B, and a substitute for fuel."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from coordination import requisitions
from coordination.requisitions import LineInput
from inventory.models import ItemSubstitute
from tests.api.conftest import build_scenario
from tests.factories import ItemFactory, stock_with


@pytest.fixture
def world(db):
    w = build_scenario()
    # ITA takes part in MLC-A too, with shared fuel there: two donors of fuel at one center
    w.mlc_a.participants.add(w.ita)
    w.stocks["ita_mlc_fuel"] = stock_with(150, actor=w.seeder, nation=w.ita, center=w.mlc_a, item=w.fuel, shared=True)
    w.jet = ItemFactory(nsn="9130-12-000-0009", name="Jet fuel JP-8", supply_class="III", unit_of_issue="L")
    ItemSubstitute.objects.create(item=w.fuel, substitute=w.jet, two_way=False)
    w.stocks["deu_jet"] = stock_with(500, actor=w.seeder, nation=w.deu, center=w.mlc_a, item=w.jet, shared=True)
    return w


def in_days(n: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=n)


def raise_requisition(world, lines, *, submit=True, urgency="B", user="fra_logistics", **extra):
    """A FRA requisition for NAT-F of `lines` ([(item, quantity)] or LineInput), submitted unless told not."""
    return requisitions.create_requisition(
        requester=world.users[user],
        requesting_nation=world.fra,
        destination_center=world.nat_f,
        required_by=in_days(10),
        justification="Resupply of the 2nd battalion",
        urgency=urgency,
        lines=[line if isinstance(line, LineInput) else LineInput(item=line[0], quantity=line[1]) for line in lines],
        submit=submit,
        **extra,
    )
