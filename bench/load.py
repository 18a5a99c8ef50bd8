"""Benchmark: the portal under a realistic mix of 32 concurrent users for 60 seconds on the 1,000,000-stock database,
80% reads and 20% writes, and the books checked afterwards.

    python bench/load.py                # alliance_bench_load: generated once (about a minute), reused after
    python bench/load.py --regenerate   # generate it again
    python bench/load.py --smoke        # small data, generated afresh, under a minute (CI: tests/infra/test_bench_load_smoke.py)

Data: ``manage.py generate_scale --nations 30 --centers 40 --items 2000 --stocks 1000000 --movements 3000000
--seed 2026`` into its own database.  Every run adds its own requests and counts, so a reused database grows a little.

Server: gunicorn as in production (gthread, ``DEBUG=false``, persistent database connections, Redis for the cache;
tasks go to a Celery queue of this run's own, deleted at the end: no worker competes for the two cores).

Users: each one thread with one keep-alive connection and no think time (``--think S`` adds pauses), over 4 nations
(FRA, DEU, ITA, POL):
- half are national systems, with tokens from ``manage.py issue_token <nation>-system``.  They read the stock list of
  a center they take part in (``/api/v1/stocks/?center=&page_size=50``, pages 1-5) and the request list; they write
  stock reports (50 lines of physical counts), requests (a draft for another nation's shared stock, then its
  submission) and dispatches of approved requests addressed to their nation;
- a quarter are logistics officers in the browser, signed in through the login form: the dashboard, the requests
  page, the stocks page of a center; they dispatch (the request page's htmx button);
- a quarter are liaison officers in the browser: the dashboard, the requests page; they approve (htmx).
Each user writes whenever its writes fall below 20% of what it sent, so the mix is 80/20 by count.

State: before the timed phase, every supplying nation gets a pool of submitted and of approved requests, made through
the app's own services.  A write takes an object in the right state from its nation's queue: requests submitted
during the run join their supplier's approval queue, approvals its dispatch queue.  5% of the objects taken are
handed to a second user of the same nation as well, as when two officers act on the same queue entry at once: one
wins, the other is answered 409.  Such a 409 is counted as a race, not as an error; a 409 anywhere else is an error.

Printed: throughput, per endpoint count / rate / p50 / p95 / p99 / races / errors, with the time spent inside the
app (gunicorn's access log, matched by X-Request-Id) beside the client's, so the rest is waiting for a free worker
thread; the error rate; CPU per request; the verdict.  Then the books, exactly: every write the clients saw succeed
is in the database once (no more), every stock's on_hand equals the sum of its movements and its reserved the
approved requests not yet dispatched (the inconsistencies generate_scale plants on purpose are listed before the run
and must be unchanged after it), every balance_after of the stocks written runs true, no stock is negative; and
``manage.py verify_ledger``, whose only broken hash chains must be those generate_scale breaks on purpose, as before
the run (writes keep off all the deliberately inconsistent stocks).

Target (issue 6): zero errors, p99 under 250 ms.  Exit status 1 if the server answered errors or the books are
wrong; a missed latency target is printed, not failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urlencode

import psycopg
import redis
from _common import (
    CPUS,
    REDIS_URL,
    ROOT,
    Client,
    CpuMeter,
    cpu_line,
    database_url,
    django_json,
    gunicorn,
    machine_line,
    manage,
    percentile,
    print_result_json,
    run_load,
    scale_database,
    verdict,
)

TARGET_P99_MS = 250.0
WRITE_SHARE = 0.2
RACE_SHARE = 0.05
NATIONS = ["FRA", "DEU", "ITA", "POL"]
FULL = {"db": "alliance_bench_load", "stocks": 1_000_000, "movements": 3_000_000, "users": 32, "duration": 60.0,
        "pool": 150, "lines": 50, "warmup": 5.0}  # fmt: skip
SMOKE = {"db": "alliance_bench_load_smoke", "stocks": 20_000, "movements": 60_000, "users": 16, "duration": 8.0,
         "pool": 25, "lines": 50, "warmup": 2.0}  # fmt: skip
QUEUE = f"bench-load-{os.getpid()}"  # the Celery queue of this run; other runs may share the Redis database
STATIC_ROOT = ROOT / "var" / "bench-load-static"  # the pages' static files, collected as in production

# --- setting the scene (runs in a child process with Django set up on the benchmark database) --------------------

BOOKS = """
from django.db import connection
from coordination.reconciliation import LEDGER_FINDINGS, RESERVATION_FINDINGS
from inventory.models import LogisticsCenter

# The reconciliation's own checks, over every center: on_hand against the ledger, reserved against the approved
# requests not yet dispatched.
mismatches = {}
with connection.cursor() as cursor:
    for center in LogisticsCenter.objects.order_by("id").values_list("id", flat=True):
        for kind, findings in (("ledger", LEDGER_FINDINGS), ("reserved", RESERVATION_FINDINGS)):
            cursor.execute(findings, {"center": center})
            for stock_id, _count, expected, actual, _severity in cursor.fetchall():
                mismatches[f"{kind} {stock_id}"] = [int(expected), int(actual)]
    cursor.execute("SELECT count(*) FROM inventory_stock WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand")
    negative = cursor.fetchone()[0]
    cursor.execute("SELECT count(*) FROM inventory_stock")
    stocks = cursor.fetchone()[0]
