"""Admin for orders: read-only records with a button per transition the user may run, and the outbox."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django_fsm import can_proceed, has_transition_perm

from apps.core.admin import CheckedHistoryAdmin
from apps.orders import (
    admin_customers,  # noqa: F401 - registers the customer admin with exposure and tax
    services,
)
from apps.orders.errors import OrderError
from apps.orders.models import (
    BackorderEntry,
    BackorderStatus,
    ErpMessage,
    ErpOrderReport,
    InboundDocument,
    Invoice,
    InvoiceLine,
    Order,
    OrderLine,
    OutboundEndpoint,
    OutboxEvent,
    Payment,
    ReconciliationRun,
    Shipment,
)


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = (
        "line_number",
        "sku",
        "product",
        "quantity",
        "unit",
        "unit_text",
        "conversion",
        "buyer_unit_price",
        "contract_unit_price",
        "unit_price",
        "status",
        "quantity_allocated",
        "quantity_shipped",
        "quantity_invoiced",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(CheckedHistoryAdmin):
    list_display = (
        "number",
        "customer",
        "po_number",
        "status",
        "channel",
        "is_test",
        "total",
        "currency",
        "erp_reference",
        "created_at",
    )
    list_filter = ("status", "channel", "is_test")
    list_select_related = ("customer",)
    search_fields = ("number", "po_number", "payload_id", "customer__account_number")
    inlines = [OrderLineInline]
    show_full_result_count = False
    # The state only changes through the transition buttons, which call the services.
    readonly_fields = [field.name for field in Order._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path(
                "<path:object_id>/transition/<str:name>/",
                self.admin_site.admin_view(self.transition_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_transition",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, unquote(object_id))
        buttons = self.transition_buttons(request, order) if order is not None else []
        extra_context = {**(extra_context or {}), "transition_buttons": buttons}
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    def transition_buttons(self, request, order: Order) -> list[dict]:
        """Return a button for each staff transition the order's state allows and the user holds."""
        url_name = f"admin:{self.opts.app_label}_{self.opts.model_name}_transition"
        buttons = []
        for name in services.STAFF_TRANSITIONS:
            method = getattr(order, name)
            if can_proceed(method) and has_transition_perm(method, request.user):
                label = method._django_fsm.get_transition(order.status).custom.get("label", name)
                buttons.append({"label": label, "url": reverse(url_name, args=[order.pk, name])})
        return buttons

    @staticmethod
    def _change_url(order: Order) -> str:
        return reverse("admin:orders_order_change", args=[order.pk])

    def transition_view(self, request, object_id, name):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        order = self.get_object(request, unquote(object_id))
        if order is None:
            raise Http404(f"No order {object_id}.")
        try:
            services.order_transition(order=order, name=name, actor=request.user, reason=f"{name} in the admin")
        except OrderError as error:
            self.message_user(request, error.message, level=messages.ERROR)
        else:
            order.refresh_from_db()
            self.message_user(request, f"Order {order.number} is now {order.get_status_display()}.")
        return HttpResponseRedirect(self._change_url(order))


@admin.register(InboundDocument)
class InboundDocumentAdmin(admin.ModelAdmin):
    list_display = ("document_id", "operation", "channel", "customer", "po_number", "result_code", "created_at")
    list_filter = ("operation", "channel")
    list_select_related = ("customer",)
    search_fields = ("document_id", "po_number")
    readonly_fields = [field.name for field in InboundDocument._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ("id", "event", "order", "status", "attempts", "response_code", "next_attempt_at")
    list_filter = ("status", "event")
    list_select_related = ("order",)
    search_fields = ("document_id", "order__number")
    readonly_fields = [field.name for field in OutboxEvent._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Shipment)
class ShipmentAdmin(CheckedHistoryAdmin):
    list_display = ("shipment_id", "order", "carrier", "tracking_number", "shipped_at")
    list_select_related = ("order",)
    readonly_fields = [field.name for field in Shipment._meta.fields]


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    can_delete = False
    fields = ("order_line", "quantity", "unit_price", "amount")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line__order")

    def has_add_permission(self, request, obj=None):
        return False


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    fields = ("payment_id", "amount", "currency", "paid_on")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Invoice)
class InvoiceAdmin(CheckedHistoryAdmin):
    list_display = ("number", "customer", "total", "currency", "due_date", "paid_amount")
    list_select_related = ("customer",)
    search_fields = ("number", "customer__account_number", "orders__number")
    inlines = [InvoiceLineInline, PaymentInline]
    readonly_fields = [*(field.name for field in Invoice._meta.fields), "orders"]


