"""IDOR sweep: every route of the URLconf, under every role, with the identifiers of objects of every nation.

PRODUCT.md: no nation reads or changes another nation's private data, through the browser or the API.  What the
caller may not see answers 404 (its existence is not leaked); what it sees but may not do answers 403.

``ROUTES`` is the declared table: one entry per route (a URL template; resolving it must land on the route the
entry names), saying what fills its path parameter and who may do what there.  The expectations are PRODUCT.md's
"Who may do what", written here independently of ``nations/access.py`` (the code under test): who sees which
object is the permission matrix's table (``tests/api/scenario.py``), who may act is ``may()`` below.

For each route × role × object the sweep sends GET and the route's writes (POST / PATCH / DELETE with a harmless
body; page forms also through htmx) and asserts: 404 where the role may not see the object, 403 where it sees it
but may not act, 401 (API) or the login redirect (pages) for callers who are not signed in, never a 2xx where access
is forbidden, nothing changed in the database after a refused write, and no identifier of an object the role may
not see in any answer: no link, reference or title of it, and in API answers not its id either, under any key that
names an object of its kind (``id`` of the route's own kind, ``stock``, ``movement``, ``request``, ``discrepancy``, an
audit entry's ``object_type``/``object_id``).  The scenario holds objects shown inside others that the role may not
see (PRODUCT.md, "Visibility follows every object, nested ones too"): a transfer on DEU's shared fuel for ITA's
request, seen in the ledger by FRA's officers; an adjustment of DEU's private stock, in the log coordinators read.  API routes are also sent the methods they do not declare (405), and their format-suffix
variants (``/api/v1/stocks/5.json``) are swept like the route itself.  Admin routes are swept generically: only
superusers get in.

A route added to the URLconf without an entry here fails ``test_every_route_of_the_urlconf_is_in_the_table``, and
so does an entry whose route is gone.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Q
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.utils import timezone

from coordination.models import Discrepancy, DiscrepancyKind, EventType, Notification
from inventory.models import MovementKind, Stock, StockCount
from inventory.services import adjust_stock, lock_stock, post_movement
from nations import audit
from nations.models import AuditEntry
from nations.tokens import issue_token
from tests.api.conftest import FUEL_NSN, build_scenario
from tests.api.scenario import VISIBLE, build_matrix

pytestmark = pytest.mark.django_db

ROLES = [
    "fra_logistics",
    "fra_liaison",
    "mlc_a_operator",
    "coordinator",
    "fra_system",
    "ita_system",
    "no_role",
    "superuser",
    "anonymous",
]
TOKEN_ROLES = {"fra_system", "ita_system"}  # national systems: a Bearer token, no browser session
MISSING = "missing"  # an identifier no object has


# --- who sees what, who may do what (PRODUCT.md) -------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What a role acts for, by nation and center code."""

    logistics: frozenset = frozenset()
    liaison: frozenset = frozenset()
    operates: frozenset = frozenset()
    coordinator: bool = False

    @property
    def officer(self) -> frozenset:
        return self.logistics | self.liaison


FACTS = {
    "fra_logistics": Facts(logistics=frozenset({"FRA"})),
    "fra_liaison": Facts(liaison=frozenset({"FRA"})),
    "mlc_a_operator": Facts(operates=frozenset({"MLC-A"})),
    "coordinator": Facts(coordinator=True),
    "fra_system": Facts(logistics=frozenset({"FRA"})),  # the service account holds FRA's logistics role
    "ita_system": Facts(logistics=frozenset({"ITA"})),
    "no_role": Facts(),
    # An administrator holds every permission, the coordinator's included; no nation or center role.
    "superuser": Facts(coordinator=True),
    "anonymous": Facts(),
}

KIND_KEY = {
    "stock": "stocks",
    "movement": "movements",
    "request": "requests",
    "shortfall": "shortfalls",
    "discrepancy": "discrepancies",
    "report": "stock-reports",
    "notification": "notifications",
    "webhook": "webhooks",
}
REFERENCE_KINDS = {"nation", "center", "item", "run"}  # every signed-in caller sees them
# The sweep's audit entries: name -> (the nation it concerns, the scenario's stock it is about), filled from the
# scenario's rows (``_build_sweep``).
AUDIT_SUBJECTS: dict[str, tuple[str | None, str | None]] = {}


def sees(role: str, kind: str, name: str) -> bool:
    if name == MISSING or role == "anonymous":
        return False
    if kind in REFERENCE_KINDS:
        return True
    if kind == "audit":  # an entry follows its subject (issue 12, finding 3)
        nation, stock = AUDIT_SUBJECTS[name]
        if role == "superuser":  # administrators read every entry
            return True
        subject_seen = stock is None or sees(role, "stock", stock)
        if FACTS[role].coordinator:  # every entry but those about a stock they may not see
            return subject_seen
        return nation in FACTS[role].officer and subject_seen  # officers: their nation's, about what they see
    if kind == "discrepancy" and name.startswith("c_"):  # the sweep's count discrepancies: seen with their stock
        return sees(role, "stock", name[2:])
    if kind == "notification":  # one's own only, whoever one is
        return name == f"n_{role}"
    if role == "superuser":  # administrators see every row; webhooks are the nations' own business
        return kind != "webhook"
    if role == "no_role":
        return False
    return name in VISIBLE[role][KIND_KEY[kind]]


STATE = "state"  # refused by a wrong state as well as a missing right: 403 or 409 both keep the secret


def may(role: str, action: str, obj) -> bool | str:
    """PRODUCT.md's "Who may do what" for `action` on `obj` (an object of the scenario, or natural keys)."""
    f = FACTS[role]
    if action in ("stock.edit", "stock.adjust", "stock.issue", "stock.receipt"):
        return obj.nation.code in f.logistics
    if action == "stock.count":
        return obj.nation.code in f.logistics or obj.center.code in f.operates
    if action == "request.create":  # obj: the requesting nation
        return obj.code in f.logistics
    if action in ("request.submit", "request.cancel"):
        return obj.requesting_nation.code in f.logistics
    if action in ("request.approve", "request.reject"):
        return obj.supplying_nation.code in f.liaison
    if action == "request.dispatch":
        return obj.supplying_nation.code in f.logistics or obj.source_center.code in f.operates
    if action == "request.receive":
        return obj.requesting_nation.code in f.logistics or obj.destination_center.code in f.operates
    if action == "flag.acknowledge":  # addressed to: see README "Choices where the contract is silent"
        if f.coordinator:
            return True
        request = getattr(obj, "request", None)
        if request is not None:
            return bool(
                {request.requesting_nation.code, request.supplying_nation.code} & f.officer
                or {request.source_center.code, request.destination_center.code} & f.operates
            )
        if obj.stock is not None:
            return obj.stock.nation.code in f.officer or obj.stock.center.code in f.operates
        return obj.center.code in f.operates  # a pool's flag
    if action == "discrepancy.resolve":  # the owning nation's logistics officers settle a count
        if obj.kind != DiscrepancyKind.COUNT_MISMATCH:
            return STATE
        return obj.stock.nation.code in f.logistics
    if action == "catalog.manage":  # reference data: alliance coordinators (and administrators)
        return f.coordinator
    if action == "nation.activity_designator":  # reference data too (issue 16): alliance coordinators
        return f.coordinator
    if action == "reconciliation.start":  # coordinators anywhere, operators at their own center
        return f.coordinator or (obj is not None and obj.code in f.operates)
    if action == "logistics":  # raising requests: a nation's logistics officers
        return bool(f.logistics)
    if action == "one_nation":  # registering a webhook: the logistics officers of exactly one nation
        return len(f.logistics) == 1
    if action == "audit.read":  # the audit log's page: administrators, coordinators, a nation's officers
        return f.coordinator or bool(f.officer)
    if action == "audit.export":  # the whole log for a SIEM: administrators only
        return role == "superuser"
    raise ValueError(action)


