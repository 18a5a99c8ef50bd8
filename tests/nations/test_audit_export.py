"""The audit log's hash chain and its export for a SIEM (issue 12, "Audit export for a SIEM").

The sealer appends one link per committed entry (gap-free ``seq``, ``prev_hash``, ``hash``) without slowing the
transactions that write entries; verification finds an edited entry and a removed link; an entry committed after
a later one was sealed is sealed by the next run, not skipped; two sealers at once do not fork the chain.  The
export streams entries in chain order with their links, as JSON lines a receiver can verify alone, or CEF; it is
for administrators only and is itself recorded, as every read of the log is.
"""

from __future__ import annotations

import io
import json
import threading
import time

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from nations import audit, audit_chain
from nations.audit_chain import BROKEN_LINK, HASH_MISMATCH, record_line, seal_pending, verify_chain, verify_records
from nations.audit_export import cef_header, cef_value, parse_since
from nations.models import AuditEntry, AuditKind, AuditSeal
from nations.tasks import seal_audit_log
from tests.api.conftest import build_scenario, session_client, token_client
from tests.factories import UserFactory

EXPORT = "/api/v1/audit-events/export/"


@pytest.fixture
def world(db):
    return build_scenario()


@pytest.fixture
def admin_user(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def write_entries(n: int, *, summary: str = "event") -> list[AuditEntry]:
    return [
        audit.record(AuditKind.LOGIN_FAILED, username=f"user{i}", summary=f"{summary} {i}", details={"i": i, "n": n})
        for i in range(n)
    ]


def export_lines(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("export_audit", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().splitlines()


def lift_trigger(table: str, enable: bool) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        verb = "ENABLE" if enable else "DISABLE"
        cursor.execute(f"ALTER TABLE {table} {verb} TRIGGER {table}_append_only")


# --- the chain ---------------------------------------------------------------------------------------------------


def test_every_entry_is_sealed_once_in_a_chain_that_verifies(world):
    write_entries(5)
    total = AuditEntry.objects.count()

    assert seal_pending() == total
    assert seal_pending() == 0  # nothing twice

    seals = list(AuditSeal.objects.order_by("seq"))
    assert [s.seq for s in seals] == list(range(1, total + 1))
    assert bytes(seals[0].prev_hash) == bytes(32)
    assert all(bytes(b.prev_hash) == bytes(a.hash) for a, b in zip(seals, seals[1:], strict=False))
    assert [s.entry_id for s in seals] == sorted(AuditEntry.objects.values_list("pk", flat=True))
    report = verify_chain()
    assert report.ok and report.links == total and report.head_seq == total


def test_the_canonical_line_is_the_documented_one(world):
    entry = audit.record(
        AuditKind.STOCK_ADJUSTED,
        obj=world.stocks["fra_private"],
        nation=world.fra,
        actor=world.users["fra_logistics"],
        summary='a | "quoted" \\ summary',
        details={"b": 1, "a": "é"},
    )
    seal_pending()
    seal = AuditSeal.objects.get(entry=entry)
    at_us = int(entry.at.timestamp()) * 1_000_000 + entry.at.microsecond
    stock = world.stocks["fra_private"].pk
    expected = (
        f"alliance-audit/1|{bytes(seal.prev_hash).hex()}|{seal.seq}|{entry.pk}|{at_us}|stock.adjusted|"
        f"{world.users['fra_logistics'].pk}|FRA|{stock}||"
        f'"fra-logistics"|"inventory.stock"|"{stock}"|"{entry.object_repr}"|""|'
        f'"a | \\"quoted\\" \\\\ summary"|{{"a":"é","b":1}}'
    )
    assert record_line(bytes(seal.prev_hash).hex(), seal.seq, audit_chain.entry_record(entry)) == expected
    assert bytes(seal.hash) == audit_chain.line_hash(expected)


@pytest.mark.parametrize("table", ["nations_auditseal"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET sealed_at = sealed_at", "DELETE FROM {t}"])
def test_the_database_refuses_to_change_or_remove_a_link(world, table, statement):
    write_entries(1)
    seal_pending()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement.format(t=table))


@pytest.mark.postgres
def test_an_edited_entry_is_found_at_its_link(world):
    entries = write_entries(4)
    seal_pending()
    edited = entries[2]
    lift_trigger("nations_auditentry", enable=False)
    AuditEntry.objects.filter(pk=edited.pk).update(summary="nothing happened")
    lift_trigger("nations_auditentry", enable=True)

    report = verify_chain()

    assert not report.ok
    assert (report.broken.entry_id, report.broken.problem) == (edited.pk, HASH_MISMATCH)
    assert report.broken.seq == AuditSeal.objects.get(entry=edited).seq
    with pytest.raises(CommandError) as refused:
        call_command("verify_audit_chain", stdout=io.StringIO())
    assert refused.value.returncode == 1


@pytest.mark.postgres
def test_a_removed_link_is_found(world):
    write_entries(4)
    seal_pending()
    removed = AuditSeal.objects.order_by("-seq")[2]
    lift_trigger("nations_auditseal", enable=False)
    AuditSeal.objects.filter(seq=removed.seq).delete()
    lift_trigger("nations_auditseal", enable=True)

    report = verify_chain()

    assert (report.broken.seq, report.broken.problem) == (removed.seq + 1, BROKEN_LINK)


def test_the_beat_schedule_seals_every_minute(world):
    scheduled = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled["nations.tasks.seal_audit_log"] == 60
    write_entries(2)
    assert seal_audit_log.delay().get() is None
    assert not AuditEntry.objects.filter(seal__isnull=True).exists()


# --- sealing while entries are written --------------------------------------------------------------------------


def in_thread(work, *args) -> threading.Thread:
    """Run `work` in a thread with its own database connection; its exception is kept on the thread."""

    def run():
        try:
            work(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            thread.error = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.error = None
    thread.start()
    return thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_entry_committed_after_a_later_one_was_sealed_is_sealed_by_the_next_run():
    written, commit = threading.Event(), threading.Event()
    late: list[AuditEntry] = []

    def slow_transaction():
        with transaction.atomic():
            late.append(audit.record(AuditKind.LOGIN_FAILED, username="slow", summary="slow"))
            written.set()
            assert commit.wait(10)

    thread = in_thread(slow_transaction)
    assert written.wait(10)
    (early,) = write_entries(1)
    assert early.pk > late[0].pk

    assert seal_pending() == 1  # the later id, committed first
    commit.set()
    thread.join(10)
    assert thread.error is None
    assert seal_pending() == 1  # the earlier id, committed since

    assert AuditSeal.objects.get(entry_id=late[0].pk).seq == AuditSeal.objects.get(entry=early).seq + 1
    assert verify_chain().ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sealers_at_once_do_not_fork_the_chain(monkeypatch):
    write_entries(30)
    read_head = audit_chain.chain_head

    def slow_head():
        head = read_head()
        time.sleep(0.3)  # both sealers would read the same head here, were they not taking turns
        return head

    monkeypatch.setattr(audit_chain, "chain_head", slow_head)
    threads = [in_thread(seal_pending) for _ in range(2)]
    for thread in threads:
        thread.join(20)

    assert [t.error for t in threads] == [None, None]
    assert list(AuditSeal.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, 31))
    assert AuditSeal.objects.values("entry").distinct().count() == 30
    assert verify_chain().ok


# --- the export's formats -------------------------------------------------------------------------------------------


def test_cef_escapes_its_separators():
    assert cef_header("a|b\\c\nd") == "a\\|b\\\\c d"
    assert cef_value("x=1\\2|3\r\n") == "x\\=1\\\\2|3\\r\\n"


def test_a_cef_line_keeps_its_seven_header_fields_and_its_extension_keys(world):
    audit.record(
        AuditKind.LOGIN_FAILED, username="eve|x=1", summary="a|b=c\\d\nnext", details={"k": "v=w"}, request=None
    )
    seal_pending()
    (line,) = export_lines("--format", "cef", "--since", f"seq:{AuditSeal.objects.count() - 1}")

    header = [part for part in _split_unescaped(line, "|")]
    assert len(header) == 8 and header[:4] == ["CEF:0", "Alliance", "Logistics Portal", header[3]]
    assert header[4] == "login.failed" and header[6] == "5"
    extension = header[7]
    assert "suser=eve|x\\=1 " in extension
    assert "msg=a|b\\=c\\\\d\\nnext " in extension
    assert 'cs4Label=details cs4={"k":"v\\=w"}' in extension
    assert "cn1Label=seq cn1=" in extension and "cs6Label=hash cs6=" in extension
    assert "\n" not in line


def _split_unescaped(text: str, separator: str) -> list[str]:
    """Split at separators not escaped by a backslash, the first seven only (CEF's header)."""
    parts, current, escaped = [], "", False
    for char in text:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            current += char
            escaped = True
        elif char == separator and len(parts) < 7:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def test_json_lines_round_trip_and_verify_without_the_database(world, tmp_path):
    write_entries(3, summary='line with "quotes" | and é')
    path = tmp_path / "audit.jsonl"
    call_command("export_audit", "--output", str(path), stdout=io.StringIO(), stderr=io.StringIO())

    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    seals = list(AuditSeal.objects.select_related("entry", "entry__nation").order_by("seq"))
    assert [r["seq"] for r in records] == [s.seq for s in seals]
    assert records[-1] == {
        "seq": seals[-1].seq,
        "prev_hash": bytes(seals[-1].prev_hash).hex(),
        "hash": bytes(seals[-1].hash).hex(),
        **audit_chain.entry_record(seals[-1].entry),
    }
    links = [(r["seq"], r["prev_hash"], r["hash"], r) for r in records]
    assert verify_records(links)[3] is None
    call_command("verify_audit_chain", "--file", str(path), stdout=io.StringIO())

    records[1]["summary"] = "changed on the way"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_audit_chain", "--file", str(path), stdout=out)
    assert f"link {records[1]['seq']}" in out.getvalue() and HASH_MISMATCH in out.getvalue()


def test_since_seq_resumes_after_the_last_link_received(world):
    write_entries(3)
    first = [json.loads(line) for line in export_lines()]
    last = first[-1]
    write_entries(2, summary="later")

    more = [json.loads(line) for line in export_lines("--since", f"seq:{last['seq']}")]

    assert [r["seq"] for r in more] == list(range(last["seq"] + 1, last["seq"] + 1 + len(more)))
    assert [r["kind"] for r in more] == ["audit.exported", "login.failed", "login.failed"]  # the first export too
    links = [(r["seq"], r["prev_hash"], r["hash"], r) for r in more]
    assert verify_records(links, after=(last["seq"], last["hash"]))[3] is None


def test_since_takes_a_date_and_refuses_anything_else():
    assert parse_since("seq:12").seq == 12
    assert parse_since("2026-03-01").at.isoformat().startswith("2026-03-01T00:00:00")
    assert parse_since("2026-03-01T08:00:00Z").at.hour == 8
    for bad in ("seq:x", "yesterday", "seq:-1"):
        with pytest.raises(ValueError):
            parse_since(bad)


def test_the_command_records_its_export_with_no_actor_and_the_os_user(world):
    write_entries(2)
    export_lines("--format", "cef")
    exported = AuditEntry.objects.get(kind=AuditKind.AUDIT_EXPORTED)
    assert exported.actor is None and exported.details["os_user"]
    assert exported.details["format"] == "cef" and exported.details["entries"] == exported.details["through_seq"]


# --- the API ------------------------------------------------------------------------------------------------------


def test_only_administrators_export_over_the_api(world, admin_user):
    assert Client().get(EXPORT).status_code == 401
    for who in ("coordinator", "fra_logistics", "no_role"):
        assert session_client(world.users[who]).get(EXPORT).status_code == 403, who
    assert token_client(world.users["fra_system"]).get(EXPORT).status_code == 403
    assert AuditEntry.objects.filter(kind=AuditKind.AUDIT_EXPORTED).count() == 0


def test_the_api_streams_json_lines_and_cef(world, admin_user):
    client = session_client(admin_user)
    response = client.get(EXPORT)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/x-ndjson"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == int(response["X-Audit-Entries"]) > 0
    records = [json.loads(line) for line in lines]
    assert verify_records([(r["seq"], r["prev_hash"], r["hash"], r) for r in records])[3] is None

    cef = client.get(EXPORT, {"format": "cef", "since": f"seq:{records[-1]['seq']}"})
    assert cef.status_code == 200 and cef["Content-Type"].startswith("text/plain")
    cef_lines = b"".join(cef.streaming_content).decode().splitlines()
    assert cef_lines and all(line.startswith("CEF:0|Alliance|Logistics Portal|") for line in cef_lines)

    assert client.get(EXPORT, {"format": "xml"}).status_code == 400
    assert client.get(EXPORT, {"since": "yesterday"}).status_code == 400


def test_an_api_export_is_recorded_with_who_since_format_and_count(world, admin_user):
    response = session_client(admin_user).get(EXPORT, {"since": "seq:2", "format": "cef"})
    b"".join(response.streaming_content)
    exported = AuditEntry.objects.get(kind=AuditKind.AUDIT_EXPORTED)
    assert exported.actor == admin_user and exported.path == EXPORT
    assert exported.details["since"] == "seq:2" and exported.details["format"] == "cef"
    assert exported.details["entries"] == int(response["X-Audit-Entries"]) == exported.details["through_seq"] - 2


def test_the_export_costs_the_same_queries_for_10_or_100_entries(world, admin_user):
    client = session_client(admin_user)
    client.get(EXPORT)  # the session warmed, the scenario sealed

    def queries(n: int) -> int:
        write_entries(n)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(EXPORT)
            assert len(b"".join(response.streaming_content).splitlines()) > n
        return len(captured.captured_queries)

    assert queries(10) == queries(100)


def test_the_export_is_in_the_schema():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/audit-events/export/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"since", "format"}
    assert set(operation["responses"]["200"]["content"]) == {"application/x-ndjson", "text/plain"}
