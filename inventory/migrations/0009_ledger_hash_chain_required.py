"""The tamper-evident ledger, step 3: every movement must carry its hashes, and every hash is a SHA-256.

On SQLite these operations rebuild the tables, which drops their triggers: they are put back (see 0007).
"""

import importlib

from django.db import migrations, models
from django.db.models.functions import Length
from django.db.models.lookups import Exact

keeping_sqlite_triggers = importlib.import_module("inventory.migrations.0007_ledger_hash_chain").keeping_sqlite_triggers


class Migration(migrations.Migration):
    dependencies = [("inventory", "0008_ledger_hash_chain_fill")]

    operations = keeping_sqlite_triggers(("inventory_stock", "inventory_movement"), [
        migrations.AlterField(
            model_name="movement",
            name="prev_hash",
            field=models.BinaryField(editable=False, max_length=32,
                                     help_text="Hash of the stock's previous movement (all zeros for its first)."),
        ),
        migrations.AlterField(
            model_name="movement",
            name="hash",
            field=models.BinaryField(editable=False, max_length=32, help_text="SHA-256 of the canonical form."),
        ),
        migrations.AddConstraint(
            model_name="stock",
            constraint=models.CheckConstraint(condition=Exact(Length("ledger_head"), 32),
                                              name="stock_ledger_head_sha256"),
        ),
        migrations.AddConstraint(
            model_name="movement",
            constraint=models.CheckConstraint(condition=Exact(Length("prev_hash"), 32),
                                              name="movement_prev_hash_sha256"),
        ),
        migrations.AddConstraint(
            model_name="movement",
            constraint=models.CheckConstraint(condition=Exact(Length("hash"), 32), name="movement_hash_sha256"),
        ),
    ])
