"""Benchmark: a full reconciliation and shortfall pass over every center, fanned out on real Celery workers, against a
hand-written single-SQL baseline that computes the same findings.

    python bench/reconcile.py               # 1,000,000 stocks / 3,000,000 movements (generated once, ~2 min)
    python bench/reconcile.py --regenerate  # generate the data again even if the database holds it
    python bench/reconcile.py --smoke       # small data, well under a minute (CI keeps it from rotting)
    python bench/reconcile.py --profile     # also: one pass in-process, time per kind of statement

Data: its own database, alliance_bench_recon (alliance_bench_recon_smoke with --smoke), filled by
``manage.py generate_scale --nations 30 --centers 40 --items 2000 --stocks 1000000 --movements 3000000`` when it is
missing or holds other sizes, and migrated otherwise.  Before measuring, what earlier reconciliations left (runs,
flags other than generate_scale's short receipts, pool summaries, notifications, ledger checkpoints) is deleted, so
the first pass below starts from freshly generated data (RECON_BENCH_DB names another database).  Broker: the Redis
database of RECON_BENCH_REDIS_URL (default 127.0.0.1:6379/9), on a queue of this run's own (CELERY_QUEUE), deleted at
the end.

What is measured, each from ``start_reconciliation`` (the run recorded, queued after commit) to the run recorded
finished, with a ``celery -A config worker --pool prefork`` already started and warm:

(a) two worker processes (``--concurrency 2``): one first pass over fresh data (it raises every flag), then repeat
    passes (every flag seen again: the steady state of the 15-minute schedule); (a) is the median repeat pass;
(b) one worker process, repeat passes, median;
(c) the baseline: in one transaction on one connection, one statement per check over all centers at once, each
    materialising its findings into a temporary table -- ledger, reservation, latest count, overdue dispatch, pool
    summary, below safety, low days of supply, unmet demand -- computing the same rows and severities as the jobs.
    It does not upsert flags, resolve cleared ones, lock centers or record progress: the jobs' bookkeeping, which a
    one-off query does not need.  Its counts must equal the runs' findings (checked; exit 1 if not).

Between passes (not timed) the flag tables are vacuumed, as autovacuum does in the minutes between scheduled runs.
Targets (issue 4): (a) under 10 s and within 2.5x of (c).  Exit status 1 only if a run fails or the findings
disagree; a missed target is printed, not failed.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta

import psycopg
import redis
from _common import (
    CPUS,
    ISSUE_SIZE,
    PYTHON,
    ROOT,
    SCALE_SHAPE,
    SMOKE_SHAPE,
    SMOKE_SIZE,
    VENV_BIN,
    database_url,
    machine_line,
    portal_env,
    print_result_json,
    scale_database,
    verdict,
)

REDIS_URL = os.environ.get("RECON_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
QUEUE = f"bench-reconcile-{os.getpid()}"  # other runs may share the Redis database
CELERY = str(VENV_BIN / "celery") if (VENV_BIN / "celery").exists() else None
TARGET_SECONDS = 10.0
TARGET_RATIO = 2.5
RUN_TIMEOUT = 600.0

# --- database -------------------------------------------------------------------------------------------------


def prepare_database(db: str, shape: dict, size: dict, *, regenerate: bool) -> None:
    seconds = scale_database(db, **size, shape=shape, regenerate=regenerate)
    if seconds is None:
        print(f"reusing {db} ({size['stocks']:,} stocks; --regenerate to generate again)")
    else:
        print(f"generated in {seconds:.0f} s")
    with psycopg.connect(database_url(db), autocommit=True) as conn:
        # what earlier reconciliations left; generate_scale's own flags are its short receipts
        for statement in (
            "DELETE FROM coordination_centerreconciliation",
            "DELETE FROM coordination_reconciliationrun",
            "DELETE FROM coordination_notification",
            "DELETE FROM coordination_webhookdelivery",
            "DELETE FROM coordination_shortfall",
            "DELETE FROM coordination_discrepancy WHERE kind <> 'short_receipt'",
            "DELETE FROM coordination_poolsummary",
            "DELETE FROM inventory_ledgercheckpoint",  # so the first pass verifies every chain again
        ):
            conn.execute(statement)
        conn.execute("VACUUM ANALYZE")


def vacuum_flags(db: str) -> None:
    with psycopg.connect(database_url(db), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE coordination_shortfall, coordination_discrepancy, coordination_poolsummary")


# --- Celery worker and runs -----------------------------------------------------------------------------------


def bench_env(db: str) -> dict[str, str]:
    return portal_env(db, REDIS_URL=REDIS_URL, CELERY_QUEUE=QUEUE, LOG_LEVEL="WARNING")


def _die_with_parent() -> None:
    """In the worker's main process, before exec: SIGKILL it when the process that started it dies (Linux), so a
    killed benchmark cannot leave a worker behind; its pool processes stop when their parent does."""
    with suppress(AttributeError, OSError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@contextmanager
def celery_worker(db: str, processes: int, timeout: float = 120) -> Iterator[None]:
    """``celery -A config worker --pool prefork --concurrency <processes>`` in its own process group, killed on exit.
    Its log goes to var/bench-reconcile-worker-<processes>.log (var/ is git-ignored)."""
    command = [CELERY] if CELERY else [PYTHON, "-m", "celery"]
    command += [
        "-A", "config", "worker", "--pool", "prefork", "--concurrency", str(processes), "--loglevel", "INFO",
        "--hostname", f"bench-recon-{os.getpid()}-{processes}@%h", "--without-gossip", "--without-mingle",
        "--without-heartbeat",
    ]  # fmt: skip
    (ROOT / "var").mkdir(exist_ok=True)
    log_path = ROOT / "var" / f"bench-reconcile-worker-{processes}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=bench_env(db),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    try:
        deadline = time.monotonic() + timeout
        while " ready." not in log_path.read_text(errors="replace"):
            if process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited with {process.returncode}; see {log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker was not ready within {timeout:.0f} s; see {log_path}")
            time.sleep(0.2)
        yield
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def use_django(db: str) -> None:
    """Set Django up in this process, on `db` and the benchmark's broker (the runs are started from here)."""
    os.environ.update(bench_env(db))
    import django

    django.setup()


