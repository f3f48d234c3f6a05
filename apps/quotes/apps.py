from django.apps import AppConfig


class QuotesConfig(AppConfig):
    name = "apps.quotes"
    label = "quotes"
    verbose_name = "quotes"

    def ready(self) -> None:
        from apps.contracts.changes import register_contract_listener
        from apps.orders.quoted import register_quote_matcher
        from apps.quotes.order_matching import QuoteMatcher
        from apps.quotes.resolutions import register
        from apps.quotes.services.repricing import quotes_flag_out_of_date_prices

        register()
        register_quote_matcher(QuoteMatcher())
        register_contract_listener(quotes_flag_out_of_date_prices)
