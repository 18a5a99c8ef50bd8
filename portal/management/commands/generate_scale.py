"""Fill an empty PostgreSQL database with a large, consistent data set for the background jobs and benchmarks.

``manage.py generate_scale --nations 30 --centers 40 --items 2000 --stocks 1000000 --movements 3000000 [--seed N]``

What it writes (all in one transaction: on any error nothing is left behind):
- nations, logistics centers with their participating nations, an item catalog, days-of-supply targets;
- users holding their roles through ``nations.access.grant_role``: per nation logistics and liaison officers and a
  national-system service account (logistics role), an operator per center, one alliance coordinator;
- stocks, each backed by its ledger: ``on_hand`` is the sum of its movements and every movement's ``balance_after``
  is the running balance (never negative) in (occurred_at, id) order, with an actor; every movement is sealed by
  its hash chained over the previous one of its stock and the stock carries its chain's head (inventory/ledger.py),
  so ``verify_ledger`` finds the generated ledgers intact;
- supply requests in every status with their timelines; approved ones reserve at the supplier's stock, dispatched
  ones are a transfer-out movement there, received ones a transfer-in at the requester's stock;
- physical counts of some stocks, safety levels and consumption rates (some below safety, some at it exactly,
  some with zero consumption, some with few days of supply), some stocks shared with the alliance pool and some
  (``RELEASED_FRACTION``) released to named lists of nations (REL TO), from a second RNG so that every other row is
  the same as without releases;
- and a few *deliberate* inconsistencies of every kind reconciliation looks for, listed in the summary it prints:
  on_hand that differs from the ledger, reserved that differs from the approved requests, counts that differ from
  the book balance at the count's time, approved requests not dispatched within ``DISPATCH_OVERDUE_DAYS``, short
  receipts, and broken hash chains (an edited movement, a movement slipped in, a stock head behind its chain).

It never wipes anything: it refuses a database that already holds nations, centers, items, stocks or requests.
Create a fresh one and migrate it first.

Speed: the large tables are written with COPY through the raw psycopg connection, their secondary indexes and
foreign keys dropped for the load and rebuilt afterwards in the same transaction (PostgreSQL's own advice for
populating a database: building an index once is far cheaper than maintaining it row by row, and validating a
foreign key is one join instead of a trigger per row).  Every random choice comes from one ``random.Random(seed)``,
so the same arguments and seed give the same rows (timestamps are offsets from the time of the run).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import connection, transaction
from django.utils import timezone
from psycopg.copy import QueuedLibpqWriter

from coordination.models import (
    DaysOfSupplyTarget,
    Discrepancy,
    DiscrepancyKind,
    RequestEvent,
    RequestStatus,
    Severity,
    SupplyRequest,
)
from inventory.ledger import BROKEN_LINK, GENESIS, HASH_MISMATCH, HEAD_MISMATCH, canonical_line, epoch_microseconds
from inventory.models import Item, LogisticsCenter, Movement, ReleaseList, Stock, StockCount
from nations.access import grant_role
from nations.models import Nation, ServiceAccount
from nations.roles import Role

EMAIL_DOMAIN = "alliance-logistics.invalid"
MINUTES_PER_DAY = 24 * 60

# ISO 3166-1 alpha-3 and name of the alliance's members.  The NCB codes of the older codification bureaus are the
# published ones; the others are placeholders, unique within this synthetic data set.
NATIONS = [
    ("USA", "United States", "00"),
    ("GBR", "United Kingdom", "99"),
    ("FRA", "France", "14"),
    ("DEU", "Germany", "12"),
    ("ITA", "Italy", "15"),
    ("CAN", "Canada", "20"),
    ("ESP", "Spain", "33"),
    ("NLD", "Netherlands", "17"),
    ("BEL", "Belgium", "13"),
    ("NOR", "Norway", "25"),
    ("DNK", "Denmark", "22"),
    ("POL", "Poland", "60"),
    ("TUR", "Türkiye", "27"),
    ("GRC", "Greece", "23"),
    ("PRT", "Portugal", "26"),
    ("CZE", "Czechia", "16"),
    ("ROU", "Romania", "61"),
    ("HUN", "Hungary", "55"),
    ("SWE", "Sweden", "64"),
    ("FIN", "Finland", "54"),
    ("SVK", "Slovakia", "62"),
    ("BGR", "Bulgaria", "51"),
    ("LTU", "Lithuania", "57"),
    ("LVA", "Latvia", "56"),
    ("EST", "Estonia", "53"),
    ("SVN", "Slovenia", "63"),
    ("HRV", "Croatia", "52"),
    ("ALB", "Albania", "50"),
    ("MNE", "Montenegro", "58"),
    ("MKD", "North Macedonia", "59"),
    ("LUX", "Luxembourg", "28"),
    ("ISL", "Iceland", "24"),
]
MAX_NATIONS = 100  # NCB codes are two digits

# supply class, NATO supply classifications, units of issue, nouns, (min, max) of a typical stock
ITEM_CLASSES = [
    (
        "I",
        ("8970", "8960", "8905", "8915"),
        ("CS", "KG", "L", "BX"),
        ("Ration pack", "Water, drinking", "Meat, canned", "Vegetables, canned"),
        (50, 3000),
    ),
    (
        "II",
        ("8415", "8430", "8465", "8470"),
        ("EA", "PR", "SE"),
        ("Jacket, combat", "Boots, combat", "Sleeping bag", "Helmet, combat"),
        (10, 800),
    ),
    (
        "III",
        ("9130", "9140", "9150"),
        ("L", "DR", "EA"),
        ("Fuel, aviation turbine", "Fuel, diesel", "Oil, engine"),
        (500, 60000),
    ),
    (
        "IV",
        ("5680", "5660", "5610"),
        ("EA", "RO", "M"),
        ("Barrier, defensive", "Wire, barbed", "Cement, Portland"),
        (20, 2000),
    ),
    (
        "V",
        ("1305", "1310", "1315"),
        ("RD", "BX", "EA"),
        ("Cartridge, 5.56 mm", "Cartridge, 40 mm", "Cartridge, 120 mm, mortar"),
        (100, 20000),
    ),
    ("VI", ("8520", "8530"), ("EA", "PG"), ("Soap, toilet", "Razor, disposable"), (20, 1000)),
    ("VII", ("2320", "2350"), ("EA",), ("Truck, cargo", "Vehicle, armoured"), (1, 40)),
    (
        "VIII",
        ("6505", "6510", "6515"),
        ("EA", "BX", "PG"),
        ("Morphine, auto-injector", "Bandage, field dressing", "Tourniquet"),
        (20, 2000),
    ),
    ("IX", ("2530", "2540", "2910"), ("EA", "SE"), ("Brake pad, set", "Track shoe", "Fuel filter"), (5, 500)),
    ("X", ("7510", "7520"), ("EA", "BX"), ("Paper, copier", "Pen, ballpoint"), (10, 500)),
]
CLASS_WEIGHTS = [22, 14, 12, 8, 16, 4, 2, 10, 10, 2]

PRIORITIES = ["urgent", "priority", "routine"]
# each priority read as the urgency of need of a force of activity designator IV (coordination/priority.py)
DESIGNATOR_OF_PRIORITY = {"urgent": 7, "priority": 9, "routine": 14}
# status of a generated request, and its weight
STATUS_WEIGHTS = [
    (RequestStatus.DRAFT, 8),
    (RequestStatus.SUBMITTED, 24),
    (RequestStatus.APPROVED, 26),
    (RequestStatus.DISPATCHED, 10),
    (RequestStatus.RECEIVED, 16),
    (RequestStatus.REJECTED, 8),
    (RequestStatus.CANCELLED, 8),
]
# the path through the lifecycle that leads to each final status
PATHS = {
    RequestStatus.DRAFT: [RequestStatus.DRAFT],
    RequestStatus.SUBMITTED: [RequestStatus.DRAFT, RequestStatus.SUBMITTED],
    RequestStatus.APPROVED: [RequestStatus.DRAFT, RequestStatus.SUBMITTED, RequestStatus.APPROVED],
    RequestStatus.DISPATCHED: [
        RequestStatus.DRAFT,
        RequestStatus.SUBMITTED,
        RequestStatus.APPROVED,
        RequestStatus.DISPATCHED,
    ],
    RequestStatus.RECEIVED: [
        RequestStatus.DRAFT,
        RequestStatus.SUBMITTED,
        RequestStatus.APPROVED,
        RequestStatus.DISPATCHED,
        RequestStatus.RECEIVED,
    ],
    RequestStatus.REJECTED: [RequestStatus.DRAFT, RequestStatus.SUBMITTED, RequestStatus.REJECTED],
    RequestStatus.CANCELLED: [RequestStatus.DRAFT, RequestStatus.SUBMITTED, RequestStatus.CANCELLED],
}

BASE_SPAN_DAYS = 150  # ordinary ledger activity, before the window in which the requests happen
NULL = "\\N"
# Of all stocks, those released to a named list of nations (REL TO), drawn among the private ones; the lists are few
# (bilateral releases and small coalitions), as the access profile names those of a user's nations.
RELEASED_FRACTION = 0.05
RELEASE_LISTS = 40


@dataclass
class ScaleSpec:
    nations: int = 30
    centers: int = 40
    items: int = 2000
    stocks: int = 1_000_000
    movements: int = 3_000_000
    seed: int = 2026
    requests: int | None = None  # default: one per 500 stocks, at least 40
    count_fraction: float = 0.05  # share of stocks with a physical count
    officers: int = 2  # logistics officers and liaison officers per nation
    password: str | None = None  # of the human users; default settings.DEMO_PASSWORD

    def validate(self) -> None:
        if not 2 <= self.nations <= MAX_NATIONS:
            raise CommandError(f"--nations must be between 2 and {MAX_NATIONS} (NCB codes have two digits).")
        if not 1 <= self.centers <= 999:
            raise CommandError("--centers must be between 1 and 999.")
        if not 1 <= self.items <= 9_999_999:
            raise CommandError("--items must be between 1 and 9,999,999 (the NSN serial has seven digits).")
        if self.stocks < 1:
            raise CommandError("--stocks must be at least 1.")
        capacity = self.nations * self.centers * self.items
        if self.stocks > capacity:
            raise CommandError(
                f"--stocks {self.stocks:,} is more than the {capacity:,} (nation, center, item) combinations of "
                f"{self.nations} nations x {self.centers} centers x {self.items} items: raise --items."
            )
        if self.officers < 1:
            raise CommandError("--officers must be at least 1.")

    @property
    def request_count(self) -> int:
        return self.requests if self.requests is not None else max(40, self.stocks // 500)

    @property
    def bad_per_kind(self) -> int:
        """How many deliberate inconsistencies of each kind: a few, more on a large data set."""
        return max(3, min(50, self.stocks // 20_000))


@dataclass
class ScaleSummary:
    nations: int = 0
    centers: int = 0
    participations: int = 0
    items: int = 0
    users: int = 0
    groups: int = 0
    stocks: int = 0
    shared_stocks: int = 0
    released_stocks: int = 0
    release_lists: int = 0
    movements: int = 0
    counts: int = 0
    requests: int = 0
    request_events: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    # the deliberate inconsistencies, by the ids reconciliation should report
    ledger_mismatch_stock_ids: list[int] = field(default_factory=list)
    reservation_mismatch_stock_ids: list[int] = field(default_factory=list)
    count_mismatch_count_ids: list[int] = field(default_factory=list)
    # broken hash chains, as (stock id, movement id, problem) of the first broken link verify_ledger should report
    ledger_chain_breaks: list[tuple[int, int, str]] = field(default_factory=list)
    overdue_request_ids: list[int] = field(default_factory=list)
    short_receipt_request_ids: list[int] = field(default_factory=list)
    anchor: datetime | None = None  # the run's "now": every timestamp is an offset from it
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        statuses = ", ".join(f"{s} {n:,}" for s, n in self.by_status.items())
        return [
            f"{self.nations} nations, {self.centers} centers ({self.participations} participations), "
            f"{self.items:,} items, {self.users} users in {self.groups} role groups",
            f"{self.stocks:,} stocks ({self.shared_stocks:,} shared, {self.released_stocks:,} released to "
            f"{self.release_lists} named lists), {self.movements:,} movements, "
            f"{self.counts:,} physical counts",
            f"{self.requests:,} requests ({statuses}), {self.request_events:,} timeline events",
            "deliberate inconsistencies: "
            f"ledger_mismatch {len(self.ledger_mismatch_stock_ids)}, "
            f"reservation_mismatch {len(self.reservation_mismatch_stock_ids)}, "
            f"count_mismatch {len(self.count_mismatch_count_ids)}, "
            f"overdue_dispatch {len(self.overdue_request_ids)}, "
            f"short_receipt {len(self.short_receipt_request_ids)}, "
            f"ledger_chain {len(self.ledger_chain_breaks)}",
        ]


@dataclass
class _Request:
    id: int
    status: str
    supplier_stock: int  # index into the stock list
    requester_stock: int | None
    requesting_nation: int
    destination_center: int
    quantity_requested: int
    quantity_approved: int | None = None
    quantity_dispatched: int | None = None
    quantity_received: int | None = None
    times: list[int] = field(default_factory=list)  # minute of each step of its path
    overdue: bool = False


class ScaleGenerator:
    """Plans the data with one seeded RNG and streams it into PostgreSQL with COPY."""

    def __init__(self, spec: ScaleSpec, log=None):
        spec.validate()
        self.spec = spec
        self.rng = random.Random(spec.seed)
        # its own generator: releases leave every other random choice, and so every other row, as they were
        self.release_rng = random.Random(f"{spec.seed}:releases")
        self.log = log or (lambda message: None)
        self.summary = ScaleSummary()
        overdue_days = max(int(getattr(settings, "DISPATCH_OVERDUE_DAYS", 3)), 1)
        self.overdue_minutes = overdue_days * MINUTES_PER_DAY
        # minute 0 .. total-1; the last minute is the start of the run.  Ordinary ledger activity first, then the
        # request window (long enough for an approval to be overdue), counts anywhere.
        self.request_window = max(60, overdue_days + 10) * MINUTES_PER_DAY
        self.base_end = BASE_SPAN_DAYS * MINUTES_PER_DAY
        self.total_minutes = self.base_end + MINUTES_PER_DAY + self.request_window
        self.now = timezone.now().replace(second=0, microsecond=0)
        self.origin = self.now - timedelta(minutes=self.total_minutes - 1)
        self.summary.anchor = self.now

    # --- time -----------------------------------------------------------------------------------------------------

    def _minute_strings(self) -> list[str]:
        """'YYYY-MM-DD HH:MM' for every minute of the window, formatted once (COPY wants text)."""
        start = self.origin
        out = []
        day = start.replace(hour=0, minute=0)
        first = (start - day).seconds // 60
        for d in range(self.total_minutes // MINUTES_PER_DAY + 2):
            prefix = (day + timedelta(days=d)).strftime("%Y-%m-%d ")
            out.extend(f"{prefix}{h:02d}:{m:02d}" for h in range(24) for m in range(60))
        return out[first : first + self.total_minutes]

    def at(self, minute: int) -> datetime:
        return self.origin + timedelta(minutes=minute)

    # --- the plan -------------------------------------------------------------------------------------------------

    def plan_reference_data(self) -> None:
        spec, rng = self.spec, self.rng
        n, c = spec.nations, spec.centers
        self.nation_rows = []
        used_ncb = {row[2] for row in NATIONS}
        spare_ncb = iter(f"{i:02d}" for i in range(100) if f"{i:02d}" not in used_ncb)
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        for i in range(n):
            if i < len(NATIONS):
                self.nation_rows.append(NATIONS[i])
            else:
                code = f"X{letters[(i // 26) % 26]}{letters[i % 26]}"
                self.nation_rows.append((code, f"Nation {code}", next(spare_ncb)))

        # Centers: about one in seven national (host only), the rest multinational with enough participants for
        # the stocks to fit with room to spare.
        self.center_national = [c > 1 and rng.random() < 0.15 for _ in range(c)]
        self.center_host = [rng.randrange(n) for _ in range(c)]
        multi = sum(1 for x in self.center_national if not x)
        national = c - multi
        pairs_needed = -(-int(spec.stocks * 1.3) // spec.items)
        per_multi = min(n, max(min(3, n), -(-(pairs_needed - national) // max(multi, 1))))
        self.participants: list[list[int]] = []
        for ci in range(c):
            host = self.center_host[ci]
            if self.center_national[ci]:
                members = [host]
            else:
                others = rng.sample([x for x in range(n) if x != host], per_multi - 1)
                members = sorted([host, *others])
            self.participants.append(members)
        if sum(len(p) for p in self.participants) * spec.items < spec.stocks:
            # too dense for realistic participation: every nation takes part everywhere
            self.participants = [list(range(n)) for _ in range(c)]
        self.summary.participations = sum(len(p) for p in self.participants)

        self.item_class = rng.choices(range(len(ITEM_CLASSES)), weights=CLASS_WEIGHTS, k=spec.items)
        self.plan_release_lists()

    def plan_release_lists(self) -> None:
        """A few lists of one to four nations, every nation on at least one (each receives some releases: the
        benchmarks' users then have lists in their access rule); per nation, the lists that do not name it (a
        stock's owner is never on its own list)."""
        rng, n = self.release_rng, self.spec.nations
        everyone = rng.sample(range(n), n)
        lists: set[tuple[int, ...]] = {tuple(sorted(everyone[i : i + 2])) for i in range(0, n, 2)}
        for _ in range(RELEASE_LISTS * 20):  # bounded: few nations allow few distinct lists
            if len(lists) >= RELEASE_LISTS:
                break
            size = min(rng.choice((1, 2, 2, 2, 3, 3, 4)), n - 1)
            lists.add(tuple(sorted(rng.sample(range(n), size))))
        self.release_lists = sorted(lists)
        self.lists_without = [
            [i for i, members in enumerate(self.release_lists) if ni not in members] for ni in range(n)
        ]
        self.summary.release_lists = len(self.release_lists)

    def plan_stocks(self) -> None:
        """Which (nation, center, item) triples hold stock, in a shuffled order (ids say nothing about place)."""
        spec, rng = self.spec, self.rng
        n, items = spec.nations, spec.items
        pairs = [(ci, ni) for ci, members in enumerate(self.participants) for ni in members]
        base, extra = divmod(spec.stocks, len(pairs))
        bonus = set(rng.sample(range(len(pairs)), extra))
        keys: list[int] = []
        for p, (ci, ni) in enumerate(pairs):
            count = base + (1 if p in bonus else 0)
            prefix = (ci * n + ni) * items
            keys.extend(prefix + i for i in rng.sample(range(items), count))
        rng.shuffle(keys)
        self.keys = keys

    def decode(self, key: int) -> tuple[int, int, int]:
        """(nation, center, item) indices of a stock key."""
        items, n = self.spec.items, self.spec.nations
        rest, item = divmod(key, items)
        center, nation = divmod(rest, n)
        return nation, center, item

    def plan_requests(self) -> None:
        spec, rng = self.spec, self.rng
        r = rng.random
        by_item: dict[int, list[int]] = defaultdict(list)
        items = spec.items
        for idx, key in enumerate(self.keys):
            by_item[key % items].append(idx)
        statuses = [s for s, _ in STATUS_WEIGHTS]
        weights = [w for _, w in STATUS_WEIGHTS]
        self.requests: list[_Request] = []
        self.reserved_expected: dict[int, int] = defaultdict(int)
        self.transfers: dict[int, list[tuple[int, str, int, int]]] = defaultdict(list)  # idx -> (min, kind, q, req)
        window_start = self.total_minutes - self.request_window
        fresh_span = max(60, min(36 * 60, self.overdue_minutes // 2))
        for j in range(spec.request_count):
            status = rng.choices(statuses, weights=weights)[0]
            s = rng.randrange(len(self.keys))
            supplier, source_center, item = self.decode(self.keys[s])
            requester_stock = None
            for _ in range(10):
                candidate = rng.choice(by_item[item])
                if self.decode(self.keys[candidate])[0] != supplier:
                    requester_stock = candidate
                    break
            if requester_stock is not None:
                requesting, destination, _ = self.decode(self.keys[requester_stock])
            else:  # nobody else holds the item: ask anyway, to a center the requester takes part in
                requesting = rng.choice([x for x in range(spec.nations) if x != supplier])
                centers = [ci for ci, members in enumerate(self.participants) if requesting in members]
                destination = rng.choice(centers) if centers else source_center
                if status in (RequestStatus.DISPATCHED, RequestStatus.RECEIVED):
                    status = RequestStatus.APPROVED  # keep it simple: no stock to receive into
            q = 1 + int(r() * 200)
            req = _Request(
                id=j + 1,
                status=status,
                supplier_stock=s,
                requester_stock=requester_stock,
                requesting_nation=requesting,
                destination_center=destination,
                quantity_requested=q,
            )
            path = PATHS[status]
            steps = len(path)
            if status == RequestStatus.APPROVED:
                approved = self.total_minutes - 1 - int(r() * fresh_span)
                times = [approved - 60 - int(r() * 2880), approved - int(r() * 50)]
                times[0] = min(times[0], times[1] - 5)
                times.append(approved)
            else:
                start = window_start + int(r() * (self.request_window - 12 * MINUTES_PER_DAY))
                times = [start]
                for _ in range(steps - 1):
                    times.append(times[-1] + 5 + int(r() * 2 * MINUTES_PER_DAY))
            req.times = times
            if RequestStatus.APPROVED in path:
                req.quantity_approved = q if r() < 0.7 else max(1, q - int(r() * q))
            if status == RequestStatus.APPROVED:
                self.reserved_expected[s] += req.quantity_approved
            if RequestStatus.DISPATCHED in path:
                req.quantity_dispatched = req.quantity_approved
                self.transfers[s].append((times[3], "transfer_out", -req.quantity_dispatched, req.id))
            if status == RequestStatus.RECEIVED:
                req.quantity_received = req.quantity_dispatched
                self.transfers[requester_stock].append((times[4], "transfer_in", req.quantity_received, req.id))
            self.requests.append(req)

        # Deliberate: approved requests older than the overdue threshold, and short receipts.
        bad = self.spec.bad_per_kind
        approved = [q for q in self.requests if q.status == RequestStatus.APPROVED]
        for req in rng.sample(approved, min(bad, len(approved))):
            approved_at = self.total_minutes - self.overdue_minutes - MINUTES_PER_DAY - int(r() * 3 * MINUTES_PER_DAY)
            req.times = [approved_at - 600, approved_at - 30, approved_at]
            req.overdue = True
        received = [q for q in self.requests if q.status == RequestStatus.RECEIVED]
        for req in rng.sample(received, min(max(1, bad // 5), len(received))):
            short = 1 + int(r() * req.quantity_dispatched)  # possibly everything
            req.quantity_received = req.quantity_dispatched - short
            entries = self.transfers[req.requester_stock]
            entries[:] = [e for e in entries if e[3] != req.id]
            if req.quantity_received:
                entries.append((req.times[4], "transfer_in", req.quantity_received, req.id))
            self.summary.short_receipt_request_ids.append(req.id)
        self.summary.short_receipt_request_ids.sort()
        self.summary.overdue_request_ids = sorted(q.id for q in self.requests if q.overdue)
        for entries in self.transfers.values():
            entries.sort()
        self.transfer_movements = sum(len(e) for e in self.transfers.values())

        # Deliberate stock inconsistencies: distinct stocks for ledger, reservation and count mismatches.
        chosen = rng.sample(range(len(self.keys)), min(3 * bad, len(self.keys)))
        self.bad_ledger = set(chosen[0::3])
        self.bad_reserved = set(chosen[1::3])
        self.bad_count = set(chosen[2::3])
        # Deliberate broken hash chains, on other stocks, from an RNG of their own (the rest of the data stays what
        # the seed always gave): an edited movement, a movement inserted behind the portal's back, a stock head
        # left behind its chain.
        chain_rng = random.Random(spec.seed * 1_000_003 + 7)
        taken = set(chosen)
        spare = [i for i in chain_rng.sample(range(len(self.keys)), min(4 * bad, len(self.keys))) if i not in taken]
        problems = (HASH_MISMATCH, BROKEN_LINK, HEAD_MISMATCH)
        self.bad_chain = {idx: problems[n % 3] for n, idx in enumerate(spare[:bad])}

    # --- writing --------------------------------------------------------------------------------------------------

    def write_reference_data(self) -> None:
        spec, rng = self.spec, self.rng
        User = get_user_model()
        Nation.objects.bulk_create(
            [
                Nation(id=i + 1, code=code, name=name, ncb_code=ncb)
                for i, (code, name, ncb) in enumerate(self.nation_rows)
            ]
        )
        centers = []
        for ci in range(spec.centers):
            host_code = self.nation_rows[self.center_host[ci]][0]
            national = self.center_national[ci]
            code = f"{host_code}-DEPOT-{ci + 1:03d}" if national else f"MLC-{ci + 1:03d}"
            name = (
                f"National depot {ci + 1:03d} ({host_code})"
                if national
                else f"Multinational Logistics Center {ci + 1:03d}"
            )
            centers.append(
                LogisticsCenter(
                    id=ci + 1,
                    code=code,
                    name=name,
                    host_nation_id=self.center_host[ci] + 1,
                    kind="national" if national else "multinational",
                    latitude=f"{36 + rng.random() * 33:.5f}",
                    longitude=f"{-9 + rng.random() * 38:.5f}",
                )
            )
        LogisticsCenter.objects.bulk_create(centers)
        self.center_codes = [center.code for center in centers]
        codes = [row[0] for row in self.nation_rows]
        ReleaseList.objects.bulk_create(
            [
                ReleaseList(id=i + 1, key=ReleaseList.key_of(codes[ni] for ni in members))
                for i, members in enumerate(self.release_lists)
            ]
        )
        listed = ReleaseList.nations.through
        listed.objects.bulk_create(
            [
                listed(releaselist_id=i + 1, nation_id=ni + 1)
                for i, members in enumerate(self.release_lists)
                for ni in members
            ]
        )
        through = LogisticsCenter.participants.through
        through.objects.bulk_create(
            [
                through(logisticscenter_id=ci + 1, nation_id=ni + 1)
                for ci, members in enumerate(self.participants)
                for ni in members
            ]
        )

        items = []
        for i in range(spec.items):
            supply_class, nscs, units, nouns, _ = ITEM_CLASSES[self.item_class[i]]
            serial = f"{i + 1:07d}"
            ncb = self.nation_rows[rng.randrange(spec.nations)][2]
            items.append(
                Item(
                    id=i + 1,
                    nsn=f"{rng.choice(nscs)}-{ncb}-{serial[:3]}-{serial[3:]}",
                    name=f"{rng.choice(nouns)}, pattern {i + 1}",
                    supply_class=supply_class,
                    unit_of_issue=rng.choice(units),
                )
            )
        Item.objects.bulk_create(items, batch_size=5000)

        DaysOfSupplyTarget.objects.bulk_create(
            [
                DaysOfSupplyTarget(nation_id=ni + 1, supply_class=cls, days=rng.choice([10, 15, 20, 30]))
                for ni in range(spec.nations)
                for cls in ("I", "III", "V", "VIII")
                if rng.random() < 0.6
            ]
        )

        # Users: one password hash for every human (hashing is deliberately slow), none for national systems.
        password = make_password(spec.password or settings.DEMO_PASSWORD)
        plans: list[tuple[str, str, object]] = []  # (username, role, target)
        nations = list(Nation.objects.order_by("id"))
        centers_by_id = list(LogisticsCenter.objects.order_by("id"))
        for nation in nations:
            lower = nation.code.lower()
            for k in range(1, spec.officers + 1):
                plans.append((f"{lower}-logistics-{k}", Role.LOGISTICS, nation))
            for k in range(1, spec.officers + 1):
                plans.append((f"{lower}-liaison-{k}", Role.LIAISON, nation))
            plans.append((f"{lower}-system", Role.LOGISTICS, nation))
        for center in centers_by_id:
            plans.append((f"{center.code.lower()}-operator", Role.OPERATOR, center))
        plans.append(("coordinator", Role.COORDINATOR, None))
        taken = set(User.objects.filter(username__in=[p[0] for p in plans]).values_list("username", flat=True))
        if taken:
            raise CommandError(f"Users already exist: {', '.join(sorted(taken)[:5])}…  Use a fresh database.")
        users = User.objects.bulk_create(
            [
                User(
                    username=name,
                    email=f"{name}@{EMAIL_DOMAIN}",
                    password=make_password(None) if name.endswith("-system") else password,
                    first_name=name.split("-")[0].upper(),
                )
                for name, _, _ in plans
            ]
        )
        by_name = {u.username: u for u in users}
        for name, role, target in plans:
            grant_role(by_name[name], role, target)
        ServiceAccount.objects.bulk_create(
            [
                ServiceAccount(
                    user=by_name[f"{nation.code.lower()}-system"],
                    nation=nation,
                    description=f"{nation.name} national logistics system",
                )
                for nation in nations
            ]
        )
        self.logistics = [
            [by_name[f"{nation.code.lower()}-logistics-{k}"].pk for k in range(1, spec.officers + 1)]
            for nation in nations
        ]
        self.liaison = [
            [by_name[f"{nation.code.lower()}-liaison-{k}"].pk for k in range(1, spec.officers + 1)]
            for nation in nations
        ]
        self.system = [by_name[f"{nation.code.lower()}-system"].pk for nation in nations]
        self.operator = [by_name[f"{center.code.lower()}-operator"].pk for center in centers_by_id]
        self.summary.nations = spec.nations
        self.summary.centers = spec.centers
        self.summary.items = spec.items
        self.summary.users = len(users)
        self.summary.groups = len({(role, getattr(target, "pk", None)) for _, role, target in plans})

    def movement_chunks(self, ts: list[str]):
        """The ledger, stock by stock, as COPY text; fills the stock and count lines on the way."""
        spec, rng = self.spec, self.rng
        r = rng.random
        stocks = len(self.keys)
        base_total = spec.movements - self.transfer_movements
        if base_total < stocks:
            raise CommandError(
                f"--movements {spec.movements:,} is too few: every stock starts with a receipt, and the requests "
                f"need {self.transfer_movements:,} more ({stocks + self.transfer_movements:,} at least)."
            )
        # movements per stock: on average base_total / stocks, between 1 and about twice that
        avg, rem = divmod(base_total, stocks)
        per_stock = [avg + 1] * rem + [avg] * (stocks - rem)
        rng.shuffle(per_stock)
        for _ in range(stocks // 2):
            a, b = int(r() * stocks), int(r() * stocks)
            if per_stock[a] > 1 and per_stock[b] < 2 * avg + 1:
                per_stock[a] -= 1
                per_stock[b] += 1

        request_by_id = {q.id: q for q in self.requests}
        references = {q.id: f"REQ-{q.id:06d}" for q in self.requests}
        request_actor = {}
        for q in self.requests:
            supplier = self.decode(self.keys[q.supplier_stock])[0]
            request_actor[(q.id, "transfer_out")] = self.logistics[supplier][0]
            request_actor[(q.id, "transfer_in")] = self.logistics[q.requesting_nation][0]
        item_classes = self.item_class
        base_end = self.base_end
        last_minute = self.total_minutes - 1
        count_fraction = spec.count_fraction
        bad_ledger, bad_reserved, bad_count = self.bad_ledger, self.bad_reserved, self.bad_count
        bad_chain = self.bad_chain
        reserved_expected, transfers = self.reserved_expected, self.transfers
        logistics, operator = self.logistics, self.operator
        n_officers = spec.officers

        self.stock_lines: list[str] = []
        self.count_lines: list[str] = []
        # the hash chain: each minute of the window in microseconds since 1970 (occurred_at = recorded_at here)
        origin_us = epoch_microseconds(self.origin)
        minute_us = [origin_us + m * 60_000_000 for m in range(self.total_minutes)]
        genesis_hex = GENESIS.hex()
        sha256 = hashlib.sha256
        stock_buffer: list[str] = []
        count_buffer: list[str] = []
        out: list[str] = []
        movement_id = 0
        count_id = 0
        shared_total = released_total = 0
        released = self.release_rng.random
        release_chance = RELEASED_FRACTION / 0.7  # among the private stocks (70%): RELEASED_FRACTION of all
        summary = self.summary

        for idx in range(stocks):
            key = self.keys[idx]
            nation, center, item = self.decode(key)
            low, high = ITEM_CLASSES[item_classes[item]][4]
            k = per_stock[idx]
            officers = logistics[nation]
            t = int(r() * (base_end // 3))
            step = max(1, (base_end - t) // (k + 1))
            # (minute, kind, quantity, request id or 0, actor)
            moves = [(t, "receipt", low + int(r() * (high - low)), 0, officers[0])]
            bal = moves[0][2]
            for _ in range(k - 1):
                t += 1 + int(r() * step)
                u = r()
                actor = officers[int(r() * n_officers)]
                if u < 0.45 and bal > 1:
                    q, kind = -(1 + int(r() * bal * 0.4)), "issue"
                elif u < 0.8:
                    q, kind = 1 + int(r() * (high - low) * 0.5), "receipt"
                else:
                    q = 1 + int(r() * 20)
                    if r() < 0.5 and bal > q:
                        q = -q
                    kind = "adjustment" if u < 0.93 else "count_correction"
                    if kind == "count_correction":
                        actor = operator[center]
                bal += q
                moves.append((t, kind, q, 0, actor))
            for minute, kind, q, request_id in transfers.get(idx, ()):
                moves.append((minute, kind, q, request_id, request_actor[(request_id, kind)]))

            # The balance never goes negative, and covers what is reserved (plus room for a deliberate mismatch):
            # raise the first receipt if needed.
            reserved = reserved_expected.get(idx, 0)
            need = reserved + (20 if idx in bad_reserved else 0) + (50 if idx in bad_ledger else 0)
            running, lowest = 0, 0
            for move in moves:
                running += move[2]
                if running < lowest:
                    lowest = running
            deficit = max(-lowest, need - running)
            if deficit > 0:
                first = moves[0]
                moves[0] = (first[0], first[1], first[2] + deficit, first[3], first[4])
                running += deficit

            stock_id = idx + 1
            balance = 0
            balances = []
            head = before = genesis_hex
            tamper = bad_chain.get(idx)
            tampered = len(moves) // 2  # the movement that shows a deliberate broken chain
            if tamper == BROKEN_LINK and tampered == 0:
                tamper = HASH_MISMATCH  # a link needs a movement before it
            for n_move, (minute, kind, q, request_id, actor) in enumerate(moves):
                balance += q
                balances.append(balance)
                movement_id += 1
                when = ts[minute]
                reason = (
                    f"Dispatched for {references[request_id]}"
                    if kind == "transfer_out"
                    else (f"Received for {references[request_id]}" if kind == "transfer_in" else kind.replace("_", " "))
                )
                prev = head
                if tamper and n_move == tampered:
                    if tamper == BROKEN_LINK:  # chained past its predecessor, as if that one were slipped in
                        prev = before
                        summary.ledger_chain_breaks.append((stock_id, movement_id, BROKEN_LINK))
                    elif tamper == HASH_MISMATCH:  # hashed as written, then edited
                        summary.ledger_chain_breaks.append((stock_id, movement_id, HASH_MISMATCH))
                us = minute_us[minute]
                line = canonical_line(prev, stock_id, kind, q, balance, us, us, actor, request_id or None, reason)
                digest = sha256(line.encode()).hexdigest()
                if tamper == HASH_MISMATCH and n_move == tampered:
                    reason += " (edited)"
                out.append(
                    f"{movement_id}\t{stock_id}\t{center + 1}\t{kind}\t{q}\t{balance}\t{actor}\t{when}:00+00\t"
                    f"{when}:00+00\t{reason}\t{request_id or NULL}\t\\\\x{prev}\t\\\\x{digest}\n"
                )
                before, head = head, digest
            if tamper == HEAD_MISMATCH:  # the stock's head still names the movement before its newest
                head = before
                summary.ledger_chain_breaks.append((stock_id, movement_id, HEAD_MISMATCH))
            on_hand = balance

            # Physical count at a moment after the first movement (seconds :30, never equal to a movement's time).
            if idx in bad_count or r() < count_fraction:
                first_minute = moves[0][0]
                minute = first_minute + int(r() * (last_minute - first_minute))
                book = 0
                for (m, _, _, _, _), b in zip(moves, balances, strict=True):
                    if m > minute:
                        break
                    book = b
                counted = book
                count_id += 1
                if idx in bad_count:
                    counted = book + 1 + int(r() * 40) if (book < 5 or r() < 0.5) else book - 1 - int(r() * (book // 2))
                    summary.count_mismatch_count_ids.append(count_id)
                by_operator = r() < 0.6
                counted_by = operator[center] if by_operator else self.system[nation]
                count_buffer.append(
                    f"{count_id}\t{stock_id}\t{counted}\t{ts[minute]}:30+00\t{counted_by}\t"
                    f"{'operator' if by_operator else 'national_system'}\t\t{ts[minute]}:30+00\n"
                )

            if idx in bad_ledger:  # the stock row changed without a movement
                on_hand += (1 + int(r() * 40)) * (-1 if r() < 0.5 else 1)
                summary.ledger_mismatch_stock_ids.append(stock_id)
            if idx in bad_reserved:  # a reservation booked without (or beyond) an approved request
                reserved += 1 + int(r() * 19)
                summary.reservation_mismatch_stock_ids.append(stock_id)

            available = on_hand - reserved
            u = r()
            if u < 0.07:
                safety = available + 1 + int(r() * (available // 2 + 10))  # below safety
            elif u < 0.08:
                safety = available  # exactly at the safety level: not below
            else:
                safety = int(available * (0.05 + 0.3 * r()))
            u = r()
            if u < 0.1 or available == 0:
                daily = "0.00"  # not consumed: no days-of-supply figure
            elif u < 0.16:
                daily = f"{available / (0.5 + r() * 8):.2f}"  # a few days of supply left
            else:
                daily = f"{available / (20 + r() * 160):.2f}"
            shared = r() < 0.3
            shared_total += shared
            release_list = NULL
            if not shared and released() < release_chance and self.lists_without[nation]:
                choices = self.lists_without[nation]
                release_list = choices[int(released() * len(choices))] + 1
                released_total += 1
            stock_buffer.append(
                f"{stock_id}\t{nation + 1}\t{center + 1}\t{item + 1}\t{on_hand}\t{reserved}\t{safety}\t{daily}\t"
                f"{'t' if shared else 'f'}\t{ts[moves[0][0]]}:00+00\t{ts[moves[-1][0]]}:00+00\t\\\\x{head}\t"
                f"{release_list}\n"
            )
            if len(out) >= 20_000:
                yield "".join(out)
                out.clear()
            if len(stock_buffer) >= 20_000:
                self.stock_lines.append("".join(stock_buffer))
                stock_buffer.clear()
            if len(count_buffer) >= 20_000:
                self.count_lines.append("".join(count_buffer))
                count_buffer.clear()
        if out:
            yield "".join(out)
        self.stock_lines.append("".join(stock_buffer))
        self.count_lines.append("".join(count_buffer))
        summary.stocks = stocks
        summary.shared_stocks = shared_total
        summary.released_stocks = released_total
        summary.movements = movement_id
        summary.counts = count_id
        summary.reservation_mismatch_stock_ids.sort()
        summary.ledger_mismatch_stock_ids.sort()
        self.request_by_id = request_by_id

    def request_lines(self, ts: list[str]) -> tuple[str, str]:
        rng = self.rng
        r = rng.random
        req_lines, event_lines = [], []
        event_id = 0
        by_status: dict[str, int] = defaultdict(int)
        comments = {
            RequestStatus.DRAFT: "Created",
            RequestStatus.REJECTED: "Cannot spare it at present",
            RequestStatus.CANCELLED: "No longer needed",
        }
        for q in self.requests:
            supplier, source_center, item = self.decode(self.keys[q.supplier_stock])
            path = PATHS[q.status]
            creator = self.logistics[q.requesting_nation][0]
            actors = {
                RequestStatus.DRAFT: creator,
                RequestStatus.SUBMITTED: creator,
                RequestStatus.CANCELLED: creator,
                RequestStatus.APPROVED: self.liaison[supplier][0],
                RequestStatus.REJECTED: self.liaison[supplier][0],
                RequestStatus.DISPATCHED: self.logistics[supplier][0],
                RequestStatus.RECEIVED: self.logistics[q.requesting_nation][0],
            }
            quantities = {
                RequestStatus.DRAFT: q.quantity_requested,
                RequestStatus.APPROVED: q.quantity_approved,
                RequestStatus.DISPATCHED: q.quantity_dispatched,
                RequestStatus.RECEIVED: q.quantity_received,
            }
            previous = ""
            for status, minute in zip(path, q.times, strict=True):
                event_id += 1
                quantity = quantities.get(status)
                event_lines.append(
                    f"{event_id}\t{q.id}\t{previous}\t{status}\t{actors[status]}\t{ts[minute]}:00+00\t"
                    f"{comments.get(status, '')}\t{NULL if quantity is None else quantity}\n"
                )
                previous = status
            created = ts[q.times[0]]
            required_by = self.at(q.times[0] + (7 + int(r() * 60)) * MINUTES_PER_DAY).date().isoformat()
            approved_at = f"{ts[q.times[2]]}:00+00" if RequestStatus.APPROVED in path else NULL

            submitted_at = f"{ts[q.times[1]]}:00+00" if RequestStatus.SUBMITTED in path else NULL

            def opt(value):
                return NULL if value is None else value

            priority = PRIORITIES[int(r() * 3)]
            req_lines.append(
                f"{q.id}\tREQ-{q.id:06d}\t{q.requesting_nation + 1}\t{supplier + 1}\t{item + 1}\t{source_center + 1}\t"
                f"{q.destination_center + 1}\t{q.quantity_requested}\t{opt(q.quantity_approved)}\t"
                f"{opt(q.quantity_dispatched)}\t{opt(q.quantity_received)}\t{priority}\t"
                f"{required_by}\tOperational need at {self.center_codes[q.destination_center]}\t{q.status}\t"
                f"{creator}\t{created}:00+00\t{ts[q.times[-1]]}:00+00\t{approved_at}\t{len(path)}\t"
                f"{DESIGNATOR_OF_PRIORITY[priority]}\t{submitted_at}\n"
            )
            by_status[q.status] += 1
        self.summary.requests = len(self.requests)
        self.summary.request_events = event_id
        self.summary.by_status = {s: by_status[s] for s, _ in STATUS_WEIGHTS if by_status[s]}
        return "".join(req_lines), "".join(event_lines)

    def write_short_receipt_flags(self) -> None:
        flags = []
        for request_id in self.summary.short_receipt_request_ids:
            q = self.request_by_id[request_id]
            when = self.at(q.times[4])
            flags.append(
                Discrepancy(
                    kind=DiscrepancyKind.SHORT_RECEIPT,
                    request_id=request_id,
                    expected=q.quantity_dispatched,
                    actual=q.quantity_received,
                    severity=Severity.CRITICAL if q.quantity_received == 0 else Severity.WARNING,
                    first_seen=when,
                    last_seen=when,
                    details={"missing": q.quantity_dispatched - q.quantity_received},
                )
            )
        Discrepancy.objects.bulk_create(flags)

    # --- the whole run --------------------------------------------------------------------------------------------

    def run(self) -> ScaleSummary:
        if connection.vendor != "postgresql":
            raise CommandError("generate_scale writes with PostgreSQL's COPY: point DATABASE_URL at PostgreSQL.")
        started = time.monotonic()
        timings = self.summary.timings

        def phase(name, since):
            timings[name] = round(time.monotonic() - since, 2)
            self.log(f"  {name}: {timings[name]:.1f} s")
            return time.monotonic()

        mark = time.monotonic()
        with transaction.atomic():
            _refuse_non_empty()
            self.plan_reference_data()
            self.plan_stocks()
            self.plan_requests()
            ts = self._minute_strings()
            mark = phase("plan", mark)
            self.write_reference_data()
            mark = phase("reference data, users and grants", mark)
            with connection.cursor() as django_cursor:
                cursor = django_cursor.cursor  # the raw psycopg cursor
                cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
                cursor.execute("SET LOCAL synchronous_commit = off")
                # run the deferred foreign-key checks of the rows written so far, so no table has pending
                # trigger events when its constraints are dropped
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                tables = [Stock, Movement, StockCount, SupplyRequest, RequestEvent]
                # dropped referencing tables first (a movement's key names a stock index), restored in order
                saved = [_drop_secondary_structures(cursor, model._meta.db_table) for model in reversed(tables)][::-1]
                _copy(
                    cursor,
                    Movement,
                    [
                        "id",
                        "stock_id",
                        "center_id",
                        "kind",
                        "quantity",
                        "balance_after",
                        "actor_id",
                        "occurred_at",
                        "recorded_at",
                        "reason",
                        "request_id",
                        "prev_hash",
                        "hash",
                    ],
                    self.movement_chunks(ts),
                )
                mark = phase("movements (COPY)", mark)
                _copy(
                    cursor,
                    Stock,
                    [
                        "id",
                        "nation_id",
                        "center_id",
                        "item_id",
                        "on_hand",
                        "reserved",
                        "safety_level",
                        "daily_consumption",
                        "shared",
                        "created_at",
                        "updated_at",
                        "ledger_head",
                        "release_list_id",
                    ],
                    self.stock_lines,
                )
                _copy(
                    cursor,
                    StockCount,
                    [
                        "id",
                        "stock_id",
                        "counted_quantity",
                        "counted_at",
                        "counted_by_id",
                        "source",
                        "note",
                        "recorded_at",
                    ],
                    self.count_lines,
                )
                requests, events = self.request_lines(ts)
                _copy(
                    cursor,
                    SupplyRequest,
                    [
                        "id",
                        "reference",
                        "requesting_nation_id",
                        "supplying_nation_id",
                        "item_id",
                        "source_center_id",
                        "destination_center_id",
                        "quantity_requested",
                        "quantity_approved",
                        "quantity_dispatched",
                        "quantity_received",
                        "priority",
                        "required_by",
                        "justification",
                        "status",
                        "created_by_id",
                        "created_at",
                        "updated_at",
                        "approved_at",
                        "version",
                        "priority_designator",
                        "submitted_at",
                    ],
                    [requests],
                )
                _copy(
                    cursor,
                    RequestEvent,
                    ["id", "request_id", "from_status", "to_status", "actor_id", "at", "comment", "quantity"],
                    [events],
                )
                mark = phase("stocks, counts, requests (COPY)", mark)
                for table_saved in saved:
                    _restore_secondary_structures(cursor, table_saved)
                mark = phase("indexes and foreign keys", mark)
                for statement in connection.ops.sequence_reset_sql(
                    no_style(), [Nation, LogisticsCenter, Item, ReleaseList, *tables]
                ):
                    cursor.execute(statement)
            self.write_short_receipt_flags()
        with connection.cursor() as cursor:
            for model in (Stock, Movement, StockCount, SupplyRequest, RequestEvent):
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
        phase("vacuum analyze", mark)
        self.summary.seconds = round(time.monotonic() - started, 1)
        return self.summary


def _refuse_non_empty() -> None:
    non_empty = [
        str(model._meta.verbose_name_plural)
        for model in (Nation, LogisticsCenter, Item, Stock, Movement, SupplyRequest)
        if model.objects.exists()
    ]
    if non_empty:
        raise CommandError(
            f"generate_scale fills an empty database, and this one already has {', '.join(non_empty)}. "
            "It never deletes anything: create a fresh database (createdb NAME), run `manage.py migrate` on it, "
            "and point DATABASE_URL at it."
        )


def _copy(cursor, model, columns: list[str], chunks) -> None:
    statement = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        for chunk in chunks:
            if chunk:
                copy.write(chunk)


def _drop_secondary_structures(cursor, table: str) -> dict:
    """Drop a table's foreign keys, unique constraints and plain indexes (not its primary key); return their
    definitions for ``_restore_secondary_structures``."""
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('f', 'u') ORDER BY contype DESC, conname",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conrelid = x.indrelid AND c.conindid = x.indexrelid AND c.contype IN ('p', 'u', 'x')) "
        "ORDER BY i.relname",
        [table],
    )
    indexes = cursor.fetchall()
    for name, _, _ in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    return {"table": table, "constraints": constraints, "indexes": indexes}


def _restore_secondary_structures(cursor, saved: dict) -> None:
    for _, definition in saved["indexes"]:
        cursor.execute(definition)
    # unique constraints before the foreign keys that may rely on them
    for name, _, definition in sorted(saved["constraints"], key=lambda c: c[1] != "u"):
        cursor.execute(f'ALTER TABLE {saved["table"]} ADD CONSTRAINT "{name}" {definition}')


def generate_scale(spec: ScaleSpec, log=None) -> ScaleSummary:
    """Fill the (empty, migrated) default database as `spec` says; returns what was written."""
    return ScaleGenerator(spec, log=log).run()


class Command(BaseCommand):
    help = (
        "Fill an empty, migrated PostgreSQL database with a large consistent data set (COPY), with a few "
        "deliberate inconsistencies of every kind for reconciliation to find."
    )

    def add_arguments(self, parser):
        parser.add_argument("--nations", type=int, default=30)
        parser.add_argument("--centers", type=int, default=40)
        parser.add_argument("--items", type=int, default=2000)
        parser.add_argument("--stocks", type=int, default=1_000_000)
        parser.add_argument("--movements", type=int, default=3_000_000)
        parser.add_argument(
            "--requests",
            type=int,
            default=None,
            help="Supply requests to generate (default: one per 500 stocks, at least 40).",
        )
        parser.add_argument(
            "--officers",
            type=int,
            default=2,
            help="Logistics officers and liaison officers per nation (default 2 of each).",
        )
        parser.add_argument("--seed", type=int, default=2026, help="Same seed and sizes, same data.")
        parser.add_argument(
            "--password", default=None, help="Password of the generated people (default: settings.DEMO_PASSWORD)."
        )

    def handle(self, *args, **options):
        spec = ScaleSpec(
            nations=options["nations"],
            centers=options["centers"],
            items=options["items"],
            stocks=options["stocks"],
            movements=options["movements"],
            seed=options["seed"],
            requests=options["requests"],
            officers=options["officers"],
            password=options["password"],
        )
        verbose = options["verbosity"] >= 2
        summary = generate_scale(spec, log=self.stdout.write if verbose else None)
        for line in summary.lines():
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"generate_scale: done in {summary.seconds:.1f} s (seed {spec.seed})"))
