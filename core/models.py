"""The machinery's own rows (no domain data)."""

from django.conf import settings
from django.db import models


class IdempotencyKey(models.Model):
    """The first successful response to a POST carrying an ``Idempotency-Key``, per caller.

    Written in the same transaction as the work it guards, so a key exists if and only if the work was done."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField(null=True)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "nations_idempotencykey"  # the table predates the core app
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_caller_key")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"
