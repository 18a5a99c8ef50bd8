"""Schema fuzzing of the REST API with schemathesis, shared by the CI test (``tests/api/test_fuzz.py``) and the
longer run of ``bench/fuzz.py``.

The schema is the live one, read from ``/api/schema/`` through the WSGI application, and every case is sent to that
application in-process, in the caller's database transaction: nothing is committed, so no webhook is delivered and
no job queued after commit runs (those have tests of their own), and the caller rolls everything back at the end.

Each case is drawn from the schema (valid data, and invalid data that the API must refuse with a 4xx), sent with
the Bearer token of one of several roles, and its response checked: no 5xx, a documented status code and content
type, a body that matches the documented schema.  Most cases (70%) have their path identifiers and natural keys
(nation and center codes, NSNs) replaced by those of real objects, so that they reach past "not found" into the
permission checks, the state machine and the ledger.  Afterwards ``broken_invariants`` checks the books.
"""

from __future__ import annotations

import io
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import schemathesis
from django.core.management import call_command, get_commands
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connection, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SCHEMA_PATH = "/api/schema/"
# The roles the fuzzer calls as (Bearer tokens): national systems of two nations, a liaison officer of the
# supplying nation, a coordinator.
ROLES = ("fra_system", "ita_system", "deu_liaison", "coordinator")
OWN_NATION = {"fra_system": "FRA", "ita_system": "ITA", "deu_liaison": "DEU"}


def prepare_scenario(world) -> None:
    """The permission matrix's objects (tests/api/scenario.py), and requests in every open state between the fuzzed
    roles, so that approvals, dispatches, receipts and cancellations can succeed, not only be refused."""
    import datetime as dt

    from django.utils import timezone

    from coordination import services

    from .api.scenario import build_matrix

    build_matrix(world)
    u = world.users

    def raise_request(requester: str, requesting, supplying, item, source, destination):
        return services.create_request(
            requester=u[requester],
            requesting_nation=requesting,
            supplying_nation=supplying,
            item=item,
            source_center=source,
            destination_center=destination,
            quantity=5,
            justification="Fuzzing",
            required_by=timezone.localdate() + dt.timedelta(days=10),
            submit=True,
        )

    for _ in range(2):  # submitted, for DEU's liaison officer to approve or reject, or their raisers to cancel
        raise_request("fra_logistics", world.fra, world.deu, world.fuel, world.mlc_a, world.nat_f)
        raise_request("ita_logistics", world.ita, world.deu, world.fuel, world.mlc_a, world.nat_b)
    # approved by ITA, for ITA's national system to dispatch
    deu_asks = raise_request("deu_logistics", world.deu, world.ita, world.rations, world.nat_b, world.nat_b)
    services.approve_request(request=deu_asks, approver=u["ita_liaison"])
    # dispatched by DEU, for FRA's national system to receive
    fra_asks = raise_request("fra_logistics", world.fra, world.deu, world.fuel, world.mlc_a, world.nat_f)
    services.approve_request(request=fra_asks, approver=u["deu_liaison"])
    services.dispatch_request(request=fra_asks, actor=u["deu_logistics"])


