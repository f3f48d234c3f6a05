"""Reading a cXML OrderRequest into the order intake's input, leniently, and writing the response document.

Children are found by name wherever the DTD's order is broken, comments and
unknown elements are skipped, and empty Extrinsics are dropped. Numbers are
passed on as the text the buyer wrote, because intake reads them strictly and
refuses scientific notation and decimal commas line by line instead of
misreading them. The document itself is kept as received.
"""

import datetime as dt

from lxml import etree

from apps.contracts.models import Customer
from apps.contracts.selectors import customer_by_id
from apps.orders.inputs import LineInput, OrderInput
from apps.punchout.cxml.documents import build_status_response
from apps.punchout.cxml.elements import address_fields, description_text, element_text, parse_timestamp
from apps.punchout.cxml.reader import CXMLBadRequest, Header

ORDER_TYPES = ("new", "update", "delete")

STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    406: "Not Acceptable",
    409: "Conflict",
    500: "Internal Server Error",
}


def _customer_of(connection) -> Customer:
    """Return the connection's customer; every order reads it, so the query is compiled once per connection."""
    if not type(connection).customer.is_cached(connection):
        connection.customer = customer_by_id(connection.customer_id)
    return connection.customer


def connection_source(connection) -> str:
    """Return the key orders use for documents from this buyer connection."""
    return f"cxml-connection:{connection.pk}"


def read_order_request(*, root: etree._Element, header: Header, connection, body: str = "") -> OrderInput:
    """Read an OrderRequest document into an ``OrderInput`` for the connection's customer.

    Raises ``CXMLBadRequest`` when the document has no OrderRequestHeader or an unknown type.
    """
    request = root.find("Request/OrderRequest")
    if request is None:
        raise CXMLBadRequest("The cXML request has no OrderRequest element.")
    order_header = request.find("OrderRequestHeader")
    if order_header is None:
        raise CXMLBadRequest("The OrderRequest has no OrderRequestHeader; it carries the orderID and type.")
    order_type = (order_header.get("type") or "new").strip().lower()
    if order_type not in ORDER_TYPES:
        raise CXMLBadRequest(
            f"OrderRequestHeader type {order_header.get('type')!r} is unknown; use new, update or delete."
        )

    total = order_header.find("Total/Money")
    tax = order_header.find("Tax/Money")
    currency = (total.get("currency") if total is not None else None) or _first_line_currency(request)
    reference = order_header.find("DocumentReference")

    return OrderInput(
        channel="cxml",
        source=connection_source(connection),
        customer=_customer_of(connection),
        contract=connection.contract,
        document_id=header.payload_id,
        operation=order_type,
        po_number=(order_header.get("orderID") or "").strip(),
        refers_to=(reference.get("payloadID") or "").strip() if reference is not None else "",
        order_date=parse_timestamp(order_header.get("orderDate")),
        requested_delivery_date=_date(order_header.get("requestedDeliveryDate")),
        currency=(currency or "").strip() or None,
        total=element_text(total).strip() if total is not None else None,
        tax=element_text(tax).strip() if tax is not None else None,
        ship_to=_address(order_header.find("ShipTo/Address")),
        bill_to=_address(order_header.find("BillTo/Address")),
        contact=_contact(order_header.find("Contact")),
        extrinsics=_extrinsics(order_header),
        comments=_comments(order_header),
        is_test=header.deployment_mode == "test",
        body=body,
        lines=tuple(_line(item, position) for position, item in enumerate(request.findall("ItemOut"), start=1)),
    )


def answer_document(*, status: int, message: str) -> bytes:
    """Return the cXML Response to an OrderRequest: the status code, its standard text and the message."""
    return build_status_response(code=status, text=STATUS_TEXT.get(status, "Error"), message=message)


def _line(item: etree._Element, position: int) -> LineInput:
    money = item.find("ItemDetail/UnitPrice/Money")
    tax = item.find("Tax/Money")
    classification = {}
    for element in item.findall("ItemDetail/Classification"):
        domain = (element.get("domain") or "").strip()
        value = element_text(element).strip()
        # A placeholder such as "unknown" or "0" is no code, so it is left out.
        if domain and value and value.casefold() not in ("unknown", "0", "n/a"):
            classification[domain] = value
    auxiliary = item.find("ItemID/SupplierPartAuxiliaryID")
    return LineInput(
        line_number=(item.get("lineNumber") or str(position)).strip(),
        sku=element_text(item.find("ItemID/SupplierPartID")).strip(),
        quantity=(item.get("quantity") or "").strip(),
        unit=element_text(item.find("ItemDetail/UnitOfMeasure")).strip(),
        unit_price=element_text(money).strip() if money is not None else None,
        currency=((money.get("currency") or "").strip() or None) if money is not None else None,
        description=description_text(item.find("ItemDetail/Description")),
        # Kept verbatim: it is often our own cart-line reference and must match byte for byte.
        supplier_part_auxiliary_id=element_text(auxiliary) if auxiliary is not None else "",
        requested_delivery_date=_date(item.get("requestedDeliveryDate")),
        classification=classification,
        extrinsics={**_extrinsics(item.find("ItemDetail")), **_extrinsics(item)},
        comments=_comments(item),
        tax=element_text(tax).strip() if tax is not None else None,
    )


def _first_line_currency(request: etree._Element) -> str | None:
    money = request.find("ItemOut/ItemDetail/UnitPrice/Money")
    return money.get("currency") if money is not None else None


def _address(element: etree._Element | None) -> dict:
    return address_fields(element) if element is not None else {}


def _contact(element: etree._Element | None) -> dict:
    if element is None:
        return {}
    return {
        "role": (element.get("role") or "").strip(),
        "name": element_text(element.find("Name")).strip(),
        "email": element_text(element.find("Email")).strip(),
    }


def _extrinsics(element: etree._Element | None) -> dict[str, str]:
    """Return non-empty Extrinsics by name, the first of a name winning."""
    values: dict[str, str] = {}
    if element is None:
        return values
    for extrinsic in element.findall("Extrinsic"):
        name = (extrinsic.get("name") or "").strip()
        value = element_text(extrinsic).strip()
        if name and value and name not in values:
            values[name] = value
    return values


def _comments(element: etree._Element) -> str:
    parts = []
    for comments in element.findall("Comments"):
        # The comment's own text, without the URLs of its attachments.
        text = "".join([comments.text or ""] + [child.tail or "" for child in comments]).strip()
        if text:
            parts.append(text)
        for url in comments.findall("Attachment/URL"):
            parts.append(f"Attachment: {element_text(url).strip()}")
    return "\n".join(dict.fromkeys(parts))


def _date(raw: str | None) -> dt.date | None:
    parsed = parse_timestamp(raw)
    if parsed is not None:
        return parsed.date()
    try:
        return dt.date.fromisoformat((raw or "").strip()[:10]) if raw else None
    except ValueError:
        return None
