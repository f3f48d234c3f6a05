"""Messages from the ERP about orders: acknowledgements, shipments, invoices and payments, each applied once.

Each message goes through the order services (``shipment_record``,
``invoice_record``, ``payment_record``) and is kept as an ``ErpMessage``
under the ERP's own id with a hash of its canonical body. The same id and
body again returns the first result and changes nothing; the same id with
another body raises ``ErpMessageConflict``. A shipment, invoice or payment
that the order services reject opens an integration-conflict case for
finance and is not kept, so a corrected message with the same id can follow.
What the ERP reported is added to the order's ``ErpOrderReport``, which the
nightly reconciliation compares with the order.
"""

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.core.history import save_with_history
from apps.core.money import round_money
from apps.core.prepared import PLACEHOLDER_ID, placeholder_text, prepared
from apps.exceptions.models import ACTIVE_STATES, CaseKind, ExceptionCase, Severity
from apps.exceptions.services import case_open, case_supersede
from apps.orders.errors import (
    ErpMessageConflict,
    InvalidFulfilmentInput,
    OrderStateConflict,
    UnknownInvoice,
)
from apps.orders.fulfilment import invoice_record, payment_record, shipment_record
from apps.orders.inputs import InvalidNumber, parse_money, parse_quantity
from apps.orders.models import (
    ErpMessage,
    ErpMessageKind,
    ErpOrderReport,
    Invoice,
    Order,
    OrderStatus,
    Shipment,
)
from apps.orders.transitions import lock_order, save_order

logger = logging.getLogger(__name__)

# Cause key of the case that the beat check opens for an order the ERP has not acknowledged in time.
UNACKNOWLEDGED_CAUSE = "erp-unacknowledged"
# The team that decides about shipments, invoices and payments the ERP reported and this system rejected.
FINANCE_TEAM = "finance"
# States of an order that this system has confirmed and handed to the ERP.
HANDED_OVER_STATES = (
    OrderStatus.CONFIRMED,
    OrderStatus.ALLOCATED,
    OrderStatus.PARTIALLY_SHIPPED,
    OrderStatus.SHIPPED,
    OrderStatus.INVOICED,
    OrderStatus.PAID,
)
# Errors of the order services that reject a message whose content disagrees with the order.
_REJECTIONS = (InvalidFulfilmentInput, UnknownInvoice, OrderStateConflict)
# Placeholders of the queries that apps.core.prepared compiles once per connection.
_PLACEHOLDER_KIND = placeholder_text("kind")
_PLACEHOLDER_MESSAGE_KEY = placeholder_text("message key")
_PLACEHOLDER_OBJECT_ID = placeholder_text("object id")


@dataclass(frozen=True)
class ErpResult:
    """The result of a message as first applied, and whether this call was a replay of it."""

    result: dict
    replayed: bool


@dataclass(frozen=True)
class IncomingMessage:
    """An ERP message as it is kept: its kind, the ERP's id of it (the message key) and its body before hashing."""

    kind: str
    message_key: str
    body: dict

    def replay(self, stored: tuple[str, dict] | None) -> ErpResult | None:
        """Return the first result when ``stored`` (body hash, result) is this message applied before, else None.

        A stored message with another body returns None too, so that the
        caller applies the message and gets the conflict with its full reason.
        """
        if stored is None:
            return None
        body_hash, result = stored
        if body_hash != canonical_body(self.body)[1]:
            return None
        logger.info("ERP message replayed", extra={"kind": self.kind, "message_key": self.message_key})
        return ErpResult(result=result, replayed=True)


def acknowledgement_message(*, order_number: str, erp_reference: str, total: object = None) -> IncomingMessage:
    """Describe an acknowledgement of the order; ``total`` is hashed as a number, so "5.0" and 5 match."""
    body = {"erp_reference": (erp_reference or "").strip(), "total": None if total in (None, "") else _number(total)}
    return IncomingMessage(ErpMessageKind.ACKNOWLEDGEMENT.value, order_number, body)


def shipment_message(
    *,
    order_number: str,
    shipment_id: str,
    lines: Sequence[tuple[str, Decimal]],
    carrier: str = "",
    carrier_scac: str = "",
    tracking_number: str = "",
    shipped_at: dt.datetime | None = None,
    expected_delivery_at: dt.datetime | None = None,
) -> IncomingMessage:
    """Describe a shipment of the order; the ERP's ``shipment_id`` is unique per order."""
    shipment_id = (shipment_id or "").strip()
    body = {
        "shipment_id": shipment_id,
        "lines": [[str(number), _number(quantity)] for number, quantity in lines],
        "carrier": carrier,
        "carrier_scac": carrier_scac,
        "tracking_number": tracking_number,
        "shipped_at": shipped_at,
        "expected_delivery_at": expected_delivery_at,
    }
    return IncomingMessage(ErpMessageKind.SHIPMENT.value, f"{order_number}/{shipment_id}", body)


