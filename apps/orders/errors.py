"""Expected errors of the orders app, each with a stable ``code``.

``status`` is the cXML/HTTP-style status an entry point reports for the
error: 400 for a document that cannot become an order, 409 for a conflict
with the order's state or an earlier document, 403 for a missing permission.
"""

from apps.core.errors import DomainError


class OrderError(DomainError):
    """Base of the orders app's errors."""

    code = "order_error"
    status = 400


class InvalidOrderInput(OrderError):
    """A document or request that cannot become an order; ``reasons`` lists each problem, line by line."""

    code = "invalid_order"

    def __init__(self, message: str, *, reasons: list[str] | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.reasons = list(reasons or [])


class DuplicatePurchaseOrder(OrderError):
    """A new order with a PO number this customer already used under another document."""

    code = "duplicate_po_number"
    status = 409


class UnknownOrderDocument(OrderError):
    """An update or delete that refers to a document this system never took in."""

    code = "unknown_order_document"
    status = 400


class OrderStateConflict(OrderError):
    """The order's state does not allow the change, or another user changed it first."""

    code = "order_state_conflict"
    status = 409


class OrderActionNotPermitted(OrderError):
    """The acting user lacks the permission for the transition."""

    code = "order_action_not_permitted"
    status = 403


class IdempotencyKeyReused(OrderError):
    """The same idempotency key came with a different body."""

    code = "idempotency_key_reused"
    status = 409


class UnknownInvoice(OrderError):
    """A payment for an invoice number that was never recorded."""

    code = "unknown_invoice"
    status = 404


class PaymentConflict(OrderError):
    """A payment id that was recorded before for another invoice or amount."""

    code = "payment_conflict"
    status = 409


class InvalidFulfilmentInput(OrderError):
    """A shipment, invoice or payment that does not fit the order (unknown line, too much quantity)."""

    code = "invalid_fulfilment"


class DocumentNotResendable(OrderError):
    """An outbound order document cannot be sent again: it was never built, or no sender handles its channel."""

    code = "document_not_resendable"


class ErpMessageConflict(OrderError):
    """An ERP message id that was applied before with another body, or a second ERP reference for an order."""

    code = "erp_message_conflict"
    status = 409
