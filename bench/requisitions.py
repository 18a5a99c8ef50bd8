"""Benchmark: requisitions through the REST API (issue 16), each figure beside its plain-SQL baseline.

    python bench/requisitions.py            # alliance_bench_requisitions: generated once (a few minutes), reused
    python bench/requisitions.py --smoke    # small data (alliance_bench_requisitions_smoke), about a minute (CI)

Data: ``manage.py generate_scale`` (30 nations, 40 centers, 2,000 items, 200,000 stocks), then 100,000 requisitions
with 20 lines each (2,000,000 lines) written by SQL, 40% of them FRA's (80% closed, 15% open, 5% draft).
The portal runs under gunicorn on 127.0.0.1 (2 workers x 4 threads, production settings, no Redis needed).

1. **A 500-line requisition created, sourced and submitted in one call**: FRA's national system POSTs
   ``/api/v1/requisitions/`` with 500 NSNs that other nations hold shared at FRA's centers and ``submit: true``.
   Baseline: the same requisition, lines and supply requests (as many as the API raised, same figures) written
   by plain SQL in one transaction.  Target: under 2 s.
2. **Bulk approval of 200 requests in one call**: a supplying nation's liaison officer POSTs
   ``/api/v1/requests/bulk-decide/`` with 200 submitted requests FRA addressed to it (one unit each, from its
   largest shared stock at one of FRA's centers).  Baseline: the approval transaction in plain SQL (lock the
   request, lock the stock, check, reserve, approve, timeline event) for each of 200 other requests.  Target:
   under 2 s.
3. **The requisitions list for a nation**: ``GET /api/v1/requisitions/`` (first page, default order) as FRA's
   national system, 20 timed calls after 3 warm-ups.  Baseline: the list's page query by plain SQL (the same
   rows, the line count and the lines outstanding of 50 requisitions).  Target: under 200 ms.

Prints each figure, its baseline and the ratio.  Exit status 1 only if a call did not answer as expected.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import psycopg
from _common import (
    Client,
    database_url,
    django_json,
    gunicorn,
    machine_line,
    print_result_json,
    scale_database,
    verdict,
)

FULL = {"name": "alliance_bench_requisitions", "stocks": 200_000, "requisitions": 100_000, "lines": 500, "bulk": 200}
SMOKE = {"name": "alliance_bench_requisitions_smoke", "stocks": 6_000, "requisitions": 2_000, "lines": 50, "bulk": 20}
LINES_PER_REQUISITION = 20

# 100,000 requisitions and their lines, by SQL in one transaction; the change-history triggers are off for the load
# (session_replication_role), as for a restore
LOAD = """
SET session_replication_role = replica;
WITH nations AS (
    SELECT id, row_number() OVER (ORDER BY code) - 1 AS k, count(*) OVER () AS n FROM nations_nation
), fra AS (SELECT id FROM nations_nation WHERE code = 'FRA'),
destinations AS (
    SELECT logisticscenter_id AS center_id, row_number() OVER (ORDER BY id) - 1 AS k, count(*) OVER () AS n
      FROM inventory_logisticscenter_participants
)
INSERT INTO coordination_requisition (reference, requesting_nation_id, destination_center_id, required_by, urgency,
    activity_designator, priority_designator, justification, status, created_by_id, created_at, updated_at,
    submitted_at, closed_at, version)
SELECT 'RQN-' || lpad(g::text, 6, '0'),
       CASE WHEN mod(g, 5) < 2 THEN (SELECT id FROM fra) ELSE (SELECT id FROM nations WHERE k = mod(g, n)) END,
       (SELECT center_id FROM destinations WHERE k = mod(g, n)),
       now()::date + mod(g, 60) - 30, (ARRAY['A','B','C'])[1 + mod(g, 3)], 4,
       (ARRAY[7, 9, 14])[1 + mod(g, 3)], 'Benchmark requisition',
       CASE WHEN mod(g, 20) = 0 THEN 'draft' WHEN mod(g, 20) < 4 THEN 'open' ELSE 'closed' END,
       (SELECT min(id) FROM auth_user), now() - (g || ' minutes')::interval, now(), now(), NULL, 1
  FROM generate_series(1, {requisitions}) AS g;
WITH items AS (SELECT array_agg(id ORDER BY id) AS ids FROM inventory_item)
INSERT INTO coordination_requisitionline (requisition_id, number, item_id, quantity, required_by, allow_substitutes,
    cancelled)
SELECT r.id, n, items.ids[1 + mod(r.id * 31 + n * 7, cardinality(items.ids))], 1 + mod(r.id + n, 50), NULL, false, 0
  FROM coordination_requisition r CROSS JOIN generate_series(1, {lines}) AS n CROSS JOIN items;
