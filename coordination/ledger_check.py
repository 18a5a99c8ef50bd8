"""The ledger check of a reconciliation run: one center's hash chains (inventory/ledger.py), raised as flags.

A broken chain is a critical discrepancy of kind ``ledger_chain`` on the stock, with the first broken link in its
details (movement id, problem, the expected and found hashes).  Like every flag it is upserted (one open per
stock, first and last seen kept), resolved when a later run finds the chain whole again, and acknowledged by
those it is addressed to.  The run's check is incremental (see ``verify_center_for_run``); the stocks with an open
flag are re-hashed completely every run, so a flag is neither lost nor cleared by a check that did not look.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from inventory.ledger import lock_checkpoint, verify_center_for_run

from .models import Discrepancy, DiscrepancyKind, DiscrepancyResolution, Severity

KIND = DiscrepancyKind.LEDGER_CHAIN


def check_center_ledger(center_id: int, *, now: datetime, slices: int | None = None) -> dict[str, int]:
    """Verify the center's chains for a run at `now` and upsert their flags; {"ledger_chain": broken stocks}.
    `slices` overrides LEDGER_VERIFY_SLICES (the benchmark compares settings)."""
    with transaction.atomic():
        lock_checkpoint(center_id)  # first: the open flags are read by the only check of this center
        changed = timezone.now()  # stamped inside the transaction, for sync cursors (core/api/pagination.py)
        open_flags = {
            flag.stock_id: flag
            for flag in Discrepancy.objects.filter(
                kind=KIND, resolved_at__isnull=True, request__isnull=True, stock__center_id=center_id
            )
        }
        report = verify_center_for_run(center_id, recheck=open_flags, slices=slices)
        raised, seen = [], []
        for link in report.broken:
            details = {
                "movement_id": link.movement_id,
                "problem": link.problem,
                "expected": link.expected,
                "found": link.found,
            }
            flag = open_flags.get(link.stock_id)
            if flag is None:
                raised.append(
                    Discrepancy(
                        kind=KIND,
                        stock_id=link.stock_id,
                        severity=Severity.CRITICAL,
                        first_seen=now,
                        last_seen=now,
                        details=details,
                    )
                )
            else:
                flag.last_seen, flag.updated_at, flag.details = now, changed, details
                seen.append(flag)
        Discrepancy.objects.bulk_create(raised)
        Discrepancy.objects.bulk_update(seen, ["last_seen", "updated_at", "details"])
        broken = {link.stock_id for link in report.broken}
        cleared = [flag.pk for stock_id, flag in open_flags.items() if stock_id not in broken]
        Discrepancy.objects.filter(pk__in=cleared).update(
            resolved_at=now, resolution=DiscrepancyResolution.CLEARED, updated_at=changed
        )
    return {str(KIND): len(report.broken)}
