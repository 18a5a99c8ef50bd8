from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The portal's machinery, with no domain of its own: the API's conventions (problem+json, Idempotency-Key,
    throttling, ETag/If-Match, the base viewset), the pages' error mapping, middleware."""

    name = "core"
    verbose_name = "Portal machinery"
