from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "apps.orders"
    label = "orders"
    verbose_name = "orders"

    def ready(self) -> None:
        from apps.orders.resolutions import register

        register()
