"""Export the audit log for a SIEM, with its hash chain.

``manage.py export_audit [--since seq:<n> | --since <ISO date or date-time>] [--format jsonl|cef] [--output FILE]``

Seals what is pending, then writes every sealed entry in chain order (one line each, with ``seq``, ``prev_hash`` and
``hash``) to stdout or FILE, from a server-side cursor.  ``--since seq:<n>`` resumes after the last link received.
The export is itself recorded in the log, with no actor (the system) and the operating-system user in its details.
The last seq exported and the count go to stderr, so stdout holds the export alone.
"""

from __future__ import annotations

import getpass

from django.core.management.base import BaseCommand, CommandError

from nations.audit_export import FORMATS, parse_since, start_export


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return ""


class Command(BaseCommand):
    help = "Export the audit log with its hash-chain links, as JSON lines or CEF, to stdout or a file."

    def add_arguments(self, parser):
        parser.add_argument("--since", default="", help="seq:<n> (after link n) or an ISO date or date-time")
        parser.add_argument("--format", choices=FORMATS, default="jsonl", dest="export_format")
        parser.add_argument("--output", metavar="FILE", help="write here instead of stdout")

    def handle(self, *args, since: str = "", export_format: str = "jsonl", output: str | None = None, **options):
        try:
            start = parse_since(since)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from None
        details = {"os_user": _os_user(), "command": "export_audit"}
        if output:
            details["output"] = output
        export = start_export(since=start, format=export_format, details=details)
        if output:
            with open(output, "w", encoding="utf-8", newline="\n") as handle:
                handle.writelines(export.lines())
        else:
            for line in export.lines():
                self.stdout.write(line, ending="")
            self.stdout.flush()
        self.stderr.write(f"export_audit: {export.count:,} entries through link {export.through_seq}")
