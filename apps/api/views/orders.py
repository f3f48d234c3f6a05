"""Orders: list, place with an idempotency key, read, and cancel."""

from django.db.models import F
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.api import ordering, selectors, serializers
from apps.api.models import Scope
from apps.api.pagination import ApiCursorPagination
from apps.api.tenancy import customer_for, order_for, scoped_orders
from apps.api.views.base import InvalidFilter, PartnerView, parse_filter_boolean, parse_filter_datetime, validated
from apps.api.views.docs import COMMON_ERRORS, ERROR_RESPONSES
from apps.orders.erp import HANDED_OVER_STATES
from apps.orders.models import Order, OrderStatus

ORDER_EXAMPLE = {
    "number": "SO-261204-9F3A61C2",
    "customer": "ACME-001",
    "po_number": "PO-4711",
    "status": "allocated",
    "status_reason": "Allocated",
    "channel": "api",
    "currency": "EUR",
    "subtotal": "1580.76",
    "tax_total": "0.00",
    "total": "1580.76",
    "requested_delivery_date": None,
    "erp_reference": "",
    "erp_acknowledged_at": None,
    "created_at": "2026-12-04T10:00:00Z",
    "updated_at": "2026-12-04T10:00:01Z",
}
ORDER_DETAIL_EXAMPLE = {
    **ORDER_EXAMPLE,
    "ship_to": {"name": "Acme receiving", "city": "Rotterdam", "country": "NL"},
    "rejection_reasons": [],
    "lines": [
        {
            "line_number": "1",
            "sku": "NB-0001",
            "description": "",
            "quantity": "2",
            "unit": "EA",
            "status": "open",
            "unit_price": "790.38",
            "buyer_unit_price": "790.38",
            "price_source": "contract_price",
            "quantity_allocated": "2",
            "quantity_shipped": "0",
            "quantity_invoiced": "0",
        }
    ],
    "shipments": [],
    "invoices": [],
}
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    pattern=ordering.IDEMPOTENCY_KEY_PATTERN.pattern,
    description=(
        "A unique key per order, such as a UUID. Sending the same key and body again returns the first result; "
        "the same key with another body is answered 409."
    ),
)


