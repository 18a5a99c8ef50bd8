"""Benchmark: approving supply requests through the REST API under 16 concurrent clients, against the same
transaction as plain SQL.

    python bench/api_approvals.py            # full run (about a minute)
    python bench/api_approvals.py --smoke    # a few seconds, small numbers (CI keeps it from rotting)

It drops and creates its own database (alliance_bench, or alliance_bench_smoke), migrates it, and seeds one supplier
stock per phase with N submitted requests that together ask for a little more than it holds, so the last
approvals are refused (409).  Then:

1. the API: gunicorn (gthread, DEBUG off, persistent database connections, Redis cache for throttling) on
   127.0.0.1; 16 clients, each a liaison officer of the supplying nation with its own token and keep-alive
   connection, POST ``/api/v1/requests/{id}/approve/`` until the requests run out or the time is up;
2. the baseline: the same transaction in plain SQL from 16 psycopg connections (lock the request row, lock the stock
   row, check what is available, raise ``reserved``, approve the request, insert the timeline event).

The two run in alternating slices (API, SQL, API, ...) so that background load on a shared machine falls on both
alike.  It prints approvals per second, latency percentiles and status counts for both, the ratio API/SQL, and checks that
nothing was oversold: ``reserved`` equals the sum approved, ``reserved <= on_hand``, nothing negative, one approval
event per approved request.  Targets (issue 3): at least 250 approvals/s and p99 under 100 ms through the API.
Exit status 1 only if an invariant is broken or the server answered errors; a missed target is printed, not failed.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from collections import Counter

import psycopg
from _common import (
    CPUS,
    CpuMeter,
    LoadResult,
    cpu_line,
    database_url,
    gunicorn,
    interleaved,
    latency_line,
    machine_line,
    manage,
    percentile,
    portal_env,
    print_result_json,
    recreate_database,
    run_load,
    slices_line,
    verdict,
    warm_up,
)

TARGET_RATE = 250.0
TARGET_P99_MS = 100.0


def seed(*, requests_per_phase: int, clients: int, rng_seed: int) -> dict:
    """Nations, a center, two items (one per phase), 16 liaison officers with tokens, and per phase one supplier
    stock with its receipt and `requests_per_phase` submitted requests."""
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from coordination.models import RequestEvent, RequestStatus, SupplyRequest
    from inventory.models import Item, LogisticsCenter, MovementKind, Stock
    from inventory.services import lock_stock, post_movement
    from nations.access import grant_role
    from nations.models import Nation
    from nations.roles import Role
    from nations.tokens import issue_token

    rng = random.Random(rng_seed)
    User = get_user_model()
    now = timezone.now()
    with transaction.atomic():
        codes = [("DEU", "Germany", "12"), ("FRA", "France", "14"), ("ITA", "Italy", "15"),
                 ("NLD", "Netherlands", "17"), ("POL", "Poland", "43")]  # fmt: skip
        nations = [Nation.objects.create(code=c, name=n, ncb_code=b) for c, n, b in codes]
        supplier, requesters = nations[0], nations[1:]
        center = LogisticsCenter.objects.create(code="MLC-BENCH", name="Benchmark center", host_nation=supplier,
                                                latitude=50, longitude=10)  # fmt: skip
        center.participants.set(nations)
        officer = User.objects.create(username="deu-logistics")
        grant_role(officer, Role.LOGISTICS, supplier)
        raisers = {}
        for nation in requesters:
            raisers[nation.pk] = User.objects.create(username=f"{nation.code.lower()}-logistics")
            grant_role(raisers[nation.pk], Role.LOGISTICS, nation)
        liaison_ids, tokens = [], []
        for k in range(1, clients + 1):
            user = User.objects.create(username=f"deu-liaison-{k:02d}")
            grant_role(user, Role.LIAISON, supplier)
            liaison_ids.append(user.pk)
            tokens.append(issue_token(user=user, name="benchmark")[1])

        phases = {}
        for phase, nsn in (("api", "1305-12-000-0001"), ("sql", "1305-12-000-0002")):
            item = Item.objects.create(nsn=nsn, name=f"Cartridge, 5.56 mm, ball ({phase})", supply_class="V",
                                       unit_of_issue="RD")  # fmt: skip
            quantities = [rng.randint(1, 10) for _ in range(requests_per_phase)]
            on_hand = int(sum(quantities) * 0.95)  # the last approvals find too little available: 409
            stock = Stock.objects.create(nation=supplier, center=center, item=item)
            # through the service, so the receipt is sealed into the stock's hash chain like any other
            post_movement(
                stock=lock_stock(stock.pk),
                kind=MovementKind.RECEIPT,
                quantity=on_hand,
                actor=officer,
                occurred_at=now,
                reason="Benchmark stock",
            )
            rows = []
            for q in quantities:
                requester = rng.choice(requesters)
                rows.append(SupplyRequest(
                    requesting_nation=requester, supplying_nation=supplier, item=item, source_center=center,
                    destination_center=center, quantity_requested=q, required_by=now.date() + dt.timedelta(days=30),
                    justification="Benchmark", status=RequestStatus.SUBMITTED, created_by=raisers[requester.pk],
                    version=2,
                ))  # fmt: skip
            created = SupplyRequest.objects.bulk_create(rows, batch_size=2000)
            events = []
            for r in created:
                events.append(RequestEvent(request=r, from_status="", to_status=RequestStatus.DRAFT,
                                           actor_id=r.created_by_id, at=now, comment="Created",
                                           quantity=r.quantity_requested))  # fmt: skip
                events.append(
                    RequestEvent(
                        request=r,
                        from_status=RequestStatus.DRAFT,
                        to_status=RequestStatus.SUBMITTED,
                        actor_id=r.created_by_id,
                        at=now,
                    )
                )
            RequestEvent.objects.bulk_create(events, batch_size=5000)
            ids = [r.pk for r in created]
            rng.shuffle(ids)
            phases[phase] = {"stock_id": stock.pk, "item_id": item.pk, "request_ids": ids, "on_hand": on_hand}
        with connection.cursor() as cursor:
            cursor.execute("UPDATE coordination_supplyrequest SET reference = 'REQ-' || lpad(id::text, 6, '0')")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"tokens": tokens, "liaison_ids": liaison_ids, "phases": phases}


def api_approvals(port: int, data: dict):
    """A measurement: each client POSTs approve for the next submitted request of the API phase."""
    ids = list(data["phases"]["api"]["request_ids"])
    lock = threading.Lock()

    def next_request(_client: int):
        with lock:
            if not ids:
                return None
            request_id = ids.pop()
        return "POST", f"/api/v1/requests/{request_id}/approve/", b"{}"

    return lambda seconds: run_load(port, data["tokens"], next_request, duration=seconds, max_requests=len(ids))


class Conflict(Exception):
    pass


APPROVE_SQL = [
    "SELECT status, quantity_requested, supplying_nation_id, source_center_id, item_id "
    "FROM coordination_supplyrequest WHERE id = %s FOR UPDATE",
    "SELECT id, on_hand, reserved FROM inventory_stock WHERE nation_id = %s AND center_id = %s AND item_id = %s "
    "FOR UPDATE",
    "UPDATE inventory_stock SET reserved = reserved + %s, updated_at = now() WHERE id = %s",
    "UPDATE coordination_supplyrequest SET status = 'approved', quantity_approved = %s, approved_at = now(), "
    "version = version + 1, updated_at = now() WHERE id = %s",
    "INSERT INTO coordination_requestevent (request_id, from_status, to_status, actor_id, at, comment, quantity) "
    "VALUES (%s, 'submitted', 'approved', %s, now(), '', %s)",
]


def approve_in_sql(cur, request_id: int, actor_id: int) -> None:
    """The approval transaction of ``coordination.services.approve_request``, without the framework: lock the
    request, lock the supplier's stock, check what is available, reserve, approve, record the timeline event."""
    status, quantity, nation_id, center_id, item_id = cur.execute(APPROVE_SQL[0], [request_id]).fetchone()
    if status != "submitted":
        raise Conflict
    stock_id, on_hand, reserved = cur.execute(APPROVE_SQL[1], [nation_id, center_id, item_id]).fetchone()
    if on_hand - reserved < quantity:
        raise Conflict
    cur.execute(APPROVE_SQL[2], [quantity, stock_id])
    cur.execute(APPROVE_SQL[3], [quantity, request_id])
    cur.execute(APPROVE_SQL[4], [request_id, actor_id, quantity])


