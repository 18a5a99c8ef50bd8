"""Shortfalls carry their stock's release list as they carry its shared flag (0007), so the access rules filter them
without joining the stocks.

The triggers of 0007 are replaced by ones that copy both columns: a shortfall takes its stock's flag and list when
it is written, and a change of either on the stock is copied to its shortfalls in the same statement.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

from core.migration_sql import per_backend

PG_INSTALL = """
CREATE OR REPLACE FUNCTION coordination_shortfall_take_stock_shared() RETURNS trigger AS $$
BEGIN
    SELECT s.shared, s.release_list_id INTO NEW.shared, NEW.release_list_id
      FROM inventory_stock s WHERE s.id = NEW.stock_id;
    IF NOT FOUND THEN
        NEW.shared := false;
        NEW.release_list_id := NULL;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS coordination_shortfall_take_stock_shared ON coordination_shortfall;
CREATE TRIGGER coordination_shortfall_take_stock_shared
    BEFORE INSERT OR UPDATE OF stock_id, shared, release_list_id ON coordination_shortfall
    FOR EACH ROW EXECUTE FUNCTION coordination_shortfall_take_stock_shared();

CREATE OR REPLACE FUNCTION coordination_shortfall_follow_stock_shared() RETURNS trigger AS $$
BEGIN
    UPDATE coordination_shortfall SET shared = NEW.shared, release_list_id = NEW.release_list_id
     WHERE stock_id = NEW.id
       AND (shared <> NEW.shared OR release_list_id IS DISTINCT FROM NEW.release_list_id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS coordination_shortfall_follow_stock_shared ON inventory_stock;
CREATE TRIGGER coordination_shortfall_follow_stock_shared
    AFTER UPDATE OF shared, release_list_id ON inventory_stock
    FOR EACH ROW WHEN (OLD.shared IS DISTINCT FROM NEW.shared OR OLD.release_list_id IS DISTINCT FROM NEW.release_list_id)
    EXECUTE FUNCTION coordination_shortfall_follow_stock_shared();
"""
STOCK_SHARED = "COALESCE((SELECT s.shared FROM inventory_stock s WHERE s.id = NEW.stock_id), 0)"
STOCK_LIST = "(SELECT s.release_list_id FROM inventory_stock s WHERE s.id = NEW.stock_id)"
SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS coordination_shortfall_take_stock_shared_insert;",
    "DROP TRIGGER IF EXISTS coordination_shortfall_take_stock_shared_update;",
    "DROP TRIGGER IF EXISTS coordination_shortfall_follow_stock_shared;",
]
# SQLite cannot assign NEW in a trigger: the row is corrected right after it is written.
SQLITE_INSTALL = [
    *SQLITE_REMOVE,
    f"""CREATE TRIGGER coordination_shortfall_take_stock_shared_insert AFTER INSERT ON coordination_shortfall
        BEGIN UPDATE coordination_shortfall SET shared = {STOCK_SHARED}, release_list_id = {STOCK_LIST}
              WHERE id = NEW.id; END;""",
    f"""CREATE TRIGGER coordination_shortfall_take_stock_shared_update
        AFTER UPDATE OF stock_id, shared, release_list_id ON coordination_shortfall
        WHEN NEW.shared IS NOT {STOCK_SHARED} OR NEW.release_list_id IS NOT {STOCK_LIST}
        BEGIN UPDATE coordination_shortfall SET shared = {STOCK_SHARED}, release_list_id = {STOCK_LIST}
              WHERE id = NEW.id; END;""",
    """CREATE TRIGGER coordination_shortfall_follow_stock_shared AFTER UPDATE OF shared, release_list_id ON inventory_stock
       FOR EACH ROW WHEN OLD.shared IS NOT NEW.shared OR OLD.release_list_id IS NOT NEW.release_list_id
       BEGIN UPDATE coordination_shortfall SET shared = NEW.shared, release_list_id = NEW.release_list_id
             WHERE stock_id = NEW.id; END;""",
]
COPY_EXISTING = """
UPDATE coordination_shortfall
   SET release_list_id = (SELECT s.release_list_id FROM inventory_stock s WHERE s.id = coordination_shortfall.stock_id)
 WHERE stock_id IS NOT NULL
"""


def _shared_only_triggers():
    """0007's triggers, for going back."""
    previous = importlib.import_module("coordination.migrations.0007_shortfall_shared")
    pg = (
        "DROP TRIGGER IF EXISTS coordination_shortfall_follow_stock_shared ON inventory_stock;\n"
        "DROP TRIGGER IF EXISTS coordination_shortfall_take_stock_shared ON coordination_shortfall;\n"
        + previous.PG_INSTALL
    )
    return per_backend(postgresql=pg, sqlite=[*SQLITE_REMOVE, *previous.SQLITE_INSTALL])


def install(apps, schema_editor):
    if schema_editor.connection.vendor in ("postgresql", "sqlite"):
        schema_editor.execute(COPY_EXISTING)
    per_backend(postgresql=PG_INSTALL, sqlite=SQLITE_INSTALL)(apps, schema_editor)


def remove(apps, schema_editor):
    _shared_only_triggers()(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("coordination", "0008_discrepancy_ledger_chain"),
        ("inventory", "0014_release_lists"),
    ]

    operations = [
        migrations.AddField(
            model_name="shortfall",
            name="release_list",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="inventory.releaselist",
            ),
        ),
        migrations.RunPython(install, remove),
    ]