def timed_run() -> dict:
    """One run: from ``start_reconciliation`` (recorded, queued after commit) to the run recorded finished."""
    from coordination import runs

    began = time.perf_counter()
    run = runs.start_reconciliation(trigger="command")
    deadline = began + RUN_TIMEOUT
    while not run.is_finished and time.perf_counter() < deadline:
        time.sleep(0.02)
        run.refresh_from_db()
    seconds = time.perf_counter() - began
    result = dict(seconds=seconds, status=run.status, error=run.error, findings=run.findings,
                  centers_done=run.centers_done, centers_total=run.centers_total)  # fmt: skip
    if run.status != "succeeded":
        raise RuntimeError(f"run #{run.pk} did not succeed within {RUN_TIMEOUT:.0f} s: {result}")
    return result


def passes(db: str, processes: int, repeats: int, *, first: bool) -> tuple[dict | None, list[dict]]:
    """With a warm worker of `processes` processes: optionally the first pass, then `repeats` repeat passes."""
    with celery_worker(db, processes):
        first_run = None
        if first:
            first_run = timed_run()
            print(f"    first pass (raises every flag): {first_run['seconds']:.2f} s")
        results = []
        for _ in range(repeats):
            vacuum_flags(db)
            results.append(timed_run())
            print(f"    repeat pass: {results[-1]['seconds']:.2f} s")
        return first_run, results


# --- the single-SQL baseline ------------------------------------------------------------------------------------

