"""Audit entries name the stock they concern, and the log gets its hash chain.

1. ``AuditEntry.stock``: the stock an entry is about (its subject, or a movement's or a count's stock), so that the
   log follows the stock's visibility in one condition (``visibility.audit_entry``).  Existing entries are filled
   from their ``object_type`` / ``object_id`` by one UPDATE with the append-only trigger of 0003 lifted for that
   statement alone (as inventory 0012 does).  On SQLite the column is added in place (nullable, no default: no
   table rebuild), so the triggers are only removed and installed again around the UPDATE.  Until 0007 no entry
   named a discrepancy, so there is none to fill from coordination's table.
2. ``AuditSeal``: the chain (``nations/audit_chain.py``), append-only at the database like the log.  It starts
   empty; the sealer (Celery beat, every minute, and before every export) seals the existing log in id order.
"""

import importlib

import django.db.models.deletion
import django.db.models.functions.text
import django.db.models.lookups
import django.utils.timezone
from django.db import migrations, models

from core.migration_sql import per_backend

# The same statement on both backends: the CASE casts object_id only for the kinds of object whose id is a number.
FILL = """
UPDATE nations_auditentry SET stock_id = CASE object_type
    WHEN 'inventory.stock' THEN CAST(object_id AS BIGINT)
    WHEN 'inventory.movement' THEN
        (SELECT m.stock_id FROM inventory_movement m WHERE m.id = CAST(nations_auditentry.object_id AS BIGINT))
    WHEN 'inventory.stockcount' THEN
        (SELECT c.stock_id FROM inventory_stockcount c WHERE c.id = CAST(nations_auditentry.object_id AS BIGINT))
    END
 WHERE object_type IN ('inventory.stock', 'inventory.movement', 'inventory.stockcount') AND stock_id IS NULL
"""


def fill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses a table with pending FK checks
            cursor.execute("ALTER TABLE nations_auditentry DISABLE TRIGGER nations_auditentry_append_only")
            cursor.execute(FILL)
            cursor.execute("ALTER TABLE nations_auditentry ENABLE TRIGGER nations_auditentry_append_only")
        return
    append_only = importlib.import_module("nations.migrations.0003_audit_entry")
    append_only.remove(apps, schema_editor)
    schema_editor.execute(FILL)
    append_only.install(apps, schema_editor)


def reinstall_after_rebuild(apps, schema_editor):
    """Unapplying 0007 removes the column, which SQLite does by rebuilding the table: without its triggers."""
    if schema_editor.connection.vendor == "sqlite":
        append_only = importlib.import_module("nations.migrations.0003_audit_entry")
        append_only.remove(apps, schema_editor)
        append_only.install(apps, schema_editor)


SEAL_PG_INSTALL = """
CREATE OR REPLACE FUNCTION nations_auditseal_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit chain is append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER nations_auditseal_append_only
    BEFORE UPDATE OR DELETE ON nations_auditseal
    FOR EACH ROW EXECUTE FUNCTION nations_auditseal_append_only();
"""
SEAL_PG_REMOVE = """
DROP TRIGGER IF EXISTS nations_auditseal_append_only ON nations_auditseal;
DROP FUNCTION IF EXISTS nations_auditseal_append_only();
"""
SEAL_SQLITE_INSTALL = [
    """CREATE TRIGGER nations_auditseal_no_update BEFORE UPDATE ON nations_auditseal
       BEGIN SELECT RAISE(ABORT, 'the audit chain is append-only: UPDATE refused'); END;""",
    """CREATE TRIGGER nations_auditseal_no_delete BEFORE DELETE ON nations_auditseal
       BEGIN SELECT RAISE(ABORT, 'the audit chain is append-only: DELETE refused'); END;""",
]
SEAL_SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS nations_auditseal_no_update;",
    "DROP TRIGGER IF EXISTS nations_auditseal_no_delete;",
]

install_seal_triggers = per_backend(postgresql=SEAL_PG_INSTALL, sqlite=SEAL_SQLITE_INSTALL)
remove_seal_triggers = per_backend(postgresql=SEAL_PG_REMOVE, sqlite=SEAL_SQLITE_REMOVE)


class Migration(migrations.Migration):

    dependencies = [
        ('inventory', '0002_initial'),
        ('nations', '0006_audit_kinds_two_factor_release_export'),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, reinstall_after_rebuild),
        migrations.AddField(
            model_name='auditentry',
            name='stock',
            field=models.ForeignKey(blank=True, db_constraint=False, editable=False, help_text='The stock the entry concerns, if any: the entry is visible to whoever may see it.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='inventory.stock'),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.CreateModel(
            name='AuditSeal',
            fields=[
                ('seq', models.BigIntegerField(primary_key=True, serialize=False)),
                ('prev_hash', models.BinaryField(max_length=32)),
                ('hash', models.BinaryField(max_length=32)),
                ('sealed_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('entry', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='seal', to='nations.auditentry')),
            ],
            options={
                'ordering': ['seq'],
                'constraints': [models.CheckConstraint(condition=models.Q(('seq__gte', 1)), name='audit_seal_seq_positive'), models.CheckConstraint(condition=django.db.models.lookups.Exact(django.db.models.functions.text.Length('prev_hash'), 32), name='audit_seal_prev_hash_sha256'), models.CheckConstraint(condition=django.db.models.lookups.Exact(django.db.models.functions.text.Length('hash'), 32), name='audit_seal_hash_sha256')],
            },
        ),
        migrations.RunPython(install_seal_triggers, remove_seal_triggers),
    ]