def invoice_message(
    *,
    number: str,
    lines: Sequence[tuple[str, Decimal]],
    tax: object,
    total: object,
    due_date: dt.date,
    invoice_date: dt.datetime | None = None,
) -> IncomingMessage:
    """Describe an invoice; the invoice number is unique."""
    number = (number or "").strip()
    body = {
        "invoice_number": number,
        "lines": [[str(line_number), _number(quantity)] for line_number, quantity in lines],
        "tax": _number(tax),
        "total": _number(total),
        "due_date": due_date,
        "invoice_date": invoice_date,
    }
    return IncomingMessage(ErpMessageKind.INVOICE.value, number, body)


def payment_message(
    *, invoice_number: str, payment_id: str, amount: object, paid_on: dt.date | None = None
) -> IncomingMessage:
    """Describe a payment of an invoice; the payment id is unique."""
    payment_id = (payment_id or "").strip()
    invoice_number = (invoice_number or "").strip()
    body = {"invoice_number": invoice_number, "payment_id": payment_id, "amount": _number(amount), "paid_on": paid_on}
    return IncomingMessage(ErpMessageKind.PAYMENT.value, payment_id, body)


def erp_acknowledge(*, order: Order, erp_reference: str, total: object = None, actor=None) -> ErpResult:
    """Store the ERP's reference for a confirmed order and the time it acknowledged it.

    The same reference again returns the first result. Another reference for
    an acknowledged order raises ``ErpMessageConflict``. ``total``, when the
    ERP sends it, is the order total the ERP computed; the reconciliation
    compares it with the order's.
    """
    erp_reference = (erp_reference or "").strip()
    if not erp_reference or len(erp_reference) > 64:
        raise InvalidFulfilmentInput("An acknowledgement needs the ERP's erp_reference of 1 to 64 characters.")
    stated_total = _optional_money(total, order.currency, f"The total of the acknowledgement of order {order.number}")
    incoming = acknowledgement_message(order_number=order.number, erp_reference=erp_reference, total=stated_total)

    def acknowledge() -> dict:
        locked = lock_order(order)
        if locked.status not in HANDED_OVER_STATES:
            raise OrderStateConflict(
                f"Order {locked.number} is {locked.get_status_display()}; the ERP can acknowledge an order "
                "once this system has confirmed it."
            )
        if locked.erp_acknowledged_at is not None and locked.erp_reference != erp_reference:
            raise _reference_conflict(locked.number, locked.erp_reference)
        now = timezone.now()
        if locked.erp_acknowledged_at is None:
            locked.erp_reference = erp_reference
            locked.erp_acknowledged_at = now
            save_order(
                locked,
                actor=actor,
                reason=f"Acknowledged by the ERP as {erp_reference}",
                fields=("erp_reference", "erp_acknowledged_at"),
            )
            _close_unacknowledged_cases(locked)

        report = _report_for(locked)
        report.erp_reference = erp_reference
        report.acknowledged_at = locked.erp_acknowledged_at
        report.order_total = stated_total
        _save_report(report, ErpMessageKind.ACKNOWLEDGEMENT, locked.number, actor)
        return {
            "order": locked.number,
            "status": locked.status,
            "erp_reference": locked.erp_reference,
            "erp_acknowledged_at": locked.erp_acknowledged_at,
        }

    try:
        return _apply_once(incoming, order=order, apply=acknowledge)
    except ErpMessageConflict:
        stored = Order.objects.filter(pk=order.pk).values_list("erp_reference", flat=True).first() or ""
        if stored and stored != erp_reference:
            raise _reference_conflict(order.number, stored) from None
        raise


