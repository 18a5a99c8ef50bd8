"""The permission matrix's scenario, shared by the API permission matrix (``test_permission_matrix.py``) and the
IDOR sweep over every route (``tests/test_idor_sweep.py``): the objects of every nation, and who sees which.

Roles: FRA's logistics officer, FRA's liaison officer, MLC-A's operator, a coordinator, FRA's national system
(token), ITA's national system (token, another nation), anonymous.

Objects (scenario of ``conftest.py``, plus the rows below):
    stocks         fra_private (own), fra_shared (own fuel, shared at MLC-A), deu_private (another nation's
                   private stock at MLC-A, where FRA takes part), deu_shared (another nation's shared fuel at MLC-A),
                   ita_shared / ita_private (at NAT-B, where FRA does not take part)
    movements      mv_<stock>: the receipt that stocked each of them
    requests       r_fra  FRA -> DEU, MLC-A -> NAT-F      r_ita  ITA -> DEU, MLC-A -> NAT-B
                   r_deu  DEU -> ITA, NAT-B -> NAT-B
    shortfalls     sf_<stock> on each stock; pool_mlc_a, pool_nat_b (unmet demand of a center's pool)
    discrepancies  d_<stock> on each stock; d_r_fra, d_r_deu on requests (short receipts)
    stock-reports  rep_fra (FRA @ MLC-A), rep_deu (DEU @ MLC-A), rep_ita (ITA @ NAT-B)
    runs           run_all (every center), run_mlc_a
    notifications  n_<user>: one for each user of the matrix, and n_deu_logistics
    webhooks       wh_fra (registered by FRA's system), wh_deu, wh_ita
    requisitions   q_fra (FRA for NAT-F, its line sourced by r_fra), q_deu (DEU for NAT-B, sourced by r_deu from
                   ITA), q_ita (ITA's draft for NAT-B)
    shipments      s_deu (DEU, MLC-A -> NAT-F, carrying r_fra)
"""

import datetime as dt
from types import SimpleNamespace

from django.utils import timezone

from coordination.models import (
    Discrepancy,
    DiscrepancyKind,
    EventType,
    Notification,
    ReconciliationRun,
    Requisition,
    RequisitionLine,
    RunStatus,
    Shipment,
    Shortfall,
    ShortfallKind,
    WebhookEndpoint,
)
from inventory.models import StockReport
from tests.factories import SupplyRequestFactory, stock_with

from .conftest import FUEL_NSN, RATIONS_NSN

ROLES = ["fra_logistics", "fra_liaison", "mlc_a_operator", "coordinator", "fra_system", "ita_system", "anonymous"]
TOKEN_ROLES = {"fra_system", "ita_system"}
AUTHENTICATED = [r for r in ROLES if r != "anonymous"]


