"""New audit kinds: release-list changes, two-factor sign-in, reads and exports of the audit log.

SQLite rebuilds the table to change a CHECK constraint, and the rebuild drops the append-only triggers of 0003:
they are removed before and installed again after (on PostgreSQL the trigger survives; removing and installing it
again is harmless)."""

import importlib

from django.conf import settings
from django.db import migrations, models


def _append_only():
    return importlib.import_module("nations.migrations.0003_audit_entry")


def lift(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        _append_only().remove(apps, schema_editor)


def restore(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        _append_only().install(apps, schema_editor)


class Migration(migrations.Migration):

    dependencies = [
        ('nations', '0005_api_token_expiry_required'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(lift, restore),
        migrations.RemoveConstraint(
            model_name='auditentry',
            name='audit_kind_valid',
        ),
        migrations.AlterField(
            model_name='auditentry',
            name='kind',
            field=models.CharField(choices=[('login', 'Signed in'), ('login.failed', 'Sign-in failed'), ('login.locked_out', 'Locked out after failed sign-ins'), ('role.granted', 'Role granted'), ('role.revoked', 'Role revoked'), ('token.issued', 'API token issued'), ('token.revoked', 'API token revoked'), ('request.transition', 'Request status changed'), ('stock.adjusted', 'Stock adjusted'), ('count.accepted', 'Count accepted (books corrected)'), ('count.rejected', 'Count rejected'), ('stock.released', 'Stock release list changed'), ('2fa.enrolled', 'Two-factor device enrolled'), ('2fa.failed', 'Two-factor code refused'), ('2fa.reset', 'Two-factor devices reset or backup codes renewed'), ('audit.read', 'Audit log read'), ('audit.exported', 'Audit log exported')], max_length=24),
        ),
        migrations.AddConstraint(
            model_name='auditentry',
            constraint=models.CheckConstraint(condition=models.Q(('kind__in', ['login', 'login.failed', 'login.locked_out', 'role.granted', 'role.revoked', 'token.issued', 'token.revoked', 'request.transition', 'stock.adjusted', 'count.accepted', 'count.rejected', 'stock.released', '2fa.enrolled', '2fa.failed', '2fa.reset', 'audit.read', 'audit.exported'])), name='audit_kind_valid'),
        ),
        migrations.RunPython(restore, lift),
    ]
