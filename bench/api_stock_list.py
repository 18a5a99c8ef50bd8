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

Both databases are served at once, each by its own gunicorn, and measured in alternating slices (1M, 10k, reference,
1M, ...) so that background load on a shared machine falls on all alike; the reference is ``GET /api/v1/nations/``
on the same server and clients, a small list with no per-row access rules: what the framework alone allows here.
Prints requests per second and latency percentiles for both databases and the ratio between them.  Targets
(issue 3): at least 400 requests/s, p99 under 50 ms, and the 1M database no more than 1.5x slower than the 10k one.
Exit status 1 only if the server answered errors; a missed target is printed, not failed.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack

from _common import (
    CPUS,
    CpuMeter,
    cpu_line,
    django_json,
    gunicorn,
    interleaved,
    latency_line,
    machine_line,
    print_result_json,
    run_load,
    scale_database,
    slices_line,
    verdict,
    warm_up,
)

TARGET_RATE = 400.0
TARGET_P99_MS = 50.0
TARGET_SLOWDOWN = 1.5
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
    seconds = scale_database(db, stocks=stocks, movements=movements, regenerate=not reuse)
    if seconds is None:
        print(f"{db}: reusing {stocks:,} stocks")
    else:
        print(f"{db}: generate_scale --stocks {stocks} --movements {movements}: {seconds:.1f} s")
    return seconds


def describe(db: str, *, clients: int, explain: bool) -> dict:
    """The center to ask for, how many stocks it holds and FRA sees there, and a token per client."""
    info = django_json(db, PREPARE.format(nation=NATION, nation_lower=NATION.lower(), clients=clients))
    info["db"] = db
    info["path"] = f"/api/v1/stocks/?center={info['center']}&page_size=50"
    print(f"{db}: {info['stocks']:,} stocks; {info['at_center']:,} at {info['center']}, "
          f"{info['visible_at_center']:,} of them visible to {NATION}'s national system")  # fmt: skip
    if explain:
        plans = django_json(db, EXPLAIN.format(token=info["tokens"][0], path=info["path"]))
        print(f"GET {info['path']} -> {plans['status']}, {plans['queries']} queries; plans of the stock queries:")
        for plan in plans["plans"]:
            print("    " + plan.replace("\n", "\n    "))
    return info


