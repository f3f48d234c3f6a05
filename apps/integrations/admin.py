"""Admin of the document log, its resend action, and the sync-health dashboard page."""

import json
import logging

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from lxml import etree

from apps.core.admin import EstimatedCountPaginator
from apps.core.errors import DomainError
from apps.core.xml import XMLRejected, parse_xml
from apps.integrations import charts, selectors
from apps.integrations.models import BodyFormat, DocumentLog, Outcome
from apps.integrations.resend import can_resend, document_resend

logger = logging.getLogger(__name__)

# Customers matched by a search term before the log is filtered by them; a broader term should be refined.
MAX_CUSTOMERS_PER_SEARCH = 50


class HTTPStatusFilter(admin.SimpleListFilter):
    title = "HTTP status"
    parameter_name = "http"

    def lookups(self, request, model_admin):
        return [("2", "2xx"), ("3", "3xx"), ("4", "4xx"), ("5", "5xx"), ("none", "no HTTP status")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(http_status__isnull=True)
        if value in {"2", "3", "4", "5"}:
            low = int(value) * 100
            return queryset.filter(http_status__gte=low, http_status__lt=low + 100)
        return queryset


@admin.register(DocumentLog)
class DocumentLogAdmin(admin.ModelAdmin):
    """Read-only list of every integration document, searchable by PO number, payloadID, order number and customer."""

    list_display = (
        "created_at",
        "direction",
        "channel",
        "document_type",
        "outcome_label",
        "counterparty",
        "payload_id",
        "po_number",
        "order_number",
        "http_status",
        "cxml_status",
        "duration_ms",
        "attempts",
    )
    list_filter = ("channel", "direction", "outcome", HTTPStatusFilter, ("created_at", admin.DateFieldListFilter))
    list_select_related = ("connection", "customer")
    search_fields = ("payload_id",)
    search_help_text = (
        "An exact PO number, payloadID, idempotency key or order number, or a customer's account or name."
    )
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    actions = ["resend_documents"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("created_at", "direction", "channel"),
                    ("document_type", "outcome", "attempts"),
                    ("payload_id", "po_number", "order_number"),
                    ("http_status", "cxml_status", "duration_ms"),
                    "message",
                    "url",
                    "request_id",
                )
            },
        ),
        (
            "Concerns",
            {"fields": (("connection", "partner_label", "customer"), ("order", "outbox_event", "import_job"))},
        ),
        ("Request", {"fields": ("request_pretty",)}),
        ("Response", {"fields": ("response_pretty",)}),
    )
    readonly_fields = (
        "created_at",
        "direction",
        "channel",
        "document_type",
        "outcome",
        "attempts",
        "payload_id",
        "po_number",
        "order_number",
        "http_status",
        "cxml_status",
        "duration_ms",
        "message",
        "url",
        "request_id",
        "connection",
        "partner_label",
        "customer",
        "order",
        "outbox_event",
        "import_job",
        "request_pretty",
        "response_pretty",
    )

    class Media:
        css = {"all": ["integrations/admin.css"]}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Rows leave only through the retention pruning, so the log stays a record of what happened.
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.resend_documentlog")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        customer_model = DocumentLog._meta.get_field("customer").related_model
        customer_ids = list(
            customer_model.objects.filter(Q(account_number__iexact=term) | Q(name__icontains=term)).values_list(
                "pk", flat=True
            )[:MAX_CUSTOMERS_PER_SEARCH]
        )
        matches = Q(payload_id=term) | Q(po_number=term) | Q(order_number=term)
        if customer_ids:
            matches |= Q(customer_id__in=customer_ids)
        return queryset.filter(matches), False

    def get_urls(self):
        urls = super().get_urls()
        dashboard = path(
            "dashboard/",
            self.admin_site.admin_view(self.dashboard_view),
            name="integrations_documentlog_dashboard",
        )
        return [dashboard, *urls]

    def dashboard_view(self, request: HttpRequest):
        """Show the sync-health dashboard; staff who may view the log may see it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        health = selectors.sync_health()
        context = {
            **self.admin_site.each_context(request),
            "title": "Sync health",
            "health": health,
            "hour_bars": charts.hour_bars(health.hours),
            "cases": charts.case_bar_widths(health.cases),
            "log_url": reverse("admin:integrations_documentlog_changelist"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/integrations/dashboard.html", context)

    @admin.display(description="outcome", ordering="outcome")
    def outcome_label(self, row: DocumentLog) -> str:
        css_class = "doclog-ok" if row.outcome == Outcome.SUCCEEDED else "doclog-failed"
        return format_html('<span class="{}">{}</span>', css_class, row.get_outcome_display())

    @admin.display(description="connection or partner")
    def counterparty(self, row: DocumentLog) -> str:
        if row.connection_id:
            return str(row.connection.name)
        if row.partner_name:
            return row.partner_name
        return str(row.customer) if row.customer_id else ""

    @admin.display(description="partner")
    def partner_label(self, row: DocumentLog) -> str:
        return row.partner_name or "-"

    @admin.display(description="request body")
    def request_pretty(self, row: DocumentLog) -> str:
        return _pretty_block(row.request_text, row.request_format)

    @admin.display(description="response body")
    def response_pretty(self, row: DocumentLog) -> str:
        return _pretty_block(row.response_text, row.response_format)

    @admin.action(description="Send the selected outbound documents again (same payloadID)", permissions=["resend"])
    def resend_documents(self, request: HttpRequest, queryset) -> None:
        for row in queryset.order_by("created_at"):
            if not can_resend(row):
                self.message_user(
                    request,
                    f"{row} was not sent again: only outbound order documents can be sent again.",
                    level=messages.WARNING,
                )
                continue
            try:
                done = document_resend(row=row)
            except DomainError as error:
                self.message_user(request, f"{row} was not sent again: {error.message}", level=messages.ERROR)
                continue
            logger.info(
                "Document queued to be sent again",
                extra={"log_id": row.pk, "payload_id": row.payload_id, "user_id": request.user.pk},
            )
            self.message_user(request, done, level=messages.SUCCESS)


def pretty_body(text: str, body_format: str) -> str:
    """Return a stored body indented for reading: XML through the hardened parser, JSON re-indented, else as is."""
    if not text:
        return ""
    if body_format == BodyFormat.XML:
        try:
            root = parse_xml(text)
        except XMLRejected:
            return text
        return etree.tostring(root.getroottree(), pretty_print=True, encoding="unicode")
    if body_format == BodyFormat.JSON:
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return text
    return text


def _pretty_block(text: str, body_format: str) -> str:
    if not text:
        return "-"
    return format_html('<pre class="doclog-body">{}</pre>', pretty_body(text, body_format))