# One statement per check over all centers; the same rows, values and severities as coordination/reconciliation.py.
BASELINE = {
    "ledger_mismatch": """
        SELECT s.id AS stock_id, COALESCE(m.total, 0) AS expected, s.on_hand AS actual, 'critical' AS severity
        FROM inventory_stock s
        LEFT JOIN (SELECT stock_id, SUM(quantity) AS total FROM inventory_movement GROUP BY stock_id) m
               ON m.stock_id = s.id
        WHERE s.on_hand <> COALESCE(m.total, 0)""",
    "reservation_mismatch": """
        SELECT s.id AS stock_id, COALESCE(r.total, 0) AS expected, s.reserved AS actual, 'critical' AS severity
        FROM inventory_stock s
        LEFT JOIN (SELECT source_center_id, supplying_nation_id, item_id, SUM(quantity_approved) AS total
                   FROM coordination_supplyrequest WHERE status = 'approved'
                   GROUP BY source_center_id, supplying_nation_id, item_id) r
               ON r.source_center_id = s.center_id AND r.supplying_nation_id = s.nation_id AND r.item_id = s.item_id
        WHERE s.reserved <> COALESCE(r.total, 0)""",
    "count_mismatch": """
        SELECT l.stock_id, l.count_id, b.book AS expected, l.counted_quantity AS actual,
               CASE WHEN l.counted_quantity = 0 OR b.book = 0 THEN 'critical' ELSE 'warning' END AS severity
        FROM (SELECT DISTINCT ON (stock_id) id AS count_id, stock_id, counted_quantity, counted_at
              FROM inventory_stockcount ORDER BY stock_id, counted_at DESC, id DESC) l
        CROSS JOIN LATERAL (SELECT COALESCE(SUM(mv.quantity), 0) AS book FROM inventory_movement mv
                            WHERE mv.stock_id = l.stock_id AND mv.occurred_at <= l.counted_at) b
        WHERE l.counted_quantity <> b.book
          AND NOT EXISTS (SELECT 1 FROM coordination_discrepancy d WHERE d.count_id = l.count_id
                          AND d.resolution IN ('count_accepted', 'count_rejected'))""",
    "overdue_dispatch": """
        SELECT r.id AS request_id, r.quantity_approved AS expected,
               CASE WHEN r.required_by < %(today)s THEN 'critical' ELSE 'warning' END AS severity
        FROM coordination_supplyrequest r
        WHERE r.status = 'approved' AND r.approved_at < %(overdue_before)s""",
    "pool_items": """
        SELECT center_id, item_id, SUM(on_hand) AS on_hand, SUM(reserved) AS reserved,
               SUM(on_hand - reserved) AS available,
               SUM(CASE WHEN shared THEN on_hand - reserved ELSE 0 END) AS shared_available, COUNT(*) AS nations
        FROM inventory_stock GROUP BY center_id, item_id""",
    "below_safety": """
        SELECT s.id AS stock_id, s.on_hand - s.reserved AS available, s.safety_level AS threshold,
               ROUND(CASE WHEN s.daily_consumption > 0
                          THEN (s.on_hand - s.reserved) * 1.0 / s.daily_consumption END, 2) AS days_of_supply,
               CASE WHEN s.on_hand - s.reserved <= 0 OR (s.daily_consumption > 0
                         AND (s.on_hand - s.reserved) * 1.0 / s.daily_consumption < 3)
                    THEN 'critical' ELSE 'warning' END AS severity
        FROM inventory_stock s
        WHERE s.on_hand - s.reserved < s.safety_level""",
    "low_days_of_supply": """
        SELECT s.id AS stock_id, s.on_hand - s.reserved AS available, COALESCE(t.days, %(default_days)s) AS threshold,
               ROUND((s.on_hand - s.reserved) * 1.0 / s.daily_consumption, 2) AS days_of_supply,
               CASE WHEN s.on_hand - s.reserved <= 0 OR (s.on_hand - s.reserved) * 1.0 / s.daily_consumption < 3
                    THEN 'critical' ELSE 'warning' END AS severity
        FROM inventory_stock s
        JOIN inventory_item i ON i.id = s.item_id
        LEFT JOIN coordination_daysofsupplytarget t ON t.nation_id = s.nation_id AND t.supply_class = i.supply_class
        WHERE s.daily_consumption > 0
          AND (s.on_hand - s.reserved) * 1.0 / s.daily_consumption < COALESCE(t.days, %(default_days)s)""",
    "unmet_demand": """
        SELECT d.center_id, d.item_id, COALESCE(p.shared_available, 0) AS available, d.demand AS threshold,
               CASE WHEN COALESCE(p.shared_available, 0) <= 0 THEN 'critical' ELSE 'warning' END AS severity
        FROM (SELECT source_center_id AS center_id, item_id, SUM(quantity_requested) AS demand
              FROM coordination_supplyrequest WHERE status = 'submitted'
              GROUP BY source_center_id, item_id) d
        LEFT JOIN baseline_pool_items p ON p.center_id = d.center_id AND p.item_id = d.item_id
        WHERE d.demand > COALESCE(p.shared_available, 0)""",
}


def baseline(db: str, *, overdue_days: int, default_days: int) -> tuple[float, dict[str, int]]:
    """All the checks, each one statement over all centers, in one transaction; (seconds, rows per check)."""
    now = datetime.now(UTC)
    params = {"today": now.date(), "overdue_before": now - timedelta(days=overdue_days), "default_days": default_days}
    counts: dict[str, int] = {}
    with psycopg.connect(database_url(db)) as conn:
        began = time.perf_counter()
        with conn.transaction():
            for kind, query in BASELINE.items():
                conn.execute(f"CREATE TEMPORARY TABLE baseline_{kind} ON COMMIT DROP AS {query}", params)
                counts[kind] = conn.execute(f"SELECT COUNT(*) FROM baseline_{kind}").fetchone()[0]
        seconds = time.perf_counter() - began
    return seconds, counts


# --- profile ----------------------------------------------------------------------------------------------------


