from django.apps import AppConfig


class QuotesConfig(AppConfig):
    name = "apps.quotes"
    label = "quotes"
    verbose_name = "quotes"

    def ready(self) -> None:
        from apps.quotes.resolutions import register

        register()
