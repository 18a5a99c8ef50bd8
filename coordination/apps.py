from django.apps import AppConfig


class CoordinationConfig(AppConfig):
    name = "coordination"
    verbose_name = "Coordination"

    def ready(self):
        from . import lifecycle  # the request rules live in the lifecycle table: registered once, here

        lifecycle.register_rules()
