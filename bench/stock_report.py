"""Benchmark: a 10,000-line stock report (bulk physical counts) POSTed through the REST API, against the same
counts written with a single COPY -- for stocks the nation already holds, and for items it does not hold yet there
(every line then creates its stock).

    python bench/stock_report.py            # full run
    python bench/stock_report.py --smoke    # seconds, 1,000 lines (CI keeps it from rotting)

It drops and creates its own database (alliance_bench_report, or alliance_bench_report_smoke), migrates it and
fills it with ``manage.py generate_scale`` (3 nations, 2 centers, 10,000 items, every nation holding every item at
every center).  Then USA's national system, with its own token, POSTs ``/api/v1/stock-reports/`` to gunicorn on
127.0.0.1: one line per item at one center (10,000 lines, about 0.5 MB of JSON), several times, each a new report.
The baseline writes the same 10,000 counts with one COPY into ``inventory_stockcount`` and commits.

Then the same again with NSNs the nation holds nowhere (catalog items added for the benchmark, a fresh 10,000 for
each report): each line creates the stock, and the baseline COPYs the 10,000 stocks and their counts.

Prints the time of each POST (client side, request sent to response read), the best and the median, the COPY time
and the ratio, for both cases.  Target (issues 3 and 13): a 10,000-line report accepted in under 2 seconds, whether
its stocks exist or not.
Exit status 1 only if a report was not accepted (201) or not all its counts were written.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time

import psycopg
from _common import (
    Client,
    CpuMeter,
    database_url,
    django_json,
    gunicorn,
    machine_line,
    manage,
    print_result_json,
    recreate_database,
    verdict,
)

TARGET_SECONDS = 2.0
NATION = "USA"

PREPARE = """
from django.contrib.auth import get_user_model
from inventory.models import Item, LogisticsCenter, Stock
from nations.models import Nation
from nations.tokens import issue_token

user = get_user_model().objects.get(username="{nation_lower}-system")
nation = Nation.objects.get(code="{nation}")
center = LogisticsCenter.objects.filter(participants=nation).order_by("code").first()
held = dict(Stock.objects.filter(nation=nation, center=center).values_list("item__nsn", "id"))
# NSNs nobody holds, {lines} per report of the second case: NSC 8999, NCB 99, serials from the report's number
fresh = [Item(nsn=f"8999-99-{{n:03d}}-{{i:04d}}", name=f"Benchmark item {{n}}-{{i}}", supply_class="II",
              unit_of_issue="EA") for n in range({repeat} + 1) for i in range({lines})]
