"""The customer admin with what finance needs from orders and tax: the exposure and the exemption certificates.

The contracts app cannot import orders or tax, so this app replaces the
customer admin with a subclass that adds them.
"""

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html

from apps.contracts.admin import CustomerAdmin
from apps.contracts.models import Customer
from apps.core.money import format_amount
from apps.orders.credit import exposure_from_annotations, with_exposure
from apps.tax.models import TaxExemption
from apps.tax.services import customer_ship_to


class TaxExemptionInline(admin.TabularInline):
    model = TaxExemption
    fields = ["certificate_number", "country", "region", "valid_from", "expires_on", "note"]
    extra = 0


class FinanceCustomerAdmin(CustomerAdmin):
    list_display = [*CustomerAdmin.list_display, "exposure_display"]
    inlines = [*CustomerAdmin.inlines, TaxExemptionInline]

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fieldsets.insert(-1, ("Exposure and tax", {"fields": ["exposure_detail_display", "tax_status_display"]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "exposure_detail_display", "tax_status_display"]

    def get_queryset(self, request):
        # Three subqueries per row: the list shows at most list_per_page customers.
        return with_exposure(super().get_queryset(request))

    @admin.display(description="exposure")
    def exposure_display(self, customer):
        exposure = exposure_from_annotations(customer)
        return f"{format_amount(exposure.total, exposure.currency)} {exposure.currency}"

    @admin.display(description="credit exposure")
    def exposure_detail_display(self, customer):
        exposure = exposure_from_annotations(customer)
        currency = exposure.currency
        return format_html(
            "<table><tr><th>Open orders not invoiced</th><td>{} {}</td></tr>"
            "<tr><th>Unpaid invoices</th><td>{} {}</td></tr>"
            "<tr><th>Exposure</th><td>{} {}</td></tr>"
            "<tr><th>Credit limit</th><td>{} {}</td></tr></table>",
            format_amount(exposure.open_orders, currency),
            currency,
            format_amount(exposure.unpaid_invoices, currency),
            currency,
            format_amount(exposure.total, currency),
            currency,
            format_amount(customer.credit_limit, currency),
            currency,
        )

    @admin.display(description="tax exemption today")
    def tax_status_display(self, customer):
        today = timezone.localdate()
        ship_to = customer_ship_to(customer)
        current = [
            exemption
            for exemption in customer.tax_exemptions.all()
            if exemption.covers(country=ship_to.country, region=ship_to.region, on_date=today)
        ]
        if customer.tax_exempt and current:
            return f"Exempt at the default ship-to {ship_to} by certificate {current[0].certificate_number}."
        if customer.tax_exempt:
            return (
                f"Marked tax-exempt, but no certificate covers the default ship-to {ship_to} today, "
                "so tax is charged there; add or renew a certificate below."
            )
        if current:
            return "Has a current certificate, but is not marked tax-exempt, so tax is charged."
        return "Not exempt."


admin.site.unregister(Customer)
admin.site.register(Customer, FinanceCustomerAdmin)
