"""Benchmark: the stock list of a nation-scoped token, one page of 50 filtered by center, under 16 concurrent
clients, over 1,000,000 stocks and over 10,000 stocks.

    python bench/api_stock_list.py              # full run: generates both databases (a few minutes)
    python bench/api_stock_list.py --reuse      # reuse alliance_bench_1m / alliance_bench_10k if already generated
    python bench/api_stock_list.py --explain    # also print EXPLAIN ANALYZE of the page and COUNT queries
    python bench/api_stock_list.py --smoke      # seconds, small data (CI keeps it from rotting)

Each database is made by ``manage.py generate_scale`` with the same nations, centers, catalog and seed (30 nations,
40 centers, 2,000 items): 1,000,000 stocks / 3,000,000 movements, and 10,000 stocks / 30,000 movements.  The
caller is FRA's national system (its service account holds FRA's logistics role), each client with its own token
and keep-alive connection, asking ``/api/v1/stocks/?center=CODE&page_size=50&page=N`` (pages 1 to 5 in turn, fewer if
there are fewer) for
the first multinational center FRA takes part in: its own stocks there plus what the other participants share.

Prints requests per second and latency percentiles for both databases and the ratio between them.  Targets
(issue 3): at least 400 requests/s, p99 under 50 ms, and the 1M database no more than 1.5x slower than the 10k one.
Exit status 1 only if the server answered errors; a missed target is printed, not failed.
"""

from __future__ import annotations

import argparse
import sys
import time

import psycopg
from _common import (
    CPUS,
    database_exists,
    database_url,
    django_json,
    gunicorn,
    latency_line,
    machine_line,
    manage,
    print_result_json,
    recreate_database,
    run_load,
    verdict,
    warm_up,
)

TARGET_RATE = 400.0
TARGET_P99_MS = 50.0
TARGET_SLOWDOWN = 1.5
SHAPE = ["--nations", "30", "--centers", "40", "--items", "2000", "--seed", "2026"]
NATION = "FRA"

PREPARE = """
from django.contrib.auth import get_user_model
from inventory.models import LogisticsCenter, Stock
from inventory.filters import StockFilter
from nations.models import Nation
from nations.tokens import issue_token

user = get_user_model().objects.get(username="{nation_lower}-system")
nation = Nation.objects.get(code="{nation}")
center = (LogisticsCenter.objects.filter(participants=nation, kind="multinational").order_by("code").first()
          or LogisticsCenter.objects.filter(participants=nation).order_by("code").first())
visible = StockFilter({{"center": center.code}}, Stock.objects.visible_to(user)).qs
result = {{
    "center": center.code,
    "stocks": Stock.objects.count(),
    "at_center": Stock.objects.filter(center=center).count(),
    "visible_at_center": visible.count(),
    "tokens": [issue_token(user=user, name="benchmark")[1] for _ in range({clients})],
}}
"""

EXPLAIN = """
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

client = Client(HTTP_AUTHORIZATION="Bearer {token}", HTTP_HOST="127.0.0.1")
path = "{path}"
client.get(path)
with CaptureQueriesContext(connection) as captured:
    response = client.get(path)
plans = []
with connection.cursor() as cursor:
    for query in captured.captured_queries:
        if "inventory_stock" not in query["sql"]:
            continue
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
        plans.append("\\n".join(row[0] for row in cursor.fetchall()))
result = {{"status": response.status_code, "queries": len(captured.captured_queries), "plans": plans}}
"""


def prepare_database(db: str, stocks: int, movements: int, *, reuse: bool) -> float | None:
    """Generate `db` unless reusing one that already holds `stocks` stocks; returns generate_scale's seconds."""
    if reuse and database_exists(db):
        with psycopg.connect(database_url(db)) as conn:
            try:
                held = conn.execute("SELECT count(*) FROM inventory_stock").fetchone()[0]
            except psycopg.Error:
                held = -1
        if held == stocks:
            manage(db, "migrate", "--noinput")  # newer migrations, if any
            print(f"{db}: reusing {held:,} stocks")
            return None
    recreate_database(db)
    manage(db, "migrate", "--noinput")
    began = time.monotonic()
    out = manage(db, "generate_scale", *SHAPE, "--stocks", str(stocks), "--movements", str(movements), timeout=1200)
    seconds = time.monotonic() - began
    print(f"{db}: generate_scale --stocks {stocks} --movements {movements}: {seconds:.1f} s")
    for line in out.strip().splitlines():
        print(f"    {line}")
    return seconds