SET session_replication_role = DEFAULT;
ANALYZE coordination_requisition;
ANALYZE coordination_requisitionline;
"""

PREPARE = """
from django.contrib.auth import get_user_model
from django.db.models import F
from inventory.models import Item, LogisticsCenter, Stock
from nations.models import Nation
from nations.tokens import issue_token

User = get_user_model()
fra = Nation.objects.get(code="FRA")
destination = LogisticsCenter.objects.filter(participants=fra, kind="multinational").order_by("code").first()
offered = (Stock.objects.filter(shared=True, center__participants=fra).exclude(nation=fra)
           .filter(on_hand__gt=F("reserved") + F("safety_level") + 100).values_list("item_id", flat=True).distinct())
nsns = list(Item.objects.filter(pk__in=offered).order_by("nsn").values_list("nsn", flat=True)[: {lines}])
result = {{
    "destination": destination.code,
    "nsns": nsns,
    "fra_token": issue_token(user=User.objects.get(username="fra-system"), name="benchmark")[1],
}}
"""

# 2 x `bulk` requests FRA asks of DEU at a center both take part in: half approved through the API, half by SQL
BULK_REQUESTS = """
import datetime as dt
from django.contrib.auth import get_user_model
from django.db.models import F
from django.utils import timezone
from coordination import services
from inventory.models import Stock
from nations.models import Nation
from nations.tokens import issue_token

User = get_user_model()
fra = Nation.objects.get(code="FRA")
# the shared stock with the most to give, of another nation, at a center FRA takes part in
stock = (Stock.objects.filter(shared=True, center__participants=fra).exclude(nation=fra)
         .annotate(free=F("on_hand") - F("reserved")).order_by("-free").select_related("nation", "center", "item")
         .first())
assert stock.free >= 2 * {bulk}, f"the largest shared stock holds only {{stock.free}}"
raiser = User.objects.get(username="fra-logistics-1")
ids = [services.create_request(requester=raiser, requesting_nation=fra, supplying_nation=stock.nation, item=stock.item,
                               source_center=stock.center, destination_center=stock.center, quantity=1,
                               required_by=timezone.localdate() + dt.timedelta(days=5), justification="Benchmark",
                               submit=True).pk for _ in range(2 * {bulk})]
liaison = User.objects.get(username=f"{{stock.nation.code.lower()}}-liaison-1")
result = {{"ids": ids, "stock_id": stock.pk, "supplier": stock.nation.code,
          "liaison_token": issue_token(user=liaison, name="benchmark")[1]}}
"""

LIST_SQL = """
SELECT r.id, r.reference, r.status, r.priority_designator, r.required_by,
       (SELECT count(*) FROM coordination_requisitionline l WHERE l.requisition_id = r.id) AS lines
  FROM coordination_requisition r
 WHERE r.requesting_nation_id = (SELECT id FROM nations_nation WHERE code = 'FRA')
 ORDER BY r.priority_designator, r.required_by, r.id
 LIMIT 50
