"""The tamper-evident ledger (inventory/ledger.py), step 1: the columns, the chain index and the run checkpoints.

The hash columns start empty; 0008 computes the chains of the movements already written and 0009 makes them
required.  The foreign-key index on movement.stock gives way to (stock, id): a chain in order and its newest
movement, and just as good for the foreign key.

SQLite rebuilds a table to add a required column or a constraint: the rebuild drops the table's triggers (the
ledger's append-only ones, and those other apps put on inventory_stock), and refuses to run while another table's
trigger names the table.  :func:`keeping_sqlite_triggers` sets those triggers aside and puts them back after.
"""

import django.db.models.deletion
from django.db import migrations, models

GENESIS = bytes(32)
_saved: dict[str, list[tuple[str, str]]] = {}


def keeping_sqlite_triggers(tables: tuple[str, ...], operations: list) -> list:
    """`operations`, with every SQLite trigger on or naming `tables` dropped before and re-created after (nothing
    on other databases)."""

    def set_aside(apps, schema_editor):
        if schema_editor.connection.vendor == "sqlite":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
                kept = [(name, sql) for name, table, sql in cursor.fetchall()
                        if table in tables or any(t in sql for t in tables)]
                for name, _ in kept:
                    cursor.execute(f'DROP TRIGGER "{name}"')
            _saved[schema_editor.connection.alias] = kept

    def put_back(apps, schema_editor):
        if schema_editor.connection.vendor == "sqlite":
            with schema_editor.connection.cursor() as cursor:
                for _, sql in _saved.pop(schema_editor.connection.alias, []):
                    cursor.execute(sql)

    return [migrations.RunPython(set_aside, put_back), *operations, migrations.RunPython(put_back, set_aside)]


class Migration(migrations.Migration):
    dependencies = [("inventory", "0006_reconciliation_covering_indexes")]

    operations = keeping_sqlite_triggers(("inventory_stock", "inventory_movement"), [
        migrations.AddField(
            model_name="stock",
            name="ledger_head",
            field=models.BinaryField(db_default=GENESIS, default=GENESIS, editable=False, max_length=32,
                                     help_text="Hash of the newest movement (all zeros: none yet)."),
        ),
        migrations.AddField(
            model_name="movement",
            name="prev_hash",
            field=models.BinaryField(editable=False, max_length=32, null=True,
                                     help_text="Hash of the stock's previous movement (all zeros for its first)."),
        ),
        migrations.AddField(
            model_name="movement",
            name="hash",
            field=models.BinaryField(editable=False, max_length=32, null=True,
                                     help_text="SHA-256 of the canonical form."),
        ),
        migrations.AddIndex(
            model_name="movement",
            index=models.Index(fields=["stock", "id"], name="movement_stock_chain_idx"),
        ),
        migrations.AlterField(
            model_name="movement",
            name="stock",
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="movements", to="inventory.stock"),
        ),
        migrations.CreateModel(
            name="LedgerCheckpoint",
            fields=[
                ("center", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True,
                                                related_name="ledger_checkpoint", serialize=False,
                                                to="inventory.logisticscenter")),
                ("verified_through", models.BigIntegerField(
                    default=0, help_text="The newest movement id the last run could see.")),
                ("passes", models.PositiveBigIntegerField(
                    default=0, help_text="Runs so far; picks the slice re-verified in turn.")),
                ("checked_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
    ])
