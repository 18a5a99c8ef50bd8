from django.apps import AppConfig


class NationsConfig(AppConfig):
    name = "nations"
    verbose_name = "Nations and roles"

    def ready(self):
        from . import audit, two_factor  # models are loaded only once the app registry is ready

        audit.connect_signals()
        two_factor.connect_signals()