# --- the table ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    method: str
    rule: str  # an action of may(), or "visible" (whoever sees the object), "signed_in", "public", "missing"
    body: dict | Callable = field(default_factory=dict)
    by: str | None = None  # the target is named in the body (natural keys of this kind), not in the path


@dataclass(frozen=True)
class Route:
    name: str  # the URL name the template must resolve to
    kind: str | None = None  # what fills {obj}
    get: str = "visible"  # GET: "visible", "signed_in", "public", "405" (POST only), "missing", or an action
    writes: tuple[Write, ...] = ()
    # {obj} only prefills a form (``?stock=``): an object the role may not see is answered as a missing one is, with
    # the empty form (200, never 404), and still must not show in the answer
    prefills: bool = False


def _request_body(nation) -> dict:
    supplier = "FRA" if nation.code != "FRA" else "DEU"
    return {
        "requesting_nation": nation.code,
        "supplying_nation": supplier,
        "nsn": FUEL_NSN,
        "source_center": "MLC-A",
        "destination_center": "NAT-F",
        "quantity": 1,
        "justification": "IDOR sweep",
        "required_by": (timezone.localdate() + dt.timedelta(days=10)).isoformat(),
    }


def _requisition_body(nation) -> dict:
    return {
        "requesting_nation": nation.code,
        "destination_center": "NAT-F",
        "required_by": (timezone.localdate() + dt.timedelta(days=10)).isoformat(),
        "justification": "IDOR sweep",
        "lines": [{"nsn": FUEL_NSN, "quantity": 1}],
    }


def _movement(kind: str) -> Callable:
    return lambda key: {
        "nation": key.nation.code,
        "center": key.center.code,
        "nsn": key.item.nsn,
        "kind": kind,
        "quantity": 1,
        "reason": "IDOR sweep",
    }


def _report(key) -> dict:
    return {"nation": key.nation.code, "center": key.center.code, "lines": [{"nsn": key.item.nsn, "quantity": 1}]}


API_ACTION_BODIES = {"approve": {"quantity": 1}, "reject": {"reason": "IDOR sweep"}, "receive": {"quantity": 0}}
PAGE_ACTION_BODIES = {"approve": {"quantity": 1}, "reject": {"reason": "IDOR sweep"}, "receive": {"quantity": 0}}
REQUEST_ACTIONS = ("submit", "approve", "reject", "dispatch", "receive", "cancel")

