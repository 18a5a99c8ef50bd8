from django.apps import AppConfig


class NationsConfig(AppConfig):
    name = "nations"
    verbose_name = "Nations and roles"

    def ready(self):
        from . import audit

        audit.connect_signals()
