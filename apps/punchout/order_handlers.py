"""Handlers of the order documents that arrive at the cXML endpoint: OrderRequest and StatusUpdateRequest.

The endpoint parses the body, reads the Header, authenticates the sender and
then calls one of these with the parsed root. Each returns the cXML Response
document, which goes out with HTTP 200 and the outcome in its Status.
"""

import dataclasses
import logging
import re

from django.db.models import Q
from lxml import etree

from apps.orders import outbox
from apps.orders.errors import OrderError
from apps.orders.inputs import CartLineReference, CartReference, OrderInput
from apps.orders.services import order_intake
from apps.punchout.cxml.reader import CXMLBadRequest, Header
from apps.punchout.models import PunchOutSession
from apps.punchout.order_request import answer_document, connection_source, read_order_request
from apps.quotes.line_references import parse_quote_line_reference

logger = logging.getLogger(__name__)

# Our reference for a cart line, as ``CartLine.auxiliary_id`` writes it into SupplierPartAuxiliaryID.
_CART_LINE_REFERENCE = re.compile(r"^cartline-(\d{1,18})$")


def handle_order_request(
    *, root: etree._Element, header: Header, connection, body: bytes | None = None, exchange=None
) -> bytes:
    """Take in an OrderRequest (new, update or delete) for the connection's customer; return the response.

    ``body`` is the request body as received, which the order keeps; without
    it the parsed document is serialised instead. ``exchange`` (a document
    log DocumentExchange) is given the PO number and the order when known.
    """
    if body is not None:
        stored = body.decode(root.getroottree().docinfo.encoding or "utf-8", errors="replace")
    else:
        stored = etree.tostring(root.getroottree(), encoding="unicode")
    try:
        request = read_order_request(root=root, header=header, connection=connection, body=stored)
        if exchange is not None:
            exchange.note(po_number=request.po_number)
        cart = returned_cart_for(request=request, connection=connection)
        if cart is not None:
            request = dataclasses.replace(request, cart=cart)
        result = order_intake(request=request, actor=None)
    except CXMLBadRequest as error:
        logger.info("OrderRequest rejected: %s", error, extra={"connection_id": connection.pk})
        return answer_document(status=400, message=error.message)
    except OrderError as error:
        logger.info(
            "OrderRequest rejected: %s",
            error.message,
            extra={"connection_id": connection.pk, "code": error.code, "payload_id": header.payload_id},
        )
        return answer_document(status=error.status, message=error.message)

    if exchange is not None and result.order is not None:
        exchange.note(order_id=result.order.pk, order_number=result.order.number, po_number=result.order.po_number)
    message = result.message
    if result.reasons:
        message = f"{message} Problems: " + " | ".join(result.reasons)
    if result.order is not None and result.order.is_test and result.ok:
        message += " Sent in test mode: the order is kept apart and will not be fulfilled."
    return answer_document(status=result.status, message=message)


def returned_cart_for(*, request: OrderInput, connection) -> CartReference | None:
    """Return the cart of the connection's PunchOut session that the order's lines refer to, or None.

    The lines carry our cart-line references as SupplierPartAuxiliaryID, or
    for lines loaded from a quote the quote line's reference. When they point
    into several sessions, the one returned last is used.
    """
    cart_line_ids = set()
    quote_references = set()
    for line in request.lines:
        auxiliary_id = line.supplier_part_auxiliary_id.strip()
        match = _CART_LINE_REFERENCE.match(auxiliary_id)
        if match:
            cart_line_ids.add(int(match.group(1)))
        elif parse_quote_line_reference(auxiliary_id) is not None:
            quote_references.add(auxiliary_id)
    if not cart_line_ids and not quote_references:
        return None
    session = (
        PunchOutSession.objects.filter(connection=connection)
        .filter(Q(lines__pk__in=cart_line_ids) | Q(lines__quote_reference__in=quote_references))
        .order_by("-returned_at", "-pk")
        .first()
    )
    if session is None:
        return None
    return CartReference(
        session_id=str(session.pk),
        lines=tuple(
            CartLineReference(reference=line.auxiliary_id, sku=line.product.sku, quantity=line.quantity)
            for line in session.lines.select_related("product").order_by("line_number")
        ),
        ship_to=session.ship_to or {},
    )


def handle_status_update_request(*, root: etree._Element, header: Header, connection) -> bytes:
    """Apply a buyer's StatusUpdateRequest to the document it refers to by payloadID; return the response."""
    update = root.find("Request/StatusUpdateRequest")
    if update is None:
        return answer_document(status=400, message="The cXML request has no StatusUpdateRequest element.")
    reference = update.find("DocumentReference")
    payload_id = (reference.get("payloadID") or "").strip() if reference is not None else ""
    if not payload_id:
        return answer_document(
            status=400, message="The StatusUpdateRequest has no DocumentReference payloadID; name the document."
        )
    status = update.find("Status")
    code = (status.get("code") or "").strip() if status is not None else ""
    if not code.isdigit():
        return answer_document(status=400, message=f"The StatusUpdateRequest Status code {code!r} is not a number.")
    text = (status.get("text") or "").strip()
    detail = "".join(status.itertext()).strip() if status is not None else ""
    message = f"{text}: {detail}" if detail else text

    event = outbox.record_buyer_status(
        source=connection_source(connection), document_id=payload_id, code=code, message=message
    )
    if event is None:
        logger.info(
            "StatusUpdateRequest for an unknown document", extra={"connection_id": connection.pk, "ref": payload_id}
        )
        return answer_document(
            status=400,
            message=f"No document with payloadID {payload_id!r} was sent to this buyer; check the reference.",
        )
    return answer_document(status=200, message=f"Status {code} recorded for {payload_id}.")
