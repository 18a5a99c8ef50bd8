from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in


class CoreConfig(AppConfig):
    """The portal's machinery, with no domain of its own: the API's conventions (problem+json, Idempotency-Key,
    throttling, ETag/If-Match, the base viewset), the pages' error mapping, middleware."""

    name = "core"
    verbose_name = "Portal machinery"

    def ready(self):
        from .middleware import start_activity_clock  # it loads DRF (problem+json), which wants the app registry ready

        user_logged_in.connect(start_activity_clock, dispatch_uid="core_idle_clock")
