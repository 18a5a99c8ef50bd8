"""Prepared statements for the reads of the hot paths (an approval, a page of stocks).

Django binds parameters on the client and PostgreSQL plans every statement afresh: for the reads an approval makes
(the caller's grants, the request locked among the visible ones, the people to tell) planning cost several times
what running them did (2.3 ms to plan the locked read, 0.2 ms to run it).  Inside :func:`prepared_statements` the
connection binds parameters on the server and prepares each statement the first time it runs it, so the next run
of the same statement on that connection (persistent connections: ``CONN_MAX_AGE``) reuses the plan.  psycopg keeps
the last 100 statements of each connection prepared.

Only single statements may run inside: a write that django-pghistory prefixes with its context (two statements in
one) cannot be prepared, so keep writes out of the block.  Elsewhere (and on SQLite) the block changes nothing.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connections


@contextmanager
def prepared_statements(using: str = "default"):
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    raw = connection.connection
    features = connection.features.__dict__
    saved = raw.cursor_factory, raw.prepare_threshold, features.get("uses_server_side_binding")
    raw.cursor_factory, raw.prepare_threshold = ServerBindingCursor, 0  # prepared on its first run
    features["uses_server_side_binding"] = True  # so the queries logged (DEBUG, tests) show their SQL with values
    try:
        yield
    finally:
        raw.cursor_factory, raw.prepare_threshold, binding = saved
        if binding is None:
            features.pop("uses_server_side_binding", None)
        else:
            features["uses_server_side_binding"] = binding
