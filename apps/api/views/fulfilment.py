"""ERP messages about orders: acknowledgements, shipments, invoices and payments, each idempotent on the ERP's id."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.api import serializers
from apps.api.models import Scope
from apps.api.tenancy import order_for, scoped_invoices, stored_erp_message
from apps.api.views.base import PartnerView, validated
from apps.api.views.docs import ERROR_RESPONSES, error_response
from apps.orders.erp import (
    ErpResult,
    IncomingMessage,
    acknowledgement_message,
    erp_acknowledge,
    erp_invoice_report,
    erp_payment_report,
    erp_shipment_report,
    invoice_message,
    payment_message,
    shipment_message,
)

REPLAY_NOTE = (
    " The same message again (same id and body) returns the first result with the header Idempotent-Replayed: "
    "true and changes nothing; the same id with another body is answered 409."
)
REJECTION_NOTE = " A rejected message opens an exception case for finance."
SHIPMENT_EXAMPLE = {
    "shipment_id": "SHP-88121",
    "lines": [{"line_number": "1", "quantity": "2"}],
    "carrier": "DHL",
    "tracking_number": "JD014600006281230000",
    "shipped_at": "2026-12-05T08:00:00Z",
}
INVOICE_EXAMPLE = {
    "invoice_number": "INV-2026-0412",
    "lines": [{"line_number": "1", "quantity": "2"}],
    "tax": "300.34",
    "total": "1881.10",
    "due_date": "2027-01-04",
}
PAYMENT_EXAMPLE = {"payment_id": "PAY-55012", "amount": "1881.10", "paid_on": "2027-01-02"}


def _erp_errors(conflict: str, rejection: str, rejection_code: str) -> dict:
    return {
        400: error_response(
            "Invalid input, or a message that disagrees with the order, which opens a case for finance.",
            rejection,
            rejection_code,
        ),
        401: ERROR_RESPONSES[401],
        403: ERROR_RESPONSES[403],
        404: ERROR_RESPONSES[404],
        409: error_response(
            "The id was sent before with another body, or the order's state does not allow the message.",
            conflict,
            "erp_message_conflict",
        ),
        429: ERROR_RESPONSES[429],
    }


class ErpMessageView(PartnerView):
    """A view that takes one kind of ERP message: validate it, return the kept result for a replay, or apply it.

    Subclasses name the input serializer and turn its data into the keyword
    arguments that both their message description and their service take.
    A replay costs the key check and one lookup of the kept message. A
    message seen before with another body goes to the service, which
    rejects it with the reason.
    """

    required_scopes = {"POST": Scope.ERP_WRITE}
    input_serializer: type

    def arguments(self, data: dict) -> dict:
        """Return the service's keyword arguments from the validated input."""
        raise NotImplementedError

    def describe(self, number: str, arguments: dict) -> IncomingMessage:
        """Return the message as it is kept, for the replay lookup."""
        raise NotImplementedError

    def apply(self, number: str, arguments: dict) -> ErpResult:
        """Run the service that applies the message once."""
        raise NotImplementedError

    def order_number(self, number: str) -> str | None:
        """Return the order the URL names when the message's id does not contain it, so a replay must match it."""
        return None

    def receive(self, request, number: str) -> Response:
        arguments = self.arguments(validated(self.input_serializer, request.data))
        incoming = self.describe(number, arguments)
        stored = stored_erp_message(
            self.client, incoming.kind, incoming.message_key, order_number=self.order_number(number)
        )
        outcome = incoming.replay(stored)
        if outcome is None:
            outcome = self.apply(number, arguments)
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
        return Response(outcome.result, status=status.HTTP_201_CREATED, headers=headers)


def _quantity_lines(data: dict) -> list[tuple[str, object]]:
    return [(line["line_number"], line["quantity"]) for line in data["lines"]]


