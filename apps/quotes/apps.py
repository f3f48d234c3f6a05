from django.apps import AppConfig


class QuotesConfig(AppConfig):
    name = "apps.quotes"
    label = "quotes"
    verbose_name = "quotes"

    def ready(self) -> None:
        from apps.orders.quoted import register_quote_matcher
        from apps.quotes.order_matching import QuoteMatcher
        from apps.quotes.resolutions import register

        register()
        register_quote_matcher(QuoteMatcher())