ROUTES: dict[str, Route] = {
    # --- REST API -------------------------------------------------------------------------------------------
    "/api/v1/": Route("api-root", get="signed_in"),
    "/api/v1/nations/": Route("nation-list", get="signed_in"),
    # a nation's force activity designator: alliance coordinators (and administrators) set it
    "/api/v1/nations/{obj}/": Route(
        "nation-detail", "nation", writes=(Write("PATCH", "nation.activity_designator", {"activity_designator": "II"}),)
    ),
    "/api/v1/centers/": Route("center-list", get="signed_in"),
    "/api/v1/centers/{obj}/": Route("center-detail", "center"),
    # the catalog: coordinators and administrators add and correct items (an NSN of medical supply class VIII)
    "/api/v1/items/": Route(
        "item-list",
        get="signed_in",
        writes=(
            Write(
                "POST",
                "catalog.manage",
                {"nsn": "6505-12-345-6789", "name": "Sweep item", "supply_class": "VIII", "unit_of_issue": "BX"},
            ),
        ),
    ),
    "/api/v1/items/{obj}/": Route("item-detail", "item", writes=(Write("PATCH", "catalog.manage", {"name": "X"}),)),
    "/api/v1/stocks/": Route("stock-list", get="signed_in"),
    "/api/v1/stocks/{obj}/": Route(
        "stock-detail", "stock", writes=(Write("PATCH", "stock.edit", {"safety_level": 7}),)
    ),
    "/api/v1/movements/": Route(
        "movement-list",
        get="signed_in",
        writes=(
            Write("POST", "stock.issue", _movement("issue"), by="stock_key"),
            Write("POST", "stock.receipt", _movement("receipt"), by="stock_key"),
            Write("POST", "stock.adjust", _movement("adjustment"), by="stock_key"),
        ),
    ),
    "/api/v1/movements/{obj}/": Route("movement-detail", "movement"),
    "/api/v1/stock-reports/": Route(
        "stock-report-list", get="signed_in", writes=(Write("POST", "stock.count", _report, by="stock_key"),)
    ),
    "/api/v1/stock-reports/{obj}/": Route("stock-report-detail", "report"),
    "/api/v1/requests/": Route(
        "request-list", get="signed_in", writes=(Write("POST", "request.create", _request_body, by="nation_key"),)
    ),
    "/api/v1/requests/{obj}/": Route("request-detail", "request"),
    **{
        f"/api/v1/requests/{{obj}}/{action}/": Route(
            f"request-{action}",
            "request",
            get="405",
            writes=(Write("POST", f"request.{action}", API_ACTION_BODIES.get(action, {})),),
        )
        for action in REQUEST_ACTIONS
    },
    "/api/v1/shortfalls/": Route("shortfall-list", get="signed_in"),
    "/api/v1/shortfalls/{obj}/": Route("shortfall-detail", "shortfall"),
    "/api/v1/shortfalls/{obj}/acknowledge/": Route(
        "shortfall-acknowledge", "shortfall", get="405", writes=(Write("POST", "flag.acknowledge"),)
    ),
    "/api/v1/discrepancies/": Route("discrepancy-list", get="signed_in"),
    "/api/v1/discrepancies/{obj}/": Route("discrepancy-detail", "discrepancy"),
    "/api/v1/discrepancies/{obj}/acknowledge/": Route(
        "discrepancy-acknowledge", "discrepancy", get="405", writes=(Write("POST", "flag.acknowledge"),)
    ),
    "/api/v1/discrepancies/{obj}/resolve/": Route(
        "discrepancy-resolve",
        "discrepancy",
        get="405",
        writes=(Write("POST", "discrepancy.resolve", {"accept": False}),),
    ),
    "/api/v1/reconciliations/": Route(
        "reconciliation-list",
        get="signed_in",
        writes=(
            Write(
                "POST",
                "reconciliation.start",
                lambda center: {"center": center.code} if center else {},
                by="center_or_all",
            ),
        ),
    ),
    "/api/v1/reconciliations/{obj}/": Route("reconciliation-detail", "run"),
    "/api/v1/notifications/": Route("notification-list", get="signed_in"),
    "/api/v1/notifications/read-all/": Route("notification-read-all", get="405", writes=(Write("POST", "signed_in"),)),
    "/api/v1/notifications/{obj}/": Route("notification-detail", "notification"),
    "/api/v1/notifications/{obj}/read/": Route(
        "notification-read", "notification", get="405", writes=(Write("POST", "visible"),)
    ),
    "/api/v1/webhooks/": Route(
        "webhook-list",
        get="signed_in",
        # a literal address in WEBHOOK_ALLOWED_NETWORKS (_no_budgets): registering it looks up no name
        writes=(Write("POST", "one_nation", {"url": "https://192.0.2.10/hook", "secret": "s" * 32}),),
    ),
    "/api/v1/webhooks/{obj}/": Route(
        "webhook-detail", "webhook", writes=(Write("PATCH", "visible", {"active": False}), Write("DELETE", "visible"))
    ),
    "/api/v1/webhooks/{obj}/deliveries/": Route("webhook-deliveries", "webhook"),
    # a ping posts nowhere during the sweep (_no_budgets replaces the delivery's POST)
    "/api/v1/webhooks/{obj}/ping/": Route("webhook-ping", "webhook", get="405", writes=(Write("POST", "visible"),)),
    # names no delivery of the endpoint: 400 for whoever may act, 404 for whoever may not see the endpoint
    "/api/v1/webhooks/{obj}/redeliver/": Route(
        "webhook-redeliver", "webhook", get="405", writes=(Write("POST", "visible", {"delivery": 0}),)
    ),
    # shipments (coordination/api/shipments.py): lists narrowed to the caller; a dispatch naming no request is 400 for
    # whoever asks (the rights to dispatch, and who sees which shipment: tests/requisitions/test_shipments.py)
    "/api/v1/shipments/": Route(
        "shipment-list", get="signed_in", writes=(Write("POST", "signed_in", {"requests": [], "mode": "road"}),)
    ),
    "/api/v1/shipments/999999/": Route("shipment-detail", get="missing"),
    "/api/v1/shipments/999999/receive/": Route("shipment-receive", get="405", writes=(Write("POST", "missing"),)),
    # requisitions (coordination/api/requisitions.py): raised by the requesting nation's logistics officers (the
    # requests' rule); the list is narrowed to the caller; who sees which requisition and its lines, and who may act
    # on one: tests/requisitions/test_api.py
    "/api/v1/requisitions/": Route(
        "requisition-list",
        get="signed_in",
        writes=(Write("POST", "request.create", _requisition_body, by="nation_key"),),
    ),
    "/api/v1/requisitions/999999/": Route("requisition-detail", get="missing"),
    **{
        f"/api/v1/requisitions/999999/{action}/": Route(
            f"requisition-{action}", get="405", writes=(Write("POST", "missing", {"decision": "approve"}),)
        )
        for action in ("submit", "resource", "cancel-lines", "cancel", "decide")
    },
    # a supplier's liaison officers decide requests named in the body: unseen ones answer 404, seen ones 403 to
    # whoever is not the supplier's liaison officer (none of the sweep's roles is one)
    "/api/v1/requests/bulk-decide/": Route(
        "request-bulk-decide",
        get="405",
        writes=(
            Write(
                "POST",
                "request.reject",
                lambda r: {"decision": "reject", "reason": "IDOR sweep", "requests": [str(r.pk if r else 999999)]},
                by="request",
            ),
        ),
    ),
    f"/api/v1/sourcing/?nsn={FUEL_NSN}&quantity=10&destination=NAT-F": Route("sourcing", get="signed_in"),
    "/api/v1/audit-events/": Route("audit-event-list", get="signed_in"),  # empty for whoever may not read it
    "/api/v1/audit-events/{obj}/": Route("audit-event-detail", "audit"),
    "/api/v1/audit-events/export/": Route("audit-event-export", get="audit.export"),  # streamed, every entry
    "/api/schema/": Route("schema", get="public"),  # the API's description, no data
    "/api/docs/": Route("api-docs", get="public"),
    "/api/redoc/": Route("api-redoc", get="public"),
    # --- service endpoints and sign-in ----------------------------------------------------------------------
    "/healthz": Route("healthz", get="public"),
    "/readyz": Route("readyz", get="public"),
    "/i18n/setlang/": Route("set_language", get="public", writes=(Write("POST", "public", {"language": "fr"}),)),
    "/login/": Route("login", get="public"),
    "/logout/": Route("logout", get="public"),
    # the signed-in user's own password (a POST needs the old password: the sweep's bodies never change it)
    "/password/": Route("password-change", get="signed_in"),
    "/password/done/": Route("password-change-done", get="signed_in"),
    # two-factor sign-in, about the signed-in user's own devices (no nation's rows); the sweep's roles have none
    # and, as everywhere but tests/nations/test_two_factor.py, no role requires one (tests/conftest.py).
    "/two-factor/": Route("two-factor", get="signed_in"),
    # nothing to verify: it sends whoever asks on (the dashboard, or the sign-in page); its rules are pinned in
    # tests/nations/test_two_factor.py
    "/two-factor/verify/": Route("two-factor-verify", get="public", writes=(Write("POST", "public"),)),
    # an empty code is the form's error; the secret offered is kept in the session, not in a table
    "/two-factor/enrol/": Route("two-factor-enrol", get="signed_in", writes=(Write("POST", "signed_in"),)),
    # without a device verified in the session: back to the two-factor page, nothing changed
    "/two-factor/backup-codes/": Route("two-factor-backup-codes", get="405", writes=(Write("POST", "signed_in"),)),
    "/two-factor/remove/": Route("two-factor-remove", get="405", writes=(Write("POST", "signed_in"),)),
    # --- browser pages ----------------------------------------------------------------------------------------
    "/": Route("home", get="signed_in"),
    # the header's search: requests through visible_to, the catalog and centers as reference data
    "/search/?q=1": Route("search", get="signed_in"),  # a request number (REQ-000001), NSN digits, center codes
    f"/search/?q={FUEL_NSN}": Route("search", get="signed_in"),
    "/stocks/": Route("stock-list", get="signed_in"),
    "/stocks/?format=csv": Route("stock-list", get="signed_in"),
    "/stocks/{obj}/": Route("stock-detail", "stock"),
    "/stocks/{obj}/adjust/": Route(
        "stock-adjust",
        "stock",
        get="405",
        writes=(Write("POST", "stock.adjust", {"delta": 1, "reason": "IDOR sweep"}),),
    ),
    "/stocks/{obj}/count/": Route(
        "stock-count",
        "stock",
        get="405",
        writes=(Write("POST", "stock.count", {"counted_quantity": 1, "note": "IDOR sweep"}),),
    ),
    "/stocks/{obj}/settings/": Route(
        "stock-settings",
        "stock",
        get="405",
        writes=(Write("POST", "stock.edit", {"safety_level": 7, "daily_consumption": "1.5"}),),
    ),
    "/centers/": Route("center-list", get="signed_in"),
    "/centers/{obj}/": Route("center-detail", "center"),
    "/items/lookup/?q=fuel": Route("item-lookup", get="signed_in"),  # the catalog's autocomplete: reference data
    "/requests/": Route("request-list", get="signed_in"),
    "/requests/new/": Route("request-new", get="logistics", writes=(Write("POST", "logistics"),)),
    # the form prefilled from a stock or from a request's remainder (coordination/prefill.py)
    "/requests/new/?stock={obj}": Route("request-new", "stock", get="logistics", prefills=True),
    "/requests/new/?follow_up={obj}": Route("request-new", "request", get="logistics", prefills=True),
    f"/requests/sourcing/?nsn={FUEL_NSN}&quantity=10&destination_center=NAT-F&follow_up={{obj}}": Route(
        "request-sourcing", "request", get="signed_in", prefills=True
    ),
    f"/requests/sourcing/?nsn={FUEL_NSN}&quantity=10&destination_center=NAT-F": Route(
        "request-sourcing", get="signed_in"
    ),
    # the approval queue: empty for whoever is no liaison officer; a decision naming no request is refused (400)
    # and changes nothing (tests/coordination/test_approval_queue.py sends the ids of other nations' requests)
    "/requests/approvals/": Route("approval-queue", get="signed_in", writes=(Write("POST", "signed_in"),)),
    "/requests/{obj}/": Route("request-detail-page", "request"),
    **{
        f"/requests/{{obj}}/{action}/": Route(
            "request-action",
            "request",
            get="405",
            writes=(Write("POST", f"request.{action}", PAGE_ACTION_BODIES.get(action, {"comment": "IDOR sweep"})),),
        )
        for action in REQUEST_ACTIONS
    },
    "/requests/{obj}/no-such-action/": Route(
        "request-action", "request", get="405", writes=(Write("POST", "missing"),)
    ),
    # requisitions: the list is narrowed to the caller; the new-requisition page is a logistics officer's, and an empty
    # form is 400 for them; a requisition's page and its buttons per role: tests/requisitions/test_pages.py
    "/requisitions/": Route("requisition-list", get="signed_in"),
    "/requisitions/?format=csv": Route("requisition-list", get="signed_in"),
    "/requisitions/new/": Route("requisition-new", get="logistics", writes=(Write("POST", "logistics"),)),
    "/requisitions/999999/": Route("requisition-detail-page", get="missing"),
    **{
        f"/requisitions/999999/{action}/": Route("requisition-action", get="405", writes=(Write("POST", "missing"),))
        for action in ("submit", "cancel", "resource", "cancel-outstanding", "no-such-action")
    },
    "/shortfalls/": Route("shortfall-list", get="signed_in"),
    "/discrepancies/": Route("discrepancy-list", get="signed_in"),
    "/discrepancies/{obj}/resolve/": Route(
        "discrepancy-resolve",
        "discrepancy",
        get="405",
        writes=(Write("POST", "discrepancy.resolve", {"decision": "reject"}),),
    ),
    # the shortfall list's bulk acknowledge names its flags in the body ("flags": ids apart by commas)
    "/shortfalls/acknowledge/": Route(
        "shortfall-acknowledge",
        get="405",
        writes=(
            Write("POST", "flag.acknowledge", lambda flag: {"flags": str(flag.pk if flag else 999999)}, by="shortfall"),
        ),
    ),
    "/flags/shortfalls/{obj}/acknowledge/": Route(
        "flag-acknowledge", "shortfall", get="405", writes=(Write("POST", "flag.acknowledge"),)
    ),
    "/flags/discrepancies/{obj}/acknowledge/": Route(
        "flag-acknowledge", "discrepancy", get="405", writes=(Write("POST", "flag.acknowledge"),)
    ),
    "/flags/no-such-kind/{obj}/acknowledge/": Route(
        "flag-acknowledge", "shortfall", get="405", writes=(Write("POST", "missing"),)
    ),
    "/reconciliation/": Route("reconciliation-list", get="signed_in"),
    "/reconciliation/start/": Route(
        "reconciliation-start",
        get="405",
        writes=(
            Write(
                "POST",
                "reconciliation.start",
                lambda center: {"center": center.code} if center else {},
                by="center_or_all",
            ),
        ),
    ),
    "/reconciliation/{obj}/progress/": Route("reconciliation-progress", "run"),
    "/notifications/": Route("notification-list", get="signed_in"),
    "/notifications/read/": Route("notification-read-all", get="405", writes=(Write("POST", "signed_in"),)),
    "/notifications/{obj}/read/": Route(
        "notification-read", "notification", get="405", writes=(Write("POST", "visible"),)
    ),
    # shipments: the list and the dispatch form show what the caller may see and dispatch (empty for others); a
    # dispatch naming no request is 400 for whoever asks; a shipment's page is swept in tests/requisitions
    "/shipments/": Route("shipment-list", get="signed_in"),
    "/shipments/?format=csv": Route("shipment-list", get="signed_in"),
    "/shipments/new/": Route("shipment-new", get="signed_in", writes=(Write("POST", "signed_in"),)),
    "/shipments/999999/": Route("shipment-detail-page", get="missing"),
    "/shipments/999999/receive/": Route("shipment-receive", get="405", writes=(Write("POST", "missing"),)),
    "/audit/": Route("audit-log", get="audit.read"),
    # nations (reference data) with their force activity designator, which coordinators set from this page
    "/nations/": Route("nation-list-page", get="signed_in"),
    "/nations/{obj}/activity-designator/": Route(
        "nation-activity-designator",
        "nation",
        get="405",
        writes=(Write("POST", "nation.activity_designator", {"activity_designator": "2"}),),
    ),
}