result = {"mismatches": mismatches, "negative": negative, "stocks": stocks}
"""

SETUP = """
import io, random
from datetime import timedelta
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone
from coordination import services
from inventory.models import LogisticsCenter, Stock
from nations.models import Nation

rng = random.Random({seed})
User = get_user_model()
codes, per_nation, excluded = {nations!r}, {per_nation!r}, set({excluded!r})
nations = {{n.code: n for n in Nation.objects.filter(code__in=codes)}}
centers = {{code: list(LogisticsCenter.objects.filter(participants=nations[code], kind="multinational")
                      .order_by("code").values_list("id", "code")) for code in codes}}
people = {{}}
for code in codes:
    lower = code.lower()
    tokens = []
    for _ in range(per_nation["system"]):  # the management command itself, in this process
        out = io.StringIO()
        call_command("issue_token", f"{{lower}}-system", "--expires", "1", "--name", "load benchmark",
                     stdout=out, stderr=io.StringIO())
        tokens.append(out.getvalue().strip())
    reports = []
    for _, center in centers[code]:
        lines = list(Stock.objects.filter(nation=nations[code], center__code=center).order_by("id")
                     .values_list("item__nsn", "on_hand")[:200])
        if len(lines) >= {lines}:
            reports.append({{"center": center, "lines": lines}})
        if len(reports) == 3:
            break
    people[code] = {{
        "tokens": tokens,
        "logistics": [f"{{lower}}-logistics-{{k}}" for k in range(1, per_nation["logistics"] + 1)],
        "liaison": [f"{{lower}}-liaison-{{k}}" for k in range(1, per_nation["liaison"] + 1)],
        "centers": [c for _, c in centers[code]][:8],
        "reports": reports,
    }}

# What each nation may ask each other for: the supplier's shared stock with room to spare at a multinational center
# (never one of the stocks generate_scale made inconsistent on purpose), to a multinational center the requester
# takes part in (the source center itself when it takes part in none).
sources = {{}}
for supplier in codes:
    rows = list(Stock.objects.filter(nation=nations[supplier], center__kind="multinational", shared=True,
                                     on_hand__gte=F("reserved") + 200)
                .order_by("id").values_list("id", "item__nsn", "center__code")[:2000])
    rows = [r for r in rows if r[0] not in excluded]
    sources[supplier] = {{
        requester: [[nsn, center, rng.choice(centers[requester])[1] if centers[requester] else center]
                    for _, nsn, center in rng.sample(rows, min(40, len(rows)))]
        for requester in codes if requester != supplier
    }}

# The pools: submitted and approved requests to every supplier, made by the requesters' national systems and
# approved by the supplier's first liaison officer, through the services the API calls.
required_by = timezone.localdate() + timedelta(days=30)
systems = {{code: User.objects.get(username=f"{{code.lower()}}-system") for code in codes}}
approvers = {{code: User.objects.get(username=f"{{code.lower()}}-liaison-1") for code in codes}}
stocks, destinations = {{}}, {{}}
submitted, approved = {{c: [] for c in codes}}, {{c: [] for c in codes}}
for supplier in codes:
    for k in range(2 * {pool}):
        requester = rng.choice([c for c in codes if c != supplier and sources[supplier][c]])
        nsn, center, destination = rng.choice(sources[supplier][requester])
        if (supplier, nsn, center) not in stocks:
            stocks[(supplier, nsn, center)] = Stock.objects.select_related("item", "center").get(
                nation=nations[supplier], item__nsn=nsn, center__code=center)
        stock = stocks[(supplier, nsn, center)]
        if destination not in destinations:
            destinations[destination] = LogisticsCenter.objects.get(code=destination)
        quantity = rng.randint(1, 5)
        made = services.create_request(
            requester=systems[requester], requesting_nation=nations[requester], supplying_nation=nations[supplier],
            item=stock.item, source_center=stock.center, destination_center=destinations[destination], quantity=quantity,
            required_by=required_by, justification={tag!r}, submit=True)
        if k % 2:
            services.approve_request(request=made, approver=approvers[supplier])
            approved[supplier].append(made.pk)
        else:
            submitted[supplier].append([made.pk, quantity])
result = {{"password": settings.DEMO_PASSWORD, "people": people, "sources": sources, "submitted": submitted,
          "approved": approved}}
