"""The audit log, append-only at the database: UPDATE and DELETE are refused even for raw SQL (as the ledger's,
inventory migration 0003)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from core.migration_sql import per_backend

PG_INSTALL = """
CREATE OR REPLACE FUNCTION nations_auditentry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER nations_auditentry_append_only
    BEFORE UPDATE OR DELETE ON nations_auditentry
    FOR EACH ROW EXECUTE FUNCTION nations_auditentry_append_only();
"""
PG_REMOVE = """
DROP TRIGGER IF EXISTS nations_auditentry_append_only ON nations_auditentry;
DROP FUNCTION IF EXISTS nations_auditentry_append_only();
"""
SQLITE_INSTALL = [
    """CREATE TRIGGER nations_auditentry_no_update BEFORE UPDATE ON nations_auditentry
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE refused'); END;""",
    """CREATE TRIGGER nations_auditentry_no_delete BEFORE DELETE ON nations_auditentry
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: DELETE refused'); END;""",
]
SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS nations_auditentry_no_update;",
    "DROP TRIGGER IF EXISTS nations_auditentry_no_delete;",
]


install = per_backend(postgresql=PG_INSTALL, sqlite=SQLITE_INSTALL)
remove = per_backend(postgresql=PG_REMOVE, sqlite=SQLITE_REMOVE)


class Migration(migrations.Migration):

    dependencies = [
        ('nations', '0002_regex_end_of_string'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('kind', models.CharField(choices=[('login', 'Signed in'), ('login.failed', 'Sign-in failed'), ('login.locked_out', 'Locked out after failed sign-ins'), ('role.granted', 'Role granted'), ('role.revoked', 'Role revoked'), ('token.issued', 'API token issued'), ('token.revoked', 'API token revoked'), ('request.transition', 'Request status changed'), ('stock.adjusted', 'Stock adjusted'), ('count.accepted', 'Count accepted (books corrected)'), ('count.rejected', 'Count rejected')], max_length=24)),
                ('username', models.CharField(blank=True, help_text="The actor's username then, or the username tried in a failed sign-in.", max_length=150)),
                ('object_type', models.CharField(blank=True, help_text='app_label.model of the object.', max_length=100)),
                ('object_id', models.CharField(blank=True, max_length=64)),
                ('object_repr', models.CharField(blank=True, max_length=200)),
                ('summary', models.CharField(max_length=500)),
                ('details', models.JSONField(blank=True, default=dict)),
                ('ip_address', models.GenericIPAddressField(blank=True, null=True)),
                ('path', models.CharField(blank=True, help_text='The request path, when made over HTTP.', max_length=300)),
                ('actor', models.ForeignKey(blank=True, help_text='Empty for a failed sign-in and for system actions.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('nation', models.ForeignKey(blank=True, help_text='The nation the event concerns (on whose side the actor acted).', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='nations.nation')),
            ],
            options={
                'verbose_name_plural': 'audit entries',
                'ordering': ['-at', '-id'],
                'indexes': [models.Index(fields=['kind', '-at'], name='audit_kind_at_idx'), models.Index(fields=['nation', '-at'], name='audit_nation_at_idx'), models.Index(fields=['username', '-at'], name='audit_username_at_idx'), models.Index(fields=['object_type', 'object_id'], name='audit_object_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('kind__in', ['login', 'login.failed', 'login.locked_out', 'role.granted', 'role.revoked', 'token.issued', 'token.revoked', 'request.transition', 'stock.adjusted', 'count.accepted', 'count.rejected'])), name='audit_kind_valid')],
            },
        ),
        migrations.RunPython(install, remove),
    ]
