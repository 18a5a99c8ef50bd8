# The IdempotencyKey model moved to core (core/migrations/0001); its table stays (state only).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("nations", "0003_audit_entry"),
        ("core", "0001_idempotency_key"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="IdempotencyKey")], database_operations=[]),
    ]