"""

# What the books say about this run: the writes it made (ids above the marks taken before it), counted once each.
WRITES_SQL = {
    "events": "SELECT to_status, count(*) FROM coordination_requestevent WHERE id > %(event)s GROUP BY to_status",
    "approved twice": "SELECT count(*) FROM (SELECT request_id FROM coordination_requestevent WHERE id > %(event)s "
    "AND to_status = 'approved' GROUP BY request_id HAVING count(*) > 1) t",
    "dispatched twice": "SELECT count(*) FROM (SELECT request_id FROM inventory_movement WHERE id > %(movement)s "
    "AND kind = 'transfer_out' GROUP BY request_id HAVING count(*) > 1) t",
    "reports": "SELECT count(*), coalesce(sum(line_count), 0) FROM inventory_stockreport WHERE id > %(report)s",
    "counts": "SELECT count(*) FROM inventory_stockcount WHERE report_id > %(report)s",
    # every movement of a stock written during the run: its balance_after is the running sum of the ledger
    "balance breaks": """
        SELECT count(*) FROM (
            SELECT balance_after, sum(quantity) OVER (PARTITION BY stock_id ORDER BY occurred_at, id) AS running
            FROM inventory_movement
            WHERE stock_id IN (SELECT DISTINCT stock_id FROM inventory_movement WHERE id > %(movement)s)) m
        WHERE balance_after <> running""",
    "stocks written": "SELECT count(DISTINCT stock_id) FROM inventory_movement WHERE id > %(movement)s",
}
MARKS_SQL = {
    "event": "SELECT coalesce(max(id), 0) FROM coordination_requestevent",
    "movement": "SELECT coalesce(max(id), 0) FROM inventory_movement",
    "report": "SELECT coalesce(max(id), 0) FROM inventory_stockreport",
}


def broken_chains(db: str) -> tuple[list[str], str] | None:
    """The first broken link of every broken hash chain, as ``manage.py verify_ledger`` reports them, and its summary
    line; None where the project has no verify_ledger."""
    if not list(ROOT.glob("*/management/commands/verify_ledger.py")):
        return None
    out = manage(db, "verify_ledger", timeout=3600, ok_status=(0, 1))  # 1: it found broken chains
    summary = re.search(r"^verify_ledger: .*$", out, re.MULTILINE)
    if summary is None:
        raise RuntimeError(f"verify_ledger printed no summary:\n{out[-2000:]}")
    return sorted(re.findall(r"^stock \d+, .*$", out, re.MULTILINE)), summary.group(0)


def sql_figures(db: str, queries: dict[str, str], params: dict | None = None) -> dict:
    with psycopg.connect(database_url(db)) as conn:
        return {name: conn.execute(query, params or {}).fetchall() for name, query in queries.items()}


# --- the mix ----------------------------------------------------------------------------------------------------


class Job(NamedTuple):
    method: str
    path: str
    body: bytes | None
    headers: dict[str, str]
    endpoint: str
    ref: tuple = ()  # (stage, supplier, request id, quantity) of a write on a request


@dataclass
class Endpoint:
    name: str
    write: bool
    latencies: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)  # time inside the app (access log)
    waits: list[float] = field(default_factory=list)  # client time minus app time: queueing and network
    statuses: Counter = field(default_factory=Counter)
    races: int = 0
    errors: int = 0
    samples: list[str] = field(default_factory=list)


@dataclass
class User:
    kind: str  # system, logistics, liaison
    nation: str
    name: str
    client: Client
    rng: random.Random
    sent: int = 0
    writes: int = 0
    phase: float = 0.0  # in [0, 1): where in its write cycle the user starts, so that not all write at once
    follow_up: deque = field(default_factory=deque)


READS = {  # endpoint name -> kind of page
    "GET /api/v1/stocks/?center=": "api", "GET /api/v1/requests/": "api",
    "GET / (dashboard)": "page", "GET /requests/ (page)": "page", "GET /stocks/?center= (page)": "page",
}  # fmt: skip
WRITES = ["POST /api/v1/stock-reports/", "POST /api/v1/requests/ (draft)", "POST /api/v1/requests/{id}/submit/",
          "POST /api/v1/requests/{id}/dispatch/", "POST /requests/{id}/approve/ (htmx)",
          "POST /requests/{id}/dispatch/ (htmx)"]  # fmt: skip


class Queues:
    """Per supplying nation, the requests waiting for approval and for dispatch.  A few are handed out twice, to two
    different users of the nation (a race the app must settle with one winner)."""

    def __init__(self, submitted: dict, approved: dict):
        self.lock = threading.Lock()
        self.waiting = {("approve", n): deque(tuple(x) for x in ids) for n, ids in submitted.items()}
        self.waiting.update({("dispatch", n): deque((i, 0) for i in ids) for n, ids in approved.items()})
        self.offered: dict[tuple, tuple] = {}  # (stage, nation) -> (request id, quantity, first taker)
        self.contested: set[tuple[str, int]] = set()
        self.dry: Counter = Counter()

    def take(self, stage: str, nation: str, taker: int, rng: random.Random) -> tuple[int, int] | None:
        with self.lock:
            offer = self.offered.get((stage, nation))
            if offer and offer[2] != taker:
                del self.offered[(stage, nation)]
                return offer[:2]
            queue = self.waiting[(stage, nation)]
            if not queue:
                self.dry[stage] += 1
                return None
            request_id, quantity = queue.popleft()
            if offer is None and rng.random() < RACE_SHARE:
                self.offered[(stage, nation)] = (request_id, quantity, taker)
                self.contested.add((stage, request_id))
            return request_id, quantity

    def put(self, stage: str, nation: str, request_id: int, quantity: int) -> None:
        with self.lock:
            self.waiting[(stage, nation)].append((request_id, quantity))

    def left(self) -> dict[str, int]:
        with self.lock:
            totals: Counter = Counter()
            for (stage, _), queue in self.waiting.items():
                totals[stage] += len(queue)
            return dict(totals)


class Mix:
    """What each user sends next, and what each answer means (figures per endpoint, and the chain of states)."""

    def __init__(self, users: list[User], setup: dict, *, report_lines: int):
        self.users = users
        self.setup = setup
        self.report_lines = report_lines
        self.queues = Queues(setup["submitted"], setup["approved"])
        self.lock = threading.Lock()
        self.reads_only = False
        self.think = 0.0  # mean seconds between a user's requests
        self.sequence = 0
        self.required_by = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400))
        self.reset()

    def reset(self) -> None:
        self.endpoints = {name: Endpoint(name, write=False) for name in READS}
        self.endpoints.update({name: Endpoint(name, write=True) for name in WRITES})
        self.request_ids: dict[str, tuple[str, float]] = {}  # X-Request-Id -> (endpoint, client ms)
        self.matched: list[tuple[str, float, float]] = []  # (endpoint, client ms, app ms) of each request logged
        self.failures: list[str] = []  # exceptions in this harness itself (a bug here, not in the server)

    def job(self, user_index: int, method: str, path: str, endpoint: str, *, json_body=None, form=None,
            ref: tuple = ()) -> Job:  # fmt: skip
        user = self.users[user_index]
        with self.lock:
            self.sequence += 1
            headers = {"X-Request-Id": f"{user_index}-{self.sequence}"}
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
        elif form is not None:  # an htmx button of a page: form-encoded, the CSRF token in its header
            body = urlencode(form).encode()
            headers.update({"Content-Type": "application/x-www-form-urlencoded", "HX-Request": "true",
                            "X-CSRFToken": user.client.csrf_token})  # fmt: skip
        user.sent += 1
        if endpoint in self.endpoints and self.endpoints[endpoint].write:
            user.writes += 1
        return Job(method, path, body, headers, endpoint, ref)

    # reads ---------------------------------------------------------------------------------------------------
    def read(self, i: int) -> Job:
        user = self.users[i]
        people, r = self.setup["people"][user.nation], user.rng.random()
        if user.kind == "system":
            if r < 0.6:
                center, page = user.rng.choice(people["centers"]), user.rng.randint(1, 5)
                return self.job(i, "GET", f"/api/v1/stocks/?center={center}&page_size=50&page={page}",
                                "GET /api/v1/stocks/?center=")  # fmt: skip
            status, side = user.rng.choice([("submitted", "requesting"), ("approved", "supplying")])
            return self.job(i, "GET", f"/api/v1/requests/?status={status}&{side}_nation={user.nation}&page_size=50",
                            "GET /api/v1/requests/")  # fmt: skip
        if r < (0.5 if user.kind == "logistics" else 0.6):
            return self.job(i, "GET", "/", "GET / (dashboard)")
        if user.kind == "logistics" and r < 0.75:
            return self.job(i, "GET", f"/stocks/?center={user.rng.choice(people['centers'])}",
                            "GET /stocks/?center= (page)")  # fmt: skip
        status = "approved" if user.kind == "logistics" else "submitted"
        return self.job(i, "GET", f"/requests/?status={status}", "GET /requests/ (page)")

    # writes --------------------------------------------------------------------------------------------------
    def write(self, i: int) -> Job | None:
        user = self.users[i]
        if user.kind == "liaison":
            taken = self.queues.take("approve", user.nation, i, user.rng)
            if taken:
                request_id, quantity = taken
                return self.job(
                    i,
                    "POST",
                    f"/requests/{request_id}/approve/",
                    "POST /requests/{id}/approve/ (htmx)",
                    form={"quantity": quantity, "comment": ""},
                    ref=("approve", user.nation, *taken),
                )
            return None
        choice = "dispatch" if user.kind == "logistics" else user.rng.choice(["report", "request", "dispatch"])
        if choice == "dispatch":
            taken = self.queues.take("dispatch", user.nation, i, user.rng)
            if not taken:
                return None
            ref = ("dispatch", user.nation, *taken)
            if user.kind == "logistics":
                return self.job(i, "POST", f"/requests/{taken[0]}/dispatch/", "POST /requests/{id}/dispatch/ (htmx)",
                                form={"comment": ""}, ref=ref)  # fmt: skip
            return self.job(i, "POST", f"/api/v1/requests/{taken[0]}/dispatch/", "POST /api/v1/requests/{id}/dispatch/",
                            json_body={}, ref=ref)  # fmt: skip
        people = self.setup["people"][user.nation]
        if choice == "report" and people["reports"]:
            report = user.rng.choice(people["reports"])
            lines = user.rng.sample(report["lines"], min(len(report["lines"]), self.report_lines))
            return self.job(i, "POST", "/api/v1/stock-reports/", "POST /api/v1/stock-reports/", json_body={
                "nation": user.nation, "center": report["center"],
                "lines": [{"nsn": nsn, "quantity": quantity} for nsn, quantity in lines]})  # fmt: skip
        suppliers = [n for n, by in self.setup["sources"].items() if by.get(user.nation)]
        supplier = user.rng.choice(suppliers)
        nsn, source, destination = user.rng.choice(self.setup["sources"][supplier][user.nation])
        quantity = user.rng.randint(1, 5)
        return self.job(i, "POST", "/api/v1/requests/", "POST /api/v1/requests/ (draft)", json_body={
            "supplying_nation": supplier, "nsn": nsn, "source_center": source, "destination_center": destination,
            "quantity": quantity, "required_by": self.required_by, "justification": "Load benchmark",
            "priority": "routine"}, ref=("create", supplier, 0, quantity))  # fmt: skip

    def next_request(self, i: int) -> Job:
        user = self.users[i]
        if user.follow_up:  # a system submits its draft at once
            return user.follow_up.popleft()
        if self.think and not self.reads_only:  # a person reads the page, a system waits for its next cycle
            time.sleep(user.rng.uniform(0.5, 1.5) * self.think)
        if not self.reads_only and user.writes + user.phase < WRITE_SHARE * (user.sent + 1):
            job = self.write(i)
            if job:
                return job
        return self.read(i)

    # answers -------------------------------------------------------------------------------------------------
    def on_response(self, i: int, job: Job, status: int, body: bytes, ms: float) -> None:
        try:
            self._on_response(i, job, status, body, ms)
        except Exception as exc:  # a harness bug must show, not silently end a user's thread
            with self.lock:
                self.failures.append(f"{job.endpoint}: {type(exc).__name__}: {exc}")

    def _on_response(self, i: int, job: Job, status: int, body: bytes, ms: float) -> None:
        endpoint = self.endpoints[job.endpoint]
        stage, nation, request_id, quantity = job.ref or (None, None, 0, 0)
        ok = 200 <= status < 300
        race = status == 409 and (stage, request_id) in self.queues.contested
        with self.lock:
            endpoint.latencies.append(ms)
            endpoint.statuses[status] += 1
            self.request_ids[job.headers["X-Request-Id"]] = (job.endpoint, ms)
            if race:
                endpoint.races += 1
            elif not ok:
                endpoint.errors += 1
                if len(endpoint.samples) < 3:
                    endpoint.samples.append(f"{status}: {body[:300]!r}")
        if not ok:
            return
        if stage == "create":  # the same system submits its draft next
            created = json.loads(body)["id"]
            self.users[i].follow_up.append(self.job(
                i, "POST", f"/api/v1/requests/{created}/submit/", "POST /api/v1/requests/{id}/submit/", json_body={},
                ref=("submit", nation, created, quantity)))  # fmt: skip
        elif stage == "submit":
            self.queues.put("approve", nation, request_id, quantity)
        elif stage == "approve":
            self.queues.put("dispatch", nation, request_id, quantity)

    # figures -------------------------------------------------------------------------------------------------
    def read_access_log(self, path) -> int:
        """Match the server's time of every request (microseconds in the app) to the client's; returns how many."""
        with open(path) as log:
            for line in log:
                parts = line.split()
                if len(parts) != 3 or parts[0] not in self.request_ids:
                    continue
                name, client_ms = self.request_ids[parts[0]]
                server_ms = int(parts[2]) / 1000
                self.endpoints[name].server_ms.append(server_ms)
                self.endpoints[name].waits.append(max(0.0, client_ms - server_ms))
                self.matched.append((name, client_ms, server_ms))
        return len(self.matched)


# --- the run ----------------------------------------------------------------------------------------------------


def roster(users: int, nations: list[str]) -> dict[str, int]:
    """Users per nation and kind: half national systems, a quarter logistics officers, a quarter liaison officers
    (generate_scale makes two officers of each kind per nation)."""
    per = max(1, users // len(nations))
    logistics = max(1, min(2, per // 4))
    return {"system": per - 2 * logistics, "logistics": logistics, "liaison": logistics}


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def table(mix: Mix, seconds: float) -> list[str]:
    head = (f"{'endpoint':<40} {'n':>6} {'/s':>6} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}  {'app p50':>7} "
            f"{'app p99':>7} {'wait p99':>8} {'409 race':>8} {'errors':>6}")  # fmt: skip
    rows = [head, "-" * len(head)]
    for group, write in (("reads", False), ("writes", True)):
        rows.append(f"{group}:")
        for e in mix.endpoints.values():
            if e.write != write or not e.latencies:
                continue
            p = lambda values, q: percentile(values, q)  # noqa: E731
            rows.append(
                f"  {e.name:<38} {len(e.latencies):>6} {len(e.latencies) / seconds:>6.1f} {p(e.latencies, 50):>7.1f} "
                f"{p(e.latencies, 95):>7.1f} {p(e.latencies, 99):>7.1f} {max(e.latencies):>7.1f}  "
                f"{p(e.server_ms, 50):>7.1f} {p(e.server_ms, 99):>7.1f} {p(e.waits, 99):>8.1f} {e.races:>8} "
                f"{e.errors:>6}"
            )
    return rows


def slowest_share(mix: Mix, threshold: float) -> tuple[dict[str, float], float]:
    """Of the requests at or above `threshold` ms: the share of each endpoint, and the share of their time spent
    outside the app (waiting for a worker thread, and the network)."""
    names = Counter({e.name: sum(ms >= threshold for ms in e.latencies) for e in mix.endpoints.values()})
    count = sum(names.values()) or 1
    slow = [(client, app) for _, client, app in mix.matched if client >= threshold]
    total = sum(client for client, _ in slow)
    waited = sum(max(0.0, client - app) for client, app in slow)
    return {name: n / count for name, n in names.most_common() if n}, (waited / total if total else 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="small data and a short run, for CI")
    parser.add_argument("--regenerate", action="store_true", help="generate the database again")
    parser.add_argument("--db", help="database name (default alliance_bench_load, smoke alliance_bench_load_smoke)")
    parser.add_argument("--users", type=int, help="concurrent users (default 32; smoke 16)")
    parser.add_argument("--duration", type=float, help="seconds of the timed phase (default 60; smoke 15)")
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean pause between a user's requests, seconds (default 0: each user always has one in "
                             "flight, the hardest reading of N concurrent users)")  # fmt: skip
    parser.add_argument("--pool", type=int, help="submitted and approved requests made beforehand per nation")
    parser.add_argument("--workers", type=int, default=max(2, CPUS), help="gunicorn workers (default: CPUs)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    size = SMOKE if args.smoke else FULL
    db = args.db or size["db"]
    if not db.startswith("alliance_bench"):
        parser.error("the database must be named alliance_bench*: it may be dropped and generated again")
    users_wanted = args.users or size["users"]
    duration = args.duration or size["duration"]
    pool = args.pool or size["pool"]
    per_nation = roster(users_wanted, NATIONS)
    # for every process started from here on (portal_env copies os.environ)
    os.environ.update(CELERY_QUEUE=QUEUE, STATIC_ROOT=str(STATIC_ROOT))

    print(f"== load{' (smoke)' if args.smoke else ''}: {users_wanted} users, {duration:.0f} s, database {db} ==")
    print(machine_line(), flush=True)
    began = time.monotonic()
    regenerate = args.regenerate or args.smoke  # smoke: seconds, and never yesterday's data
    generated = scale_database(db, stocks=size["stocks"], movements=size["movements"], regenerate=regenerate)
    with psycopg.connect(database_url(db), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE" if generated is not None else "ANALYZE")
    print(f"{db}: " + (f"generated in {generated:.0f} s" if generated is not None else "reused"), flush=True)
    manage(db, "collectstatic", "--noinput", "--verbosity", "0")
    before = django_json(db, BOOKS, timeout=1800)
    chains_before = broken_chains(db)
    excluded = {int(key.split()[1]) for key in before["mismatches"]}
    excluded |= {int(re.match(r"stock (\d+)", line)[1]) for line in (chains_before or ([], ""))[0]}
    excluded = sorted(excluded)  # writes keep off the stocks generate_scale made inconsistent on purpose
    tag = f"Load benchmark pool {time.strftime('%Y-%m-%d %H:%M:%S')}"
    setup = django_json(db, SETUP.format(seed=args.seed, nations=NATIONS, per_nation=per_nation, excluded=excluded,
                                         lines=size["lines"], pool=pool, tag=tag), timeout=1800)  # fmt: skip
    marks = {name: rows[0][0] for name, rows in sql_figures(db, MARKS_SQL).items()}
    print(f"books before: {before['stocks']:,} stocks, {len(before['mismatches'])} deliberate mismatches of "
          f"generate_scale (left alone), {before['negative']} negative")  # fmt: skip
    if chains_before:
        print(f"hash chains before: {len(chains_before[0])} broken on purpose by generate_scale (left alone); "
              f"{chains_before[1]}")  # fmt: skip
    print(f"pools: {sum(len(v) for v in setup['submitted'].values())} submitted and "
          f"{sum(len(v) for v in setup['approved'].values())} approved requests over {len(NATIONS)} supplying nations; "
          f"setup {time.monotonic() - began:.0f} s", flush=True)  # fmt: skip

    broker = redis.Redis.from_url(REDIS_URL)
    try:
        with gunicorn(db, workers=args.workers, threads=args.threads, access_log=True) as server:
            users: list[User] = []
            rng = random.Random(args.seed)
            for nation in NATIONS:
                people = setup["people"][nation]
                for token in people["tokens"]:
                    users.append(User("system", nation, f"{nation.lower()}-system", Client(server.port, token),
                                      random.Random(rng.random())))  # fmt: skip
                for kind in ("logistics", "liaison"):
                    for name in people[kind]:
                        client = Client(server.port, browser=True)
                        client.log_in(name, setup["password"])
                        users.append(User(kind, nation, name, client, random.Random(rng.random())))
            mix = Mix(users, setup, report_lines=size["lines"])
            mix.think = args.think
            clients = [u.client for u in users]
            kinds = Counter(u.kind for u in users)
            print(f"server: {server.description}; {len(users)} users on keep-alive connections: "
                  f"{kinds['system']} national-system tokens, {kinds['logistics']} logistics officers and "
                  f"{kinds['liaison']} liaison officers signed in (browser), of {', '.join(NATIONS)}; think time "
                  f"{f'{args.think:g} s (0.5-1.5x)' if args.think else 'none'}", flush=True)  # fmt: skip

            mix.reads_only = True  # warm-up: every user's connection, every worker thread's code and connection
            run_load(server.port, [], mix.next_request, duration=size["warmup"], max_requests=10**9, clients=clients,
                     on_response=mix.on_response)  # fmt: skip
            mix.reset()
            mix.reads_only = False
            for user in users:  # counted from here
                user.sent, user.writes, user.phase = 0, 0, user.rng.random()
            load_before = uptime()
            print(f"uptime before the timed phase: {load_before}", flush=True)
            meter = CpuMeter(db, server.process.pid)
            try:
                cpu_before = meter.read()
                result = run_load(server.port, [], mix.next_request, duration=duration, max_requests=10**9,
                                  clients=clients, on_response=mix.on_response)  # fmt: skip
                result.cpu = {part: used - cpu_before[part] for part, used in meter.read().items()}
            finally:
                meter.close()
            load_after = uptime()
        matched = mix.read_access_log(server.access_log)
    finally:
        broker.delete(QUEUE)
        broker.close()

    # --- figures -----------------------------------------------------------------------------------------------
    seconds = result.seconds
    all_ms = [ms for e in mix.endpoints.values() for ms in e.latencies]
    total = len(all_ms)
    reads = sum(len(e.latencies) for e in mix.endpoints.values() if not e.write)
    races = sum(e.races for e in mix.endpoints.values())
    errors = sum(e.errors for e in mix.endpoints.values()) + len(mix.failures)
    p99 = percentile(all_ms, 99)
    print(f"\nuptime after: {load_after}")
    print(f"\n{total} requests in {seconds:.1f} s: {total / seconds:.1f} per second; reads {reads / total:.1%}, "
          f"writes {(total - reads) / total:.1%}; server times matched from the access log: {matched}")  # fmt: skip
    print("(ms; app: inside the app, from gunicorn's access log; wait: client time minus app time, i.e. waiting for a "
          "free worker thread, plus the network)")  # fmt: skip
    print("\n".join(table(mix, seconds)))
    print(f"\nall: p50 {percentile(all_ms, 50):.1f}  p95 {percentile(all_ms, 95):.1f}  p99 {p99:.1f}  "
          f"max {max(all_ms, default=0):.1f} ms")  # fmt: skip
    shares, waited = slowest_share(mix, p99)
    print(
        f"the slowest 1% (>= {p99:.0f} ms): "
        + ", ".join(f"{n} {s:.0%}" for n, s in shares.items())
        + f"; {waited:.0%} of their time was waiting for a worker thread"
    )
    print(
        f"409 from a race of two users for the same request (expected, not errors): {races}; "
        f"queues left: {mix.queues.left()}; writes skipped for want of work: {dict(mix.queues.dry) or 0}"
    )
    print(cpu_line(result))
    per_request = sum(result.cpu_per_request_ms().values())
    if per_request:  # Little's law: users = rate x (response time + think time)
        floor = max(0.0, len(users) * per_request / CPUS - 1000 * args.think)
        print(f"at that CPU cost, {len(users)} users with {args.think:g} s think time cannot average under "
              f"{floor:.0f} ms per request on {CPUS} idle cores (users / capacity - think time, Little's law)")  # fmt: skip
    busy = sum(result.cpu.values())
    print(f"CPU busy during the run: {busy / seconds:.2f} of {CPUS} cores for this benchmark "
          f"({', '.join(f'{k} {v / seconds:.2f}' for k, v in result.cpu.items())})")  # fmt: skip
    error_rate = errors / total if total else 1.0
    print(f"errors: {errors} of {total} ({error_rate:.2%})")
    for e in mix.endpoints.values():
        for sample in e.samples:
            print(f"  {e.name}: {sample}")
    for failure in mix.failures[:5]:
        print(f"  harness: {failure}")
    slow = [e.name for e in mix.endpoints.values() if e.latencies and percentile(e.latencies, 99) >= TARGET_P99_MS]
    print(
        f"targets: zero errors: {verdict(errors == 0)} ({errors}); p99 < {TARGET_P99_MS:.0f} ms: "
        f"{verdict(p99 < TARGET_P99_MS)} (all {p99:.0f} ms; endpoints over it: {', '.join(slow) or 'none'})"
    )

    # --- the books ---------------------------------------------------------------------------------------------
    after = django_json(db, BOOKS, timeout=1800)
    written = sql_figures(db, WRITES_SQL, marks)
    events = dict(written["events"])
    ok_count = {name: sum(n for s, n in e.statuses.items() if 200 <= s < 300) for name, e in mix.endpoints.items()}
    seen = {
        "created": (ok_count["POST /api/v1/requests/ (draft)"], events.get("draft", 0)),
        "submitted": (ok_count["POST /api/v1/requests/{id}/submit/"], events.get("submitted", 0)),
        "approved": (ok_count["POST /requests/{id}/approve/ (htmx)"], events.get("approved", 0)),
        "dispatched": (ok_count["POST /api/v1/requests/{id}/dispatch/"]
                       + ok_count["POST /requests/{id}/dispatch/ (htmx)"], events.get("dispatched", 0)),
        "stock reports": (ok_count["POST /api/v1/stock-reports/"], written["reports"][0][0]),
        "count lines": (written["reports"][0][1], written["counts"][0][0]),
    }  # fmt: skip
    once = all(client == books for client, books in seen.values())
    twice = written["approved twice"][0][0] + written["dispatched twice"][0][0]
    new = {k: v for k, v in after["mismatches"].items() if before["mismatches"].get(k) != v}
    gone = [k for k in before["mismatches"] if k not in after["mismatches"]]
    breaks = written["balance breaks"][0][0]
    books_ok = once and twice == 0 and not new and not gone and after["negative"] == 0 and breaks == 0
    print("\nthe books after the run:")
    print(
        "  every success the clients saw is written once: "
        + ("yes" if once else "NO")
        + " ("
        + ", ".join(f"{k} {c}/{b}" for k, (c, b) in seen.items())
        + " client/database)"
    )
    print(f"  approved or dispatched twice: {twice}")
    print(f"  on_hand == sum of movements and reserved == approved not dispatched, for all {after['stocks']:,} stocks "
          f"but generate_scale's {len(before['mismatches'])} deliberate mismatches, which are unchanged: "
          f"{'yes' if not new and not gone else 'NO'} (new or changed: {len(new)}, vanished: {len(gone)})")  # fmt: skip
    print(
        f"  balance_after runs true on the {written['stocks written'][0][0]} stocks written: "
        f"{'yes' if breaks == 0 else f'NO ({breaks} movements)'}"
    )
    print(f"  negative stock (on_hand < 0, reserved < 0 or reserved > on_hand): {after['negative']}")
    for key in list(new)[:5]:
        print(f"    {key}: before {before['mismatches'].get(key)}, after {new[key]} (expected, actual)")
    verified = None
    chains_after = broken_chains(db)
    if chains_after is None:
        print("  manage.py verify_ledger: not in this version of the project")
    else:
        verified = chains_before is not None and chains_after[0] == chains_before[0]
        print(f"  manage.py verify_ledger: every chain holds but the {len(chains_before[0])} broken on purpose, "
              f"unchanged: {'yes' if verified else 'NO'} ({chains_after[1]})")  # fmt: skip
        for line in sorted(set(chains_after[0]) ^ set(chains_before[0]))[:5]:
            print(f"    {'new' if line in chains_after[0] else 'gone'}: {line}")
    books_ok = books_ok and verified is not False
    print(f"books: {'exact' if books_ok else 'BROKEN'}")

    print_result_json("load", {
        "smoke": args.smoke, "users": len(users), "think_s": args.think, "seconds": round(seconds, 1), "server": server.description,
        "stocks": after["stocks"], "requests": total, "req_per_s": round(total / seconds, 1),
        "read_share": round(reads / total, 3), "errors": errors, "error_rate": round(error_rate, 4), "races_409": races,
        "p50_ms": round(percentile(all_ms, 50), 1), "p95_ms": round(percentile(all_ms, 95), 1), "p99_ms": round(p99, 1),
        "p99_target_met": p99 < TARGET_P99_MS, "slowest_1pct": {k: round(v, 3) for k, v in shares.items()},
        "slowest_1pct_waiting": round(waited, 3),
        "endpoints": {e.name: {"n": len(e.latencies), "p50_ms": round(percentile(e.latencies, 50), 1),
                               "p95_ms": round(percentile(e.latencies, 95), 1),
                               "p99_ms": round(percentile(e.latencies, 99), 1),
                               "app_p50_ms": round(percentile(e.server_ms, 50), 1),
                               "app_p99_ms": round(percentile(e.server_ms, 99), 1), "races": e.races,
                               "errors": e.errors} for e in mix.endpoints.values() if e.latencies},
        "cpu_ms_per_request": {k: round(v, 2) for k, v in result.cpu_per_request_ms().items()},
        "uptime_before": load_before, "uptime_after": load_after,
        "books_exact": books_ok, "negative": after["negative"], "verify_ledger": verified,
    })  # fmt: skip
    return 0 if errors == 0 and books_ok else 1


if __name__ == "__main__":
    sys.exit(main())