def build_matrix(world) -> SimpleNamespace:
    """The objects of the matrix over ``build_scenario()``'s world (see the module docstring)."""
    now = timezone.now()
    u = world.users
    # FRA also shares fuel at MLC-A: sourcing must never offer a nation its own stock
    fra_shared = stock_with(30, actor=world.seeder, nation=world.fra, center=world.mlc_a, item=world.fuel, shared=True)
    stocks = {**world.stocks, "fra_shared": fra_shared}
    requests = {
        "r_fra": SupplyRequestFactory(
            requesting_nation=world.fra,
            supplying_nation=world.deu,
            item=world.fuel,
            source_center=world.mlc_a,
            destination_center=world.nat_f,
            created_by=u["fra_logistics"],
        ),
        "r_ita": SupplyRequestFactory(
            requesting_nation=world.ita,
            supplying_nation=world.deu,
            item=world.fuel,
            source_center=world.mlc_a,
            destination_center=world.nat_b,
            created_by=u["ita_logistics"],
        ),
        "r_deu": SupplyRequestFactory(
            requesting_nation=world.deu,
            supplying_nation=world.ita,
            item=world.rations,
            source_center=world.nat_b,
            destination_center=world.nat_b,
            created_by=u["deu_logistics"],
        ),
    }
    flag_times = {"first_seen": now, "last_seen": now}
    shortfalls = {
        f"sf_{name}": Shortfall.objects.create(
            kind=ShortfallKind.BELOW_SAFETY,
            stock=stock,
            nation=stock.nation,
            center=stock.center,
            item=stock.item,
            **flag_times,
        )
        for name, stock in stocks.items()
    }
    shortfalls["pool_mlc_a"] = Shortfall.objects.create(
        kind=ShortfallKind.UNMET_DEMAND, center=world.mlc_a, item=world.fuel, **flag_times
    )
    shortfalls["pool_nat_b"] = Shortfall.objects.create(
        kind=ShortfallKind.UNMET_DEMAND, center=world.nat_b, item=world.rations, **flag_times
    )
    discrepancies = {
        f"d_{name}": Discrepancy.objects.create(
            kind=DiscrepancyKind.LEDGER_MISMATCH,
            stock=stock,
            expected=stock.on_hand,
            actual=stock.on_hand + 1,
            **flag_times,
        )
        for name, stock in stocks.items()
    }
    for name in ("r_fra", "r_deu"):
        discrepancies[f"d_{name}"] = Discrepancy.objects.create(
            kind=DiscrepancyKind.SHORT_RECEIPT, request=requests[name], expected=10, actual=8, **flag_times
        )
    reports = {
        f"rep_{nation.code.lower()}": StockReport.objects.create(
            nation=nation, center=center, counted_at=now, line_count=1, submitted_by=world.seeder
        )
        for nation, center in ((world.fra, world.mlc_a), (world.deu, world.mlc_a), (world.ita, world.nat_b))
    }
    runs = {
        "run_all": ReconciliationRun.objects.create(status=RunStatus.SUCCEEDED, trigger="schedule"),
        "run_mlc_a": ReconciliationRun.objects.create(
            status=RunStatus.RUNNING, center=world.mlc_a, trigger="manual", started_by=u["coordinator"]
        ),
    }
    movements = {f"mv_{name}": stock.movements.get() for name, stock in stocks.items()}
    notifications = {
        f"n_{name}": Notification.objects.create(
            user=u[name], event=EventType.REQUEST_SUBMITTED, title=f"For {name}", link="/requests/"
        )
        for name in [*AUTHENTICATED, "deu_logistics"]
    }
    webhooks = {
        f"wh_{owner[:3]}": WebhookEndpoint.objects.create(
            nation=getattr(world, owner[:3]), owner=u[owner], url=f"https://{owner[:3]}.example/hook", secret="s" * 32
        )
        for owner in ("fra_system", "deu_logistics", "ita_system")
    }
    requisitions = {}
    for name, nation, destination, request in (
        ("q_fra", world.fra, world.nat_f, requests["r_fra"]),
        ("q_deu", world.deu, world.nat_b, requests["r_deu"]),
        ("q_ita", world.ita, world.nat_b, None),
    ):
        requisitions[name] = Requisition.objects.create(
            reference=f"RQN-{name}",
            requesting_nation=nation,
            destination_center=destination,
            required_by=timezone.localdate() + dt.timedelta(days=10),
            activity_designator=4,
            priority_designator=14,
            justification="Matrix",
            status="open" if request else "draft",
            created_by=u[f"{nation.code.lower()}_logistics"],
        )
        line = RequisitionLine.objects.create(
            requisition=requisitions[name], number=1, item=request.item if request else world.fuel, quantity=7
        )
        if request is not None:
            request.requisition, request.requisition_line = requisitions[name], line
            request.save(update_fields=["requisition", "requisition_line"])
    shipments = {
        "s_deu": Shipment.objects.create(
            reference="SHP-s_deu",
            shipping_nation=world.deu,
            source_center=world.mlc_a,
            destination_center=world.nat_f,
            mode="road",
            departed_at=now,
            expected_arrival=now + dt.timedelta(days=1),
            created_by=u["deu_logistics"],
        )
    }
    requests["r_fra"].shipment = shipments["s_deu"]
    requests["r_fra"].save(update_fields=["shipment"])
    return SimpleNamespace(
        world=world,
        requests=requests,
        requisitions=requisitions,
        shipments=shipments,
        shortfalls=shortfalls,
        discrepancies=discrepancies,
        reports=reports,
        runs=runs,
        movements=movements,
        stocks=stocks,
        notifications=notifications,
        webhooks=webhooks,
    )


# --- what each role sees ---------------------------------------------------------------------------------------