@admin.register(Payment)
class PaymentAdmin(CheckedHistoryAdmin):
    list_display = ("payment_id", "invoice", "amount", "currency", "paid_on")
    list_select_related = ("invoice",)
    search_fields = ("payment_id", "invoice__number")
    readonly_fields = [field.name for field in Payment._meta.fields]


@admin.register(OutboundEndpoint)
class OutboundEndpointAdmin(CheckedHistoryAdmin):
    list_display = ("source", "url", "is_active")


@admin.register(ErpMessage)
class ErpMessageAdmin(admin.ModelAdmin):
    """The ERP's messages as first applied; a replay of the same id returns the stored result."""

    list_display = ("received_at", "kind", "message_key", "order")
    list_filter = ("kind",)
    list_select_related = ("order",)
    search_fields = ("message_key", "order__number")
    readonly_fields = [field.name for field in ErpMessage._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ErpOrderReport)
class ErpOrderReportAdmin(CheckedHistoryAdmin):
    """The ERP's last report per order, which the nightly reconciliation compares orders with."""

    list_display = ("order", "erp_reference", "acknowledged_at", "last_message_kind", "last_reported_at")
    list_select_related = ("order",)
    search_fields = ("order__number", "erp_reference")
    readonly_fields = [field.name for field in ErpOrderReport._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "finished_at", "orders_compared", "disagreements", "cases_opened")
    readonly_fields = [field.name for field in ReconciliationRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class BackorderStatusFilter(admin.SimpleListFilter):
    """Filter that shows the waiting entries unless another status is chosen, because those make the queue."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [*BackorderStatus.choices, ("all", "all")]

    def choices(self, changelist):
        value = self.value() or BackorderStatus.WAITING
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or BackorderStatus.WAITING
        return queryset if value == "all" else queryset.filter(status=value)


@admin.register(BackorderEntry)
class BackorderEntryAdmin(CheckedHistoryAdmin):
    """The backorder queue in the order it is served: service tier, then the order's age."""

    list_display = [
        "order",
        "customer_display",
        "tier_display",
        "order_received",
        "queued_at",
        "status",
        "shortages_display",
        "checked_at",
    ]
    list_filter = [BackorderStatusFilter, "order__customer__service_tier"]
    list_select_related = ["order", "order__customer"]
    search_fields = ["order__number", "order__po_number", "order__customer__account_number"]
    ordering = ["order__customer__service_tier", "order__created_at", "order__id"]
    readonly_fields = [
        "order",
        "status",
        "queued_at",
        "shortages",
        "checked_at",
        "finished_at",
        "status_reason",
        "created_at",
        "updated_at",
    ]
    actions = ["allocate_queue"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="customer", ordering="order__customer__account_number")
    def customer_display(self, entry):
        return entry.order.customer.account_number

    @admin.display(description="service tier", ordering="order__customer__service_tier")
    def tier_display(self, entry):
        return entry.order.customer.get_service_tier_display()

    @admin.display(description="order received", ordering="order__created_at")
    def order_received(self, entry):
        return entry.order.created_at

    @admin.display(description="short")
    def shortages_display(self, entry):
        return "; ".join(
            f"product {item.get('product_id')}: {item.get('needed')} needed, {item.get('available')} available"
            for item in entry.shortages or []
        )

    @admin.action(description="Allocate the waiting queue from stock on hand now", permissions=["allocate"])
    def allocate_queue(self, request, queryset):
        # The whole queue is served in its order, whichever rows are selected, so that no tier is skipped.
        allocated = services.allocate_backorders(actor=request.user)
        self.message_user(request, f"{len(allocated)} orders allocated from the backorder queue.", messages.SUCCESS)

    def has_allocate_permission(self, request):
        return request.user.has_perm("orders.allocate_order")
