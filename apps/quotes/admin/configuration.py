"""Admin of configurable products (groups, options, rules), product costs and approval rules."""

from django import forms
from django.contrib import admin

from apps.core.admin import HistoryModelAdmin
from apps.quotes.models import (
    ApprovalRule,
    ApprovalRuleStep,
    ConfigurableProduct,
    ConfigurationOption,
    ConfigurationRule,
    OptionGroup,
    ProductCost,
)


class OptionGroupInline(admin.TabularInline):
    model = OptionGroup
    extra = 0
    fields = ["position", "code", "name", "min_choices", "max_choices"]


class _SameProductChoicesMixin:
    """Offer only the groups and options of the configurable product being edited."""

    option_relations: tuple[str, ...] = ()
    group_relations: tuple[str, ...] = ()

    def get_formset(self, request, obj=None, **kwargs):
        self._parent = obj
        return super().get_formset(request, obj, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        parent = getattr(self, "_parent", None)
        if db_field.name in self.group_relations:
            kwargs["queryset"] = (
                OptionGroup.objects.filter(configurable=parent) if parent else OptionGroup.objects.none()
            )
        if db_field.name in self.option_relations:
            kwargs["queryset"] = (
                ConfigurationOption.objects.filter(configurable=parent)
                if parent
                else ConfigurationOption.objects.none()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ConfigurationOptionInline(_SameProductChoicesMixin, admin.TabularInline):
    model = ConfigurationOption
    fk_name = "configurable"
    extra = 0
    fields = [
        "group",
        "position",
        "code",
        "name",
        "product",
        "price_adder",
        "currency",
        "cost",
        "max_quantity",
        "is_default",
        "is_active",
    ]
    autocomplete_fields = ["product"]
    group_relations = ("group",)


class ConfigurationRuleInline(_SameProductChoicesMixin, admin.TabularInline):
    model = ConfigurationRule
    extra = 0
    fields = [
        "kind",
        "option",
        "group",
        "target_option",
        "target_group",
        "multiple_of",
        "min_quantity",
        "max_quantity",
        "message",
        "is_active",
    ]
    option_relations = ("option", "target_option")
    group_relations = ("group", "target_group")


@admin.register(ConfigurableProduct)
class ConfigurableProductAdmin(HistoryModelAdmin):
    list_display = ["product", "is_active", "updated_at"]
    list_filter = ["is_active"]
    list_select_related = ["product"]
    search_fields = ["product__sku", "product__name"]
    autocomplete_fields = ["product"]
    inlines = [OptionGroupInline, ConfigurationOptionInline, ConfigurationRuleInline]


@admin.register(ProductCost)
class ProductCostAdmin(HistoryModelAdmin):
    list_display = ["product", "currency", "unit_cost", "updated_at"]
    list_select_related = ["product"]
    search_fields = ["product__sku", "product__name"]
    autocomplete_fields = ["product"]


class ApprovalRuleStepInline(admin.TabularInline):
    model = ApprovalRuleStep
    extra = 1
    fields = ["position", "group"]


class ApprovalRuleForm(forms.ModelForm):
    class Meta:
        model = ApprovalRule
        fields = ["name", "kind", "threshold", "currency", "is_active"]


@admin.register(ApprovalRule)
class ApprovalRuleAdmin(HistoryModelAdmin):
    form = ApprovalRuleForm
    list_display = ["name", "kind", "threshold", "currency", "approvers", "is_active"]
    list_filter = ["kind", "is_active"]
    inlines = [ApprovalRuleStepInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("steps__group")

    @admin.display(description="approved by, in order")
    def approvers(self, rule):
        return " → ".join(step.group.name for step in rule.steps.all())