class SqlApprovals:
    """A measurement: 16 threads, each with its own psycopg connection (kept across slices), approving the next
    submitted request of the SQL phase in one transaction each."""

    def __init__(self, db: str, data: dict, clients: int):
        self.ids = list(data["phases"]["sql"]["request_ids"])
        self.actors = data["liaison_ids"][:clients]
        self.connections = [psycopg.connect(database_url(db)) for _ in range(clients)]
        self.lock = threading.Lock()

    def close(self) -> None:
        for conn in self.connections:
            conn.close()

    def __call__(self, seconds: float) -> LoadResult:
        result = LoadResult(clients=len(self.connections))
        gate = threading.Barrier(len(self.connections) + 1)
        deadline = [0.0]

        def worker(conn, actor_id: int) -> None:
            statuses: Counter = Counter()
            latencies: list[float] = []
            gate.wait(timeout=30)
            while time.monotonic() < deadline[0]:
                with self.lock:
                    if not self.ids:
                        break
                    request_id = self.ids.pop()
                began = time.perf_counter()
                try:
                    with conn.transaction(), conn.cursor() as cur:
                        approve_in_sql(cur, request_id, actor_id)
                    statuses[200] += 1
                except Conflict:
                    statuses[409] += 1
                except psycopg.Error as exc:
                    statuses[0] += 1
                    result.errors.append(str(exc))
                latencies.append((time.perf_counter() - began) * 1000)
            with self.lock:
                result.statuses.update(statuses)
                result.latencies_ms.extend(latencies)

        threads = [threading.Thread(target=worker, args=(conn, actor), daemon=True)
                   for conn, actor in zip(self.connections, self.actors, strict=True)]  # fmt: skip
        for thread in threads:
            thread.start()
        began = time.monotonic()
        deadline[0] = began + seconds
        gate.wait(timeout=30)
        for thread in threads:
            thread.join(timeout=seconds + 60)
        result.seconds = time.monotonic() - began
        return result