# Identifiers that resolve (for the coverage test, which needs no database).
SAMPLE = {"nation": "FRA", "center": "MLC-A", "item": FUEL_NSN}
SUFFIX = re.compile(r"\\\.\(\?P<format>\[a-z0-9\]\+\)/\?\$$")


# --- the URLconf ---------------------------------------------------------------------------------------------


@functools.cache
def urlconf_routes() -> dict[str, str | None]:
    """Every route of the URLconf (prefixes joined, as ``resolve().route`` gives it) and its name."""
    found: dict[str, str | None] = {}

    def join(prefix: str, pattern) -> str:
        route = str(pattern)
        return prefix + (route[1:] if route.startswith("^") else route)  # as django.urls joins them

    def walk(patterns, prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, join(prefix, p.pattern))
            elif isinstance(p, URLPattern):
                found[join(prefix, p.pattern)] = p.name

    walk(get_resolver().url_patterns, "")
    return found


def base_of(route: str) -> str:
    """The route a format-suffix variant serves (``^stocks/(?P<pk>[^/.]+)\\.(?P<format>...)/?$`` -> ``.../$``)."""
    if route.endswith("<drf_format_suffix:format>"):
        return route[: -len("<drf_format_suffix:format>")]
    return SUFFIX.sub("/$", route)


def is_admin(route: str) -> bool:
    return route.startswith("admin/")


def path_of(template: str, ident: str) -> str:
    return template.replace("{obj}", ident)


def suffixed(url: str) -> str:
    """The format-suffix form of an API URL: ``/api/v1/stocks/5/`` -> ``/api/v1/stocks/5.json``."""
    path, _, query = url.partition("?")
    return path.rstrip("/") + ".json" + (f"?{query}" if query else "") if path != "/api/v1/" else "/api/v1/.json"


def test_every_route_of_the_urlconf_is_in_the_table():
    routes = urlconf_routes()
    suffix_variants = {r for r in routes if not is_admin(r) and base_of(r) != r}
    covered, problems = set(), []
    for template, entry in ROUTES.items():
        url = path_of(template, SAMPLE.get(entry.kind, "1")).partition("?")[0]
        try:
            match = resolve(url)
        except Resolver404:
            problems.append(f"{template}: resolves to no route (gone? then remove the entry)")
            continue
        if match.url_name != entry.name:
            problems.append(f"{template}: resolves to {match.route!r} named {match.url_name!r}, not {entry.name!r}")
        covered.add(match.route)
        if any(base_of(v) == match.route for v in suffix_variants):
            covered.add(resolve(suffixed(url).partition("?")[0]).route)
    missing = sorted(r for r in routes if not is_admin(r) and r not in covered)
    problems += [f"{r} ({routes[r]}): not in ROUTES; add an entry saying who may do what there" for r in missing]
    assert not problems, "\n".join(problems)


