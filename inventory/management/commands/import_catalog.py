"""``manage.py import_catalog FILE``: load catalog items from CSV or JSON, all or nothing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from inventory.services import CATALOG_FIELDS, import_catalog


def read_rows(path: Path, kind: str) -> list[dict]:
    """The file's items as dicts: CSV with a header row (nsn,name,supply_class,unit_of_issue), or a JSON list of
    objects with those keys."""
    text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's UTF-8 export starts with a byte-order mark
    if kind == "json":
        rows = json.loads(text)
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise CommandError("The JSON file must hold a list of objects (nsn, name, supply_class, unit_of_issue).")
        return rows
    reader = csv.DictReader(io.StringIO(text))
    missing = set(CATALOG_FIELDS) - set(reader.fieldnames or [])
    if missing:
        raise CommandError(f"The CSV header lacks {', '.join(sorted(missing))} (it needs {', '.join(CATALOG_FIELDS)}).")
    return list(reader)


class Command(BaseCommand):
    help = (
        "Load catalog items (nsn, name, supply_class, unit_of_issue) from a CSV file with a header row or a JSON list, "
        "all or nothing: every row is checked first and errors name the row (rows[12].nsn; row 0 is the first item)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=["csv", "json"], help="default: from the file's extension")
        parser.add_argument(
            "--update", action="store_true", help="change items already in the catalog whose figures differ"
        )

    def handle(self, *args, file: Path, format: str | None, update: bool, **options):
        if not file.is_file():
            raise CommandError(f"No file {file}.")
        kind = format or ("json" if file.suffix.lower() == ".json" else "csv")
        try:
            rows = read_rows(file, kind)
        except (ValueError, UnicodeDecodeError, csv.Error) as exc:
            raise CommandError(f"{file} is not readable {kind.upper()}: {exc}") from None
        try:
            counts = import_catalog(actor=None, rows=rows, update=update)
        except ValidationError as exc:
            lines = [f"{field}: {' '.join(messages)}" for field, messages in sorted(exc.message_dict.items())]
            raise CommandError("Nothing was imported:\n" + "\n".join(lines)) from None
        self.stdout.write(
            f"{len(rows)} rows: {counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged."
        )
