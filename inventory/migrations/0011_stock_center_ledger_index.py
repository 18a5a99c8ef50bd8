"""The ledger check of a reconciliation run reads a center's stocks with their chain heads from one index."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("inventory", "0010_stock_nation_margin_idx")]

    operations = [
        migrations.AddIndex(
            model_name="stock",
            index=models.Index(fields=["center"], include=["id", "ledger_head"], name="stock_center_ledger_idx"),
        ),
    ]
