"""Verify the audit log's hash chain.

``manage.py verify_audit_chain [--file EXPORT.jsonl] [--after seq:<n>:<hash hex>]``

Re-hashes every link of the chain in the database (or of a JSON-lines export, as a receiver would) and prints the
first broken link: ``hash_mismatch`` (the entry or its link was changed), ``broken_link`` (a link before it was
removed, inserted or reordered), ``unsealed`` (an entry older than the sealer's window has no link); exit status 1
when the chain is broken (2 for bad arguments), else a summary with the head.  A chain kept in the database cannot
show a whole chain rewritten consistently: compare the head printed here with one kept outside (the SIEM's copy).
"""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from nations.audit_chain import verify_chain, verify_records


def _file_links(path: str):
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                yield record["seq"], record["prev_hash"], record["hash"], record
            except (ValueError, KeyError) as exc:
                raise CommandError(f"{path}:{number}: not an exported entry ({exc}).", returncode=2) from None


class Command(BaseCommand):
    help = "Re-hash the audit log's chain (in the database, or an export) and report the first broken link."

    def add_arguments(self, parser):
        parser.add_argument("--file", metavar="EXPORT", help="a JSON-lines export (export_audit --format jsonl)")
        parser.add_argument(
            "--after",
            metavar="SEQ:HASH",
            help="with --file: the export resumes after this link (seq and hash hex of the last link held)",
        )

    def handle(self, *args, file: str | None = None, after: str | None = None, **options):
        began = time.perf_counter()
        if file:
            chained_on = None
            if after:
                seq, _, digest = after.partition(":")
                if not seq.isdigit() or len(digest) != 64:
                    raise CommandError("--after takes <seq>:<64 hex digits>.", returncode=2)
                chained_on = (int(seq), digest.lower())
            links, head_seq, head_hash, broken = verify_records(_file_links(file), after=chained_on)
        else:
            report = verify_chain()
            links, head_seq, head_hash, broken = report.links, report.head_seq, report.head_hash, report.broken
        seconds = time.perf_counter() - began
        if broken is not None:
            where = f"link {broken.seq}" if broken.seq is not None else "no link"
            self.stdout.write(
                f"{where}, entry {broken.entry_id}: {broken.problem} (expected {broken.expected}, found {broken.found})"
            )
            self.stdout.write(self.style.ERROR(f"verify_audit_chain: broken after {links:,} links, {seconds:.2f} s"))
            raise CommandError("the audit chain is broken", returncode=1)
        self.stdout.write(
            self.style.SUCCESS(
                f"verify_audit_chain: {links:,} links re-hashed, head {head_seq} {head_hash}, {seconds:.2f} s"
            )
        )