# --- the scenario, built once for the module -------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep(django_db_setup, django_db_blocker):
    """The permission matrix's scenario plus an administrator, a user without a role, and count discrepancies,
    built once in a transaction that is rolled back when the module ends (each test runs in a savepoint of it)."""
    with (
        django_db_blocker.unblock(),
        override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]),
    ):
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield _build_sweep()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def _build_sweep() -> SimpleNamespace:
    world = build_scenario()
    m = build_matrix(world)
    users = dict(world.users)
    users["superuser"] = get_user_model().objects.create_superuser("sweep-admin", "admin@example.invalid", "pw")
    for role in ("no_role", "superuser"):
        m.notifications[f"n_{role}"] = Notification.objects.create(
            user=users[role], event=EventType.REQUEST_SUBMITTED, title=f"For {role}", link="/requests/"
        )
    now = timezone.now()
    for name in ("fra_private", "deu_private", "ita_private"):  # counts to settle (the only resolvable kind)
        stock = m.stocks[name]
        count = StockCount.objects.create(
            stock=stock, counted_quantity=stock.on_hand + 3, counted_at=now, counted_by=world.seeder
        )
        m.discrepancies[f"c_{name}"] = Discrepancy.objects.create(
            kind=DiscrepancyKind.COUNT_MISMATCH,
            stock=stock,
            count=count,
            expected=stock.on_hand,
            actual=stock.on_hand + 3,
            first_seen=now,
            last_seen=now,
        )

    # Objects shown inside others the role may not see.  DEU dispatches ITA's request from its fuel shared at MLC-A:
    # FRA's officers see the stock and its ledger, not the request.  DEU adjusts its private rations: coordinators
    # read the audit entry, not the stock.
    r_ita = m.requests["r_ita"]
    post_movement(
        stock=lock_stock(m.stocks["deu_shared"].pk),
        kind=MovementKind.TRANSFER_OUT,
        quantity=-1,
        actor=users["deu_logistics"],
        reason=f"Dispatched for {r_ita.reference} to {r_ita.destination_center.code}",
        request=r_ita,
    )
    adjust_stock(stock=m.stocks["deu_private"], delta=1, actor=users["deu_logistics"], reason="IDOR sweep: private")
    # The log follows each entry's stock: FRA's private stock (its officers, not coordinators), DEU's (neither),
    # DEU's shared fuel (coordinators, not FRA's officers: DEU's entry).
    audit_entries = {"deu_private": AuditEntry.objects.filter(kind="stock.adjusted").latest("id")}
    for name in ("fra_private", "deu_shared"):
        stock = m.stocks[name]
        audit_entries[name] = audit.record(
            "stock.adjusted",
            obj=stock,
            nation=stock.nation,
            actor=users[f"{stock.nation.code.lower()}_logistics"],
            summary=f"Stock {stock.pk} adjusted by +0 to {stock.on_hand}: IDOR sweep",
        )

    by_pk = lambda objects: [(name, str(obj.pk), obj) for name, obj in objects.items()]  # noqa: E731
    nations = {n.code: n for n in (world.fra, world.deu, world.ita)}
    centers = {c.code: c for c in (world.mlc_a, world.nat_b, world.nat_f)}
    # a stock nobody holds: refusals must not depend on whether the stock exists
    nobody = Stock(nation=world.ita, center=world.mlc_a, item=world.fuel)
    targets = {
        "stock": by_pk(m.stocks),
        "movement": by_pk(m.movements),
        "request": by_pk(m.requests),
        "shortfall": by_pk(m.shortfalls),
        "discrepancy": by_pk(m.discrepancies),
        "report": by_pk(m.reports),
        "run": by_pk(m.runs),
        "notification": by_pk(m.notifications),
        "webhook": by_pk(m.webhooks),
        "nation": [(code, code, n) for code, n in nations.items()],
        "center": [(code, code, c) for code, c in centers.items()],
        "item": [(i.nsn, i.nsn, i) for i in (world.fuel, world.rations)],
        "stock_key": [*[(name, "", s) for name, s in m.stocks.items()], ("ita_at_mlc_a_none", "", nobody)],
        "nation_key": [(code, "", n) for code, n in nations.items()],
        "center_or_all": [*[(code, "", c) for code, c in centers.items()], ("all centers", "", None)],
        # entries the scenario wrote (role grants), and entries about a private and a shared stock
        "audit": [
            *[(f"audit_{n}", str(e.pk), e) for n, e in enumerate(AuditEntry.objects.order_by("id")[:2])],
            *[(f"audit_{name}", str(e.pk), e) for name, e in audit_entries.items()],
        ],
    }
    stock_names = {s.pk: name for name, s in m.stocks.items()}
    for name, _, entry in targets["audit"]:
        AUDIT_SUBJECTS[name] = (entry.nation.code if entry.nation else None, stock_names.get(entry.stock_id))
    missing_ident = {"nation": "ZZZ", "center": "NO-SUCH", "item": "0000-00-000-0000"}
    for kind in (
        "stock",
        "movement",
        "request",
        "shortfall",
        "discrepancy",
        "report",
        "run",
        "notification",
        "webhook",
        "nation",
        "center",
        "item",
        "audit",
    ):
        targets[kind].append((MISSING, missing_ident.get(kind, "999999"), None))

    sessions = {}
    for role in ROLES:
        if role not in TOKEN_ROLES and role != "anonymous":
            client = Client()
            client.force_login(users[role])
            sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    tokens = {role: issue_token(user=users[role], name="idor sweep", expires_in_days=1)[1] for role in TOKEN_ROLES}
    return SimpleNamespace(
        world=world,
        matrix=m,
        users=users,
        targets=targets,
        sessions=sessions,
        tokens=tokens,
        markers={role: _markers(m, role) for role in ROLES},
        hidden_ids={role: _hidden_ids(targets, role) for role in ROLES},
    )


def _markers(m, role: str) -> dict[str, str]:
    """Text that identifies an object the role may not see (links, references, titles): found in an answer, it
    is a leak."""
    hidden: dict[str, str] = {}
    for name, s in m.stocks.items():
        if not sees(role, "stock", name):
            hidden[f"/stocks/{s.pk}/"] = f"a link to stock {name}"
            hidden[f"Stock {s.pk} "] = f"stock {name} in an audit entry"
            hidden[f"{s.center.code},{s.nation.code},{s.item.nsn},"] = f"stock {name} in a CSV export"
    for name, r in m.requests.items():
        if not sees(role, "request", name):
            hidden[f"/requests/{r.pk}/"] = f"a link to request {name}"
            hidden[r.reference] = f"the reference of request {name}"
    for name, flag in m.shortfalls.items():
        if not sees(role, "shortfall", name):
            hidden[f"/flags/shortfalls/{flag.pk}/"] = f"shortfall {name}"
    for name, flag in m.discrepancies.items():
        if not sees(role, "discrepancy", name):
            hidden[f"/flags/discrepancies/{flag.pk}/"] = f"discrepancy {name}"
            hidden[f"/discrepancies/{flag.pk}/"] = f"discrepancy {name}"
            hidden[f'id="disc-{flag.pk}"'] = f"the row of discrepancy {name}"
    for name, note in m.notifications.items():
        if not sees(role, "notification", name):
            hidden[note.title] = f"notification {name}"
    for name, hook in m.webhooks.items():
        if not sees(role, "webhook", name):
            hidden[hook.url] = f"webhook {name}"
    return hidden


