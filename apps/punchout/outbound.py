"""cXML documents to the buyer about its orders, built from order outbox events, and their delivery.

The orders app calls ``build_document`` and ``send_document`` through its
``ORDER_OUTBOX_SENDERS`` setting (channel ``cxml``). Events map to documents:

- ``order.confirmed``: ConfirmationRequest ``accept``, or ``detail`` with a
  ConfirmationItem per line when a price, quantity or line state differs
  from the buyer's order;
- ``order.cancelled``, ``order.rejected``: ConfirmationRequest ``reject``;
- ``order.shipped``: ShipNoticeRequest with the carrier and tracking number;
- ``order.invoiced``: InvoiceDetailRequest with an InvoiceDetailOrder per
  order the event names, their lines, and the tax at summary;
- ``order.on_hold``, ``order.paid``: StatusUpdateRequest about the order.

Documents go to the URL in the ``OutboundEndpoint`` row for the order's
source; without an active one the event is skipped. The Sender credential is
ours (the connection's To credential), with the shared secret from
``CXML_OUTBOUND_SHARED_SECRETS`` (a dict keyed by source such as
``cxml-connection:7``) when one is set. The buyer's response is read as cXML
even with HTTP 200, because cXML carries the outcome in its Status.
"""

import dataclasses
import logging
import re
import urllib.error
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet
from lxml import etree

from apps.core.money import minor_units, round_money
from apps.core.prepared import PLACEHOLDER_ID, placeholder_text, prepared, run_for_list
from apps.core.xml import XMLRejected, parse_xml
from apps.orders.models import (
    Invoice,
    InvoiceLine,
    LineStatus,
    Order,
    OutboundEndpoint,
    OutboxEvent,
    Shipment,
    ShipmentLine,
)
from apps.orders.outbox import DeliveryResult, Outcome, result_for_status
from apps.punchout.cxml.documents import XML_LANG, Credential, add_header, new_document_root, serialize_document
from apps.punchout.cxml.validation import dtd_name_for
from apps.punchout.models import BuyerConnection

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 30
USER_AGENT = "Supplier back office"
# Largest response read from the buyer, because a cXML status response is a few hundred bytes.
MAX_ANSWER_BYTES = 1024 * 1024
# The element inside Request names the document for the log (ConfirmationRequest, ShipNoticeRequest…).
_REQUEST_NAME = re.compile(r"<Request\b[^>]*>\s*<([A-Za-z]+)")
_PLACEHOLDER_SOURCE = placeholder_text("source")


def has_destination(order, event: str) -> bool:
    """Tell whether the order's buyer has an active cXML endpoint and the event has a document to send there.

    The outbox calls this when it records the event, so that an event without a destination is written as
    skipped instead of costing the worker a task.
    """
    return event in _BUILDERS and _connection(order.source) is not None and _endpoint(order.source) is not None


def build_document(event: OutboxEvent) -> tuple[str, bytes]:
    """Return the payloadID and bytes of the event's document; ("", b"") when nothing is to be sent."""
    order = event.order
    connection = _connection(order.source)
    if connection is None or _endpoint(order.source) is None:
        logger.info("No cXML endpoint for order documents", extra={"event_id": event.pk, "source": order.source})
        return "", b""
    builder = _BUILDERS.get(event.event)
    if builder is None:
        logger.info("No cXML document for this event", extra={"event_id": event.pk, "event": event.event})
        return "", b""

    root = new_document_root()
    add_header(
        root,
        from_credentials=[Credential(connection.to_domain, connection.to_identity)],
        to_credentials=[Credential(connection.from_domain, connection.from_identity)],
        sender_credential=Credential(
            connection.to_domain, connection.to_identity, shared_secret=_outbound_secret(order.source)
        ),
        user_agent=USER_AGENT,
        include_shared_secret=True,
    )
    request = etree.SubElement(root, "Request")
    if order.is_test:
        request.set("deploymentMode", "test")
    builder(request, event)
    document = serialize_document(root, dtd_name=dtd_name_for(root))
    return root.get("payloadID"), document


