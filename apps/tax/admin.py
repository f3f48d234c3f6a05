"""Admin pages for tax classes, tax rates and customers' exemption certificates."""

from django.contrib import admin

from apps.core.admin import HistoryModelAdmin
from apps.tax.models import TaxClass, TaxExemption, TaxRate


@admin.register(TaxClass)
class TaxClassAdmin(HistoryModelAdmin):
    list_display = ["code", "name", "is_default"]
    search_fields = ["code", "name"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(TaxRate)
class TaxRateAdmin(HistoryModelAdmin):
    list_display = ["country", "region", "tax_class", "rate_percent", "valid_from", "valid_to", "name"]
    list_filter = ["country", "tax_class"]
    list_select_related = ["tax_class"]
    search_fields = ["country", "region", "name"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(TaxExemption)
class TaxExemptionAdmin(HistoryModelAdmin):
    list_display = ["certificate_number", "customer", "country", "region", "valid_from", "expires_on"]
    list_filter = ["country"]
    list_select_related = ["customer"]
    search_fields = ["certificate_number", "customer__account_number", "customer__name"]
    autocomplete_fields = ["customer"]
    readonly_fields = ["created_at", "updated_at"]
