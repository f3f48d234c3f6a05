from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        # Registers the deploy checks, and the receiver that records the login time for the staff session expiry.
        from apps.core import checks, middleware  # noqa: F401
