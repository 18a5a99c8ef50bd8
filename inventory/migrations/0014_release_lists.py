"""Release lists (NATO's REL TO): a stock is private, shared with all, or releasable to a named list of nations.

The stock's new column is a nullable foreign key, which SQLite adds in place (no table rebuild).  The two indexes the
access rules read from without visiting the table gain the column: the stock list's count and its first step
(ids of the page) stay index-only.  The check that a stock is not both shared and released needs a table rebuild
on SQLite, which drops the triggers on inventory_stock: ``keeping_sqlite_triggers`` sets them aside and puts them
back.  On 1,000,000 stocks the two index builds take a few seconds.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

keeping_sqlite_triggers = importlib.import_module("inventory.migrations.0007_ledger_hash_chain").keeping_sqlite_triggers


class Migration(migrations.Migration):

    dependencies = [
        ('inventory', '0013_movement_center_keys'),
        ('nations', '0006_audit_kinds_two_factor_release_export'),
    ]

    operations = [
        migrations.CreateModel(
            name='ReleaseList',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(editable=False, help_text='Sorted nation codes, e.g. DEU,FRA.', max_length=2000, unique=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['key'],
            },
        ),
        migrations.RemoveIndex(
            model_name='stock',
            name='stock_center_nation_shared_idx',
        ),
        migrations.RemoveIndex(
            model_name='stock',
            name='stock_center_reconcile_idx',
        ),
        migrations.AddField(
            model_name='releaselist',
            name='nations',
            field=models.ManyToManyField(related_name='release_lists', to='nations.nation'),
        ),
        migrations.AddField(
            model_name='stock',
            name='release_list',
            field=models.ForeignKey(blank=True, help_text='Releasable to these nations (REL TO); empty: private, or shared with all.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='stocks', to='inventory.releaselist'),
        ),
        migrations.AddIndex(
            model_name='stock',
            index=models.Index(fields=['center', 'nation', 'shared', 'release_list'], name='stock_center_nation_shared_idx'),
        ),
        migrations.AddIndex(
            model_name='stock',
            index=models.Index(fields=['center'], include=('id', 'nation', 'item', 'on_hand', 'reserved', 'safety_level', 'daily_consumption', 'shared', 'release_list'), name='stock_center_reconcile_idx'),
        ),
        *keeping_sqlite_triggers(("inventory_stock", "inventory_movement"), [
            migrations.AddConstraint(
                model_name='stock',
                constraint=models.CheckConstraint(condition=models.Q(('shared', False), ('release_list__isnull', True), _connector='OR'), name='stock_shared_or_released'),
            ),
        ]),
    ]