def check_no_oversell(db: str, phase: dict, approvals: int) -> tuple[bool, str]:
    with psycopg.connect(database_url(db)) as conn:
        on_hand, reserved = conn.execute("SELECT on_hand, reserved FROM inventory_stock WHERE id = %s",
                                         [phase["stock_id"]]).fetchone()  # fmt: skip
        approved, total = conn.execute(
            "SELECT count(*), coalesce(sum(quantity_approved), 0) FROM coordination_supplyrequest "
            "WHERE item_id = %s AND status = 'approved'",
            [phase["item_id"]],
        ).fetchone()
        events, twice = conn.execute(
            "SELECT count(*), count(*) - count(DISTINCT e.request_id) FROM coordination_requestevent e "
            "JOIN coordination_supplyrequest r ON r.id = e.request_id WHERE r.item_id = %s AND e.to_status = 'approved'",
            [phase["item_id"]],
        ).fetchone()
    ok = (reserved == total and 0 <= reserved <= on_hand and on_hand == phase["on_hand"] and approved == approvals
          and events == approved and twice == 0)  # fmt: skip
    text = (
        f"reserved {reserved} == sum approved {total}: {reserved == total}; reserved <= on_hand {on_hand}: "
        f"{reserved <= on_hand}; approved requests {approved} == successes {approvals}: {approved == approvals}; "
        f"approval events {events}, none twice: {twice == 0}"
    )
    return ok, text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="small and quick (seconds), for CI")
    parser.add_argument("--requests", type=int, help="submitted requests per phase (default 8000; smoke 300)")
    parser.add_argument("--duration", type=float, help="cap on each phase, seconds (default 40; smoke 10)")
    parser.add_argument("--rounds", type=int, help="slices each side is run in, alternating (default 4; smoke 1)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=max(2, CPUS), help="gunicorn workers (default: CPUs)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--db", help="database name (default alliance_bench, smoke alliance_bench_smoke)")
    args = parser.parse_args()
    requests = args.requests or (300 if args.smoke else 8000)
    duration = args.duration or (10.0 if args.smoke else 40.0)
    rounds = args.rounds or (1 if args.smoke else 4)
    db = args.db or ("alliance_bench_smoke" if args.smoke else "alliance_bench")

    print(f"== api_approvals{' (smoke)' if args.smoke else ''}: {args.clients} clients, {requests} submitted "
          f"requests per phase, database {db} ==")  # fmt: skip
    print(machine_line())
    began = time.monotonic()
    recreate_database(db)
    manage(db, "migrate", "--noinput")
    os.environ.update(portal_env(db, DEBUG="true"))
    import django

    django.setup()
    data = seed(requests_per_phase=requests, clients=args.clients, rng_seed=2026)
    from django.db import connection

    connection.close()
    print(f"setup (create, migrate, seed): {time.monotonic() - began:.1f} s")

    sql_measure = SqlApprovals(db, data, args.clients)
    try:
        with gunicorn(db, workers=args.workers, threads=args.threads) as server:
            warm_up(server.port, data["tokens"], "/api/v1/requests/?page_size=1")
            print(f"server: {server.description}; {args.clients} clients; up to {duration:.0f} s per side in "
                  f"{rounds} alternating slices (API, SQL, API, ...)")  # fmt: skip
            api_meter, sql_meter = CpuMeter(db, server.process.pid), CpuMeter(db)
            try:
                results = interleaved({"api": api_approvals(server.port, data), "sql": sql_measure},
                                      duration=duration, rounds=rounds,
                                      meters={"api": api_meter, "sql": sql_meter})  # fmt: skip
            finally:
                api_meter.close()
                sql_meter.close()
    finally:
        sql_measure.close()
    api, sql = results["api"], results["sql"]

    api_ok, api_check = check_no_oversell(db, data["phases"]["api"], api.statuses[200])
    other = api.requests - api.statuses[200] - api.statuses[409]
    print(
        f"\n-- API: POST /api/v1/requests/{{id}}/approve/, {args.clients} clients, each its own liaison officer and token --"
    )
    print(f"responses: {api.requests} in {api.seconds:.2f} s; 200: {api.statuses[200]}  409: {api.statuses[409]}  "
          f"other: {other}{' ' + str(dict(api.statuses)) if other else ''}")  # fmt: skip
    print(f"approvals/s: {api.rate_of(200):.1f}   (all responses/s: {api.rate:.1f}; {slices_line(api)})")
    print(latency_line(api))
    print(cpu_line(api))
    print(f"no oversell: {'yes' if api_ok else 'NO'} ({api_check})")

    sql_ok, sql_check = check_no_oversell(db, data["phases"]["sql"], sql.statuses[200])
    print(f"\n-- baseline: the same transaction as plain SQL, psycopg, {args.clients} connections --")
    print(f"transactions: {sql.requests} in {sql.seconds:.2f} s; approved: {sql.statuses[200]}  "
          f"refused: {sql.statuses[409]}  errors: {sql.statuses[0]}")  # fmt: skip
    print(f"approvals/s: {sql.rate_of(200):.1f}   (all transactions/s: {sql.rate:.1f}; {slices_line(sql)})")
    print(latency_line(sql))
    print(cpu_line(sql))
    print(f"no oversell: {'yes' if sql_ok else 'NO'} ({sql_check})")

    ratio = api.rate / sql.rate if sql.rate else 0.0
    p99 = api.percentile(99)
    print(
        f"\nratio API/SQL (responses per second): {ratio:.2f}  (plain SQL is {1 / ratio if ratio else 0:.1f}x faster)"
    )
    print(f"targets: >= {TARGET_RATE:.0f} approvals/s: {verdict(api.rate_of(200) >= TARGET_RATE)} "
          f"({api.rate_of(200):.0f}); p99 < {TARGET_P99_MS:.0f} ms: {verdict(p99 < TARGET_P99_MS)} ({p99:.1f} ms); "
          f"zero oversells: {verdict(api_ok and sql_ok)}")  # fmt: skip
    print_result_json("api_approvals", {
        "smoke": args.smoke, "clients": args.clients, "server": server.description,
        "api_approvals_per_s": round(api.rate_of(200), 1), "api_responses_per_s": round(api.rate, 1),
        "api_p50_ms": round(api.percentile(50), 1), "api_p95_ms": round(api.percentile(95), 1),
        "api_p99_ms": round(p99, 1), "api_200": api.statuses[200], "api_409": api.statuses[409], "api_other": other,
        "sql_approvals_per_s": round(sql.rate_of(200), 1), "sql_per_s": round(sql.rate, 1),
        "sql_p50_ms": round(sql.percentile(50), 1), "sql_p99_ms": round(percentile(sql.latencies_ms, 99), 1),
        "ratio_api_sql": round(ratio, 3),
        "api_cpu_ms_per_request": {k: round(v, 2) for k, v in api.cpu_per_request_ms().items()},
        "sql_cpu_ms_per_request": {k: round(v, 2) for k, v in sql.cpu_per_request_ms().items()},
        "no_oversell": api_ok and sql_ok,
    })  # fmt: skip
    if api.errors:
        print("client errors (first 5):", *api.errors[:5], sep="\n  ")
    return 0 if (api_ok and sql_ok and other == 0 and not sql.errors) else 1


if __name__ == "__main__":
    sys.exit(main())
