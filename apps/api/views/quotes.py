"""Quotes: list, request, read, accept and decline, for the customers the key serves."""

from django.db.models import F
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.api import quoting, selectors, serializers
from apps.api.models import Scope
from apps.api.pagination import ApiCursorPagination
from apps.api.tenancy import customer_for, quote_for, scoped_quotes
from apps.api.views.base import InvalidFilter, PartnerView, validated
from apps.api.views.docs import COMMON_ERRORS
from apps.quotes.models import QuoteStatus

QUOTE_EXAMPLE = {
    "number": "QT-261204-9F3A61C2",
    "version": 1,
    "customer": "ACME-001",
    "status": "sent",
    "status_reason": "Sent to the customer",
    "currency": "EUR",
    "gross_total": "1580.76",
    "discount_total": "0.00",
    "total": "1580.76",
    "valid_until": "2027-01-03",
    "customer_po_number": "",
    "order": None,
    "prices_out_of_date_since": None,
    "created_at": "2026-12-04T10:00:00Z",
    "updated_at": "2026-12-04T11:00:00Z",
}
QUOTE_DETAIL_EXAMPLE = {
    **QUOTE_EXAMPLE,
    "sent_at": "2026-12-04T11:00:00Z",
    "answered_at": None,
    "lines": [
        {
            "position": 1,
            "sku": "NB-0001",
            "description": "Notebook 14 inch",
            "quantity": "2",
            "configuration": {},
            "list_price": "899.00",
            "net_price": "790.38",
            "line_total": "1580.76",
        }
    ],
}
STATE_ERRORS = {
    **COMMON_ERRORS,
    409: OpenApiResponse(serializers.ErrorDoc, description="The quote's state does not allow it (not sent, expired)."),
}