def erp_shipment_report(
    *,
    order: Order,
    shipment_id: str,
    lines: Sequence[tuple[str, Decimal]],
    carrier: str = "",
    carrier_scac: str = "",
    tracking_number: str = "",
    shipped_at: dt.datetime | None = None,
    expected_delivery_at: dt.datetime | None = None,
    actor=None,
) -> ErpResult:
    """Record a shipment the ERP reports for an order, once per ``shipment_id``; the buyer gets a ship notice."""
    incoming = shipment_message(
        order_number=order.number,
        shipment_id=shipment_id,
        lines=lines,
        carrier=carrier,
        carrier_scac=carrier_scac,
        tracking_number=tracking_number,
        shipped_at=shipped_at,
        expected_delivery_at=expected_delivery_at,
    )
    shipment_id = incoming.body["shipment_id"]

    def ship() -> dict:
        known = Shipment.objects.filter(order=order, shipment_id=shipment_id).exists()
        shipment = shipment_record(
            order=order,
            shipment_id=shipment_id,
            lines=lines,
            carrier=carrier,
            carrier_scac=carrier_scac,
            tracking_number=tracking_number,
            shipped_at=shipped_at,
            expected_delivery_at=expected_delivery_at,
            actor=actor,
        )
        # The shipment's order is the instance that shipment_record locked and moved on, or for a
        # shipment recorded before, the order as read now under this transaction's lock.
        locked = shipment.order
        if known:
            shipped = [
                (row.order_line.line_number, row.quantity) for row in shipment.lines.select_related("order_line")
            ]
        else:
            # shipment_record created the shipment from these lines after checking each, so they need no second read.
            shipped = [(str(line_number), parse_quantity(quantity)) for line_number, quantity in lines]
        report = _report_for(locked)
        if not known:
            # A shipment recorded before by another entry point is not counted a second time.
            for line_number, quantity in shipped:
                report.shipped[line_number] = decimal_text(_decimal(report.shipped.get(line_number)) + quantity)
        _save_report(report, ErpMessageKind.SHIPMENT, shipment_id, actor)
        return {
            "order": locked.number,
            "status": locked.status,
            "shipment_id": shipment.shipment_id,
            "shipped_at": shipment.shipped_at,
            "lines": [{"line_number": number, "quantity": decimal_text(quantity)} for number, quantity in shipped],
        }

    return _apply_once(
        incoming,
        order=order,
        apply=ship,
        rejected=lambda error: _open_rejection_case(incoming, shipment_id, error, order=order),
    )


def erp_invoice_report(
    *,
    order: Order,
    number: str,
    lines: Sequence[tuple[str, Decimal]],
    tax: object,
    total: object,
    due_date: dt.date,
    invoice_date: dt.datetime | None = None,
    actor=None,
) -> ErpResult:
    """Record an invoice the ERP reports for shipped lines of an order, once per invoice number.

    The total must equal the lines at the order's prices plus the tax. The
    buyer gets an InvoiceDetailRequest.
    """
    incoming = invoice_message(
        number=number, lines=lines, tax=tax, total=total, due_date=due_date, invoice_date=invoice_date
    )
    number = incoming.message_key

    def bill() -> dict:
        known = Invoice.objects.filter(number=number).exists()
        invoice = invoice_record(
            number=number,
            lines=[(line_number, quantity) for line_number, quantity in lines],
            tax=tax,
            total=total,
            due_date=due_date,
            order=order,
            invoice_date=invoice_date,
            actor=actor,
        )
        # invoice_record holds the order's lock in this transaction, so this reads the status it left.
        status = prepared("erp-order-status", _order_statuses, {"order_id": PLACEHOLDER_ID}).run({"order_id": order.pk})
        report = _report_for(order)
        if not known:
            report.invoices[invoice.number] = {
                "total": decimal_text(invoice.total),
                "tax": decimal_text(invoice.tax),
                "lines": {str(line_number): decimal_text(quantity) for line_number, quantity in lines},
            }
        _save_report(report, ErpMessageKind.INVOICE, invoice.number, actor)
        return {
            "invoice_number": invoice.number,
            "order": order.number,
            "status": status[0][0],
            "currency": invoice.currency,
            "subtotal": _money(invoice.subtotal, invoice.currency),
            "tax": _money(invoice.tax, invoice.currency),
            "total": _money(invoice.total, invoice.currency),
            "due_date": invoice.due_date,
            "invoice_date": invoice.invoice_date,
        }

    return _apply_once(
        incoming,
        order=order,
        apply=bill,
        rejected=lambda error: _open_rejection_case(incoming, number, error, order=order),
    )


