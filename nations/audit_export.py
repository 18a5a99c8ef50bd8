"""The audit log exported for a SIEM: every sealed entry in chain order, with its link (``seq``, ``prev_hash``,
``hash``), as JSON lines or ArcSight CEF.

- ``since``: ``seq:<n>`` resumes after the last link a receiver holds (what a SIEM keeps); an ISO date or time
  exports the entries written from then on; nothing exports the whole chain.
- Entries are sealed first (``audit_chain.seal_pending``), and the export stops at the head it found then, so its
  count is known before the first line is written, and an export is recorded (``AuditKind.AUDIT_EXPORTED``: since,
  format, count, last seq) before it streams.
- Rows come from a server-side cursor (``iterator``): the log is never loaded whole.

JSON lines: one object per line, the record of ``audit_chain.entry_record`` plus ``seq``, ``prev_hash``, ``hash``
(hex) -- exactly what the chain hashes, so a receiver re-computes ``hash`` from the line (``verify_audit_chain
--file``).  CEF (``CEF:0|Alliance|Logistics Portal|<version>|<kind>|<event name>|<severity>|<extension>``): the
same fields as extension keys (see :data:`CEF_KEYS`); ``|`` and ``\\`` escaped in the header, ``\\``, ``=`` and line
breaks in extension values.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time
from importlib import metadata
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from . import audit
from .audit_chain import canonical_json, chain_head, entry_record, epoch_microseconds, seal_pending
from .models import AuditKind, AuditSeal

FORMATS = ("jsonl", "cef")
CHUNK = 2000


@dataclass(frozen=True)
class Since:
    """Where an export starts: after link `seq`, or at entries written from `at`; neither: the whole chain."""

    seq: int | None = None
    at: datetime | None = None
    text: str = ""


def parse_since(text: str | None) -> Since:
    """``seq:<n>``, an ISO date (``2026-03-01``, midnight in the portal's time zone) or date and time; raises
    ValueError with a message for the caller."""
    text = (text or "").strip()
    if not text:
        return Since()
    if text.startswith("seq:"):
        number = text[4:]
        if not number.isdigit():
            raise ValueError("since: seq:<n> takes the number of the last link received, e.g. seq:1200.")
        return Since(seq=int(number), text=text)
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise ValueError("since: give seq:<n> or an ISO date or date and time, e.g. 2026-03-01T08:00:00Z.")
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return Since(at=moment, text=text)


def links(since: Since, through_seq: int):
    seals = AuditSeal.objects.filter(seq__lte=through_seq).select_related("entry", "entry__nation").order_by("seq")
    if since.seq is not None:
        seals = seals.filter(seq__gt=since.seq)
    elif since.at is not None:
        seals = seals.filter(entry__at__gte=since.at)
    return seals


def link_record(link: AuditSeal) -> dict[str, Any]:
    return {
        "seq": link.seq,
        "prev_hash": bytes(link.prev_hash).hex(),
        "hash": bytes(link.hash).hex(),
        **entry_record(link.entry),
    }


# --- the two formats --------------------------------------------------------------------------------------------


def jsonl_line(record: dict[str, Any]) -> str:
    return canonical_json(record) + "\n"


def product_version() -> str:
    try:
        return metadata.version("alliance-logistics-portal")
    except metadata.PackageNotFoundError:  # run from a checkout that was not installed
        return "0"


def cef_header(value: Any) -> str:
    """A CEF header field: ``\\`` and ``|`` escaped; a line break would end the event, so it becomes a space."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def cef_value(value: Any) -> str:
    """A CEF extension value: ``\\`` and ``=`` escaped, line breaks as ``\\n`` / ``\\r``."""
    text = str(value).replace("\\", "\\\\").replace("=", "\\=")
    return text.replace("\r", "\\r").replace("\n", "\\n")


# CEF severity (0-10) by kind: refused sign-ins and codes, lockouts; then changes of rights and exports.
_SEVERITY = {
    AuditKind.LOGIN_FAILED: 5,
    AuditKind.TWO_FACTOR_FAILED: 5,
    AuditKind.LOCKED_OUT: 7,
    AuditKind.ROLE_GRANTED: 6,
    AuditKind.ROLE_REVOKED: 6,
    AuditKind.TOKEN_ISSUED: 5,
    AuditKind.TOKEN_REVOKED: 5,
    AuditKind.TWO_FACTOR_RESET: 6,
    AuditKind.AUDIT_EXPORTED: 5,
}
# record key -> CEF extension key, in the order written; custom fields name themselves in their label
CEF_KEYS = [
    ("id", "externalId", None),
    ("seq", "cn1", "seq"),
    ("prev_hash", "cs5", "prevHash"),
    ("hash", "cs6", "hash"),
    ("at_us", "cn3", "atMicroseconds"),
    ("actor_id", "suid", None),
    ("username", "suser", None),
    ("nation", "cs1", "nation"),
    ("stock", "cn2", "stock"),
    ("object_type", "cs2", "objectType"),
    ("object_id", "cs3", "objectId"),
    ("object_repr", "flexString1", "object"),
    ("summary", "msg", None),
    ("details", "cs4", "details"),
    ("ip_address", "src", None),
    ("path", "request", None),
]


def cef_line(record: dict[str, Any], *, version: str | None = None) -> str:
    at_us = epoch_microseconds(datetime.fromisoformat(record["at"]))
    values = {**record, "details": canonical_json(record["details"] or {}), "at_us": at_us}
    kind = record["kind"]
    label = AuditKind(kind).label if kind in AuditKind.values else kind
    header = [
        "CEF:0",
        cef_header("Alliance"),
        cef_header("Logistics Portal"),
        cef_header(version or product_version()),
        cef_header(kind),
        cef_header(str(label)),
        str(_SEVERITY.get(kind, 3)),
    ]
    extension = [f"rt={at_us // 1000}"]
    for key, cef_key, custom_label in CEF_KEYS:
        value = values.get(key)
        if value is None or value == "":
            continue
        if custom_label is not None:
            extension.append(f"{cef_key}Label={cef_value(custom_label)}")
        extension.append(f"{cef_key}={cef_value(value)}")
    return "|".join(header) + "|" + " ".join(extension) + "\n"


# --- one export ----------------------------------------------------------------------------------------------


@dataclass
class Export:
    since: Since
    format: str
    through_seq: int
    count: int

    def lines(self) -> Iterator[str]:
        """The export's lines, from a server-side cursor."""
        version = product_version()
        for link in links(self.since, self.through_seq).iterator(chunk_size=CHUNK):
            record = link_record(link)
            yield jsonl_line(record) if self.format == "jsonl" else cef_line(record, version=version)


def start_export(*, since: Since, format: str, actor=None, request=None, details: dict | None = None) -> Export:
    """Seal what is pending, fix the export's last link, record the export (who, since, format, how many), and
    return it ready to stream.  `actor` None with no request: the system (a management command)."""
    if format not in FORMATS:
        raise ValueError(f"format: one of {', '.join(FORMATS)}.")
    seal_pending()
    head = chain_head()
    through = head.seq if head is not None else 0
    # seq is gap-free: without a date the count needs no query
    count = links(since, through).count() if since.at is not None else max(0, through - (since.seq or 0))
    audit.record(
        AuditKind.AUDIT_EXPORTED,
        actor=actor,
        request=request,
        summary=f"Audit log exported as {format}: {count} entries"
        + (f" since {since.text}" if since.text else "")
        + f", through link {through}",
        details={"since": since.text, "format": format, "entries": count, "through_seq": through, **(details or {})},
    )
    return Export(since=since, format=format, through_seq=through, count=count)
