from django.apps import AppConfig


class CoordinationConfig(AppConfig):
    name = "coordination"
    verbose_name = "Coordination"

    def ready(self):
        # the request rules live in the lifecycle table, which reads the models: registered once the registry is ready
        from . import lifecycle, requisitions

        lifecycle.register_rules()
        requisitions.register_rules()
