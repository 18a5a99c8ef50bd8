"""Raw SQL that migrations install per database backend: the triggers that keep invariants on PostgreSQL (PL/pgSQL)
and on SQLite (the no-services default), which need different SQL for the same rule."""

from __future__ import annotations


def per_backend(*, postgresql: str, sqlite: list[str]):
    """A RunPython function that executes `postgresql` (one script) on PostgreSQL, or each of `sqlite` on SQLite,
    and nothing on other backends."""

    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(postgresql, params=None)  # no parameters: a % in PL/pgSQL stays as written
        elif vendor == "sqlite":
            for statement in sqlite:
                schema_editor.execute(statement, params=None)

    return run