@contextmanager
def in_this_transaction() -> Iterator[None]:
    """Requests to the WSGI application keep the caller's database connection and transaction, as in Django's
    test client: by default the end of a request closes a connection that is inside a transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def load_schema():
    """The OpenAPI schema the application serves, bound to the WSGI application (cases are sent to it)."""
    with in_this_transaction():
        return schemathesis.openapi.from_wsgi(SCHEMA_PATH, get_wsgi_application())


@dataclass
class Pool:
    """Real identifiers that generated cases may use: ids per resource, codes, NSNs."""

    ids: dict[str, list[int]]  # by the path's resource: "stocks", "requests", ...
    nations: list[str]
    centers: list[str]
    nsns: list[str]

    @classmethod
    def from_database(cls) -> Pool:
        from coordination.models import (
            Discrepancy,
            Notification,
            ReconciliationRun,
            Shortfall,
            SupplyRequest,
            WebhookEndpoint,
        )
        from inventory.models import Item, LogisticsCenter, Movement, Stock, StockReport
        from nations.models import Nation

        models = {
            "stocks": Stock,
            "movements": Movement,
            "stock-reports": StockReport,
            "requests": SupplyRequest,
            "shortfalls": Shortfall,
            "discrepancies": Discrepancy,
            "reconciliations": ReconciliationRun,
            "notifications": Notification,
            "webhooks": WebhookEndpoint,
        }
        return cls(
            ids={
                name: list(model.objects.order_by("pk").values_list("pk", flat=True)) for name, model in models.items()
            },
            nations=list(Nation.objects.order_by("code").values_list("code", flat=True)),
            centers=list(LogisticsCenter.objects.order_by("code").values_list("code", flat=True)),
            nsns=list(Item.objects.order_by("nsn").values_list("nsn", flat=True)),
        )

    def keys(self, name: str) -> list[str] | None:
        """Real values for a body or query field named `name`, if it holds a natural key."""
        if name in ("nation", "requesting_nation", "supplying_nation", "host_nation", "participant"):
            return self.nations
        if name in ("center", "source_center", "destination_center", "destination"):
            return self.centers
        if name == "nsn":
            return self.nsns
        return None


RESOURCE = re.compile(r"^/api/v1/([^/]+)/")


REALISTIC_SHARE = 0.7  # the share of cases given real identifiers and keys
REAL_VALUE_ODDS = 0.85  # in such a case, each identifier or key is a real one with these odds


def make_realistic(case, pool: Pool, rng: random.Random, role: str) -> None:
    """Replace the case's path identifiers and natural keys by real ones (each with REAL_VALUE_ODDS; a nation is
    the caller's own half the time), and take NUL characters out of its texts (the API refuses them all)."""
    resource = RESOURCE.match(case.operation.path)
    for name in list(case.path_parameters or {}):
        if rng.random() > REAL_VALUE_ODDS:
            continue
        if name == "id" and resource and pool.ids.get(resource.group(1)):
            case.path_parameters[name] = rng.choice(pool.ids[resource.group(1)])
        elif name == "code":
            case.path_parameters[name] = rng.choice(pool.centers if "centers" in case.operation.path else pool.nations)
        elif name == "nsn":
            case.path_parameters[name] = rng.choice(pool.nsns)
    for container in (case.query, case.body if isinstance(case.body, dict) else None):
        for name in list(container or {}):
            values = pool.keys(name)
            if values and rng.random() < REAL_VALUE_ODDS:
                own = OWN_NATION.get(role)
                container[name] = own if values is pool.nations and own and rng.random() < 0.5 else rng.choice(values)
    if isinstance(case.body, dict) and isinstance(case.body.get("lines"), list):
        for line in case.body["lines"]:
            if isinstance(line, dict) and "nsn" in line and rng.random() < REAL_VALUE_ODDS:
                line["nsn"] = rng.choice(pool.nsns)
    for container in (case.query, case.body if isinstance(case.body, dict) else None):
        for name, value in list((container or {}).items()):
            container[name] = _without_nul(value)


def _without_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_nul(v) for k, v in value.items()}
    return value


@dataclass
class FuzzResult:
    cases: int = 0
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)  # by kind (the failed check's title)
    examples: dict[tuple, list[str]] = field(default_factory=dict)  # (kind, operation, status) -> reproductions
    where: Counter = field(default_factory=Counter)  # (kind, operation, status) -> failures
    by_role: Counter = field(default_factory=Counter)
    by_operation: dict[str, Counter] = field(default_factory=dict)  # operation -> status class ("2xx") -> cases

    def record(self, kind: str, operation: str, status: int | None, text: str) -> None:
        self.failures[kind] += 1
        self.where[(kind, operation, status)] += 1
        kept = self.examples.setdefault((kind, operation, status), [])
        if len(kept) < 2:
            kept.append(text)

    def operations_table(self) -> list[str]:
        """Cases per operation and how they were answered: which operations the run reached past refusals."""
        lines = [f"{'operation':<48} {'cases':>6} {'2xx':>5} {'4xx':>5} {'5xx':>5}"]
        for label, classes in sorted(self.by_operation.items()):
            lines.append(
                f"{label:<48} {sum(classes.values()):>6} {classes['2xx']:>5} {classes['4xx']:>5} {classes['5xx']:>5}"
            )
        return lines

    def report(self) -> str:
        lines = [
            f"cases: {self.cases} in {self.seconds:.1f} s ({self.cases / max(self.seconds, 1e-9):.1f}/s)",
            "statuses: " + ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items())),
            "failures: " + (", ".join(f"{k}: {n}" for k, n in self.failures.most_common()) or "none"),
        ]
        for (kind, operation, status), n in sorted(self.where.items()):
            lines.append(f"  {kind}: {operation} -> {status} ({n})")
        for (kind, operation, status), texts in sorted(self.examples.items(), key=str):
            lines.append(f"--- {kind}: {operation} -> {status}")
            lines.extend(texts)
        return "\n".join(lines)