def profile_pass() -> None:
    """One pass over every center in this process, one center after the other, with the time of each kind of
    statement of coordination/reconciliation.py summed over the centers (where a pass spends its time)."""
    import re
    from collections import Counter

    from django.db import connection
    from django.utils import timezone

    from coordination.reconciliation import reconcile_center
    from inventory.models import LogisticsCenter

    spent: Counter = Counter()

    def timed(execute, sql, params, many, context):
        words = " ".join(sql.split())
        table = re.search(r"(?:INTO|UPDATE|FROM)\s+(\w+)", words)
        kind = params.get("kind") if isinstance(params, dict) else None
        label = f"{words.split()[0]} {table.group(1) if table else ''} {kind or ''}".strip()
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent[label] += time.perf_counter() - began

    began = time.perf_counter()
    with connection.execute_wrapper(timed):
        for center_id in LogisticsCenter.objects.order_by("pk").values_list("pk", flat=True):
            reconcile_center(center_id, now=timezone.now())
    total = time.perf_counter() - began
    print(f"profile: one pass, centers one after the other in this process: {total:.2f} s")
    for label, seconds in spent.most_common():
        print(f"    {seconds:7.2f} s  {seconds / total:5.1%}  {label}")


# --- main -------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="small data, well under a minute (for CI)")
    parser.add_argument("--regenerate", action="store_true", help="generate the data again")
    parser.add_argument("--repeats", type=int, default=None, help="repeat passes per configuration (default 3, 1)")
    parser.add_argument("--profile", action="store_true", help="also time each kind of statement of one pass")
    args = parser.parse_args()
    shape, size = (SMOKE_SHAPE, SMOKE_SIZE) if args.smoke else (SCALE_SHAPE, ISSUE_SIZE)
    sizes = {**shape, **size}
    db = os.environ.get("RECON_BENCH_DB") or ("alliance_bench_recon_smoke" if args.smoke else "alliance_bench_recon")
    repeats = args.repeats or (1 if args.smoke else 3)

    print(machine_line())
    prepare_database(db, shape, size, regenerate=args.regenerate)
    use_django(db)
    from django.conf import settings

    broker = redis.Redis.from_url(REDIS_URL)
    print(f"data: {sizes['stocks']:,} stocks, {sizes['movements']:,} movements, {sizes['centers']} centers "
          f"(database {db}); broker {REDIS_URL}, queue {QUEUE}")  # fmt: skip

    print("(a) Celery worker, 2 prefork processes:")
    first, two = passes(db, 2, repeats, first=True)
    print("(b) Celery worker, 1 process:")
    _, one = passes(db, 1, max(1, repeats - 1), first=False)
    print("(c) single-SQL baseline (one statement per check, all centers, one transaction):")
    base_runs = []
    for _ in range(repeats):
        seconds, base_counts = baseline(
            db, overdue_days=settings.DISPATCH_OVERDUE_DAYS, default_days=settings.DEFAULT_DAYS_OF_SUPPLY_TARGET
        )
        base_runs.append(seconds)
        print(f"    {seconds:.2f} s")
    broker.delete(QUEUE)
    broker.close()
    if args.profile:
        vacuum_flags(db)
        profile_pass()

    a = statistics.median(r["seconds"] for r in two)
    b = statistics.median(r["seconds"] for r in one)
    c = statistics.median(base_runs)
    findings = two[-1]["findings"]
    agree = all(r["findings"] == findings for r in [first, *two, *one]) and all(
        findings.get(kind) == count for kind, count in base_counts.items()
    )
    centers = two[-1]["centers_total"]

    print()
    print(f"findings: {', '.join(f'{k} {v:,}' for k, v in sorted(findings.items()))}")
    print(f"findings agree (every run and the baseline): {'yes' if agree else 'NO'}")
    if not agree:
        print(f"    runs: {[r['findings'] for r in [first, *two, *one]]}\n    baseline: {base_counts}")
    print(f"first pass, 2 processes (raises every flag): {first['seconds']:.2f} s")
    print(f"(a) 2 worker processes: {a:.2f} s   (median of {len(two)} repeat passes, {centers} center tasks)")
    print(f"(b) 1 worker process:   {b:.2f} s   (median of {len(one)}); split across 2 processes: {b / a:.2f}x faster")
    print(f"(c) single-SQL baseline: {c:.2f} s   (median of {len(base_runs)})")
    print(f"ratio (a)/(c): {a / c:.2f}x")
    if not args.smoke:
        print(f"target (a) under {TARGET_SECONDS:.0f} s: {verdict(a < TARGET_SECONDS)}; "
              f"(a) within {TARGET_RATIO}x of (c): {verdict(a / c <= TARGET_RATIO)}")  # fmt: skip
    one_min, five_min, _ = os.getloadavg()
    print_result_json("reconcile", {
        "smoke": args.smoke, "stocks": sizes["stocks"], "movements": sizes["movements"], "centers": centers,
        "first_pass_s": round(first["seconds"], 3), "two_processes_s": round(a, 3), "one_process_s": round(b, 3),
        "baseline_s": round(c, 3), "ratio_a_c": round(a / c, 3), "split_speedup": round(b / a, 3),
        "findings_agree": agree, "cpus": CPUS, "load_after": round(one_min, 2),
    })  # fmt: skip
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
