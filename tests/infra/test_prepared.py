"""core.prepared: inside the block a read is prepared on the server the first time the connection runs it, and the
next run reuses the plan; the queries are still logged with their values; outside the block nothing changes."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.prepared import prepared_statements
from nations.models import Nation

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def prepared_on_server() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_a_read_in_the_block_is_prepared_once_and_reused():
    with prepared_statements():
        assert list(Nation.objects.filter(code="ZZZ")) == []
    statements = [s for s in prepared_on_server() if '"nations_nation"' in s]
    assert len(statements) == 1 and "$1" in statements[0]  # bound on the server: one plan for every value

    with prepared_statements():
        list(Nation.objects.filter(code="YYY"))  # another value, the same statement
    assert [s for s in prepared_on_server() if '"nations_nation"' in s] == statements


def test_outside_the_block_nothing_is_prepared_and_binding_is_the_clients():
    list(Nation.objects.filter(name="outside the block"))
    assert not [s for s in prepared_on_server() if "outside" in s or '"name" = $1' in s]
    with CaptureQueriesContext(connection) as queries:
        list(Nation.objects.filter(name="outside the block"))
    assert "'outside the block'" in queries[0]["sql"]


def test_queries_in_the_block_are_logged_with_their_values():
    with CaptureQueriesContext(connection) as queries, prepared_statements():
        list(Nation.objects.filter(code="QQQ"))
    assert "'QQQ'" in queries[0]["sql"]


def test_the_connection_is_restored_even_when_the_block_fails():
    factory = None
    with pytest.raises(RuntimeError), prepared_statements():
        factory = connection.connection.cursor_factory
        raise RuntimeError("the block fails")
    assert connection.connection.cursor_factory is not factory
    assert connection.connection.prepare_threshold is None  # Django's: prepared statements off
    assert (
        "uses_server_side_binding" not in connection.features.__dict__
        or not connection.features.uses_server_side_binding
    )


def test_a_write_with_django_pghistory_context_cannot_run_in_the_block():
    """Why the block is for reads: a write that pghistory prefixes with its context is two statements."""
    import pghistory
    from django.db import transaction

    nation = Nation.objects.create(code="ZZA", name="Zed", ncb_code="98")
    refused = pytest.raises(Exception, match="multiple commands")
    with refused, transaction.atomic(), pghistory.context(test=True), prepared_statements():
        Nation.objects.filter(pk=nation.pk).update(name="Zed two")
