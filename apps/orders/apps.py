from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "apps.orders"
    label = "orders"
    verbose_name = "orders"

    def ready(self) -> None:
        from apps.catalog.imports.listeners import register_batch_listener, register_row_check
        from apps.catalog.models import ImportKind
        from apps.integrations.models import Channel
        from apps.integrations.resend import register_resender
        from apps.orders.backorders import QueueListener
        from apps.orders.credit import reject_currency_change_with_exposure
        from apps.orders.outbox import resend_logged_document
        from apps.orders.resolutions import register

        register()
        register_batch_listener(ImportKind.STOCK, QueueListener)
        register_row_check(ImportKind.CUSTOMERS, reject_currency_change_with_exposure)
        register_resender(Channel.ORDER_STATUS, resend_logged_document)
