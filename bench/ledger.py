"""Benchmark: what the tamper-evident ledger (inventory/ledger.py) costs on the 1,000,000-stock / 3,000,000-movement
database, beside the reconciliation pass it rides on.

    python bench/ledger.py              # the issue's sizes (generated once, about 2 min; reused after)
    python bench/ledger.py --smoke      # 6,000 stocks, seconds (CI keeps it from rotting)
    python bench/ledger.py --regenerate # generate the data again

Data: its own database, alliance_bench_ledger (alliance_bench_ledger_smoke with --smoke; LEDGER_BENCH_DB names
another), filled by ``manage.py generate_scale`` with the sizes of bench/reconcile.py when missing or of other sizes,
migrated otherwise.  The ledger checkpoints and ledger flags earlier runs left are cleared first.

Everything runs in this process, one center after the other (a run's Celery tasks do the same work per center, two
processes at a time, so what a run pays in wall time is about half of each figure on the 2-core machine):

(1) ``verify_ledger``'s full check: one statement re-hashing every movement and checking every link and head;
(2) a reconciliation run's ledger check (``check_center_ledger``) over every center:
    - first pass: no checkpoint yet, so every chain (what the first run after deploying pays);
    - steady passes at LEDGER_VERIFY_SLICES (default 24): one full rotation, median and slowest;
    - steady passes with slices 1 (every chain every run), for comparison;
(3) for scale, the rest of a run: ``reconcile_center`` over every center, median of --repeats passes.

Every pass must find exactly the chains generate_scale broke on purpose: exit 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import psycopg
from _common import (
    ISSUE_SIZE,
    ROOT,
    SCALE_SHAPE,
    SMOKE_SHAPE,
    SMOKE_SIZE,
    database_url,
    machine_line,
    portal_env,
    print_result_json,
    scale_database,
)


def prepare_database(db: str, shape: dict, size: dict, *, regenerate: bool) -> None:
    seconds = scale_database(db, **size, shape=shape, regenerate=regenerate)
    if seconds is None:
        print(f"reusing {db} ({size['stocks']:,} stocks; --regenerate to generate again)")
    else:
        print(f"generated in {seconds:.0f} s")
    with psycopg.connect(database_url(db), autocommit=True) as conn:
        conn.execute("DELETE FROM inventory_ledgercheckpoint")
        conn.execute("DELETE FROM coordination_discrepancy WHERE kind = 'ledger_chain'")
        conn.execute("VACUUM ANALYZE inventory_movement, inventory_stock, coordination_discrepancy")


def ledger_passes(centers: list[int], slices: int, count: int) -> list[tuple[float, int]]:
    """`count` run checks over every center at `slices`: (seconds, broken chains found) each."""
    from django.utils import timezone

    from coordination.ledger_check import check_center_ledger

    results = []
    for _ in range(count):
        began, found = time.perf_counter(), 0
        for center_id in centers:
            found += check_center_ledger(center_id, now=timezone.now(), slices=slices)["ledger_chain"]
        results.append((time.perf_counter() - began, found))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="small data, seconds (for CI)")
    parser.add_argument("--regenerate", action="store_true", help="generate the data again")
    parser.add_argument("--repeats", type=int, default=None, help="passes of the full checks (default 2, 1 smoke)")
    args = parser.parse_args()
    shape, size = (SMOKE_SHAPE, SMOKE_SIZE) if args.smoke else (SCALE_SHAPE, ISSUE_SIZE)
    sizes = {**shape, **size}
    db = os.environ.get("LEDGER_BENCH_DB") or ("alliance_bench_ledger_smoke" if args.smoke else "alliance_bench_ledger")
    repeats = args.repeats or (1 if args.smoke else 2)

    print(machine_line())
    prepare_database(db, shape, size, regenerate=args.regenerate)
    os.environ.update(portal_env(db, LOG_LEVEL="WARNING"))
    sys.path.insert(0, str(ROOT))  # this checkout's code, whatever the virtualenv's editable install points at
    import django

    django.setup()
    from django.conf import settings
    from django.utils import timezone

    from coordination.reconciliation import reconcile_center
    from inventory.ledger import verify_chains
    from inventory.models import LogisticsCenter, Movement
    from portal.management.commands.generate_scale import ScaleSpec

    expected = ScaleSpec(**sizes).bad_per_kind  # the chains generate_scale breaks on purpose
    centers = list(LogisticsCenter.objects.order_by("pk").values_list("pk", flat=True))
    movements = Movement.objects.count()
    slices = settings.LEDGER_VERIFY_SLICES
    print(
        f"data: {sizes['stocks']:,} stocks, {movements:,} movements, {len(centers)} centers (database {db}); "
        f"{expected} chains broken on purpose"
    )

    agree = True

    def check(what: str, found: int) -> None:
        nonlocal agree
        if found != expected:
            agree = False
            print(f"    {what}: found {found} broken chains, expected {expected}")

    print("(1) verify_ledger, the full check (one statement):")
    full = []
    for _ in range(repeats):
        report = verify_chains()
        full.append(report.seconds)
        check("verify_ledger", len(report.broken))
        print(f"    {report.seconds:.2f} s ({report.movements / report.seconds:,.0f} movements/s)")

    print(f"(2) a run's ledger check, every center one after the other (LEDGER_VERIFY_SLICES {slices}):")
    [(first, found)] = ledger_passes(centers, slices, 1)
    check("first pass", found)
    print(f"    first pass (no checkpoint: every chain): {first:.2f} s")
    steady = ledger_passes(centers, slices, slices if not args.smoke else 1)
    for _, found in steady:
        check("steady pass", found)
    steady_s = [seconds for seconds, _ in steady]
    print(
        f"    steady passes, slices {slices}: median {statistics.median(steady_s):.2f} s, "
        f"slowest {max(steady_s):.2f} s ({len(steady_s)} passes)"
    )
    every = ledger_passes(centers, 1, repeats)
    for _, found in every:
        check("slices 1", found)
    every_s = statistics.median(seconds for seconds, _ in every)
    print(f"    steady passes, slices 1 (every chain every run): median {every_s:.2f} s")

    print("(3) the rest of a run, reconcile_center over every center:")
    rest = []
    for _ in range(repeats):
        began = time.perf_counter()
        for center_id in centers:
            reconcile_center(center_id, now=timezone.now())
        rest.append(time.perf_counter() - began)
        print(f"    {rest[-1]:.2f} s")

    steady_median, rest_median = statistics.median(steady_s), statistics.median(rest)
    print()
    print(f"full check: {statistics.median(full):.2f} s for {movements:,} movements")
    print(
        f"run check: first {first:.2f} s, steady {steady_median:.2f} s (slices {slices}), every chain {every_s:.2f} s; "
        f"the rest of a run {rest_median:.2f} s, so the steady check adds {steady_median / rest_median:.1%}"
    )
    print(f"broken chains found as generated: {'yes' if agree else 'NO'}")
    one_min, _, _ = os.getloadavg()
    print_result_json("ledger", {
        "smoke": args.smoke, "stocks": sizes["stocks"], "movements": movements, "centers": len(centers),
        "slices": slices, "full_check_s": round(statistics.median(full), 3), "first_pass_s": round(first, 3),
        "steady_pass_s": round(steady_median, 3), "steady_slowest_s": round(max(steady_s), 3),
        "every_chain_pass_s": round(every_s, 3), "rest_of_run_s": round(rest_median, 3),
        "broken_found_as_generated": agree, "load_after": round(one_min, 2),
    })  # fmt: skip
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