def stock_pages(port: int, info: dict):
    """A measurement: every client asks for the first five pages in turn (fewer if there are fewer)."""
    pages = max(1, min(5, -(-info["visible_at_center"] // 50)))
    turn = [0] * len(info["tokens"])

    def next_request(client: int):
        turn[client] += 1
        return "GET", f"{info['path']}&page={1 + turn[client] % pages}", None

    return lambda seconds: run_load(port, info["tokens"], next_request, duration=seconds, max_requests=10_000_000)


def report(title: str, result) -> int:
    other = result.requests - result.statuses[200]
    print(f"\n-- {title} --")
    print(f"responses: {result.requests} in {result.seconds:.1f} s; 200: {result.statuses[200]}  other: {other}"
          f"{' ' + str(dict(result.statuses)) if other else ''}")  # fmt: skip
    print(f"requests/s: {result.rate_of(200):.1f}   ({slices_line(result)})")
    print(latency_line(result))
    print(cpu_line(result))
    if result.errors:
        print("client errors (first 5):", *result.errors[:5], sep="\n  ")
    return other


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="small and quick, for CI")
    parser.add_argument("--reuse", action="store_true", help="reuse the generated databases if present")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the stock queries")
    parser.add_argument("--duration", type=float, help="seconds of load per measurement (default 30; smoke 3)")
    parser.add_argument("--rounds", type=int, help="slices each measurement is run in, alternating (default 6)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=max(2, CPUS), help="gunicorn workers (default: CPUs)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    args = parser.parse_args()
    duration = args.duration or (3.0 if args.smoke else 30.0)
    rounds = args.rounds or (1 if args.smoke else 6)
    if args.smoke:
        sets = [("alliance_bench_smoke_big", 6_000, 18_000), ("alliance_bench_smoke_small", 1_000, 3_000)]
    else:
        sets = [("alliance_bench_1m", 1_000_000, 3_000_000), ("alliance_bench_10k", 10_000, 30_000)]

    print(f"== api_stock_list{' (smoke)' if args.smoke else ''}: {args.clients} clients, {NATION}'s national "
          f"system, page of 50 filtered by center ==")  # fmt: skip
    print(machine_line())
    generated = {db: prepare_database(db, stocks, movements, reuse=args.reuse) for db, stocks, movements in sets}
    large, small = (describe(db, clients=args.clients, explain=args.explain) for db, _, _ in sets)

    with ExitStack() as servers:
        big_server = servers.enter_context(gunicorn(large["db"], workers=args.workers, threads=args.threads))
        small_server = servers.enter_context(gunicorn(small["db"], workers=args.workers, threads=args.threads))
        warm_up(big_server.port, large["tokens"], large["path"])
        warm_up(small_server.port, small["tokens"], small["path"])
        warm_up(small_server.port, small["tokens"], "/api/v1/nations/")
        reference = lambda seconds: run_load(  # noqa: E731 - one line: no per-row access rules, as a ceiling
            small_server.port,
            small["tokens"],
            lambda _c: ("GET", "/api/v1/nations/", None),
            duration=seconds,
            max_requests=10_000_000,
        )
        print(f"\nserver: {big_server.description} per database; {args.clients} clients; {duration:.0f} s per "
              f"measurement in {rounds} alternating slices (large, small, reference, large, ...)")  # fmt: skip
        meters = {"large": CpuMeter(large["db"], big_server.process.pid),
                  "small": CpuMeter(small["db"], small_server.process.pid)}  # fmt: skip
        meters["reference"] = meters["small"]
        try:
            results = interleaved(
                {"large": stock_pages(big_server.port, large), "small": stock_pages(small_server.port, small),
                 "reference": reference},
                duration=duration, rounds=rounds, meters=meters,
            )  # fmt: skip
        finally:
            for meter in set(meters.values()):
                meter.close()
    big, little, ceiling = results["large"], results["small"], results["reference"]
    other = report(f"{large['db']}: GET {large['path']}&page=1..5", big)
    other += report(f"{small['db']}: GET {small['path']}&page=1..{max(1, min(5, -(-small['visible_at_center'] // 50)))}",
                    little)  # fmt: skip
    other += report("reference, the same server and clients: GET /api/v1/nations/ (30 rows, no per-row access "
                    "rules), what the framework alone allows on this machine", ceiling)  # fmt: skip

    slowdown = little.rate_of(200) / big.rate_of(200) if big.rate_of(200) else float("inf")
    p50_ratio = big.percentile(50) / little.percentile(50) if little.percentile(50) else float("inf")
    print(f"\n{sets[0][1]:,}-stock vs {sets[1][1]:,}-stock database: throughput {big.rate_of(200):.1f} vs "
          f"{little.rate_of(200):.1f} req/s, so {slowdown:.2f}x slower; p50 latency ratio {p50_ratio:.2f}")  # fmt: skip
    p99 = big.percentile(99)
    print(f"targets (large database): >= {TARGET_RATE:.0f} req/s: {verdict(big.rate_of(200) >= TARGET_RATE)} "
          f"({big.rate_of(200):.0f}); p99 < {TARGET_P99_MS:.0f} ms: {verdict(p99 < TARGET_P99_MS)} ({p99:.1f} ms); "
          f"<= {TARGET_SLOWDOWN}x slower than small: {verdict(slowdown <= TARGET_SLOWDOWN)} ({slowdown:.2f}x)")  # fmt: skip
    figures = {"smoke": args.smoke, "clients": args.clients, "server": big_server.description,
               "slowdown": round(slowdown, 3), "reference_nations_req_per_s": round(ceiling.rate_of(200), 1)}  # fmt: skip
    for label, info, r in (("large", large, big), ("small", small, little)):
        figures.update({
            f"{label}_db": info["db"], f"{label}_stocks": info["stocks"],
            f"{label}_visible_at_center": info["visible_at_center"],
            f"{label}_req_per_s": round(r.rate_of(200), 1), f"{label}_p50_ms": round(r.percentile(50), 1),
            f"{label}_p95_ms": round(r.percentile(95), 1), f"{label}_p99_ms": round(r.percentile(99), 1),
            f"{label}_generate_s": None if generated[info["db"]] is None else round(generated[info["db"]], 1),
            f"{label}_cpu_ms_per_request": {k: round(v, 2) for k, v in r.cpu_per_request_ms().items()},
        })  # fmt: skip
    print_result_json("api_stock_list", figures)
    return 0 if other == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
