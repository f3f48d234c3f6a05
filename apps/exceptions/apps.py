from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    name = "apps.exceptions"
    label = "exceptions"
    verbose_name = "exceptions"

    def ready(self) -> None:
        from apps.exceptions.registry import register_builtin_resolutions

        register_builtin_resolutions()
