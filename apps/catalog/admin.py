"""Admin pages for catalog master data: categories, units, products, warehouses and stock."""

import csv

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path

from apps.catalog.errors import CatalogError
from apps.catalog.exports import export_cif, export_csv
from apps.catalog.imports.errors import CatalogImportError
from apps.catalog.imports.jobs import import_job_create_from_upload
from apps.catalog.imports.service import ImportOptions
from apps.catalog.models import (
    Category,
    HeldChange,
    ImportJob,
    ImportKind,
    Product,
    StockLevel,
    UnitAlias,
    UnitOfMeasure,
    Warehouse,
)
from apps.catalog.units import normalise_unit_spelling
from apps.contracts.models import Contract
from apps.core.admin import HistoryModelAdmin
from apps.integrations.ownership import System
from apps.integrations.ownership_admin import OwnedFieldsMixin


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
class ProductAdmin(OwnedFieldsMixin, HistoryModelAdmin):
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
    list_filter = ["is_active", "is_configurable", "currency", "tax_class", "category"]
    list_select_related = ["category", "unit"]
    search_fields = ["sku", "name", "manufacturer", "manufacturer_part_number"]
    autocomplete_fields = ["category", "unit"]
    readonly_fields = ["created_at", "updated_at", "source_updated_at"]
    fieldsets = [
        (None, {"fields": ["sku", "name", "description"]}),
        ("Classification", {"fields": ["category", "unspsc", "manufacturer", "manufacturer_part_number"]}),
        ("Sale", {"fields": ["unit", "list_price", "currency", "lead_time_days", "is_active", "is_configurable"]}),
        ("Tax", {"fields": ["tax_class"]}),
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
class StockLevelAdmin(OwnedFieldsMixin, HistoryModelAdmin):
    list_display = ["product", "warehouse", "on_hand", "reserved", "available", "as_of"]
    list_filter = ["warehouse"]
    list_select_related = ["product", "warehouse"]
    search_fields = ["product__sku", "product__name", "warehouse__code"]
    autocomplete_fields = ["product", "warehouse"]
    fields = ["product", "warehouse", "on_hand", "reserved", "as_of", "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]
    show_full_result_count = False


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(choices=ImportKind.choices)
    sender = forms.ChoiceField(
        label="Sent by",
        choices=[("", "the system that owns this data"), (System.ERP, "the ERP"), (System.CRM, "the CRM")],
        required=False,
        help_text="Fields the sender does not own keep their stored values and open integration-conflict cases.",
    )
    file = forms.FileField(help_text="CSV with a header row, or JSON Lines (.jsonl).")
    dry_run = forms.BooleanField(required=False, help_text="Validate and report only; change nothing.")
    encoding = forms.ChoiceField(
        choices=[("utf-8", "UTF-8"), ("latin-1", "Latin-1 (ISO 8859-1)"), ("cp1252", "Windows-1252")],
        initial="utf-8",
    )
    delimiter = forms.ChoiceField(
        choices=[("", "detect"), (",", "comma"), (";", "semicolon"), ("tab", "tab")], required=False
    )
    decimal_comma = forms.BooleanField(required=False, help_text="Numbers use a decimal comma, such as 12,50.")
    last_wins = forms.BooleanField(
        required=False, help_text="Of rows with the same key, apply the last; otherwise later ones are rejected."
    )
    full_catalog = forms.BooleanField(
        required=False,
        help_text="Catalog only: the file lists every product, so products missing from it are held for deactivation.",
    )

    def clean(self):
        cleaned = super().clean()
        try:
            cleaned["options"] = ImportOptions.from_dict(
                {
                    "encoding": cleaned.get("encoding") or "utf-8",
                    "delimiter": cleaned.get("delimiter") or None,
                    "decimal_comma": bool(cleaned.get("decimal_comma")),
                    "last_wins": bool(cleaned.get("last_wins")),
                    "full_catalog": bool(cleaned.get("full_catalog")) and cleaned.get("kind") == ImportKind.CATALOG,
                }
            )
        except CatalogImportError as error:
            raise forms.ValidationError(error.message) from None
        return cleaned


class ExportForm(forms.Form):
    contract = forms.ModelChoiceField(queryset=Contract.objects.select_related("customer"))
    format = forms.ChoiceField(choices=[("cif", "CIF 3.0"), ("csv", "CSV")])
    on_date = forms.DateField(required=False, help_text="Pricing date, YYYY-MM-DD; empty means today (UTC).")
    supplier_id = forms.CharField(required=False, help_text="CIF only: your id at the buyer, such as a DUNS number.")


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "source",
        "sender",
        "file_name",
        "status",
        "dry_run",
        "rows_read",
        "created_count",
        "updated_count",
        "unchanged_count",
        "stale_count",
        "rejected_count",
        "flagged_count",
        "attempts",
        "created_by",
        "created_at",
    ]
    list_filter = ["kind", "status", "source", "sender", "dry_run"]
    list_select_related = ["created_by"]
    search_fields = ["file_name"]
    change_form_template = "admin/catalog/importjob/change_form.html"
    change_list_template = "admin/catalog/importjob/change_list.html"
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in ImportJob._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        urls = [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="catalog_importjob_upload"),
            path("export/", self.admin_site.admin_view(self.export_view), name="catalog_importjob_export"),
            path(
                "<int:job_id>/report.csv",
                self.admin_site.admin_view(self.report_view),
                name="catalog_importjob_report",
            ),
        ]
        return urls + super().get_urls()

    def upload_view(self, request):
        if not request.user.has_perm("catalog.add_importjob"):
            raise PermissionDenied
        form = ImportUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            job = import_job_create_from_upload(
                kind=form.cleaned_data["kind"],
                upload=form.cleaned_data["file"],
                options=form.cleaned_data["options"],
                dry_run=form.cleaned_data["dry_run"],
                actor=request.user,
                sender=form.cleaned_data["sender"],
            )
            self.message_user(request, f"Import job {job.pk} is queued; this page shows its progress.")
            return redirect("admin:catalog_importjob_change", job.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Upload an import file",
            "form": form,
        }
        return TemplateResponse(request, "admin/catalog/importjob/upload.html", context)

    def export_view(self, request):
        if not request.user.has_perm("catalog.view_product") or not request.user.has_perm("contracts.view_contract"):
            raise PermissionDenied
        form = ExportForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            contract = form.cleaned_data["contract"]
            try:
                if form.cleaned_data["format"] == "csv":
                    result = export_csv(contract=contract, on_date=form.cleaned_data["on_date"])
                    content_type, suffix = "text/csv; charset=utf-8", "csv"
                else:
                    result = export_cif(
                        contract=contract,
                        on_date=form.cleaned_data["on_date"],
                        supplier_id=form.cleaned_data["supplier_id"]
                        or getattr(settings, "CATALOG_CIF_SUPPLIER_ID", ""),
                        supplier_id_domain=getattr(settings, "CATALOG_CIF_SUPPLIER_ID_DOMAIN", "DUNS"),
                    )
                    content_type, suffix = "text/plain; charset=utf-8", "cif"
            except CatalogError as error:
                form.add_error(None, error.message)
            else:
                response = HttpResponse(result.content, content_type=content_type)
                response["Content-Disposition"] = f'attachment; filename="{contract.number}.{suffix}"'
                return response
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Export a contract catalog",
            "form": form,
        }
        return TemplateResponse(request, "admin/catalog/importjob/export.html", context)

    def report_view(self, request, job_id: int):
        job = get_object_or_404(ImportJob, pk=job_id)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        response = StreamingHttpResponse(_report_csv_lines(job), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-job-{job.pk}-report.csv"'
        return response

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["job"] = obj
            context["job_active"] = obj.status in (ImportJob.Status.PENDING, ImportJob.Status.RUNNING)
            context["lost_after_seconds"] = settings.CATALOG_IMPORT_LOST_AFTER_SECONDS
            context["report_lines"] = list(obj.row_errors.order_by("line", "id")[:REPORT_LINES_SHOWN])
            context["report_count"] = obj.row_errors.count()
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


# Report lines shown on the job page; the CSV download has all of them.
REPORT_LINES_SHOWN = 100


class _Echo:
    def write(self, value):
        return value


def _report_csv_lines(job: ImportJob):
    writer = csv.writer(_Echo())
    yield writer.writerow(["line", "column", "value", "message", "level"])
    for line in job.row_errors.order_by("line", "id").iterator(chunk_size=2000):
        yield writer.writerow([line.line, line.column, line.value, line.message, line.level])


@admin.register(HeldChange)
class HeldChangeAdmin(admin.ModelAdmin):
    list_display = ["sku", "reason", "status", "job", "line", "case", "created_at", "decided_by"]
    list_filter = ["status", "reason"]
    list_select_related = ["job", "case", "decided_by"]
    search_fields = ["sku"]
    readonly_fields = [field.name for field in HeldChange._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