class OrderListView(PartnerView):
    required_scopes = {"GET": Scope.ORDERS_READ, "POST": Scope.ORDERS_WRITE}

    @extend_schema(
        operation_id="orders_list",
        summary="List the orders of the key's customers, newest first",
        parameters=[
            OpenApiParameter("customer", str, description="Only this customer's orders (account number)."),
            OpenApiParameter("status", str, enum=OrderStatus.values, description="Only orders in this status."),
            OpenApiParameter("po_number", str, description="Only orders with this PO number."),
            OpenApiParameter("updated_since", OpenApiTypes.DATETIME, description="Only orders changed at or after."),
            OpenApiParameter(
                "erp_acknowledged",
                bool,
                description=(
                    "false: only orders confirmed here that the ERP has not acknowledged yet; true: only those it "
                    "has. With this filter, status=confirmed also matches confirmed orders that have moved on "
                    "(allocated, shipped, invoiced, paid), because allocation follows confirmation at once."
                ),
            ),
            OpenApiParameter("cursor", str, description=ApiCursorPagination.cursor_query_description),
            OpenApiParameter("page_size", int, description=ApiCursorPagination.page_size_query_description),
        ],
        responses={200: serializers.OrderPageDoc, **COMMON_ERRORS, 404: ERROR_RESPONSES[404]},
        examples=[
            OpenApiExample(
                "A page", value={"next": None, "previous": None, "results": [ORDER_EXAMPLE]}, response_only=True
            )
        ],
    )
    def get(self, request):
        orders = scoped_orders(self.client)
        account = request.query_params.get("customer")
        if account:
            orders = orders.filter(customer=customer_for(self.client, account))
        status_filter = request.query_params.get("status")
        acknowledged = parse_filter_boolean(request.query_params.get("erp_acknowledged"), "erp_acknowledged")
        if status_filter:
            if status_filter not in OrderStatus.values:
                raise InvalidFilter(f"Status {status_filter!r} is unknown; use one of {', '.join(OrderStatus.values)}.")
            if not (acknowledged is not None and status_filter == OrderStatus.CONFIRMED):
                orders = orders.filter(status=status_filter)
        if acknowledged is not None:
            orders = orders.filter(status__in=HANDED_OVER_STATES, erp_acknowledged_at__isnull=not acknowledged)
        po_number = request.query_params.get("po_number")
        if po_number:
            orders = orders.filter(po_number=po_number)
        updated_since = parse_filter_datetime(request.query_params.get("updated_since"), "updated_since")
        if updated_since is not None:
            orders = orders.filter(updated_at__gte=updated_since)

        rows = orders.values(*selectors.ORDER_LIST_COLUMNS, customer_account=F("customer__account_number"))
        paginator = ApiCursorPagination(ordering=("-created_at", "-id"))
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(selectors.order_list_rows(page))

    @extend_schema(
        operation_id="orders_create",
        summary="Place an order",
        description=(
            "The order goes through the same intake and checks as a cXML OrderRequest. It is answered 201 with "
            "the order: 'confirmed' or 'allocated' when every check passed, 'on_hold' while staff resolve a "
            "failed check (such as a price that differs from the contract). An order that cannot be read is "
            "answered 400 with the reasons; a PO number the customer already used is answered 409."
        ),
        parameters=[IDEMPOTENCY_PARAMETER],
        request=serializers.OrderInput,
        responses={
            201: OpenApiResponse(serializers.OrderDetailDoc, description="The order, also when replayed."),
            400: OpenApiResponse(serializers.OrderRejectedDoc, description="Invalid request or order."),
            401: ERROR_RESPONSES[401],
            403: ERROR_RESPONSES[403],
            404: ERROR_RESPONSES[404],
            409: ERROR_RESPONSES[409],
            429: ERROR_RESPONSES[429],
        },
        examples=[
            OpenApiExample(
                "Order",
                value={
                    "customer": "ACME-001",
                    "po_number": "PO-4711",
                    "lines": [{"sku": "NB-0001", "quantity": "2", "unit_price": "790.38"}],
                    "ship_to": {"name": "Acme receiving", "city": "Rotterdam", "country": "NL"},
                },
                request_only=True,
            ),
            OpenApiExample("Placed", value=ORDER_DETAIL_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    )
    def post(self, request):
        data = validated(serializers.OrderInput, request.data)
        customer = customer_for(self.client, data.get("customer"))
        result = ordering.order_place(
            client=self.client,
            customer=customer,
            data=data,
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
        if result.ok and result.order is not None:
            order = Order.objects.select_related("customer").get(pk=result.order.pk)
            return Response(selectors.order_detail(order), status=status.HTTP_201_CREATED, headers=headers)
        body = {"detail": result.message, "code": result.code}
        if result.reasons:
            body["reasons"] = result.reasons
        if result.order is not None:
            body["order"] = result.order.number
        return Response(body, status=result.status, headers=headers)


class OrderDetailView(PartnerView):
    required_scopes = {"GET": Scope.ORDERS_READ}

    @extend_schema(
        operation_id="orders_retrieve",
        summary="Read one order with its lines, shipments and invoices",
        responses={200: serializers.OrderDetailDoc, **COMMON_ERRORS, 404: ERROR_RESPONSES[404]},
        examples=[OpenApiExample("An order", value=ORDER_DETAIL_EXAMPLE, response_only=True)],
    )
    def get(self, request, number: str):
        order = order_for(self.client, number, queryset=scoped_orders(self.client).select_related("customer"))
        return Response(selectors.order_detail(order))


class OrderCancelView(PartnerView):
    required_scopes = {"POST": Scope.ORDERS_WRITE}

    @extend_schema(
        operation_id="orders_cancel",
        summary="Cancel an order that has not shipped",
        description="Cancelling an order that is already cancelled returns it unchanged.",
        request=serializers.CancelInput,
        responses={
            200: serializers.OrderDetailDoc,
            **COMMON_ERRORS,
            404: ERROR_RESPONSES[404],
            409: ERROR_RESPONSES[409],
        },
        examples=[
            OpenApiExample("Reason", value={"reason": "Ordered twice"}, request_only=True),
            OpenApiExample(
                "Cancelled",
                value={**ORDER_DETAIL_EXAMPLE, "status": "cancelled", "status_reason": "Cancelled by partner"},
                response_only=True,
            ),
        ],
    )
    def post(self, request, number: str):
        data = validated(serializers.CancelInput, request.data)
        order = order_for(self.client, number)
        ordering.order_cancel_by_partner(client=self.client, order=order, reason=data.get("reason", ""))
        order = Order.objects.select_related("customer").get(pk=order.pk)
        return Response(selectors.order_detail(order))
