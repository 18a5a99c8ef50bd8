# The tracked token's expires_at became required (nations 0005).  The event table keeps its column nullable in the
# database: events recorded before then hold tokens that did not expire, and history is never rewritten.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("history", "0001_initial"),
        ("nations", "0005_api_token_expiry_required"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="apitokenevent",
                    name="expires_at",
                    field=models.DateTimeField(
                        help_text="Every token expires (API_TOKEN_DEFAULT_DAYS, at most API_TOKEN_MAX_DAYS)."
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
