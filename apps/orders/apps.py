from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "apps.orders"
    label = "orders"
    verbose_name = "orders"

    def ready(self) -> None:
        from apps.catalog.imports.listeners import register_batch_listener
        from apps.catalog.models import ImportKind
        from apps.integrations.models import Channel
        from apps.integrations.resend import register_resender
        from apps.orders.backorders import QueueListener
        from apps.orders.outbox import resend_logged_document
        from apps.orders.resolutions import register

        register()
        register_batch_listener(ImportKind.STOCK, QueueListener)
        register_resender(Channel.ORDER_STATUS, resend_logged_document)