def send_document(event: OutboxEvent) -> DeliveryResult:
    """POST the stored document to the buyer and read its cXML response; a network failure returns a retry."""
    endpoint = _endpoint(event.order.source)
    if endpoint is None:
        return DeliveryResult(outcome=Outcome.REJECTED, code="no_endpoint", message="The endpoint was removed.")
    name = _REQUEST_NAME.search(event.document)
    connection = _connection(event.order.source)
    described = {
        "url": endpoint.url,
        "document_type": name.group(1) if name else "",
        "document_format": "xml",
        "log_fields": {"connection_id": connection.pk if connection is not None else None},
    }
    timeout = float(getattr(settings, "CXML_OUTBOUND_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))
    http_request = urllib.request.Request(  # noqa: S310 - the URL is an http(s) URL validated by the URLField
        endpoint.url,
        data=event.document.encode("utf-8"),
        headers={"Content-Type": "text/xml; charset=UTF-8", "User-Agent": USER_AGENT},
        method="POST",
    )
    try:
        with urllib.request.urlopen(http_request, timeout=timeout) as response:  # noqa: S310 - as above
            http_status = response.status
            body = response.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as error:
        http_status = error.code
        body = error.read(MAX_ANSWER_BYTES)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        logger.warning("cXML send failed", extra={"event_id": event.pk, "error": str(error)})
        return DeliveryResult(outcome=Outcome.RETRY, code="network", message=f"Sending failed: {error}", **described)
    result = read_answer(http_status=http_status, body=body)
    return dataclasses.replace(result, http_status=http_status, answer=body, **described)


def read_answer(*, http_status: int, body: bytes) -> DeliveryResult:
    """Read the buyer's response: its cXML Status when there is one, else the HTTP status."""
    try:
        root = parse_xml(body) if body.strip() else None
    except XMLRejected:
        root = None
    status = root.find("Response/Status") if root is not None and root.tag == "cXML" else None
    if status is not None and (status.get("code") or "").strip().isdigit():
        code = status.get("code").strip()
        text = (status.get("text") or "").strip()
        detail = "".join(status.itertext()).strip()
        return result_for_status(code, f"{text}: {detail}" if detail else text)
    if 200 <= http_status < 300:
        return DeliveryResult(
            outcome=Outcome.RETRY, code=str(http_status), message="The response was not a cXML Response with a Status."
        )
    return result_for_status(str(http_status), f"HTTP {http_status} without a cXML Status")


def _connection(source: str) -> BuyerConnection | None:
    prefix, _, identifier = source.partition(":")
    if prefix != "cxml-connection" or not identifier.isdigit():
        return None
    # Building and sending each read the connection and the endpoint, so their SQL is compiled once per connection.
    query = prepared("outbound-connection", _cxml_connections, {"connection_id": PLACEHOLDER_ID})
    found = query.run({"connection_id": int(identifier)})
    return found[0] if found else None


def _cxml_connections(connection_id: int) -> QuerySet[BuyerConnection]:
    return BuyerConnection.objects.filter(pk=connection_id, protocol=BuyerConnection.Protocol.CXML).order_by()


def _endpoint(source: str) -> OutboundEndpoint | None:
    found = prepared("outbound-endpoint", _active_endpoints, {"source": _PLACEHOLDER_SOURCE}).run({"source": source})
    return found[0] if found else None


def _active_endpoints(source: str) -> QuerySet[OutboundEndpoint]:
    # The source is unique, so the query needs no order.
    return OutboundEndpoint.objects.filter(source=source, is_active=True).order_by()[:1]


def _outbound_secret(source: str) -> str | None:
    secrets_by_source = getattr(settings, "CXML_OUTBOUND_SHARED_SECRETS", {}) or {}
    return secrets_by_source.get(source) or None


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _iso(value) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def _order_reference(parent: etree._Element, order) -> None:
    reference = etree.SubElement(parent, "OrderReference", orderID=order.po_number)
    if order.order_date:
        reference.set("orderDate", _iso(order.order_date))
    etree.SubElement(reference, "DocumentReference", payloadID=order.payload_id)


def _money(parent: etree._Element, tag: str, amount: Decimal, currency: str) -> etree._Element:
    element = etree.SubElement(parent, tag)
    money = etree.SubElement(element, "Money", currency=currency)
    money.text = format(round_money(amount, currency), "f")
    return element


def _unit_price(parent: etree._Element, price: Decimal, currency: str) -> None:
    """Write a unit price with the currency's minor unit decimals, and finer ones only when it has them."""
    element = etree.SubElement(parent, "UnitPrice")
    money = etree.SubElement(element, "Money", currency=currency)
    price = price.normalize()
    places = minor_units(currency)
    if price.as_tuple().exponent > -places:
        price = price.quantize(Decimal(1).scaleb(-places))
    money.text = format(price, "f")


def _line_number(line) -> str:
    return line.line_number if line.line_number.isdigit() else str(line.position)


def _quantity(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _text(parent: etree._Element, tag: str, value: str, **attributes) -> etree._Element:
    element = etree.SubElement(parent, tag, **attributes)
    element.text = value
    return element


def _confirmation(request: etree._Element, event: OutboxEvent, *, reject: bool = False) -> None:
    order = event.order
    lines = list(order.lines.select_related("unit").order_by("position"))
    changed = [
        line
        for line in lines
        if line.status != LineStatus.OPEN
        or line.unit_factor is not None
        or (
            line.buyer_unit_price is not None
            and line.unit_price is not None
            and line.unit_price != line.buyer_unit_price
        )
    ]
    if reject:
        kind = "reject"
    elif changed:
        kind = "detail"
    else:
        kind = "accept"

    confirmation = etree.SubElement(request, "ConfirmationRequest")
    header = etree.SubElement(
        confirmation, "ConfirmationHeader", type=kind, noticeDate=_now(), confirmID=f"{order.number}-{event.pk}"
    )
    if not reject:
        _money(header, "Total", order.total, order.currency)
    reason = event.payload.get("reason") if reject else ""
    if reason:
        _text(header, "Comments", reason, **{XML_LANG: "en"})
    _order_reference(confirmation, order)
    if kind != "detail":
        return
    for line in lines:
        # The item repeats the line as ordered; a converted line's status states it in the product's unit.
        converted = line.unit_factor is not None
        unit = line.unit.code if line.unit_id else (line.unit_text or "EA")
        ordered_unit = (line.unit_text or unit) if converted else unit
        ordered_quantity = line.ordered_quantity if converted else line.quantity
        item = etree.SubElement(
            confirmation, "ConfirmationItem", quantity=_quantity(ordered_quantity), lineNumber=_line_number(line)
        )
        _text(item, "UnitOfMeasure", ordered_unit)
        line_kind = {LineStatus.CANCELLED: "reject", LineStatus.BACKORDERED: "backordered"}.get(line.status, "accept")
        if line_kind == "accept" and line in changed:
            line_kind = "detail"
        status = etree.SubElement(item, "ConfirmationStatus", quantity=_quantity(line.quantity), type=line_kind)
        _text(status, "UnitOfMeasure", unit)
        if line_kind == "detail" and line.unit_price is not None:
            _unit_price(status, line.unit_price, line.currency)
        if converted and line_kind == "detail":
            _text(status, "Comments", f"Converted: {line.conversion}.", **{XML_LANG: "en"})


def _reject(request: etree._Element, event: OutboxEvent) -> None:
    _confirmation(request, event, reject=True)


def _ship_notice(request: etree._Element, event: OutboxEvent) -> None:
    order = event.order
    shipment_id = int(event.payload["shipment_id"])
    shipment = _only(Shipment, _rows_by_id("outbound-shipment", _shipments, shipment_id), shipment_id)
    shipped_lines = _rows_by_id("outbound-shipment-lines", _shipment_lines, shipment_id)
    notice = etree.SubElement(request, "ShipNoticeRequest")
    header = etree.SubElement(
        notice,
        "ShipNoticeHeader",
        shipmentID=shipment.shipment_id,
        noticeDate=_now(),
        shipmentDate=_iso(shipment.shipped_at),
        fulfillmentType="complete" if event.payload.get("complete") else "partial",
    )
    if shipment.expected_delivery_at:
        header.set("deliveryDate", _iso(shipment.expected_delivery_at))
    if shipment.tracking_number:
        control = etree.SubElement(notice, "ShipControl")
        if shipment.carrier_scac:
            _text(control, "CarrierIdentifier", shipment.carrier_scac, domain="SCAC")
        _text(control, "CarrierIdentifier", shipment.carrier or "unknown", domain="companyName")
        # Passed verbatim: buyers look tracking numbers up with their spaces.
        _text(control, "ShipmentIdentifier", shipment.tracking_number)
    portion = etree.SubElement(notice, "ShipNoticePortion")
    _order_reference(portion, order)
    for shipped in shipped_lines:
        line = shipped.order_line
        item = etree.SubElement(
            portion, "ShipNoticeItem", quantity=_quantity(shipped.quantity), lineNumber=_line_number(line)
        )
        _text(item, "UnitOfMeasure", line.unit.code if line.unit_id else (line.unit_text or "EA"))


def _invoice(request: etree._Element, event: OutboxEvent) -> None:
    """Write an InvoiceDetailRequest with one InvoiceDetailOrder per order of the event's source.

    An invoice that bills orders of several sources (a cXML buyer and the
    partner API, say) reaches each source with only its own orders. The
    summary then carries those lines' subtotal and a share of the tax in
    proportion to it.
    """
    invoice_id = int(event.payload["invoice_id"])
    invoice = _only(Invoice, _rows_by_id("outbound-invoice", _invoices, invoice_id), invoice_id)
    order_ids = list(dict.fromkeys(int(order_id) for order_id in event.payload.get("order_ids") or [event.order_id]))
    found = run_for_list("outbound-invoice-orders", _orders, order_ids, lambda index: PLACEHOLDER_ID + index)
    orders = {order.pk: order for order in found}
    invoice_lines = _rows_by_id("outbound-invoice-lines", _invoice_lines, invoice_id)
    lines = [line for line in invoice_lines if line.order_line.order_id in orders]

    detail = etree.SubElement(request, "InvoiceDetailRequest")
    header = etree.SubElement(
        detail,
        "InvoiceDetailRequestHeader",
        invoiceID=invoice.number,
        purpose="standard",
        operation="new",
        invoiceDate=_iso(invoice.invoice_date),
    )
    etree.SubElement(header, "InvoiceDetailHeaderIndicator")
    etree.SubElement(header, "InvoiceDetailLineIndicator")
    days = max((invoice.due_date - invoice.invoice_date.date()).days, 0)
    etree.SubElement(header, "PaymentTerm", payInNumberOfDays=str(days))

    number = 0
    for order_id in sorted({line.order_line.order_id for line in lines}):
        order_block = etree.SubElement(detail, "InvoiceDetailOrder")
        info = etree.SubElement(order_block, "InvoiceDetailOrderInfo")
        _order_reference(info, orders[order_id])
        for invoiced in (line for line in lines if line.order_line.order_id == order_id):
            number += 1
            _invoice_item(order_block, invoiced, number, invoice.currency)

    subtotal, tax, total = _invoice_share(invoice, lines, invoice_lines)
    summary = etree.SubElement(detail, "InvoiceDetailSummary")
    _money(summary, "SubtotalAmount", subtotal, invoice.currency)
    tax_element = _money(summary, "Tax", tax, invoice.currency)
    _text(tax_element, "Description", "total tax", **{XML_LANG: "en"})
    _money(summary, "NetAmount", total, invoice.currency)
    _money(summary, "DueAmount", max(total - invoice.paid_amount, Decimal(0)), invoice.currency)


def _invoice_item(order_block: etree._Element, invoiced: InvoiceLine, number: int, currency: str) -> None:
    line = invoiced.order_line
    item = etree.SubElement(
        order_block, "InvoiceDetailItem", invoiceLineNumber=str(number), quantity=_quantity(invoiced.quantity)
    )
    _text(item, "UnitOfMeasure", line.unit.code if line.unit_id else (line.unit_text or "EA"))
    _unit_price(item, invoiced.unit_price, currency)
    reference = etree.SubElement(item, "InvoiceDetailItemReference", lineNumber=_line_number(line))
    item_id = etree.SubElement(reference, "ItemID")
    _text(item_id, "SupplierPartID", line.sku)
    if line.supplier_part_auxiliary_id:
        _text(item_id, "SupplierPartAuxiliaryID", line.supplier_part_auxiliary_id)
    _money(item, "SubtotalAmount", invoiced.amount, currency)


def _invoice_share(invoice: Invoice, lines: list, all_lines: list) -> tuple[Decimal, Decimal, Decimal]:
    """Return the subtotal, tax and total of the document: the invoice's own, or the share of the listed lines."""
    if len(lines) == len(all_lines):
        return invoice.subtotal, invoice.tax, invoice.total
    subtotal = sum((line.amount for line in lines), Decimal(0))
    tax = round_money(invoice.tax * subtotal / invoice.subtotal, invoice.currency) if invoice.subtotal else invoice.tax
    return subtotal, tax, subtotal + tax


def _status_update(request: etree._Element, event: OutboxEvent) -> None:
    order = event.order
    update = etree.SubElement(request, "StatusUpdateRequest")
    etree.SubElement(update, "DocumentReference", payloadID=order.payload_id)
    text = {"order.on_hold": "On hold", "order.paid": "Paid"}.get(event.event, "OK")
    message = event.payload.get("reason") or f"Order {order.number} is {order.get_status_display()}."
    status = _text(update, "Status", message, code="200", text=text)
    status.set(XML_LANG, "en")


def _rows_by_id(key: str, build, row_id: int) -> list:
    """Run the query that ``build(row_id=…)`` returns, compiled once per connection under ``key``."""
    # Each document reads its shipment or invoice and their lines, so the SQL is not built per document.
    return prepared(key, build, {"row_id": PLACEHOLDER_ID}).run({"row_id": row_id})


def _only(model, rows: list, row_id: int):
    if not rows:
        raise model.DoesNotExist(f"{model.__name__} with id {row_id} not found.")
    return rows[0]


def _shipments(row_id: int) -> QuerySet[Shipment]:
    return Shipment.objects.filter(pk=row_id).order_by()


def _shipment_lines(row_id: int) -> QuerySet[ShipmentLine]:
    # One join in place of prefetching the lines, their order lines and their units in three queries.
    return ShipmentLine.objects.filter(shipment_id=row_id).select_related("order_line__unit")


def _invoices(row_id: int) -> QuerySet[Invoice]:
    return Invoice.objects.filter(pk=row_id).order_by()


def _invoice_lines(row_id: int) -> QuerySet[InvoiceLine]:
    return (
        InvoiceLine.objects.filter(invoice_id=row_id)
        .select_related("order_line__unit")
        .order_by("order_line__order_id", "order_line__position")
    )


def _orders(order_ids: list[int]) -> QuerySet[Order]:
    return Order.objects.filter(pk__in=order_ids).order_by()


_BUILDERS = {
    "order.confirmed": _confirmation,
    "order.cancelled": _reject,
    "order.rejected": _reject,
    "order.shipped": _ship_notice,
    "order.invoiced": _invoice,
    "order.on_hold": _status_update,
    "order.paid": _status_update,
}
