"""The audit log's hash chain: every entry is sealed, in turn, into one chain over the whole log.

Canonical form (version 1) of an entry sealed at position ``seq``, one line of UTF-8 text, fields joined by ``|``::

    alliance-audit/1|<prev_hash, 64 lowercase hex>|<seq>|<entry id>|<at>|<kind>|<actor id>|<nation code>
        |<stock id>|<ip address>|<username>|<object_type>|<object_id>|<object_repr>|<path>|<summary>|<details>

(on one line).  ``at`` is whole microseconds since 1970-01-01T00:00:00Z; actor id, nation code, stock id and ip
address are empty when the entry has none.  The six texts (username to summary) are each written as a JSON string
literal (``json.dumps(text, ensure_ascii=False)``: quoted, ``"`` and ``\\`` escaped), and ``details`` as canonical
JSON (keys sorted, no spaces, ``ensure_ascii=False``), so no text can shift a field into the next.

- ``AuditSeal.hash`` = SHA-256 of that line; ``AuditSeal.prev_hash`` = the hash of link ``seq - 1``, or
  :data:`AUDIT_GENESIS` (32 zero bytes) for link 1.  ``seq`` runs 1, 2, 3, ... without gaps, so a receiver that
  holds links up to ``n`` knows exactly what comes next, and a missing link shows.
- The export (``nations.audit_export``) carries each entry with ``seq``, ``prev_hash`` and ``hash``, and the line
  is computed from the exported record itself (:func:`record_line`), so a receiver can check the chain without
  the database.

Writing an entry takes no lock: many transactions write entries at once, and approvals must stay fast.  Entries
are sealed afterwards by :func:`seal_pending` (Celery beat every minute, and before every export), which takes
one lock (a PostgreSQL advisory lock held to the end of its transaction), reads the chain's head and appends links
for the committed entries that have none, in id order.  It looks for them with an anti-join, not "ids after the
head": an entry whose transaction committed after a later one was sealed has a smaller id than the head and is
sealed by the next run (it then stands after entries with larger ids; the chain orders the log as the sealer saw
it committed).  The anti-join covers the ids after the head and the entries written within
``AUDIT_SEAL_LOOKBACK_MINUTES`` (60) before the head's: an entry's transaction is far shorter than that, and an
index then serves the search however long the log.  :func:`verify_chain` reports an unsealed entry older than
that window as ``unsealed`` (the chain skipped it, or it was written behind the portal's back).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .models import AUDIT_GENESIS, AuditEntry, AuditSeal

VERSION = "alliance-audit/1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# pg_advisory_xact_lock key of the sealer (any constant unique in the portal: "AUDITSEL" in ASCII)
SEALER_LOCK = 0x4155_4449_5453_454C
SEAL_BATCH = 2000

HASH_MISMATCH = "hash_mismatch"
BROKEN_LINK = "broken_link"
UNSEALED = "unsealed"


def lookback() -> timedelta:
    return timedelta(minutes=getattr(settings, "AUDIT_SEAL_LOOKBACK_MINUTES", 60))


# --- the canonical form ---------------------------------------------------------------------------------------


def epoch_microseconds(moment: datetime) -> int:
    """Whole microseconds since 1970-01-01 UTC (as inventory.ledger; nations may not import it)."""
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return (moment - _EPOCH) // _MICROSECOND


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _text(value: str) -> str:
    return json.dumps(value or "", ensure_ascii=False)


def entry_record(entry: AuditEntry) -> dict[str, Any]:
    """What the chain seals of an entry, and what the export carries of it (with the seal fields added).
    `entry.nation` should be loaded with the entry (``select_related``)."""
    return {
        "id": entry.pk,
        "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "kind": entry.kind,
        "actor_id": entry.actor_id,
        "username": entry.username,
        "nation": entry.nation.code if entry.nation_id is not None else None,
        "stock": entry.stock_id,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "object_repr": entry.object_repr,
        "summary": entry.summary,
        "details": entry.details or {},
        "ip_address": entry.ip_address,
        "path": entry.path,
    }


def _empty_if_none(value) -> str:
    return "" if value is None else str(value)


def record_line(prev_hex: str, seq: int, record: dict[str, Any]) -> str:
    """The canonical line of an entry record (:func:`entry_record`, or one line of an export) sealed at `seq`."""
    at = epoch_microseconds(datetime.fromisoformat(record["at"]))
    fixed = [
        VERSION,
        prev_hex,
        str(seq),
        str(record["id"]),
        str(at),
        record["kind"],
        _empty_if_none(record["actor_id"]),
        _empty_if_none(record["nation"]),
        _empty_if_none(record["stock"]),
        _empty_if_none(record["ip_address"]),
    ]
    texts = [_text(record[key]) for key in ("username", "object_type", "object_id", "object_repr", "path", "summary")]
    return "|".join([*fixed, *texts, canonical_json(record["details"] or {})])


def line_hash(line: str) -> bytes:
    return hashlib.sha256(line.encode("utf-8")).digest()


# --- sealing ----------------------------------------------------------------------------------------------------


def _take_sealer_lock() -> None:
    """One sealer at a time, to the end of the transaction.  SQLite has one writer at a time anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEALER_LOCK])