@pytest.fixture(autouse=True)
def _no_budgets(settings):
    """The sweep sends hundreds of calls per role: API budgets (429) would hide the answers it checks."""
    settings.API_RATE_TOKEN = settings.API_RATE_USER = settings.API_RATE_ANON = ""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["192.0.2.0/24"]  # the webhook the sweep registers (TEST-NET-1)


@pytest.fixture(autouse=True)
def _no_deliveries_leave(monkeypatch):
    """A ping sends its delivery at once: the sweep checks who may ask, and no delivery leaves the machine."""
    from coordination import webhooks

    monkeypatch.setattr(webhooks, "post", lambda target, *, body, headers: (204, ""))


# --- ids in API answers ---------------------------------------------------------------------------------------------

# Keys of an API answer that hold the id of an object of a kind of the sweep.
ID_KEYS = {"stock": "stock", "movement": "movement", "request": "request", "discrepancy": "discrepancy"}
# An audit entry's subject, by its object_type.
SUBJECT_KINDS = {
    "inventory.stock": "stock",
    "inventory.movement": "movement",
    "inventory.stockreport": "report",
    "coordination.supplyrequest": "request",
    "coordination.shortfall": "shortfall",
    "coordination.discrepancy": "discrepancy",
    "coordination.notification": "notification",
    "coordination.webhookendpoint": "webhook",
}
# What the top-level `id` of a list route's rows is; routes with a kind answer with that kind's objects.
LIST_KINDS = {
    "stock-list": "stock",
    "movement-list": "movement",
    "request-list": "request",
    "shortfall-list": "shortfall",
    "discrepancy-list": "discrepancy",
    "stock-report-list": "report",
    "notification-list": "notification",
    "webhook-list": "webhook",
    "audit-event-list": "audit",
}
NOT_ITS_KIND = {"webhook-deliveries", "webhook-ping", "webhook-redeliver"}  # answer with deliveries


def _hidden_ids(targets: dict, role: str) -> dict[str, set[str]]:
    """kind -> ids (as text) of the scenario's objects of that kind the role may not see."""
    return {
        kind: {str(obj.pk) for name, _, obj in targets[kind] if obj is not None and not sees(role, kind, name)}
        for kind in (*KIND_KEY, "audit")
    }


def id_kind_of(entry: Route) -> str | None:
    if entry.name in NOT_ITS_KIND:
        return None
    return entry.kind or LIST_KINDS.get(entry.name)


def leaked_ids(response, hidden: dict[str, set[str]], id_kind: str | None) -> list[str]:
    """The ids of objects the role may not see that a JSON answer names."""
    if "json" not in response.get("Content-Type", "") or getattr(response, "streaming", False):
        return []
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return []
    found: list[str] = []

    def check_id(kind: str, value, key: str) -> None:
        if value is not None and not isinstance(value, bool) and str(value) in hidden.get(kind, ()):
            found.append(f"{key}={value} ({kind})")

    def walk(node, rows_kind: str | None) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, rows_kind)
        elif isinstance(node, dict):
            if rows_kind is not None and "id" in node:
                check_id(rows_kind, node["id"], "id")
            for key, kind in ID_KEYS.items():
                if isinstance(node.get(key), int):
                    check_id(kind, node[key], key)
            subject = SUBJECT_KINDS.get(node.get("object_type") or "")
            if subject is not None:
                check_id(subject, node.get("object_id"), "object_id")
            for key, value in node.items():
                walk(value, rows_kind if key == "results" else None)

    walk(body, id_kind)
    return found


def client_for(sweep, role: str) -> Client:
    if role in TOKEN_ROLES:
        return Client(HTTP_AUTHORIZATION=f"Bearer {sweep.tokens[role]}")
    client = Client()
    if role != "anonymous":
        client.cookies[settings.SESSION_COOKIE_NAME] = sweep.sessions[role]
    return client


# --- the database must not change after a refused write ------------------------------------------------------


def _watched_models() -> list:
    """Every model of the portal's apps, and users and their groups (the grants).  Not API tokens, whose
    last-use time is bookkeeping of authentication, nor the audit log's chain, which an export extends."""
    from nations.models import ApiToken, AuditSeal

    portal = [m for label in ("nations", "inventory", "coordination") for m in apps.get_app_config(label).get_models()]
    User = get_user_model()
    return [m for m in portal if m not in (ApiToken, AuditSeal)] + [User, Group, User.groups.through]


# Reads and exports of the audit log are recorded by design (a GET writes their entry): not a refused write's doing.
RECORDED_READS = ("audit.read", "audit.exported")


def database_state() -> dict:
    models = _watched_models()
    if connection.vendor == "postgresql":  # one statement: a digest of every watched table's rows
        quote = connection.ops.quote_name
        reads = ", ".join(f"'{kind}'" for kind in RECORDED_READS)
        sql = " UNION ALL ".join(
            f"SELECT '{m._meta.db_table}', md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) "
            f"FROM {quote(m._meta.db_table)} r" + (f" WHERE r.kind NOT IN ({reads})" if m is AuditEntry else "")
            for m in models
        )
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return dict(cursor.fetchall())
    rows = {m: m._base_manager.exclude(kind__in=RECORDED_READS) if m is AuditEntry else m._base_manager for m in models}
    return {m._meta.label: list(rows[m].order_by("pk").values_list()) for m in models}


# --- the sweep -----------------------------------------------------------------------------------------------


def send(client: Client, method: str, url: str, body, *, page: bool, htmx: bool = False):
    headers = {"HX-Request": "true"} if htmx else {}
    if method == "GET":
        return client.get(url, headers=headers)
    if page:
        return client.generic(
            method, url, data=_form(body), content_type="application/x-www-form-urlencoded", headers=headers
        )
    # If-Match: * -- the sweep is about who may act, not about versions (428 for a missing one: tests/api/test_contract)
    headers = {"If-Match": "*"} if method in ("PUT", "PATCH", "DELETE") else {}
    return client.generic(method, url, data=json.dumps(body), content_type="application/json", headers=headers)


def _form(body: dict) -> str:
    from urllib.parse import urlencode

    return urlencode(body)


def refusal(
    *, page: bool, rule: str, role: str, kind: str | None, name: str | None, obj, by_key: bool
) -> set[int] | None:
    """The statuses that may answer this call, or None when the role is let in."""
    if rule == "public":
        return None
    if role == "anonymous" or (page and role in TOKEN_ROLES):
        return {302} if page else {401}  # pages send the visitor to the login page
    if rule == "405":
        return {405}
    if rule == "missing":
        return {404}
    if kind is not None and not by_key and not sees(role, kind, name):
        return {404}
    if rule in ("visible", "signed_in"):
        return None
    verdict = may(role, rule, obj)
    if verdict is True:
        return None
    return {403, 409} if verdict == STATE else {403}


ECHOED_PATH = re.compile(r'<input name="next"[^>]*>')  # the language switcher repeats the page's own address


