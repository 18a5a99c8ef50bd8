"""A discrepancy of a new kind: a stock's ledger hash chain is broken (inventory/ledger.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('coordination', '0007_shortfall_shared'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='discrepancy',
            name='discrepancy_kind_valid',
        ),
        migrations.AlterField(
            model_name='discrepancy',
            name='kind',
            field=models.CharField(choices=[('ledger_mismatch', 'On hand differs from the ledger'), ('reservation_mismatch', 'Reserved differs from approved requests'), ('count_mismatch', 'Physical count differs from the books'), ('overdue_dispatch', 'Approved request not dispatched in time'), ('short_receipt', 'Less received than dispatched'), ('ledger_chain', 'Ledger hash chain broken')], max_length=24),
        ),
        migrations.AddConstraint(
            model_name='discrepancy',
            constraint=models.CheckConstraint(condition=models.Q(('kind__in', ['ledger_mismatch', 'reservation_mismatch', 'count_mismatch', 'overdue_dispatch', 'short_receipt', 'ledger_chain'])), name='discrepancy_kind_valid'),
        ),
    ]