def fuzz(
    schema, tokens: dict[str, str], *, cases: int, seed: int = 0, seconds: float | None = None, pool: Pool | None = None
) -> FuzzResult:
    """Send `cases` generated cases (fewer if `seconds` run out) as the roles of `tokens`; check each response.

    Failures are counted by kind, not raised, so a long run reports everything it met."""
    pool = pool or Pool.from_database()
    roles = sorted(tokens)
    positive = schema.as_strategy(generation_mode=GenerationMode.POSITIVE)
    negative = schema.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    result = FuzzResult()
    started = time.monotonic()

    # Role and realism from a generator of their own: Hypothesis draws favour the first of the sampled values.
    rng = random.Random(seed)

    @hypothesis_seed(seed)
    @settings(
        max_examples=cases,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(positive, positive, negative))
    def one(case):
        if seconds is not None and time.monotonic() - started > seconds:
            return
        role = rng.choice(roles)
        if rng.random() < REALISTIC_SHARE:
            make_realistic(case, pool, rng, role)
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        # Each case in a savepoint: kept when the case leaves the transaction usable, undone when a database error
        # aborted it (in production each request has a connection of its own; here one error would fail the rest).
        savepoint = transaction.savepoint()
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the application raised instead of answering: a server error
            transaction.savepoint_rollback(savepoint)
            result.cases += 1
            result.record(
                "Server error (exception)", case.operation.label, None, f"{case.operation.label} as {role}: {exc!r}"
            )
            return
        if _transaction_aborted():
            transaction.savepoint_rollback(savepoint)
            result.record(
                "Database error left the transaction aborted",
                case.operation.label,
                response.status_code,
                _describe(case, role, response, None),
            )
        else:
            transaction.savepoint_commit(savepoint)
        result.cases += 1
        result.by_role[role] += 1
        result.statuses[response.status_code] += 1
        result.by_operation.setdefault(case.operation.label, Counter())[f"{response.status_code // 100}xx"] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                result.record(
                    failure.title, case.operation.label, response.status_code, _describe(case, role, response, failure)
                )
        except Failure as failure:
            result.record(
                failure.title, case.operation.label, response.status_code, _describe(case, role, response, failure)
            )

    with in_this_transaction():
        one()
    result.seconds = time.monotonic() - started
    return result


def _transaction_aborted() -> bool:
    if connection.vendor != "postgresql" or connection.connection is None:
        return False
    from psycopg.pq import TransactionStatus

    return connection.connection.info.transaction_status == TransactionStatus.INERROR


def _describe(case, role: str, response, failure) -> str:
    body = response.content[:300].decode(errors="replace") if hasattr(response, "content") else ""
    message = failure.message.strip()[:600] if failure is not None else ""
    return (
        f"{case.operation.label} as {role}: {message}\n"
        f"  sent path={case.path_parameters} query={case.query} body={str(case.body)[:300]}\n"
        f"  answered {response.status_code}: {body}"
    )


# --- the books afterwards -----------------------------------------------------------------------------------------


def broken_invariants() -> list[str]:
    """What is wrong with the books: on_hand against the ledger, reserved against the approved requests not yet
    dispatched (the reconciliation's own checks, every center), stock out of bounds, a last balance_after that is
    not on_hand, and the ledger's hash chains (``manage.py verify_ledger``) when the project has that command."""
    from coordination.reconciliation import LEDGER_FINDINGS, RESERVATION_FINDINGS
    from inventory.models import LogisticsCenter

    problems = []
    with connection.cursor() as cursor:
        for center in LogisticsCenter.objects.order_by("id").values_list("id", flat=True):
            for kind, findings in (
                ("on_hand != ledger", LEDGER_FINDINGS),
                ("reserved != approved", RESERVATION_FINDINGS),
            ):
                cursor.execute(findings, {"center": center})
                problems += [f"stock {row[0]}: {kind} (expected {row[2]}, found {row[3]})" for row in cursor.fetchall()]
        cursor.execute(
            "SELECT id, on_hand, reserved FROM inventory_stock WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand"
        )
        problems += [
            f"stock {pk}: out of bounds (on_hand {on_hand}, reserved {reserved})"
            for pk, on_hand, reserved in cursor.fetchall()
        ]
        cursor.execute("""
            SELECT s.id, s.on_hand, m.balance_after FROM inventory_stock s
            JOIN inventory_movement m ON m.id = (SELECT max(id) FROM inventory_movement WHERE stock_id = s.id)
            WHERE m.balance_after <> s.on_hand""")
        problems += [
            f"stock {pk}: last balance_after {after} != on_hand {on_hand}" for pk, on_hand, after in cursor.fetchall()
        ]
    if hash_chains_checked():
        out = io.StringIO()
        try:
            call_command(HASH_CHAIN_COMMAND, stdout=out, stderr=io.StringIO())
        except Exception as exc:  # a broken chain: CommandError, after printing the first broken link of each
            problems += [f"{HASH_CHAIN_COMMAND}: {line}" for line in out.getvalue().splitlines()]
            problems.append(f"{HASH_CHAIN_COMMAND}: {exc}")
    return problems


HASH_CHAIN_COMMAND = "verify_ledger"


def hash_chains_checked() -> bool:
    """Whether the project has the ledger's hash-chain verification (``manage.py verify_ledger``)."""
    return HASH_CHAIN_COMMAND in get_commands()