def chain_head() -> AuditSeal | None:
    return AuditSeal.objects.select_related("entry").order_by("-seq").first()


def pending_entries(head: AuditSeal | None):
    """Committed entries without a link, in id order: an anti-join over the ids after the head's entry and the
    entries written within the look-back window before it (module docstring)."""
    pending = AuditEntry.objects.filter(seal__isnull=True)
    if head is not None:
        pending = pending.filter(Q(pk__gt=head.entry_id) | Q(at__gte=head.entry.at - lookback()))
    return pending.select_related("nation").order_by("pk")


def seal_pending(*, batch_size: int = SEAL_BATCH) -> int:
    """Append a link for every committed entry not sealed yet; return how many were sealed.

    Each batch is one transaction under the sealer's lock: the head read and the links appended cannot interleave
    with another sealer's, so the chain never forks (``seq`` is the primary key besides: a second link at the same
    position would be refused)."""
    sealed = 0
    while True:
        with transaction.atomic():
            _take_sealer_lock()
            head = chain_head()
            entries = list(pending_entries(head)[:batch_size])
            if not entries:
                return sealed
            seq, prev = (head.seq, bytes(head.hash)) if head is not None else (0, AUDIT_GENESIS)
            now = timezone.now()
            links = []
            for entry in entries:
                seq += 1
                digest = line_hash(record_line(prev.hex(), seq, entry_record(entry)))
                links.append(AuditSeal(seq=seq, entry=entry, prev_hash=prev, hash=digest, sealed_at=now))
                prev = digest
            AuditSeal.objects.bulk_create(links)
        sealed += len(links)
        if len(entries) < batch_size:
            return sealed


# --- verification -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainBreak:
    """The first broken link: `seq` the link (None for an unsealed entry), `entry_id` its entry, `problem` one of
    ``hash_mismatch`` (the entry or its link was changed), ``broken_link`` (a link before it was removed,
    inserted or reordered: its ``prev_hash`` or ``seq`` does not follow) or ``unsealed`` (an entry older than
    the sealer's window has no link); `expected` and `found` say what differs."""

    seq: int | None
    entry_id: int | None
    problem: str
    expected: str
    found: str


@dataclass(frozen=True)
class ChainReport:
    links: int
    head_seq: int
    head_hash: str
    broken: ChainBreak | None
    unsealed: int = 0

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify_records(links: Iterable[tuple[int, str, str, dict[str, Any]]], *, after: tuple[int, str] | None = None):
    """Check (seq, prev_hash hex, hash hex, record) links in seq order, chained on `after` ((seq, hash hex) of the
    link before the first; the genesis by default).  Return (links checked, last seq, last hash hex, first break
    or None).  Works on exported records as on the database's."""
    expected_seq, prev = (after[0] + 1, after[1]) if after else (1, AUDIT_GENESIS.hex())
    count = 0
    for seq, prev_hex, hash_hex, record in links:
        count += 1
        if seq != expected_seq:
            return count, seq, hash_hex, ChainBreak(seq, record.get("id"), BROKEN_LINK, f"seq {expected_seq}", str(seq))
        if prev_hex != prev:
            return count, seq, hash_hex, ChainBreak(seq, record.get("id"), BROKEN_LINK, prev, prev_hex)
        recomputed = line_hash(record_line(prev_hex, seq, record)).hex()
        if recomputed != hash_hex:
            return count, seq, hash_hex, ChainBreak(seq, record.get("id"), HASH_MISMATCH, recomputed, hash_hex)
        expected_seq, prev = seq + 1, hash_hex
    return count, expected_seq - 1, prev, None


def database_links(*, chunk_size: int = SEAL_BATCH) -> Iterator[tuple[int, str, str, dict[str, Any]]]:
    """Every link with its entry, in seq order, from a server-side cursor."""
    seals = AuditSeal.objects.select_related("entry", "entry__nation").order_by("seq")
    for link in seals.iterator(chunk_size=chunk_size):
        yield link.seq, bytes(link.prev_hash).hex(), bytes(link.hash).hex(), entry_record(link.entry)


def unsealed_behind(head: AuditSeal | None):
    """Entries the sealer will never reach: no link, before the head and older than its window."""
    if head is None:
        return AuditEntry.objects.none()
    return AuditEntry.objects.filter(seal__isnull=True, pk__lt=head.entry_id, at__lt=head.entry.at - lookback())


def verify_chain() -> ChainReport:
    """Re-hash every link of the chain; report the first broken one, and entries left out of it."""
    head = chain_head()
    count, last_seq, last_hash, broken = verify_records(database_links())
    skipped = unsealed_behind(head)
    unsealed = skipped.count()
    if broken is None and unsealed:
        first = skipped.order_by("pk").values_list("pk", flat=True).first()
        broken = ChainBreak(None, first, UNSEALED, "a link", f"{unsealed} entries without one")
    return ChainReport(
        links=count,
        head_seq=head.seq if head is not None else 0,
        head_hash=bytes(head.hash).hex() if head is not None else AUDIT_GENESIS.hex(),
        broken=broken,
        unsealed=unsealed,
    )