"""


def load_requisitions(db: str, size: dict) -> None:
    with psycopg.connect(database_url(db), autocommit=True) as conn:
        held = conn.execute(
            "SELECT count(*) FROM coordination_requisition WHERE justification = 'Benchmark requisition'"
        ).fetchone()[0]
        if held == size["requisitions"]:
            print(f"    {held:,} requisitions already loaded", flush=True)
            return
        conn.execute("TRUNCATE coordination_requisitionline, coordination_requisition CASCADE")
        began = time.monotonic()
        with conn.transaction():
            conn.execute(LOAD.format(requisitions=size["requisitions"], lines=LINES_PER_REQUISITION))
        print(
            f"    {size['requisitions']:,} requisitions, {size['requisitions'] * LINES_PER_REQUISITION:,} lines "
            f"loaded in {time.monotonic() - began:.0f} s",
            flush=True,
        )


def timed(client: Client, method: str, path: str, body: dict | None = None) -> tuple[float, int, dict]:
    sent = time.perf_counter()
    status, payload = client.request(method, path, json.dumps(body).encode() if body is not None else None)
    seconds = time.perf_counter() - sent
    try:
        data = json.loads(payload)
    except ValueError:
        data = {"raw": payload[:300].decode(errors="replace")}
    return seconds, status, data


def sql_requisition(db: str, *, destination: str, nsns: list[str], requests: int) -> float:
    """The baseline of (1): the requisition, its lines and `requests` submitted requests with their timeline
    events, written by plain SQL in one transaction."""
    with psycopg.connect(database_url(db)) as conn:
        began = time.perf_counter()
        (rid,) = conn.execute(
            "INSERT INTO coordination_requisition (reference, requesting_nation_id, destination_center_id, "
            "required_by, urgency, activity_designator, priority_designator, justification, status, created_by_id, "
            "created_at, updated_at, submitted_at, version) SELECT %s, n.id, c.id, now()::date + 10, 'B', 4, 9, "
            "'Baseline', 'open', (SELECT min(id) FROM auth_user), now(), now(), now(), 1 FROM nations_nation n, "
            "inventory_logisticscenter c WHERE n.code = 'FRA' AND c.code = %s RETURNING id",
            [f"RQN-B{time.time_ns() // 1_000_000}", destination],
        ).fetchone()
        conn.execute(
            "INSERT INTO coordination_requisitionline (requisition_id, number, item_id, quantity, "
            "allow_substitutes, cancelled) SELECT %s, ordinality, i.id, 10, false, 0 FROM unnest(%s::text[]) "
            "WITH ORDINALITY AS t(nsn, ordinality) JOIN inventory_item i ON i.nsn = t.nsn",
            [rid, nsns],
        )
        conn.execute(
            "WITH made AS (INSERT INTO coordination_supplyrequest (requesting_nation_id, supplying_nation_id, "
            "item_id, source_center_id, destination_center_id, quantity_requested, priority, priority_designator, "
            "required_by, justification, status, created_by_id, created_at, updated_at, submitted_at, version, "
            "requisition_id, requisition_line_id) SELECT r.requesting_nation_id, s.nation_id, l.item_id, s.center_id, "
            "r.destination_center_id, l.quantity, 'priority', 9, r.required_by, 'Baseline', 'submitted', "
            "r.created_by_id, now(), now(), now(), 1, r.id, l.id FROM coordination_requisitionline l "
            "JOIN coordination_requisition r ON r.id = l.requisition_id JOIN LATERAL (SELECT nation_id, center_id "
            "FROM inventory_stock s WHERE s.item_id = l.item_id AND s.shared AND s.nation_id <> r.requesting_nation_id "
            "LIMIT 1) s ON true WHERE l.requisition_id = %s LIMIT %s RETURNING id, created_by_id) "
            "INSERT INTO coordination_requestevent (request_id, from_status, to_status, actor_id, at, comment) "
            "SELECT id, 'draft', 'submitted', created_by_id, now(), 'RQN-B' FROM made",
            [rid, requests],
        )
        conn.commit()
        return time.perf_counter() - began


def sql_approvals(db: str, ids: list[int], stock_id: int) -> float:
    """The baseline of (2): each approval as its own plain-SQL transaction."""
    with psycopg.connect(database_url(db)) as conn:
        began = time.perf_counter()
        for request_id in ids:
            with conn.transaction():
                conn.execute("SELECT id FROM coordination_supplyrequest WHERE id = %s FOR UPDATE", [request_id])
                on_hand, reserved = conn.execute(
                    "SELECT on_hand, reserved FROM inventory_stock WHERE id = %s FOR UPDATE", [stock_id]
                ).fetchone()
                assert on_hand - reserved >= 1
                conn.execute("UPDATE inventory_stock SET reserved = reserved + 1 WHERE id = %s", [stock_id])
                conn.execute(
                    "UPDATE coordination_supplyrequest SET status = 'approved', quantity_approved = 1, "
                    "approved_at = now(), version = version + 1 WHERE id = %s",
                    [request_id],
                )
                conn.execute(
                    "INSERT INTO coordination_requestevent (request_id, from_status, to_status, actor_id, at, "
                    "comment, quantity) VALUES (%s, 'submitted', 'approved', (SELECT min(id) FROM auth_user), "
                    "now(), '', 1)",
                    [request_id],
                )
        return time.perf_counter() - began


def sql_list(db: str, repeat: int) -> float:
    with psycopg.connect(database_url(db)) as conn:
        conn.execute(LIST_SQL).fetchall()
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            conn.execute(LIST_SQL).fetchall()
            times.append(time.perf_counter() - began)
        return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="small data, for CI")
    parser.add_argument("--regenerate", action="store_true", help="generate the database again")
    args = parser.parse_args()
    size = SMOKE if args.smoke else FULL
    db = size["name"]
    ok = True
    print(f"== requisitions{' (smoke)' if args.smoke else ''}: database {db} ==")
    print(machine_line(), flush=True)
    seconds = scale_database(db, stocks=size["stocks"], movements=2 * size["stocks"], regenerate=args.regenerate)
    print(f"    generate_scale in {seconds:.0f} s" if seconds is not None else "    reused; migrated", flush=True)
    load_requisitions(db, size)
    info = django_json(db, PREPARE.format(lines=size["lines"]))
    bulk = django_json(db, BULK_REQUESTS.format(bulk=size["bulk"]))
    api_ids, sql_ids = bulk["ids"][: size["bulk"]], bulk["ids"][size["bulk"] :]
    figures: dict[str, dict] = {}

    with gunicorn(db, workers=2, threads=4) as server:
        fra = Client(server.port, info["fra_token"])
        deu = Client(server.port, bulk["liaison_token"])  # the supplier's liaison officer
        fra.request("GET", "/api/v1/requisitions/?page_size=1")
        deu.request("GET", "/api/v1/requests/?page_size=1")

        # 1. a 500-line requisition, created, sourced and submitted in one call
        body = {
            "requesting_nation": "FRA",
            "destination_center": info["destination"],
            "required_by": time.strftime("%Y-%m-%d", time.gmtime(time.time() + 14 * 86400)),
            "urgency": "B",
            "justification": "Benchmark resupply",
            "submit": True,
            "lines": [{"nsn": nsn, "quantity": 10} for nsn in info["nsns"]],
        }
        seconds, status, data = timed(fra, "POST", "/api/v1/requisitions/", body)
        raised = sum(len(line.get("requests", [])) for line in data.get("lines", []))
        ok &= status == 201 and len(data.get("lines", [])) == len(info["nsns"])
        baseline = sql_requisition(db, destination=info["destination"], nsns=info["nsns"], requests=raised)
        figures["create"] = {"seconds": seconds, "baseline": baseline, "lines": len(info["nsns"]), "requests": raised}
        print(
            f"\n1. {len(info['nsns'])}-line requisition created, sourced and submitted: {status} in {seconds:.3f} s "
            f"({raised} supply requests raised); plain SQL {baseline:.3f} s; ratio {seconds / baseline:.1f}; "
            f"target < 2 s: {verdict(status == 201 and seconds < 2)}",
            flush=True,
        )
        if status != 201:
            print(f"   answer: {str(data)[:400]}")

        # 2. bulk approval of N requests in one call
        seconds, status, data = timed(
            deu, "POST", "/api/v1/requests/bulk-decide/", {"decision": "approve", "requests": api_ids}
        )
        rows = data.get("results", data if isinstance(data, list) else [])
        approved = sum(1 for row in rows if row.get("ok"))
        ok &= status == 200 and approved == len(api_ids)
        baseline = sql_approvals(db, sql_ids, bulk["stock_id"])
        figures["bulk_approve"] = {"seconds": seconds, "baseline": baseline, "requests": len(api_ids)}
        print(
            f"2. bulk approval of {len(api_ids)} requests: {status} in {seconds:.3f} s ({approved} approved); plain "
            f"SQL {baseline:.3f} s; ratio {seconds / baseline:.1f}; target < 2 s: "
            f"{verdict(status == 200 and seconds < 2)}",
            flush=True,
        )
        if status != 200:
            print(f"   answer: {str(data)[:400]}")

        # 3. the requisitions list of a nation
        for _ in range(3):
            fra.request("GET", "/api/v1/requisitions/")
        times = []
        for _ in range(20 if not args.smoke else 5):
            seconds, status, data = timed(fra, "GET", "/api/v1/requisitions/")
            ok &= status == 200
            times.append(seconds)
        median, p95 = statistics.median(times), sorted(times)[int(0.95 * (len(times) - 1))]
        baseline = sql_list(db, 20)
        figures["list"] = {"median": median, "p95": p95, "baseline": baseline}
        print(
            f"3. requisitions list, FRA, first page: median {median * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms; plain "
            f"SQL page query {baseline * 1000:.1f} ms; target < 200 ms: {verdict(p95 < 0.2)}",
            flush=True,
        )
        print(f"through {server.description}")
        fra.close()
        deu.close()

    with psycopg.connect(database_url(db)) as conn:
        total, lines = conn.execute(
            "SELECT (SELECT count(*) FROM coordination_requisition), (SELECT count(*) FROM "
            "coordination_requisitionline)"
        ).fetchone()
    print(f"database: {total:,} requisitions, {lines:,} lines")
    print_result_json(
        "requisitions",
        {
            "smoke": args.smoke,
            "ok": ok,
            "lines": figures["create"]["lines"],
            "create_s": round(figures["create"]["seconds"], 3),
            "create_sql_s": round(figures["create"]["baseline"], 3),
            "bulk_approve_s": round(figures["bulk_approve"]["seconds"], 3),
            "bulk_sql_s": round(figures["bulk_approve"]["baseline"], 3),
            "list_median_ms": round(figures["list"]["median"] * 1000, 1),
            "list_p95_ms": round(figures["list"]["p95"] * 1000, 1),
            "list_sql_ms": round(figures["list"]["baseline"] * 1000, 2),
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