class QuoteListView(PartnerView):
    required_scopes = {"GET": Scope.QUOTES_READ, "POST": Scope.QUOTES_WRITE}

    @extend_schema(
        operation_id="quotes_list",
        summary="List the quotes of the key's customers, newest first",
        parameters=[
            OpenApiParameter("customer", str, description="Only this customer's quotes (account number)."),
            OpenApiParameter("status", str, enum=QuoteStatus.values, description="Only quotes in this status."),
            OpenApiParameter("cursor", str, description=ApiCursorPagination.cursor_query_description),
            OpenApiParameter("page_size", int, description=ApiCursorPagination.page_size_query_description),
        ],
        responses={200: serializers.QuotePageDoc, **COMMON_ERRORS},
        examples=[
            OpenApiExample(
                "A page", value={"next": None, "previous": None, "results": [QUOTE_EXAMPLE]}, response_only=True
            )
        ],
    )
    def get(self, request):
        quotes = scoped_quotes(self.client)
        account = request.query_params.get("customer")
        if account:
            quotes = quotes.filter(customer=customer_for(self.client, account))
        status_filter = request.query_params.get("status")
        if status_filter:
            if status_filter not in QuoteStatus.values:
                raise InvalidFilter(f"Status {status_filter!r} is unknown; use one of {', '.join(QuoteStatus.values)}.")
            quotes = quotes.filter(status=status_filter)
        rows = quotes.values(
            *selectors.QUOTE_LIST_COLUMNS,
            customer_account=F("customer__account_number"),
            order_number=F("order__number"),
        )
        paginator = ApiCursorPagination(ordering=("-created_at", "-id"))
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(selectors.quote_list_rows(page))

    @extend_schema(
        operation_id="quotes_create",
        summary="Request a quote",
        description=(
            "Creates a draft quote at the customer's contract prices for a sales person to review, approve and "
            "send. It is answered 201 with the draft; the quote.sent webhook tells when it has been sent. A line "
            "that cannot be quoted (unknown SKU, outside the contract's assortment, an invalid configuration) is "
            "answered 400 naming it, and nothing is created."
        ),
        request=serializers.QuoteRequestInput,
        responses={
            201: serializers.QuoteDetailDoc,
            **COMMON_ERRORS,
            503: OpenApiResponse(serializers.ErrorDoc, description="Quote requests are not configured."),
        },
        examples=[
            OpenApiExample(
                "Request",
                value={
                    "customer": "ACME-001",
                    "lines": [{"sku": "NB-0001", "quantity": "2"}],
                    "contact_email": "buyer@acme.example",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Draft",
                value={**QUOTE_DETAIL_EXAMPLE, "status": "draft", "status_reason": "Created", "sent_at": None},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request):
        data = validated(serializers.QuoteRequestInput, request.data)
        customer = customer_for(self.client, data.get("customer"))
        products = selectors.product_ids_by_sku(line["sku"] for line in data["lines"])
        quote = quoting.quote_request(customer=customer, data=data, products=products)
        quote = quote_for(self.client, quote.number)
        return Response(selectors.quote_detail(quote), status=status.HTTP_201_CREATED)


class QuoteDetailView(PartnerView):
    required_scopes = {"GET": Scope.QUOTES_READ}

    @extend_schema(
        operation_id="quotes_retrieve",
        summary="Read the current version of a quote with its lines",
        responses={200: serializers.QuoteDetailDoc, **COMMON_ERRORS},
        examples=[
            OpenApiExample("A quote", value=QUOTE_DETAIL_EXAMPLE, response_only=True),
            OpenApiExample(
                "A quote whose prices a contract change made out of date",
                value={**QUOTE_DETAIL_EXAMPLE, "prices_out_of_date_since": "2026-12-05T09:30:00Z"},
                response_only=True,
            ),
        ],
    )
    def get(self, request, number: str):
        return Response(selectors.quote_detail(quote_for(self.client, number)))


class QuoteAcceptView(PartnerView):
    required_scopes = {"POST": Scope.QUOTES_WRITE}

    @extend_schema(
        operation_id="quotes_accept",
        summary="Accept a sent quote; it becomes an order unless create_order is false",
        request=serializers.QuoteAcceptInput,
        responses={200: serializers.QuoteDetailDoc, **STATE_ERRORS},
        examples=[
            OpenApiExample("Acceptance", value={"po_number": "PO-4712"}, request_only=True),
            OpenApiExample(
                "Acceptance, the order to come through PunchOut", value={"create_order": False}, request_only=True
            ),
            OpenApiExample(
                "Accepted",
                value={
                    **QUOTE_DETAIL_EXAMPLE,
                    "status": "converted",
                    "customer_po_number": "PO-4712",
                    "order": "SO-261204-1A2B3C4D",
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request, number: str):
        data = validated(serializers.QuoteAcceptInput, request.data)
        quote = quote_for(self.client, number)
        quoting.quote_accept_by_partner(
            quote=quote, po_number=data.get("po_number", ""), create_order=data["create_order"]
        )
        return Response(selectors.quote_detail(quote_for(self.client, number)))


class QuoteDeclineView(PartnerView):
    required_scopes = {"POST": Scope.QUOTES_WRITE}

    @extend_schema(
        operation_id="quotes_decline",
        summary="Decline a sent quote",
        request=serializers.QuoteDeclineInput,
        responses={200: serializers.QuoteDetailDoc, **STATE_ERRORS},
        examples=[
            OpenApiExample("Reason", value={"reason": "Budget moved to next year"}, request_only=True),
            OpenApiExample(
                "Declined",
                value={**QUOTE_DETAIL_EXAMPLE, "status": "declined", "status_reason": "Declined: Budget moved"},
                response_only=True,
            ),
        ],
    )
    def post(self, request, number: str):
        data = validated(serializers.QuoteDeclineInput, request.data)
        quote = quote_for(self.client, number)
        quoting.quote_decline_by_partner(quote=quote, reason=data.get("reason", ""))
        return Response(selectors.quote_detail(quote_for(self.client, number)))
