"""Admin pages for customers, their contracts and contract prices."""

from django import forms
from django.contrib import admin

from apps.contracts.changes import contracts_changed
from apps.contracts.models import Contract, ContractPrice, Customer
from apps.core.admin import HistoryModelAdmin, LockedFieldsMixin, PrefetchedAutocompleteInline
from apps.integrations.ownership_admin import OwnedFieldsMixin


@admin.register(Customer)
class CustomerAdmin(OwnedFieldsMixin, HistoryModelAdmin):
    list_display = ["account_number", "name", "currency", "region", "credit_limit", "credit_hold", "is_active"]
    list_filter = ["is_active", "credit_hold", "tax_exempt", "service_tier", "currency", "region"]
    search_fields = ["account_number", "name"]
    fieldsets = [
        (None, {"fields": ["account_number", "name", "region", "service_tier", "is_active"]}),
        ("Terms", {"fields": ["currency", "payment_terms", "tax_exempt"]}),
        ("Default ship-to", {"fields": ["ship_to_country", "ship_to_region"]}),
        ("Credit", {"fields": ["credit_limit", "credit_hold"]}),
        ("Changes", {"fields": ["source_updated_at", "created_at", "updated_at"]}),
    ]
    readonly_fields = ["source_updated_at", "created_at", "updated_at"]


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


class ContractPriceInline(OwnedFieldsMixin, LockedFieldsMixin, PrefetchedAutocompleteInline):
    model = ContractPrice
    formset = ContractPriceInlineFormSet
    fields = ["product", "min_quantity", "price", "discount_percent", "valid_from", "valid_to"]
    autocomplete_fields = ["product"]
    extra = 0

    def has_add_permission(self, request, obj=None):
        # Rows of an existing contract come from the CRM; a new one would have every field locked.
        if obj is not None and self.get_locked_fields(request, obj):
            return False
        return super().has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and self.get_locked_fields(request, obj):
            return False
        return super().has_delete_permission(request, obj)

    def get_queryset(self, request):
        # Each row's label names its contract number, read from the joined contract.
        return super().get_queryset(request).select_related("contract")


@admin.register(Contract)
class ContractAdmin(OwnedFieldsMixin, HistoryModelAdmin):
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

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # The admin's change view runs in one transaction, so flagged quotes commit with the change.
        if change:
            contracts_changed(contract_ids={form.instance.pk}, reason="changed in the admin", actor=request.user)


@admin.register(ContractPrice)
class ContractPriceAdmin(OwnedFieldsMixin, HistoryModelAdmin):
    list_display = ["contract", "product", "min_quantity", "price", "discount_percent", "valid_from", "valid_to"]
    list_filter = ["contract__status", "contract__currency"]
    list_select_related = ["contract__customer", "product"]
    search_fields = ["contract__number", "contract__customer__account_number", "product__sku", "product__name"]
    autocomplete_fields = ["contract", "product"]
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        contracts_changed(contract_ids={obj.contract_id}, reason="price changed in the admin", actor=request.user)

    def delete_model(self, request, obj):
        contract_id = obj.contract_id
        super().delete_model(request, obj)
        contracts_changed(contract_ids={contract_id}, reason="price deleted in the admin", actor=request.user)

    def get_queryset(self, request):
        # The change, delete and history pages label the price with its contract number and SKU. The
        # changelist skips list_select_related for a queryset that already joins, so this joins the same.
        return super().get_queryset(request).select_related(*self.list_select_related)