def body_text(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return ECHOED_PATH.sub("", response.content.decode(errors="replace"))


def check(
    response,
    *,
    method: str,
    refused: set[int] | None,
    public: bool,
    markers: dict[str, str],
    hidden_ids: dict[str, set[str]] | None = None,
    id_kind: str | None = None,
) -> str | None:
    """What is wrong with `response`, or None."""
    status = response.status_code
    if status >= 500:
        return f"server error {status}"
    if public:
        return None
    leaked = sorted({what for marker, what in markers.items() if marker in body_text(response)})
    if leaked:
        return f"answered {status} showing what the caller may not see: {', '.join(leaked)}"
    ids = leaked_ids(response, hidden_ids, id_kind) if hidden_ids is not None else []
    if ids:
        return f"answered {status} naming the id of what the caller may not see: {', '.join(sorted(ids))}"
    if refused is not None:
        if status not in refused:
            return f"answered {status}, expected {sorted(refused)}"
        if status == 302 and not response["Location"].startswith(("/login/", "/admin/login/")):
            return f"redirected to {response['Location']}, expected the login page"
        return None
    if method == "GET" and status != 200:
        return f"answered {status} to a caller who may see it, expected 200"
    if method != "GET" and status in (401, 403, 404, 405):
        return f"answered {status} to a caller who may do it"
    return None


def sweep_route(sweep, template: str, role: str) -> tuple[list[str], int]:
    """Send every call of the route's entry as `role`; return what went wrong, and the number of calls.

    Writes the role may make run in a savepoint that is rolled back at once, so every call meets the scenario as
    built; refused writes are not rolled back, and the database must end as it began."""
    entry = ROUTES[template]
    page = not template.startswith("/api/")
    client = client_for(sweep, role)
    markers = sweep.markers[role]
    problems: list[str] = []
    refused_writes: list[str] = []
    calls = 0
    state = database_state() if entry.writes or not page else None

    looked_up = None if entry.prefills else entry.kind  # what an unseen {obj} answers 404 for

    def call(method: str, url: str, body, rule: str, name, obj, *, by_key=False, htmx=False, kind=looked_up) -> None:
        nonlocal calls
        refused = refusal(page=page, rule=rule, role=role, kind=kind, name=name, obj=obj, by_key=by_key)
        label = f"{role} {method} {url}{f' on {name}' if name else ''}{' (htmx)' if htmx else ''}"
        savepoint = transaction.savepoint() if method != "GET" and refused is None else None
        try:
            response = send(client, method, url, body, page=page, htmx=htmx)
            calls += 1
            problem = check(
                response,
                method=method,
                refused=refused,
                public=rule == "public",
                markers=markers,
                hidden_ids=sweep.hidden_ids[role],
                id_kind=id_kind_of(entry),
            )
        finally:
            if savepoint is not None:
                transaction.savepoint_rollback(savepoint)
        if method != "GET" and refused is not None:
            refused_writes.append(f"{label}: {response.status_code}")
        if problem:
            problems.append(f"{label}: {problem}")

    def seen(target) -> bool:
        return entry.kind is None or sees(role, entry.kind, target[0])

    targets = sweep.targets[entry.kind] if entry.kind else [(None, "", None)]
    # Callers turned away before any object is looked up (not signed in; a token on a page): two objects suffice.
    gatekept = role == "anonymous" or (page and role in TOKEN_ROLES)
    if gatekept:
        targets = targets[:1] + targets[-1:]
    variants = [(lambda url: url, targets)]
    if not page and has_suffix_variant(template):
        # The format-suffix variant runs the same view: one object the role sees and one it does not suffice.
        sample = [t for t in targets if seen(t)][:1] + [t for t in targets if not seen(t)][:1]
        variants.append((suffixed, sample))
    for variant, chosen in variants:
        if entry.get == "405":  # decided before any object is looked up
            call("GET", variant(path_of(template, chosen[0][1])), None, "405", chosen[0][0], chosen[0][2])
        for name, ident, obj in chosen:
            url = variant(path_of(template, ident))
            if entry.get != "405":
                call("GET", url, None, entry.get, name, obj)
            for write in entry.writes:
                if write.by is not None:
                    continue
                body = write.body(obj) if callable(write.body) else write.body
                call(write.method, url, body, write.rule, name, obj)
                if page and seen((name, ident, obj)):  # unseen objects answer 404 before htmx makes a difference
                    call(write.method, url, body, write.rule, name, obj, htmx=True)
        for write in entry.writes:  # writes that name their target in the body
            if write.by is None:
                continue
            by_key = (
                sweep.targets[write.by] if variant is variants[0][0] and not gatekept else sweep.targets[write.by][:2]
            )
            # an object named by its id in the body (a bulk action) is looked up as in a path: unseen answers 404
            named = {"by_key": False, "kind": write.by} if write.by in KIND_KEY else {"by_key": True}
            for name, _, obj in by_key:
                call(write.method, variant(template), write.body(obj), write.rule, name, obj, **named)
                if page:
                    call(write.method, variant(template), write.body(obj), write.rule, name, obj, htmx=True, **named)
    if not page and role in UNDECLARED_METHOD_ROLES:
        # every method the route does not declare answers 405 (401 unsigned): the route decides, not the role
        declared = {"GET", *(w.method for w in entry.writes)}
        name, ident, obj = targets[0]
        for method in sorted({"POST", "PUT", "PATCH", "DELETE"} - declared):
            call(method, path_of(template, ident), {}, "public" if entry.get == "public" else "405", name, obj)
    if state is not None and database_state() != state:
        after = database_state()
        changed = ", ".join(sorted(t for t in after if after[t] != state.get(t)))
        problems.append(
            f"{role}: a refused write changed {changed}; the refused writes were:\n  " + "\n  ".join(refused_writes)
        )
    return problems, calls


# Who is sent the methods an API route does not declare: a person, a national system, a visitor.
UNDECLARED_METHOD_ROLES = ("fra_logistics", "fra_system", "anonymous")


@functools.cache
def has_suffix_variant(template: str) -> bool:
    base = resolve(path_of(template, SAMPLE.get(ROUTES[template].kind, "1")).partition("?")[0]).route
    return any(base_of(r) == base and r != base for r in urlconf_routes())


# Public routes answer the same whoever asks: swept as a visitor, a person and a national system.
PUBLIC_ROLES = ("anonymous", "fra_logistics", "fra_system")
# Two xdist groups, so that the two workers share the sweep (each builds the scenario once).
SWEEP = [
    pytest.param(
        template,
        role,
        id=f"{template}-{role}",
        marks=pytest.mark.xdist_group("idor_sweep_api" if template.startswith("/api/") else "idor_sweep_pages"),
    )
    for template, entry in ROUTES.items()
    for role in ROLES
    if entry.get != "public" or role in PUBLIC_ROLES
]


@pytest.mark.parametrize(("template", "role"), SWEEP)
def test_sweep(sweep, template, role):
    problems, _ = sweep_route(sweep, template, role)
    assert not problems, "\n".join(problems)


# --- admin -----------------------------------------------------------------------------------------------------

ADMIN_PUBLIC = {"admin/login/", "admin/logout/"}


def admin_url(route: str, sweep) -> str:
    """A URL for an admin route, naming a real object of the route's model where it takes one."""
    model = None
    parts = route.split("/")
    if len(parts) > 3 and parts[1] and parts[2] and not parts[1].startswith(("^", "(", "<")):
        try:
            model = apps.get_model(parts[1], parts[2])
        except LookupError:
            model = None
    first = model._base_manager.order_by("pk").values_list("pk", flat=True).first() if model else None
    stock = sweep.matrix.stocks["deu_private"]
    values = {
        # view_on_site (admin/r/<content type>/<object>/) names a stock; every other route an object of its model
        "object_id": str(stock.pk) if "content_type_id" in route else str(first or 1),
        "object_pk": str(first or 1),
        "id": str(first or 1),  # auth/user/<id>/password/
        "user_id": str(sweep.users["fra_logistics"].pk),
        "group_id": str(Group.objects.order_by("pk").values_list("pk", flat=True).first()),
        "content_type_id": str(ContentType.objects.get_for_model(Stock).pk),
        "app_label": "inventory",
        "url": "no-such-page/",
    }
    url = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda mt: values.get(mt.group(1), "?"), route)
    url = re.sub(r"<(?:\w+:)?(\w+)>", lambda mt: values.get(mt.group(1), "?"), url)
    return "/" + url.replace("^", "").replace("$", "")