Item.objects.bulk_create(fresh, batch_size=5000, ignore_conflicts=True)
result = {{
    "center": center.code,
    "center_id": center.pk,
    "nation_id": nation.pk,
    # the last set is the COPY baseline's
    "baseline_item_ids": list(Item.objects.filter(nsn__startswith="8999-99-{repeat:03d}-").order_by("nsn")
                              .values_list("id", flat=True)),
    "user_id": user.pk,
    "nsns": sorted(held)[: {lines}],
    "stock_ids": [held[nsn] for nsn in sorted(held)[: {lines}]],
    "token": issue_token(user=user, name="benchmark")[1],
}}
"""


def fresh_nsns(report: int, lines: int) -> list[str]:
    """The NSNs of the `report`-th report of new stocks (catalog items PREPARE adds, held by nobody)."""
    return [f"8999-99-{report:03d}-{i:04d}" for i in range(lines)]


def copy_counts(conn, info: dict, stock_ids: list[int], quantities: list[int]) -> float:
    """Seconds to write one count per stock with one COPY, committed."""
    sent = time.perf_counter()
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY inventory_stockcount (stock_id, counted_quantity, counted_at, counted_by_id, source, note, "
            "recorded_at) FROM STDIN"
        ) as copy,
    ):
        for stock_id, quantity in zip(stock_ids, quantities, strict=True):
            copy.write_row((stock_id, quantity, "now", info["user_id"], "national_system", "", "now"))
    conn.commit()
    return time.perf_counter() - sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="small and quick, for CI")
    parser.add_argument("--lines", type=int, help="lines per report (default 10000; smoke 1000)")
    parser.add_argument("--repeat", type=int, help="reports to post (default 5; smoke 2)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    lines = args.lines or (1000 if args.smoke else 10_000)
    repeat = args.repeat or (2 if args.smoke else 5)
    db = "alliance_bench_report_smoke" if args.smoke else "alliance_bench_report"
    items = max(lines, 1000)

    print(f"== stock_report{' (smoke)' if args.smoke else ''}: {lines:,}-line reports, database {db} ==")
    print(machine_line())
    began = time.monotonic()
    recreate_database(db)
    manage(db, "migrate", "--noinput")
    manage(db, "generate_scale", "--nations", "3", "--centers", "2", "--items", str(items),
           "--stocks", str(3 * 2 * items), "--movements", str(3 * 3 * 2 * items), "--requests", "40")  # fmt: skip
    info = django_json(db, PREPARE.format(nation=NATION, nation_lower=NATION.lower(), lines=lines, repeat=repeat))
    if len(info["nsns"]) < lines:
        raise SystemExit(f"only {len(info['nsns'])} stocks to count; expected {lines}")
    print(f"setup (create, migrate, generate_scale): {time.monotonic() - began:.1f} s")

    rng = random.Random(2026)
    ok = True
    cases = {"existing stocks": [info["nsns"]] * repeat, "new stocks": [fresh_nsns(n, lines) for n in range(repeat)]}
    results: dict[str, dict] = {}
    with gunicorn(db, workers=args.workers, threads=args.threads) as server:
        client = Client(server.port, info["token"])
        client.request("GET", "/api/v1/stock-reports/?page_size=1")  # connection and worker warm
        meter = CpuMeter(db, server.process.pid)
        for case, reports in cases.items():
            print(
                f"\n-- {case}: every line {'counts a stock held there' if case == 'existing stocks' else 'creates its stock'} --"
            )
            timings, cpu = [], []
            for n, nsns in enumerate(reports):
                body = json.dumps({
                    "nation": NATION, "center": info["center"],
                    "lines": [{"nsn": nsn, "quantity": rng.randint(0, 5000)} for nsn in nsns],
                }).encode()  # fmt: skip
                before = meter.read()
                sent = time.perf_counter()
                status, payload = client.request("POST", "/api/v1/stock-reports/", body)
                seconds = time.perf_counter() - sent
                used = {part: spent - before[part] for part, spent in meter.read().items()}
                cpu.append(used)
                timings.append(seconds)
                accepted = status == 201 and json.loads(payload).get("line_count") == lines
                ok &= accepted
                print(f"report {n + 1}: {status} in {seconds:.3f} s ({len(body) / 1e6:.2f} MB of JSON); CPU: "
                      f"app {used['app']:.2f} s, database {used['database']:.2f} s"
                      f"{'' if accepted else ' NOT ACCEPTED: ' + payload[:300].decode(errors='replace')}")  # fmt: skip
            results[case] = {"timings": timings, "cpu": cpu}
        client.close()
        meter.close()
        print(f"through {server.description}")

    with psycopg.connect(database_url(db)) as conn:
        counts = conn.execute("SELECT count(*) FROM inventory_stockcount WHERE report_id IS NOT NULL").fetchone()[0]
        ok &= counts == 2 * repeat * lines
        print(f"counts written by the reports: {counts:,} (expected {2 * repeat * lines:,})")
        created = conn.execute(
            "SELECT count(*) FROM inventory_stock s JOIN inventory_item i ON i.id = s.item_id "
            "WHERE i.nsn LIKE '8999-99-%%' AND s.nation_id = %s",
            [info["nation_id"]],
        ).fetchone()[0]
        ok &= created == repeat * lines
        print(f"stocks created by the reports: {created:,} (expected {repeat * lines:,})")
        quantities = [rng.randint(0, 5000) for _ in info["stock_ids"]]
        results["existing stocks"]["copy_s"] = copy_counts(conn, info, info["stock_ids"], quantities)
        # the new-stocks baseline: COPY the stocks, then COPY their counts
        sent = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY inventory_stock (nation_id, center_id, item_id, on_hand, reserved, safety_level, daily_consumption, "
                "shared, created_at, updated_at) FROM STDIN"
            ) as copy,
        ):
            for item_id in info["baseline_item_ids"]:
                copy.write_row((info["nation_id"], info["center_id"], item_id, 0, 0, 0, 0, False, "now", "now"))
        new_ids = [row[0] for row in conn.execute(
            "SELECT id FROM inventory_stock WHERE nation_id = %s AND center_id = %s AND item_id = ANY(%s) ORDER BY id",
            [info["nation_id"], info["center_id"], info["baseline_item_ids"]],
        )]  # fmt: skip
        stocks_seconds = time.perf_counter() - sent
        results["new stocks"]["copy_s"] = stocks_seconds + copy_counts(conn, info, new_ids, quantities)

    summary = {"smoke": args.smoke, "lines": lines, "reports": repeat, "accepted": ok}
    for case, key in (("existing stocks", "existing"), ("new stocks", "new")):
        timings, cpu, copy_seconds = results[case]["timings"], results[case]["cpu"], results[case]["copy_s"]
        best, median = min(timings), statistics.median(timings)
        app_cpu = statistics.median(c["app"] for c in cpu)
        db_cpu = statistics.median(c["database"] for c in cpu)
        print(f"\n{case}: API, {lines:,} lines: best {best:.3f} s, median {median:.3f} s over {repeat} reports")
        print(f"  CPU per report (median): app {app_cpu:.2f} s + database {db_cpu:.2f} s = {app_cpu + db_cpu:.2f} s")
        print(f"  baseline, the same {lines:,} {'counts' if key == 'existing' else 'stocks and counts'} by COPY: "
              f"{copy_seconds:.3f} s; ratio API/COPY (median): {median / copy_seconds:.1f}")  # fmt: skip
        if lines == 10_000:
            print(f"  target: 10,000-line report in < {TARGET_SECONDS:.0f} s: {verdict(median < TARGET_SECONDS)} "
                  f"({median:.2f} s median)")  # fmt: skip
        summary.update({
            f"{key}_api_best_s": round(best, 3), f"{key}_api_median_s": round(median, 3),
            f"{key}_copy_s": round(copy_seconds, 3), f"{key}_ratio_api_copy": round(median / copy_seconds, 1),
            f"{key}_cpu_app_s": round(app_cpu, 3), f"{key}_cpu_database_s": round(db_cpu, 3),
        })  # fmt: skip
    print_result_json("stock_report", summary)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
