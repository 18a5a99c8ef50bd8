"""The tamper-evident ledger, step 2: chain the movements already written, stock by stock in id order, and set each
stock's head.  The append-only trigger is lifted for this one rewrite of the two new columns only (on PostgreSQL
the trigger is disabled inside this migration's transaction; on SQLite it is dropped and re-created).

PostgreSQL: the movements are streamed (server-side cursor), their hashes computed here and sent back with COPY into
a temporary table, then written with one UPDATE ... FROM; about a minute for 3,000,000 movements.
"""

from django.db import migrations

from inventory.ledger import GENESIS, canonical_line, epoch_microseconds, line_hash

FIELDS = ["id", "stock_id", "kind", "quantity", "balance_after", "occurred_at", "recorded_at", "actor_id",
          "request_id", "reason"]
BATCH = 50_000


def _chains(rows):
    """(movement id, prev_hash, hash) in (stock, id) order, and the heads as they are reached."""
    stock, head = None, GENESIS
    for movement_id, stock_id, kind, quantity, balance, occurred, recorded, actor_id, request_id, reason in rows:
        if stock_id != stock:
            stock, head = stock_id, GENESIS
        line = canonical_line(head.hex(), stock_id, kind, quantity, balance, epoch_microseconds(occurred),
                              epoch_microseconds(recorded), actor_id, request_id, reason)
        digest = line_hash(line)
        yield movement_id, stock_id, head, digest
        head = digest


def _fill_postgresql(apps, schema_editor):
    Movement = apps.get_model("inventory", "Movement")
    alias = schema_editor.connection.alias
    rows = Movement.objects.using(alias).order_by("stock_id", "id").values_list(*FIELDS).iterator(chunk_size=BATCH)
    with schema_editor.connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # psycopg's own, for COPY
        cursor.execute("CREATE TEMPORARY TABLE ledger_fill (id bigint, prev_hash bytea, hash bytea) ON COMMIT DROP")
        cursor.execute("CREATE TEMPORARY TABLE ledger_heads (stock_id bigint, head bytea) ON COMMIT DROP")
        batch, heads = [], {}

        def flush():
            with cursor.copy("COPY ledger_fill (id, prev_hash, hash) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
            batch.clear()

        for movement_id, stock_id, prev, digest in _chains(rows):
            batch.append((movement_id, prev, digest))
            heads[stock_id] = digest
            if len(batch) >= BATCH:
                flush()  # between two fetches of the cursor above, never during one
        if batch:
            flush()
        with cursor.copy("COPY ledger_heads (stock_id, head) FROM STDIN") as copy:
            for row in heads.items():
                copy.write_row(row)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses a table with pending FK checks
        cursor.execute("ALTER TABLE inventory_movement DISABLE TRIGGER inventory_movement_append_only")
        cursor.execute("UPDATE inventory_movement m SET prev_hash = f.prev_hash, hash = f.hash "
                       "FROM ledger_fill f WHERE f.id = m.id")
        cursor.execute("ALTER TABLE inventory_movement ENABLE TRIGGER inventory_movement_append_only")
        cursor.execute("UPDATE inventory_stock s SET ledger_head = h.head FROM ledger_heads h WHERE h.stock_id = s.id")


def _fill_other(apps, schema_editor):
    import importlib

    append_only = importlib.import_module("inventory.migrations.0003_movement_append_only")
    Movement = apps.get_model("inventory", "Movement")
    Stock = apps.get_model("inventory", "Stock")
    alias = schema_editor.connection.alias
    rows = list(Movement.objects.using(alias).order_by("stock_id", "id").values_list(*FIELDS))
    chained = list(_chains(rows))
    heads = {stock_id: digest for _, stock_id, _, digest in chained}
    append_only.remove(apps, schema_editor)
    with schema_editor.connection.cursor() as cursor:
        cursor.executemany("UPDATE inventory_movement SET prev_hash = %s, hash = %s WHERE id = %s",
                           [(prev, digest, movement_id) for movement_id, _, prev, digest in chained])
    append_only.install(apps, schema_editor)
    for stock_id, head in heads.items():
        Stock.objects.using(alias).filter(pk=stock_id).update(ledger_head=head)


def fill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _fill_postgresql(apps, schema_editor)
    else:
        _fill_other(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0007_ledger_hash_chain")]
    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
