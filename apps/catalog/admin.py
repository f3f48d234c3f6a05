"""Admin pages for catalog master data: categories, units, products, warehouses and stock."""

from django import forms
from django.contrib import admin

from apps.catalog.models import Category, Product, StockLevel, UnitAlias, UnitOfMeasure, Warehouse
from apps.catalog.units import normalise_unit_spelling
from apps.core.admin import HistoryModelAdmin, locked_field_notes

# The fields that the ERP's catalog and stock feeds set. Staff other than superusers see them
# read-only on existing rows, because the next feed would overwrite a change made here.
ERP_OWNED_FIELDS = {
    Product: (
        "sku",
        "name",
        "description",
        "manufacturer",
        "manufacturer_part_number",
        "category",
        "unspsc",
        "unit",
        "list_price",
        "currency",
        "lead_time_days",
        "is_active",
    ),
    StockLevel: ("on_hand", "as_of"),
}
ERP_OWNED_NOTE = "Owned by the ERP: its next update overwrites this value."


class ErpOwnedFieldsMixin:
    """Locks the model's ``ERP_OWNED_FIELDS`` on existing rows for everyone but superusers."""

    def get_locked_fields(self, request, obj=None):
        if obj is None or request.user.is_superuser:
            return {}
        return locked_field_notes(self.model, ERP_OWNED_FIELDS[self.model], ERP_OWNED_NOTE)


class CategoryForm(forms.ModelForm):
    class Meta:
        model = Category
        fields = ["code", "name", "parent"]

    def clean_code(self):
        code = self.cleaned_data["code"]
        if "/" in code:
            raise forms.ValidationError(
                f"Category code {code!r} contains '/', which separates codes in the category path; remove it."
            )
        return code

    def clean_parent(self):
        parent = self.cleaned_data["parent"]
        category = self.instance
        if parent is None or category.pk is None:
            return parent
        if parent.pk == category.pk or parent.path.startswith(category.path):
            raise forms.ValidationError(
                f"{parent} is {category} itself or one of its subcategories; choose a parent outside its subtree."
            )
        return parent


@admin.register(Category)
class CategoryAdmin(HistoryModelAdmin):
    form = CategoryForm
    list_display = ["code", "name", "parent", "path"]
    list_select_related = ["parent"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["path", "created_at", "updated_at"]


class UnitAliasForm(forms.ModelForm):
    class Meta:
        model = UnitAlias
        fields = ["alias", "context", "unit"]
        help_texts = {
            "alias": "Stored normalised: trimmed, upper case, no trailing dot, no plural S on words (PIECES → PIECE).",
        }

    def clean_alias(self):
        alias = normalise_unit_spelling(self.cleaned_data["alias"])
        if not alias:
            raise forms.ValidationError("The alias is empty once trimmed; enter the spelling a source system sends.")
        return alias

    def clean_unit(self):
        unit = self.cleaned_data["unit"]
        if unit is not None and unit.status != UnitOfMeasure.Status.IN_FORCE:
            raise forms.ValidationError(
                f"{unit} is flagged {unit.get_status_display()} by UN/CEFACT; point the alias at an in-force unit."
            )
        return unit


class UnitAliasInline(admin.TabularInline):
    model = UnitAlias
    form = UnitAliasForm
    fields = ["alias", "context"]
    extra = 0

    def get_queryset(self, request):
        # Each row's title is the alias's __str__, which reads the unit.
        return super().get_queryset(request).select_related("unit")


@admin.register(UnitOfMeasure)
class UnitOfMeasureAdmin(HistoryModelAdmin):
    list_display = ["code", "name", "symbol", "status", "source"]
    list_filter = ["status", "source"]
    search_fields = ["code", "name", "symbol"]
    inlines = [UnitAliasInline]


@admin.register(UnitAlias)
class UnitAliasAdmin(HistoryModelAdmin):
    form = UnitAliasForm
    list_display = ["alias", "context", "unit"]
    list_filter = ["context"]
    list_select_related = ["unit"]
    search_fields = ["alias", "unit__code", "unit__name"]
    autocomplete_fields = ["unit"]


class StockLevelInline(admin.TabularInline):
    """The product's stock by warehouse, for reading; stock is changed on the stock level pages."""

    model = StockLevel
    fields = ["warehouse", "on_hand", "reserved", "available", "as_of"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("warehouse")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Product)
class ProductAdmin(ErpOwnedFieldsMixin, HistoryModelAdmin):
    list_display = [
        "sku",
        "name",
        "category",
        "unit",
        "list_price",
        "currency",
        "is_active",
        "is_configurable",
        "updated_at",
    ]
    list_filter = ["is_active", "is_configurable", "currency", "category"]
    list_select_related = ["category", "unit"]
    search_fields = ["sku", "name", "manufacturer", "manufacturer_part_number"]
    autocomplete_fields = ["category", "unit"]
    readonly_fields = ["created_at", "updated_at", "source_updated_at"]
    fieldsets = [
        (None, {"fields": ["sku", "name", "description"]}),
        ("Classification", {"fields": ["category", "unspsc", "manufacturer", "manufacturer_part_number"]}),
        ("Sale", {"fields": ["unit", "list_price", "currency", "lead_time_days", "is_active", "is_configurable"]}),
        ("Attributes", {"fields": ["attributes"]}),
        ("Changes", {"fields": ["source_updated_at", "created_at", "updated_at"]}),
    ]
    inlines = [StockLevelInline]
    # Counting every product on each changelist page is slow on a large catalog.
    show_full_result_count = False


@admin.register(Warehouse)
class WarehouseAdmin(HistoryModelAdmin):
    list_display = ["code", "name", "country", "is_active"]
    list_filter = ["is_active", "country"]
    search_fields = ["code", "name"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(StockLevel)
class StockLevelAdmin(ErpOwnedFieldsMixin, HistoryModelAdmin):
    list_display = ["product", "warehouse", "on_hand", "reserved", "available", "as_of"]
    list_filter = ["warehouse"]
    list_select_related = ["product", "warehouse"]
    search_fields = ["product__sku", "product__name", "warehouse__code"]
    autocomplete_fields = ["product", "warehouse"]
    fields = ["product", "warehouse", "on_hand", "reserved", "as_of", "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False