def measure(
    db: str, *, clients: int, duration: float, workers: int, threads: int, explain: bool, reference: bool = False
) -> dict:
    info = django_json(db, PREPARE.format(nation=NATION, nation_lower=NATION.lower(), clients=clients))
    base = f"/api/v1/stocks/?center={info['center']}&page_size=50"
    print(f"\n-- {db}: {info['stocks']:,} stocks; {info['at_center']:,} at {info['center']}, "
          f"{info['visible_at_center']:,} of them visible to {NATION}'s national system --")  # fmt: skip
    if explain:
        plans = django_json(db, EXPLAIN.format(token=info["tokens"][0], path=base))
        print(f"GET {base} -> {plans['status']}, {plans['queries']} queries; plans of the stock queries:")
        for plan in plans["plans"]:
            print("    " + plan.replace("\n", "\n    "))
    pages = max(1, min(5, -(-info["visible_at_center"] // 50)))  # the first five pages, or fewer if there are
    turn = [0] * clients

    def next_request(client: int):
        turn[client] += 1
        return "GET", f"{base}&page={1 + turn[client] % pages}", None

    with gunicorn(db, workers=workers, threads=threads) as server:
        warm_up(server.port, info["tokens"], base)
        result = run_load(server.port, info["tokens"], next_request, duration=duration, max_requests=10_000_000)
        ceiling = None
        if reference:  # what the framework alone allows on this machine: a small list with no per-row access rules
            warm_up(server.port, info["tokens"], "/api/v1/nations/")
            ceiling = run_load(server.port, info["tokens"], lambda _c: ("GET", "/api/v1/nations/", None),
                               duration=duration / 2, max_requests=10_000_000)  # fmt: skip
    other = result.requests - result.statuses[200]
    print(f"through {server.description}, {clients} clients, {result.seconds:.1f} s")
    print(f"responses: {result.requests}; 200: {result.statuses[200]}  other: {other}"
          f"{' ' + str(dict(result.statuses)) if other else ''}")  # fmt: skip
    print(f"requests/s: {result.rate_of(200):.1f}")
    print(latency_line(result))
    if result.errors:
        print("client errors (first 5):", *result.errors[:5], sep="\n  ")
    if ceiling is not None:
        print(f"reference, same server and clients, GET /api/v1/nations/ (30 rows, no per-row access rules): "
              f"{ceiling.rate_of(200):.1f} requests/s, p50 {ceiling.percentile(50):.1f} ms, "
              f"p99 {ceiling.percentile(99):.1f} ms")  # fmt: skip
        other += ceiling.requests - ceiling.statuses[200]
    return {"db": db, "result": result, "other": other, "info": info, "server": server.description,
            "ceiling": ceiling}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="small and quick, for CI")
    parser.add_argument("--reuse", action="store_true", help="reuse the generated databases if present")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the stock queries")
    parser.add_argument("--duration", type=float, help="seconds of load per database (default 30; smoke 4)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=max(2, CPUS), help="gunicorn workers (default: CPUs)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    args = parser.parse_args()
    duration = args.duration or (4.0 if args.smoke else 30.0)
    if args.smoke:
        sets = [("alliance_bench_smoke_big", 20_000, 60_000), ("alliance_bench_smoke_small", 2_000, 6_000)]
    else:
        sets = [("alliance_bench_1m", 1_000_000, 3_000_000), ("alliance_bench_10k", 10_000, 30_000)]

    print(f"== api_stock_list{' (smoke)' if args.smoke else ''}: {args.clients} clients, {NATION}'s national "
          f"system, page of 50 filtered by center ==")  # fmt: skip
    print(machine_line())
    generated = {db: prepare_database(db, stocks, movements, reuse=args.reuse) for db, stocks, movements in sets}
    runs = [measure(db, clients=args.clients, duration=duration, workers=args.workers, threads=args.threads,
                    explain=args.explain, reference=db == sets[-1][0]) for db, _, _ in sets]  # fmt: skip
    big, small = runs[0]["result"], runs[1]["result"]
    slowdown = small.rate_of(200) / big.rate_of(200) if big.rate_of(200) else float("inf")
    p50_ratio = big.percentile(50) / small.percentile(50) if small.percentile(50) else float("inf")
    print(f"\n{sets[0][1]:,}-stock vs {sets[1][1]:,}-stock database: throughput {big.rate_of(200):.1f} vs "
          f"{small.rate_of(200):.1f} req/s, so {slowdown:.2f}x slower; p50 latency ratio {p50_ratio:.2f}")  # fmt: skip
    p99 = big.percentile(99)
    print(f"targets (large database): >= {TARGET_RATE:.0f} req/s: {verdict(big.rate_of(200) >= TARGET_RATE)} "
          f"({big.rate_of(200):.0f}); p99 < {TARGET_P99_MS:.0f} ms: {verdict(p99 < TARGET_P99_MS)} ({p99:.1f} ms); "
          f"<= {TARGET_SLOWDOWN}x slower than small: {verdict(slowdown <= TARGET_SLOWDOWN)} ({slowdown:.2f}x)")  # fmt: skip
    figures = {
        "smoke": args.smoke,
        "clients": args.clients,
        "server": runs[0]["server"],
        "slowdown": round(slowdown, 3),
    }
    for label, run in zip(("large", "small"), runs, strict=True):
        r = run["result"]
        figures.update({
            f"{label}_db": run["db"], f"{label}_stocks": run["info"]["stocks"],
            f"{label}_visible_at_center": run["info"]["visible_at_center"],
            f"{label}_req_per_s": round(r.rate_of(200), 1), f"{label}_p50_ms": round(r.percentile(50), 1),
            f"{label}_p95_ms": round(r.percentile(95), 1), f"{label}_p99_ms": round(r.percentile(99), 1),
            f"{label}_generate_s": None if generated[run["db"]] is None else round(generated[run["db"]], 1),
        })  # fmt: skip
    figures["reference_nations_req_per_s"] = round(runs[1]["ceiling"].rate_of(200), 1)
    print_result_json("api_stock_list", figures)
    return 0 if all(run["other"] == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
