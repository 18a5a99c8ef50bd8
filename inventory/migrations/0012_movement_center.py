"""Movements carry their stock's center, step 1: the column, filled from the stocks.

A center's ledger then becomes one range of an index (0013), so reconciliation sums a center's movements per stock
in one pass instead of one index descent per stock.  The append-only trigger is lifted for this one rewrite of the
new column only (as in 0008); on SQLite the column is added in place, so no trigger is lost.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

FILL = (
    "UPDATE inventory_movement SET center_id = "
    "(SELECT s.center_id FROM inventory_stock s WHERE s.id = inventory_movement.stock_id)"
)
PG_FILL = "UPDATE inventory_movement m SET center_id = s.center_id FROM inventory_stock s WHERE s.id = m.stock_id"


def fill(apps, schema_editor, *, only_missing: bool = False):
    """Copy each stock's center onto its movements (those without one, with `only_missing`: 0013 repeats it for
    movements that processes still running the previous release wrote in between)."""
    missing = " AND m.center_id IS NULL" if only_missing else ""
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses a table with pending FK checks
            cursor.execute("ALTER TABLE inventory_movement DISABLE TRIGGER inventory_movement_append_only")
            cursor.execute(PG_FILL + missing)
            cursor.execute("ALTER TABLE inventory_movement ENABLE TRIGGER inventory_movement_append_only")
        return
    append_only = importlib.import_module("inventory.migrations.0003_movement_append_only")
    append_only.remove(apps, schema_editor)
    schema_editor.execute(FILL + (" WHERE center_id IS NULL" if only_missing else ""))
    append_only.install(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0011_stock_center_ledger_index")]

    operations = [
        migrations.AddField(
            model_name="movement",
            name="center",
            field=models.ForeignKey(db_constraint=False, db_index=False, editable=False, null=True,
                                    on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                    to="inventory.logisticscenter"),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
