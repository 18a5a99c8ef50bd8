from django.apps import AppConfig


class NationsConfig(AppConfig):
    name = "nations"
    verbose_name = "Nations and roles"
