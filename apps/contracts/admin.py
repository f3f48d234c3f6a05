"""Admin pages for customers, their contracts and contract prices."""

from django import forms
from django.contrib import admin

from apps.contracts.models import Contract, ContractPrice, Customer
from apps.core.admin import (
    FINANCE_GROUP,
    HistoryModelAdmin,
    PrefetchedAutocompleteInline,
    locked_field_notes,
    user_in_group,
)

# Credit fields that only finance and superusers change. The admin shows them read-only to everyone else.
FINANCE_OWNED_FIELDS = ("credit_limit", "credit_hold")
FINANCE_OWNED_NOTE = "Set by finance."


@admin.register(Customer)
class CustomerAdmin(HistoryModelAdmin):
    list_display = ["account_number", "name", "currency", "region", "credit_limit", "credit_hold", "is_active"]
    list_filter = ["is_active", "credit_hold", "tax_exempt", "currency", "region"]
    search_fields = ["account_number", "name"]
    fieldsets = [
        (None, {"fields": ["account_number", "name", "region", "is_active"]}),
        ("Terms", {"fields": ["currency", "payment_terms", "tax_exempt"]}),
        ("Credit", {"fields": ["credit_limit", "credit_hold"]}),
        ("Changes", {"fields": ["source_updated_at", "created_at", "updated_at"]}),
    ]
    readonly_fields = ["source_updated_at", "created_at", "updated_at"]

    def get_locked_fields(self, request, obj=None):
        if request.user.is_superuser or user_in_group(request, FINANCE_GROUP):
            return {}
        return locked_field_notes(Customer, FINANCE_OWNED_FIELDS, FINANCE_OWNED_NOTE)


class ContractPriceInlineFormSet(forms.BaseInlineFormSet):
    """Rejects two rows for the same price tier before the database's unique constraints would."""

    def clean(self):
        super().clean()
        seen = {}
        for form in self.forms:
            if not form.has_changed() and not form.instance.pk:
                continue
            if self.can_delete and self._should_delete_form(form):
                continue
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("product") is None:
                continue
            # Django's own unique check skips rows whose valid_from is empty, so the open tier is checked here.
            tier = (data["product"].pk, data.get("min_quantity"), data.get("valid_from"))
            if tier in seen:
                start = tier[2] or "with the contract"
                raise forms.ValidationError(
                    f"Two rows price {data['product'].sku} from quantity {tier[1]} starting {start}; "
                    "keep one of them or change its minimum quantity or start date."
                )
            seen[tier] = form


class ContractPriceInline(PrefetchedAutocompleteInline):
    model = ContractPrice
    formset = ContractPriceInlineFormSet
    fields = ["product", "min_quantity", "price", "discount_percent", "valid_from", "valid_to"]
    autocomplete_fields = ["product"]
    extra = 0

    def get_queryset(self, request):
        # Each row's label names its contract number, read from the joined contract.
        return super().get_queryset(request).select_related("contract")


@admin.register(Contract)
class ContractAdmin(HistoryModelAdmin):
    list_display = ["number", "customer", "name", "status", "valid_from", "valid_to", "currency", "assortment"]
    list_filter = ["status", "assortment", "currency"]
    list_select_related = ["customer"]
    search_fields = ["number", "name", "customer__account_number", "customer__name"]
    autocomplete_fields = ["customer", "categories", "products"]
    fieldsets = [
        (None, {"fields": ["number", "name", "customer", "status"]}),
        ("Validity", {"fields": ["valid_from", "valid_to", "currency"]}),
        ("Assortment", {"fields": ["assortment", "categories", "products"]}),
        ("Changes", {"fields": ["source_updated_at", "created_at", "updated_at"]}),
    ]
    readonly_fields = ["source_updated_at", "created_at", "updated_at"]
    inlines = [ContractPriceInline]
    history_delta_excluded_fields = ("categories", "products")


@admin.register(ContractPrice)
class ContractPriceAdmin(HistoryModelAdmin):
    list_display = ["contract", "product", "min_quantity", "price", "discount_percent", "valid_from", "valid_to"]
    list_filter = ["contract__status", "contract__currency"]
    list_select_related = ["contract__customer", "product"]
    search_fields = ["contract__number", "contract__customer__account_number", "product__sku", "product__name"]
    autocomplete_fields = ["contract", "product"]
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False

    def get_queryset(self, request):
        # The change, delete and history pages label the price with its contract number and SKU. The
        # changelist skips list_select_related for a queryset that already joins, so this joins the same.
        return super().get_queryset(request).select_related(*self.list_select_related)
