"""The (center, nation) index of stocks also carries `shared`, so counting the stocks of a center that a caller may
see is an index-only scan (bench/api_stock_list.py: the COUNT behind a center's page over 1,000,000 stocks)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inventory', '0004_regex_end_of_string'),
        ('nations', '0002_regex_end_of_string'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='stock',
            name='inventory_s_center__cccf7f_idx',
        ),
        migrations.AddIndex(
            model_name='stock',
            index=models.Index(fields=['center', 'nation', 'shared'], name='stock_center_nation_shared_idx'),
        ),
    ]
