from django.apps import AppConfig


class TaxConfig(AppConfig):
    name = "apps.tax"
    label = "tax"
    verbose_name = "tax"
