# Every API token expires.  Tokens issued before this had the choice not to: they are given the default lifetime
# from today (API_TOKEN_DEFAULT_DAYS), so no national system is cut off by the upgrade itself.
from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.db.models import F, Q
from django.utils import timezone


def give_every_token_an_expiry(apps, schema_editor):
    ApiToken = apps.get_model("nations", "ApiToken")
    expires = timezone.now() + timedelta(days=settings.API_TOKEN_DEFAULT_DAYS)
    ApiToken.objects.filter(expires_at__isnull=True).update(expires_at=expires)


class Migration(migrations.Migration):
    dependencies = [("nations", "0004_idempotency_key_to_core")]

    operations = [
        migrations.RunPython(give_every_token_an_expiry, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(
                help_text="Every token expires (API_TOKEN_DEFAULT_DAYS, at most API_TOKEN_MAX_DAYS)."
            ),
        ),
        migrations.AddConstraint(
            model_name="apitoken",
            constraint=models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="token_expires_after_creation"
            ),
        ),
    ]
