"""Movements carry their stock's center, step 2: required, indexed, and kept true by the database.

- ``movement_center_stock_qty_idx`` on (center, stock) carrying the quantity: a center's ledger sums, read in order.
- ``stock_center_id_key``, unique (center, id) carrying the chain head, replaces ``stock_center_ledger_idx`` (the same
  columns): the ledger check of a run still reads a center's stocks and heads from it, and it is the key that
- PostgreSQL's foreign key ``movement_center_stock_fk`` (center, stock) -> stock (center, id) references: a movement's
  center is its stock's, and a stock that has movements cannot move to another center.
- SQLite has no such composite key here; two triggers say the same.

SQLite rebuilds the movement table to make the column required, which drops its triggers: they are put back (0007).
Movements written between 0012 and 0013 (by processes still running the previous release) get their center first.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

from core.migration_sql import per_backend

keeping_sqlite_triggers = importlib.import_module("inventory.migrations.0007_ledger_hash_chain").keeping_sqlite_triggers
fill = importlib.import_module("inventory.migrations.0012_movement_center").fill


def fill_missing(apps, schema_editor):
    fill(apps, schema_editor, only_missing=True)

PG_INSTALL = """
ALTER TABLE inventory_movement ADD CONSTRAINT movement_center_stock_fk FOREIGN KEY (center_id, stock_id)
    REFERENCES inventory_stock (center_id, id) DEFERRABLE INITIALLY DEFERRED
"""
PG_REMOVE = "ALTER TABLE inventory_movement DROP CONSTRAINT IF EXISTS movement_center_stock_fk"
SQLITE_INSTALL = [
    """CREATE TRIGGER inventory_movement_center_is_stocks BEFORE INSERT ON inventory_movement
       WHEN NEW.center_id IS NOT (SELECT s.center_id FROM inventory_stock s WHERE s.id = NEW.stock_id)
       BEGIN SELECT RAISE(ABORT, 'a movement''s center must be its stock''s center'); END;""",
    """CREATE TRIGGER inventory_stock_center_kept BEFORE UPDATE OF center_id ON inventory_stock
       WHEN NEW.center_id IS NOT OLD.center_id
        AND EXISTS (SELECT 1 FROM inventory_movement m WHERE m.stock_id = OLD.id)
       BEGIN SELECT RAISE(ABORT, 'a stock with movements cannot move to another center'); END;""",
]
SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS inventory_movement_center_is_stocks",
    "DROP TRIGGER IF EXISTS inventory_stock_center_kept",
]


install = per_backend(postgresql=PG_INSTALL, sqlite=SQLITE_INSTALL)
remove = per_backend(postgresql=PG_REMOVE, sqlite=SQLITE_REMOVE)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0012_movement_center")]

    operations = [
        migrations.RunPython(fill_missing, migrations.RunPython.noop),
        *keeping_sqlite_triggers(("inventory_stock", "inventory_movement"), [
            migrations.AlterField(
                model_name="movement",
                name="center",
                field=models.ForeignKey(db_constraint=False, db_index=False, editable=False,
                                        on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                        to="inventory.logisticscenter"),
            ),
            migrations.AddIndex(
                model_name="movement",
                index=models.Index(fields=["center", "stock"], include=["quantity"],
                                   name="movement_center_stock_qty_idx"),
            ),
            migrations.RemoveIndex(model_name="stock", name="stock_center_ledger_idx"),
            migrations.AddConstraint(
                model_name="stock",
                constraint=models.UniqueConstraint(fields=["center", "id"], include=["ledger_head"],
                                                   name="stock_center_id_key"),
            ),
        ]),
        migrations.RunPython(install, remove),
    ]
