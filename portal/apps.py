from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The pages that combine every app: the dashboard, the stock page, the navigation's context."""

    name = "portal"
    verbose_name = "Portal"
