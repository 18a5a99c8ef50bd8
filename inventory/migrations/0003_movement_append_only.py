"""The ledger refuses UPDATE and DELETE at the database, even for raw SQL (PRODUCT.md: append-only)."""

from django.db import migrations

from core.migration_sql import per_backend

PG_INSTALL = """
CREATE OR REPLACE FUNCTION inventory_movement_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the movement ledger is append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER inventory_movement_append_only
    BEFORE UPDATE OR DELETE ON inventory_movement
    FOR EACH ROW EXECUTE FUNCTION inventory_movement_append_only();
"""
PG_REMOVE = """
DROP TRIGGER IF EXISTS inventory_movement_append_only ON inventory_movement;
DROP FUNCTION IF EXISTS inventory_movement_append_only();
"""
SQLITE_INSTALL = [
    """CREATE TRIGGER inventory_movement_no_update BEFORE UPDATE ON inventory_movement
       BEGIN SELECT RAISE(ABORT, 'the movement ledger is append-only: UPDATE refused'); END;""",
    """CREATE TRIGGER inventory_movement_no_delete BEFORE DELETE ON inventory_movement
       BEGIN SELECT RAISE(ABORT, 'the movement ledger is append-only: DELETE refused'); END;""",
]
SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS inventory_movement_no_update;",
    "DROP TRIGGER IF EXISTS inventory_movement_no_delete;",
]


install = per_backend(postgresql=PG_INSTALL, sqlite=SQLITE_INSTALL)
remove = per_backend(postgresql=PG_REMOVE, sqlite=SQLITE_REMOVE)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0002_initial")]
    operations = [migrations.RunPython(install, remove)]
