"""Verify the tamper-evident ledger: every movement's hash, every link of every stock's chain, every stock's head.

``manage.py verify_ledger [--center CODE] [--stock ID ...] [--digest]``

Prints the first broken link of each broken stock (stock, movement, what differs), then a summary with counts and
the time taken, and exits with status 1 when anything is broken (2 for bad arguments).  A full check: it re-hashes
every movement in scope, unlike the reconciliation runs, which check incrementally (inventory/ledger.py).
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from inventory.ledger import heads_digest, verify_chains
from inventory.models import LogisticsCenter, Stock


class Command(BaseCommand):
    help = "Re-hash the movement ledger and report the first broken link of each stock's chain; exit 1 if any."

    def add_arguments(self, parser):
        parser.add_argument("--center", metavar="CODE", help="only the stocks of this logistics center")
        parser.add_argument(
            "--stock", metavar="ID", type=int, action="append", dest="stocks", help="only this stock (repeat for more)"
        )
        parser.add_argument(
            "--digest",
            action="store_true",
            help="also print one SHA-256 over every stock head in scope, to keep outside the "
            "database and compare later (a consistent rewrite of a whole chain is only "
            "visible that way)",
        )

    def handle(
        self, *args, center: str | None = None, stocks: list[int] | None = None, digest: bool = False, **options
    ):
        began = time.perf_counter()
        if digest and stocks:
            raise CommandError("--digest covers a whole center or the whole ledger: leave out --stock.", returncode=2)
        center_id = None
        if center is not None:
            center_id = LogisticsCenter.objects.filter(code=center).values_list("pk", flat=True).first()
            if center_id is None:
                raise CommandError(f"No logistics center with code {center!r}.", returncode=2)
        if stocks:
            known = Stock.objects.filter(pk__in=stocks)
            if center_id is not None:
                known = known.filter(center_id=center_id)
            missing = sorted(set(stocks) - set(known.values_list("pk", flat=True)))
            if missing:
                where = f" at {center}" if center else ""
                raise CommandError(f"No stock with id {', '.join(map(str, missing))}{where}.", returncode=2)

        report = verify_chains(center_id=center_id, stock_ids=stocks)
        for link in report.broken:
            movement = f"movement {link.movement_id}" if link.movement_id is not None else "no movement"
            self.stdout.write(
                f"stock {link.stock_id}, {movement}: {link.problem} (expected {link.expected}, found {link.found})"
            )

        seconds = time.perf_counter() - began
        by_problem: dict[str, int] = {}
        for link in report.broken:
            by_problem[link.problem] = by_problem.get(link.problem, 0) + 1
        detail = ", ".join(f"{problem} {n}" for problem, n in sorted(by_problem.items()))
        summary = (
            f"verify_ledger: {report.stocks:,} stocks, {report.movements:,} movements re-hashed, "
            f"{len(report.broken):,} broken chains{f' ({detail})' if detail else ''}, {seconds:.2f} s"
        )
        if digest:
            count, value = heads_digest(center_id=center_id)
            self.stdout.write(f"heads digest ({count:,} stocks): {value}")
        if report.broken:
            self.stdout.write(self.style.ERROR(summary))
            raise CommandError("the ledger is broken", returncode=1)
        self.stdout.write(self.style.SUCCESS(summary))