FRA_OFFICER = {
    "stocks": {"fra_private", "fra_shared", "deu_shared"},  # own, and what DEU shares at MLC-A where FRA takes part
    "movements": {"mv_fra_private", "mv_fra_shared", "mv_deu_shared"},
    "requests": {"r_fra"},
    "shortfalls": {"sf_fra_private", "sf_fra_shared", "sf_deu_shared", "pool_mlc_a"},
    "discrepancies": {"d_fra_private", "d_fra_shared", "d_deu_shared", "d_r_fra"},
    "stock-reports": {"rep_fra"},
    "sourcing": {"deu_shared"},  # never the requester's own shared fuel
    "requisitions": {"q_fra"},
    "shipments": {"s_deu"},  # inbound: it carries FRA's request
}
VISIBLE = {
    "fra_logistics": {**FRA_OFFICER, "notifications": {"n_fra_logistics"}, "webhooks": {"wh_fra"}},
    "fra_liaison": {
        **FRA_OFFICER,
        # Sourcing leaves out the nations the caller raises requests for (its logistics nations).  A liaison
        # officer raises none, so FRA's own shared fuel is listed; excluding every officer nation instead would
        # hide DEU's stock from someone who is FRA logistics and DEU liaison at once.
        "sourcing": {"deu_shared", "fra_shared"},
        "notifications": {"n_fra_liaison"},
        "webhooks": set(),  # webhooks are the logistics officers' and national system's business
    },
    "fra_system": {**FRA_OFFICER, "notifications": {"n_fra_system"}, "webhooks": {"wh_fra"}},
    "mlc_a_operator": {
        "stocks": {"fra_private", "fra_shared", "deu_private", "deu_shared"},  # everything held at the center
        "movements": {"mv_fra_private", "mv_fra_shared", "mv_deu_private", "mv_deu_shared"},
        "requests": {"r_fra", "r_ita"},  # source MLC-A
        "shortfalls": {"sf_fra_private", "sf_fra_shared", "sf_deu_private", "sf_deu_shared", "pool_mlc_a"},
        "discrepancies": {"d_fra_private", "d_fra_shared", "d_deu_private", "d_deu_shared", "d_r_fra"},
        "stock-reports": {"rep_fra", "rep_deu"},
        "sourcing": {"deu_shared", "fra_shared"},  # an operator acts for no nation: every nation's shared stock
        "requisitions": {"q_fra"},  # one of its lines leaves from MLC-A (r_fra)
        "shipments": {"s_deu"},  # leaves MLC-A
        "notifications": {"n_mlc_a_operator"},
        "webhooks": set(),
    },
    "coordinator": {
        "stocks": {"fra_shared", "deu_shared", "ita_shared"},  # shared stock only
        "movements": {"mv_fra_shared", "mv_deu_shared", "mv_ita_shared"},
        "requests": {"r_fra", "r_ita", "r_deu"},
        "shortfalls": {"sf_fra_shared", "sf_deu_shared", "sf_ita_shared", "pool_mlc_a", "pool_nat_b"},
        "discrepancies": {"d_fra_shared", "d_deu_shared", "d_ita_shared", "d_r_fra", "d_r_deu"},
        "stock-reports": {"rep_fra", "rep_deu", "rep_ita"},
        "sourcing": {"fra_shared", "deu_shared", "ita_shared"},
        "requisitions": {"q_fra", "q_deu", "q_ita"},
        "shipments": {"s_deu"},
        "notifications": {"n_coordinator"},
        "webhooks": set(),
    },
    "ita_system": {
        "stocks": {"ita_shared", "ita_private"},  # ITA does not take part in MLC-A: DEU's shared stock is hidden
        "movements": {"mv_ita_shared", "mv_ita_private"},
        "requests": {"r_ita", "r_deu"},
        "shortfalls": {"sf_ita_shared", "sf_ita_private", "pool_nat_b"},
        "discrepancies": {"d_ita_shared", "d_ita_private", "d_r_deu"},
        "stock-reports": {"rep_ita"},
        "sourcing": set(),  # its own shared fuel is not offered to itself
        "requisitions": {"q_ita", "q_deu"},  # its own, and DEU's, one line of which ITA supplies (r_deu)
        "shipments": set(),
        "notifications": {"n_ita_system"},
        "webhooks": {"wh_ita"},
    },
}
# The audit log follows its subjects: coordinators read every entry but those about a stock they may not see
# (a nation's private stock); a nation's officers and system read their nation's entries; anyone else none.  The
# scenario writes the entries itself (role grants, tokens, sign-ins); reads of the log are entries too and are left
# out of the comparison (each list call writes one).
AUDIT_READERS = {"coordinator"}
AUDIT_NATION_READERS = {"fra_logistics": "FRA", "fra_liaison": "FRA", "fra_system": "FRA", "ita_system": "ITA"}
# Reference data and reconciliation runs: every authenticated caller sees all of it.
REFERENCE = {
    "nations": {"FRA", "DEU", "ITA"},
    "centers": {"MLC-A", "NAT-B", "NAT-F"},
    "items": {FUEL_NSN, RATIONS_NSN},
    "reconciliations": {"run_all", "run_mlc_a"},
}