def erp_payment_report(
    *,
    invoices: QuerySet[Invoice],
    invoice_number: str,
    payment_id: str,
    amount: object,
    paid_on: dt.date | None = None,
    actor=None,
) -> ErpResult:
    """Record a payment the ERP reports for an invoice among ``invoices``, once per ``payment_id``.

    An invoice number that ``invoices`` does not contain is rejected as
    unknown, whether it does not exist or belongs to a customer the sender
    does not serve. Orders whose invoices are all paid become paid, and
    their buyers get a status update.
    """
    incoming = payment_message(invoice_number=invoice_number, payment_id=payment_id, amount=amount, paid_on=paid_on)
    payment_id = incoming.message_key
    invoice_number = incoming.body["invoice_number"]

    def pay() -> dict:
        invoice = invoices.filter(number=invoice_number).first()
        if invoice is None:
            raise _unknown_invoice(invoice_number)
        known = invoice.payments.filter(payment_id=payment_id).exists()
        payment = payment_record(invoice=invoice, payment_id=payment_id, amount=amount, paid_on=paid_on, actor=actor)
        # The invoice that payment_record locked and updated, or read with a payment recorded before.
        invoice = payment.invoice
        # Only the number and the status that payment_record left go into the report and the response.
        orders = list(invoice.orders.only("number", "status").order_by("pk"))
        for order in orders:
            report = _report_for(order)
            if not known:
                report.payments[payment.payment_id] = {
                    "invoice": invoice.number,
                    "amount": decimal_text(payment.amount),
                }
            _save_report(report, ErpMessageKind.PAYMENT, payment.payment_id, actor)
        return {
            "payment_id": payment.payment_id,
            "invoice_number": invoice.number,
            "amount": _money(payment.amount, payment.currency),
            "currency": payment.currency,
            "paid_on": payment.paid_on,
            "invoice_paid_amount": _money(invoice.paid_amount, invoice.currency),
            "invoice_open_amount": _money(invoice.open_amount, invoice.currency),
            "orders": [{"number": order.number, "status": order.status} for order in orders],
        }

    first_order = Order.objects.filter(invoices__in=invoices.filter(number=invoice_number)).order_by("pk").first()
    if first_order is None:
        # Checked before the kept messages are looked up, so that a payment id kept for an invoice of
        # another customer is not replayed to this sender.
        error = _unknown_invoice(invoice_number)
        _open_rejection_case(incoming, payment_id, error, order=None, reference=invoice_number)
        raise error
    return _apply_once(
        incoming,
        order=first_order,
        apply=pay,
        rejected=lambda error: _open_rejection_case(
            incoming, payment_id, error, order=first_order, reference=invoice_number
        ),
    )


