"""Covering indexes for reconciliation's per-center passes (coordination/reconciliation.py).

- stocks by center, carrying every column a pass reads: a center's stocks are spread over the whole table, so
  without it each of a pass's five reads of them visits most of the table's pages;
- movements by (stock, occurred_at), now carrying quantity: the ledger sums (all of a stock's movements, or those
  up to a count's time) come from the index alone.  It replaces the index on the same key without quantity.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0005_stock_center_nation_covering_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="stock",
            index=models.Index(
                fields=["center"],
                include=["id", "nation", "item", "on_hand", "reserved", "safety_level", "daily_consumption", "shared"],
                name="stock_center_reconcile_idx",
            ),
        ),
        migrations.RemoveIndex(model_name="movement", name="inventory_m_stock_i_112d84_idx"),
        migrations.AddIndex(
            model_name="movement",
            index=models.Index(
                fields=["stock", "occurred_at"], include=["quantity"], name="movement_stock_time_qty_idx"
            ),
        ),
    ]