class OrderAcknowledgeView(ErpMessageView):
    input_serializer = serializers.ErpAcknowledgementInput

    @extend_schema(
        operation_id="orders_erp_ack",
        summary="Acknowledge a confirmed order in the ERP",
        description=(
            "Stores the ERP's reference of the order and the time. The same reference again returns the first "
            "result; another reference for an acknowledged order is answered 409 with code erp_reference_conflict. "
            "An order that this system has not confirmed is answered 409 with code order_state_conflict."
        ),
        request=serializers.ErpAcknowledgementInput,
        responses={
            201: OpenApiResponse(serializers.ErpAcknowledgementDoc, description="The acknowledgement, also replayed."),
            **{code: ERROR_RESPONSES[code] for code in (400, 401, 403, 404, 429)},
            409: error_response(
                "The order has another ERP reference, or is not confirmed.",
                "Order SO-1 was acknowledged with ERP reference 'SO-4711'; an order has one ERP reference, so "
                "correct the reference in the ERP or ask staff to clear it here.",
                "erp_reference_conflict",
            ),
        },
        examples=[
            OpenApiExample("Acknowledgement", value={"erp_reference": "SO-4711"}, request_only=True),
            OpenApiExample(
                "Acknowledged",
                value={
                    "order": "SO-261204-9F3A61C2",
                    "status": "allocated",
                    "erp_reference": "SO-4711",
                    "erp_acknowledged_at": "2026-12-05T09:00:00.123Z",
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request, number: str):
        return self.receive(request, number)

    def arguments(self, data: dict) -> dict:
        return {"erp_reference": data["erp_reference"], "total": data.get("total")}

    def describe(self, number: str, arguments: dict) -> IncomingMessage:
        return acknowledgement_message(order_number=number, **arguments)

    def apply(self, number: str, arguments: dict) -> ErpResult:
        return erp_acknowledge(order=order_for(self.client, number), **arguments)


class OrderShipmentView(ErpMessageView):
    input_serializer = serializers.ShipmentReportInput

    @extend_schema(
        operation_id="orders_shipments_create",
        summary="Report a shipment of an order from the ERP",
        description=(
            "Records the shipped quantities, takes the stock off, moves the order to partially shipped or shipped "
            "and sends the buyer a ship notice. A line shipped beyond its ordered or allocated quantity is "
            "answered 400 with code over_shipment or shipment_not_allocated." + REJECTION_NOTE + REPLAY_NOTE
        ),
        request=serializers.ShipmentReportInput,
        responses={
            201: OpenApiResponse(serializers.ShipmentReportDoc, description="The shipment, also when replayed."),
            **_erp_errors(
                "The ERP sent shipment SO-1/SHP-1 before with another body; an id names one shipment, so send the "
                "first body again or a new id.",
                "Shipment SHP-1 reports 5 of line 1 of order SO-1, but the line ordered 2 and 0 shipped before; "
                "a shipment cannot exceed the ordered quantity.",
                "over_shipment",
            ),
        },
        examples=[
            OpenApiExample("Shipment", value=SHIPMENT_EXAMPLE, request_only=True),
            OpenApiExample(
                "Recorded",
                value={
                    "order": "SO-261204-9F3A61C2",
                    "status": "shipped",
                    "shipment_id": "SHP-88121",
                    "shipped_at": "2026-12-05T08:00:00Z",
                    "lines": [{"line_number": "1", "quantity": "2"}],
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request, number: str):
        return self.receive(request, number)

    def arguments(self, data: dict) -> dict:
        return {
            "shipment_id": data["shipment_id"],
            "lines": _quantity_lines(data),
            "carrier": data["carrier"],
            "carrier_scac": data["carrier_scac"],
            "tracking_number": data["tracking_number"],
            "shipped_at": data.get("shipped_at"),
            "expected_delivery_at": data.get("expected_delivery_at"),
        }

    def describe(self, number: str, arguments: dict) -> IncomingMessage:
        return shipment_message(order_number=number, **arguments)

    def apply(self, number: str, arguments: dict) -> ErpResult:
        return erp_shipment_report(order=order_for(self.client, number), **arguments)


class OrderInvoiceView(ErpMessageView):
    input_serializer = serializers.InvoiceReportInput

    @extend_schema(
        operation_id="orders_invoices_create",
        summary="Report an invoice of an order from the ERP",
        description=(
            "Bills shipped quantities at the order's prices. The total must equal those lines plus the tax, or "
            "the invoice is answered 400 with code invoice_total_mismatch. An order whose shipped quantities "
            "are all invoiced becomes invoiced, and the buyer gets an InvoiceDetailRequest."
            + REJECTION_NOTE
            + REPLAY_NOTE
        ),
        request=serializers.InvoiceReportInput,
        responses={
            201: OpenApiResponse(serializers.InvoiceReportDoc, description="The invoice, also when replayed."),
            **_erp_errors(
                "The ERP sent invoice INV-1 before with another body; an id names one invoice, so send the first "
                "body again or a new id.",
                "Invoice INV-1 states a total of 1900.00 EUR, but its lines come to 1580.76 at the orders' prices "
                "plus 300.34 tax, which is 1881.10; check the invoiced quantities and prices.",
                "invoice_total_mismatch",
            ),
        },
        examples=[
            OpenApiExample("Invoice", value=INVOICE_EXAMPLE, request_only=True),
            OpenApiExample(
                "Recorded",
                value={
                    "invoice_number": "INV-2026-0412",
                    "order": "SO-261204-9F3A61C2",
                    "status": "invoiced",
                    "currency": "EUR",
                    "subtotal": "1580.76",
                    "tax": "300.34",
                    "total": "1881.10",
                    "due_date": "2027-01-04",
                    "invoice_date": "2026-12-05T10:00:00Z",
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request, number: str):
        return self.receive(request, number)

    def arguments(self, data: dict) -> dict:
        return {
            "number": data["invoice_number"],
            "lines": _quantity_lines(data),
            "tax": data["tax"],
            "total": data["total"],
            "due_date": data["due_date"],
            "invoice_date": data.get("invoice_date"),
        }

    def describe(self, number: str, arguments: dict) -> IncomingMessage:
        return invoice_message(**arguments)

    def order_number(self, number: str) -> str | None:
        return number

    def apply(self, number: str, arguments: dict) -> ErpResult:
        return erp_invoice_report(order=order_for(self.client, number), **arguments)


class InvoicePaymentView(ErpMessageView):
    input_serializer = serializers.PaymentReportInput

    @extend_schema(
        operation_id="invoices_payments_create",
        summary="Report a payment of an invoice from the ERP",
        description=(
            "Adds the payment to the invoice's paid amount. Orders whose invoices are all paid become paid, and "
            "the buyer gets a StatusUpdateRequest. An invoice number that is unknown, or of a customer the key "
            "does not serve, is answered 404 with code unknown_invoice." + REJECTION_NOTE + REPLAY_NOTE
        ),
        request=serializers.PaymentReportInput,
        responses={
            201: OpenApiResponse(serializers.PaymentReportDoc, description="The payment, also when replayed."),
            **_erp_errors(
                "The ERP sent payment PAY-1 before with another body; an id names one payment, so send the first "
                "body again or a new id.",
                "Payment PAY-1: the amount 0 is not greater than zero.",
                "invalid_fulfilment",
            ),
            404: error_response(
                "No invoice with this number among the key's customers.",
                "No invoice has the number 'INV-9'; report the invoice before its payments.",
                "unknown_invoice",
            ),
        },
        examples=[
            OpenApiExample("Payment", value=PAYMENT_EXAMPLE, request_only=True),
            OpenApiExample(
                "Recorded",
                value={
                    "payment_id": "PAY-55012",
                    "invoice_number": "INV-2026-0412",
                    "amount": "1881.10",
                    "currency": "EUR",
                    "paid_on": "2027-01-02",
                    "invoice_paid_amount": "1881.10",
                    "invoice_open_amount": "0.00",
                    "orders": [{"number": "SO-261204-9F3A61C2", "status": "paid"}],
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request, number: str):
        return self.receive(request, number)

    def arguments(self, data: dict) -> dict:
        return {"payment_id": data["payment_id"], "amount": data["amount"], "paid_on": data.get("paid_on")}

    def describe(self, number: str, arguments: dict) -> IncomingMessage:
        return payment_message(invoice_number=number, **arguments)

    def apply(self, number: str, arguments: dict) -> ErpResult:
        return erp_payment_report(invoices=scoped_invoices(self.client), invoice_number=number, **arguments)
