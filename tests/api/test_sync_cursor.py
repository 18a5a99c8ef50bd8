"""Incremental sync by cursor (``?cursor=start``, then ``next_cursor``): every row created or changed comes back,
none is skipped even when its transaction commits after a later one -- the cursor never passes the oldest running
transaction (core/api/pagination.py)."""

from __future__ import annotations

import threading

import pytest
from django.db import connections, transaction

from inventory.models import Stock

from .conftest import assert_problem, token_client

STOCKS = "/api/v1/stocks/"


@pytest.fixture(autouse=True)
def _no_margin(settings):
    settings.API_SYNC_MARGIN_SECONDS = 0  # rows the test just wrote are past the horizon at once


def walk(client, cursor="start", **params) -> tuple[list[dict], str]:
    """Every page from `cursor` until an empty one; the rows and the cursor to keep."""
    rows = []
    while True:
        body = client.get(STOCKS, {"cursor": cursor, **params}).json()
        assert body["count"] is None and body["previous"] is None
        rows += body["results"]
        if not body["results"]:
            assert body["next_cursor"] == cursor  # nothing new: the same place to ask from later
            return rows, cursor
        cursor = body["next_cursor"]


def test_a_walk_from_the_start_meets_every_visible_row_once(world):
    client = token_client(world.users["fra_system"])

    rows, _ = walk(client, page_size=1)

    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(Stock.objects.visible_to(world.users["fra_system"]).values_list("id", flat=True))


def test_a_later_walk_brings_only_what_changed_since(world):
    client = token_client(world.users["fra_system"])
    _, cursor = walk(client)
    stock = world.stocks["fra_private"]
    stock.safety_level = 77
    stock.save()

    rows, _ = walk(client, cursor)

    assert [(row["id"], row["safety_level"]) for row in rows] == [(stock.pk, 77)]


def test_filters_apply_to_a_walk(world):
    client = token_client(world.users["fra_system"])
    rows, _ = walk(client, center="MLC-A")
    assert rows and {row["center"] for row in rows} == {"MLC-A"}


@pytest.mark.parametrize("cursor", ["", "nonsense", "W1tdXQ", "WyJ4IiwgMV0"])
def test_a_cursor_not_made_by_the_list_is_400(world, cursor):
    response = token_client(world.users["fra_system"]).get(STOCKS, {"cursor": cursor})
    body = assert_problem(response, 400, "invalid")
    assert [e["field"] for e in body["errors"]] == ["cursor"]


def test_a_cursor_and_an_ordering_together_are_400(world):
    response = token_client(world.users["fra_system"]).get(STOCKS, {"cursor": "start", "ordering": "nsn"})
    assert_problem(response, 400, "invalid")


def test_page_numbers_still_work_and_say_there_is_no_cursor(world):
    body = token_client(world.users["fra_system"]).get(STOCKS, {"page_size": 1}).json()
    assert body["count"] >= 2 and body["next"] and body["next_cursor"] is None


@pytest.mark.postgres
def test_a_change_committed_late_is_not_skipped(transactional_db, world):
    """Stock A is changed in a transaction that stays open while stock B is changed and committed.  A walk made
    meanwhile must not step past A's change (which would then never be seen): it waits at the horizon."""
    client = token_client(world.users["fra_system"])
    _, cursor = walk(client)
    late, early = world.stocks["fra_private"], world.stocks["deu_shared"]
    changed, release = threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                Stock.objects.filter(pk=late.pk).update(safety_level=41)
                stock = Stock.objects.get(pk=late.pk)
                stock.save(update_fields=["updated_at"])  # stamped now, inside the open transaction
                changed.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert changed.wait(timeout=30)
        Stock.objects.filter(pk=early.pk).update(safety_level=42)
        stock = Stock.objects.get(pk=early.pk)
        stock.save(update_fields=["updated_at"])  # committed, stamped after the late one

        during, cursor = walk(client, cursor)
        assert during == []  # B is past the horizon while A's transaction runs
    finally:
        release.set()
        writer.join(timeout=30)

    after, _ = walk(client, cursor)
    assert [row["id"] for row in after] == [late.pk, early.pk]
    assert [row["safety_level"] for row in after] == [41, 42]


def test_the_schema_documents_the_cursor():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    parameters = {p["name"] for p in schema["paths"]["/api/v1/stocks/"]["get"]["parameters"]}
    assert "cursor" in parameters
    page = schema["components"]["schemas"]["PaginatedStockList"]
    assert "next_cursor" in page["properties"] and "null" in page["properties"]["count"]["type"]