def canonical_body(body: dict) -> tuple[dict, str]:
    """Return the body as stored (JSON types, decimals without trailing zeros) and the SHA-256 of its JSON text."""
    text = json.dumps(_normalised(body), cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"))
    return json.loads(text), hashlib.sha256(text.encode()).hexdigest()


def _apply_once(
    incoming: IncomingMessage,
    *,
    order: Order | None,
    apply: Callable[[], dict],
    rejected: Callable[[Exception], None] | None = None,
) -> ErpResult:
    """Apply a message unless its id was applied before; the claim row and the change commit together.

    The claim is an insert under the (kind, message key) unique constraint,
    so a concurrent message with the same id waits for the first to commit
    and then finds its row.
    """
    kind, message_key = incoming.kind, incoming.message_key
    if not message_key.strip("/") or len(message_key) > 200:
        raise InvalidFulfilmentInput(f"The {kind} needs the ERP's id; got {message_key!r}.")
    stored_body, body_hash = canonical_body(incoming.body)
    try:
        with transaction.atomic():
            message, created = _claim(kind, message_key, order, stored_body, body_hash)
            if not created:
                return _replay(message, body_hash)
            result, _ = canonical_body(apply())
            message.result = result
            message.save(update_fields=["result"])
    except _REJECTIONS as error:
        if rejected is not None:
            rejected(error)
        raise
    logger.info("ERP message applied", extra={"kind": kind, "message_key": message_key})
    return ErpResult(result=result, replayed=False)


def _claim(kind: str, message_key: str, order: Order | None, body: dict, body_hash: str) -> tuple[ErpMessage, bool]:
    # A replay, the common repeat, finds its row without the failed insert below.
    found = prepared(
        "erp-message", _messages, {"kind": _PLACEHOLDER_KIND, "message_key": _PLACEHOLDER_MESSAGE_KEY}
    ).run({"kind": kind, "message_key": message_key})
    existing = found[0] if found else None
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            message = ErpMessage.objects.create(
                kind=kind, message_key=message_key, order=order, body=body, body_hash=body_hash
            )
        return message, True
    except IntegrityError:
        return ErpMessage.objects.select_for_update().get(kind=kind, message_key=message_key), False


def _replay(message: ErpMessage, body_hash: str) -> ErpResult:
    if message.body_hash != body_hash:
        raise ErpMessageConflict(
            f"The ERP sent {message.get_kind_display()} {message.message_key} before with another body; an id "
            f"names one {message.get_kind_display()}, so send the first body again or a new id."
        )
    logger.info("ERP message replayed", extra={"kind": message.kind, "message_key": message.message_key})
    return ErpResult(result=message.result, replayed=True)


def _unknown_invoice(number: str) -> UnknownInvoice:
    return UnknownInvoice(f"No invoice has the number {number!r}; report the invoice before its payments.")


def _reference_conflict(number: str, stored: str) -> ErpMessageConflict:
    return ErpMessageConflict(
        f"Order {number} was acknowledged with ERP reference {stored!r}; an order has one ERP reference, "
        "so correct the reference in the ERP or ask staff to clear it here.",
        code="erp_reference_conflict",
    )


def _open_rejection_case(
    incoming: IncomingMessage, message_id: str, error: Exception, *, order: Order | None, reference: str = ""
) -> None:
    """Open a case for finance about a message this system rejected; the same id and reason share one case."""
    stored_body, _ = canonical_body(incoming.body)
    kind = incoming.kind
    label = ErpMessageKind(kind).label
    case_open(
        kind=CaseKind.INTEGRATION_CONFLICT,
        concerning=order,
        customer=order.customer if order is not None else None,
        facts={"message": label, "id": message_id, "code": error.code, "reason": error.message, "body": stored_body},
        summary=f"ERP {label} {message_id} rejected: {error.message}"[:300],
        cause_key=f"erp-rejected:{kind}:{message_id}:{error.code}"[:200],
        severity=Severity.HIGH,
        reference=(order.number if order is not None else reference)[:64],
        po_number=order.po_number[:64] if order is not None else "",
        team=Group.objects.filter(name=FINANCE_TEAM).first(),
    )
    logger.warning("ERP message rejected", extra={"kind": kind, "message_id": message_id, "code": error.code})


def _close_unacknowledged_cases(order: Order) -> None:
    """Dismiss the open case that the beat check opened because the ERP had not acknowledged the order."""
    cases = prepared("erp-unacknowledged-cases", _unacknowledged_cases, {"object_id": _PLACEHOLDER_OBJECT_ID})
    for case in cases.run({"object_id": str(order.pk)}):
        case_supersede(case=case, reason=f"The ERP acknowledged the order as {order.erp_reference}.")


def _unacknowledged_cases(object_id: str) -> QuerySet[ExceptionCase]:
    return ExceptionCase.objects.filter(
        kind=CaseKind.INTEGRATION_FAILURE,
        content_type=ContentType.objects.get_for_model(Order),
        object_id=object_id,
        cause_key=UNACKNOWLEDGED_CAUSE,
        state__in=ACTIVE_STATES,
    ).order_by("pk")


def _order_statuses(order_id: int) -> QuerySet[Order]:
    return Order.objects.filter(pk=order_id).order_by().values_list("status")


def _messages(kind: str, message_key: str) -> QuerySet[ErpMessage]:
    return ErpMessage.objects.filter(kind=kind, message_key=message_key).order_by()[:1]


def _report_for(order: Order) -> ErpOrderReport:
    # Every message of an order reads its report under a row lock, so the SQL is compiled once per connection.
    found = prepared("erp-report", _locked_reports, {"order_id": PLACEHOLDER_ID}).run({"order_id": order.pk})
    return found[0] if found else ErpOrderReport(order=order)


def _locked_reports(order_id: int) -> QuerySet[ErpOrderReport]:
    return ErpOrderReport.objects.select_for_update().filter(order_id=order_id).order_by("pk")[:1]


def _save_report(report: ErpOrderReport, kind: str, message_key: str, actor) -> None:
    report.last_message_kind = kind
    report.last_message_key = message_key[:200]
    report.last_reported_at = timezone.now()
    save_with_history(report, actor=actor, reason=f"ERP {ErpMessageKind(kind).label} {message_key}")


def _optional_money(value: object, currency: str, what: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return parse_money(value, currency)
    except InvalidNumber as error:
        raise InvalidFulfilmentInput(f"{what} {error}.") from None


def _normalised(value):
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dict):
        return {key: _normalised(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_normalised(item) for item in value]
    return value


def _number(value: object) -> object:
    """Return a decimal number as text without trailing zeros, so "5.0" and 5 hash alike; other values as given."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return value
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        return value
    return decimal_text(number) if number.is_finite() else value


def _decimal(text: str | None) -> Decimal:
    return Decimal(text) if text else Decimal(0)


def decimal_text(value: Decimal) -> str:
    """Write a decimal without trailing zeros, as the ERP's quantities and amounts are compared."""
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "") else text


def _money(amount: Decimal, currency: str) -> str:
    return format(round_money(amount, currency), "f")