# The admin's rule does not depend on nation or center roles (staff only; here: superusers): a visitor, a signed-in
# user without staff status (one who also posts to every route), a holder of a global permission, the superuser.
ADMIN_ROLES = {"anonymous": ["GET"], "fra_logistics": ["GET", "POST"], "coordinator": ["GET"], "superuser": ["GET"]}


def superuser_samples(route: str, name: str | None) -> bool:
    """The superuser is let in: shown on the index, the app lists and each model's change page of an object
    (every list is opened by tests/test_admin.py)."""
    return name in ("index", "app_list") or bool(name and name.endswith("_change"))


@pytest.mark.parametrize("role", list(ADMIN_ROLES))
@pytest.mark.xdist_group("idor_sweep_pages")
def test_admin_lets_in_superusers_only(sweep, role):
    client = client_for(sweep, role)
    problems = []
    state = database_state()
    for route, name in sorted((r, n) for r, n in urlconf_routes().items() if is_admin(r)):
        if role == "superuser" and not superuser_samples(route, name):
            continue
        url = admin_url(route, sweep)
        try:
            assert resolve(url.partition("?")[0]).route == route
        except (Resolver404, AssertionError):
            problems.append(f"{route}: the sweep cannot build a URL for it; teach admin_url its parameters")
            continue
        for method in ["GET"] if route in ADMIN_PUBLIC else ADMIN_ROLES[role]:
            response = client.generic(method, url)
            status = response.status_code
            if status >= 500:
                problems.append(f"{role} {method} {url}: server error {status}")
            elif role == "superuser":
                if status not in (200, 302) or response.get("Location", "").startswith("/admin/login/"):
                    problems.append(f"{role} {method} {url}: answered {status}, expected the superuser to get in")
            elif route in ADMIN_PUBLIC:
                continue
            elif status != 302 or not response["Location"].startswith("/admin/login/"):
                problems.append(f"{role} {method} {url}: answered {status}, expected the admin login redirect")
    if database_state() != state:
        problems.append(f"{role}: the admin sweep changed the database")
    assert not problems, "\n".join(problems)


# --- the sweep can fail ------------------------------------------------------------------------------------------


@pytest.mark.xdist_group("idor_sweep_pages")
def test_the_sweep_finds_a_page_that_shows_another_nations_private_stock(sweep, monkeypatch):
    from portal import views

    monkeypatch.setattr(
        views.StockDetailView,
        "get_queryset",
        lambda self: Stock.objects.select_related("nation", "center", "item").with_available(),
    )  # forgets visible_to: its own get_queryset, without super()

    problems, _ = sweep_route(sweep, "/stocks/{obj}/", "fra_logistics")

    assert any("on deu_private: answered 200" in p for p in problems), problems
    assert any("on ita_private: answered 200" in p for p in problems), problems


@pytest.mark.xdist_group("idor_sweep_pages")
def test_the_sweep_finds_a_list_that_links_to_what_the_caller_may_not_see(sweep, monkeypatch):
    from coordination import views

    # the list forgets visibility: every request, whoever asks
    monkeypatch.setattr(views.RequestListView, "get_queryset", lambda self: views.RequestListView.queryset.all())

    problems, _ = sweep_route(sweep, "/requests/", "fra_logistics")

    assert any("a link to request r_deu" in p for p in problems), problems


@pytest.mark.xdist_group("idor_sweep_api")
def test_the_sweep_finds_a_write_without_its_permission_check(sweep, monkeypatch):
    from nations import access
    from nations.access import rules

    # every rule says yes: through the package's name and inside require()
    monkeypatch.setattr(access, "can", lambda user, action, obj: True)
    monkeypatch.setattr(rules, "can", lambda user, action, obj: True)

    problems, _ = sweep_route(sweep, "/api/v1/stocks/{obj}/", "fra_liaison")

    assert any(
        "PATCH /api/v1/stocks/" in p and "on fra_private: answered 200, expected [403]" in p for p in problems
    ), problems
    assert any("a refused write changed inventory_stock" in p for p in problems), problems


@pytest.mark.xdist_group("idor_sweep_api")
def test_the_sweep_finds_nested_objects_shown_to_whoever_sees_their_container(sweep, monkeypatch):
    from nations.access import visibility
    from nations.access.nested import Disclosure

    # the renderer of nested objects forgets visibility: whoever sees the container sees what it names
    monkeypatch.setattr(Disclosure, "sees", lambda self, model, pk: True)
    monkeypatch.setattr(Disclosure, "sees_object", lambda self, obj: True)
    monkeypatch.setattr(Disclosure, "sees_related", lambda self, row, relation: True)

    ledger, _ = sweep_route(sweep, "/api/v1/movements/", "fra_logistics")
    # and the log lists every entry to coordinators, as it did before entries followed their stock
    monkeypatch.setitem(
        visibility.CONDITIONS, "nations.auditentry", lambda p: Q() if p.coordinator else visibility.NOTHING
    )
    audit_log, _ = sweep_route(sweep, "/audit/", "coordinator")

    assert any("the reference of request r_ita" in p for p in ledger), ledger
    assert any("stock deu_private in an audit entry" in p for p in audit_log), audit_log


@pytest.mark.xdist_group("idor_sweep_api")
def test_the_sweep_finds_an_audit_entry_about_a_stock_the_caller_may_not_see(sweep, monkeypatch):
    from nations.access import visibility

    # coordinators read every entry again, as before entries followed their stock (issue 12, finding 3)
    monkeypatch.setitem(
        visibility.CONDITIONS, "nations.auditentry", lambda p: Q() if p.coordinator else visibility.NOTHING
    )

    problems, _ = sweep_route(sweep, "/api/v1/audit-events/{obj}/", "coordinator")

    assert any("on audit_deu_private: answered 200" in p for p in problems), problems
    assert any("on audit_fra_private: answered 200" in p for p in problems), problems


def test_the_sweep_finds_the_id_of_what_the_caller_may_not_see_in_an_api_answer():
    from django.http import JsonResponse

    response = JsonResponse(
        {
            "results": [
                {"id": 1, "stock": 9, "details": {"movement": 4}, "object_type": "inventory.stock", "object_id": "7"}
            ]
        }
    )
    hidden = {"movement": {"1", "4"}, "stock": {"7", "9"}}

    assert sorted(leaked_ids(response, hidden, "movement")) == [
        "id=1 (movement)",
        "movement=4 (movement)",
        "object_id=7 (stock)",
        "stock=9 (stock)",
    ]
    assert leaked_ids(response, {"stock": {"8"}}, "movement") == []
