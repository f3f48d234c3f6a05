"""Document log entries of the PunchOut views: OCI entries and returned carts.

The cXML endpoint builds its own exchange in views/cxml.py; the helpers here
describe the other two PunchOut messages so that the views stay short.
"""

import base64
import binascii
import re

from django.http import HttpRequest, HttpResponse

from apps.integrations.models import BodyFormat, Channel, Direction
from apps.integrations.services import DocumentExchange, record_after_response
from apps.punchout.models import BuyerConnection, PunchOutSession

# The payloadID attribute of a cXML document's root element.
_PAYLOAD_ID = re.compile(r"<cXML\b[^>]*?\bpayloadID\s*=\s*[\"']([^\"']*)[\"']")


def oci_exchange(request: HttpRequest, params: dict[str, str]) -> DocumentExchange:
    """Return the exchange of an OCI entry request, with its parameters (PASSWORD masked when stored)."""
    function = (params.get("FUNCTION") or "").strip().upper()[:40]
    return DocumentExchange(
        direction=Direction.INBOUND,
        channel=Channel.OCI,
        document_type=f"OCI {function or 'login'}",
        url=request.path,
        request_body=sorted(params.items()),
        request_format=BodyFormat.FORM,
    )


def note_connection(exchange: DocumentExchange, connection: BuyerConnection) -> None:
    """Put the authenticated connection and its customer on the exchange."""
    exchange.note(connection_id=connection.pk, customer_id=connection.customer_id)


def record_cart_return(response: HttpResponse, *, session: PunchOutSession, form=None, error: str = "") -> HttpResponse:
    """Log a returned cart (PunchOutOrderMessage or NEW_ITEM fields) as an outbound document after ``response``.

    ``form`` is the return form (services.ReturnForm); without it the return
    failed with ``error``.
    """
    exchange = DocumentExchange(
        direction=Direction.OUTBOUND,
        channel=Channel.CART_RETURN,
        document_type="OCI NEW_ITEM" if session.is_oci else "PunchOutOrderMessage",
        connection_id=session.connection_id,
        customer_id=session.connection.customer_id,
        url=(form.action if form is not None else session.browser_form_post_url)[:500],
        response_format=BodyFormat.HTML,
    )
    if form is None:
        exchange.fail(error)
    elif session.is_oci:
        exchange.request_body = form.fields
        exchange.request_format = BodyFormat.FORM
    else:
        document = _cxml_document(form.fields)
        payload_id = _PAYLOAD_ID.search(document[:4096])
        exchange.note(payload_id=payload_id.group(1) if payload_id else "")
        exchange.request_body = document
        exchange.request_format = BodyFormat.XML
    # The page only carries the document to the browser, so the log keeps the document alone.
    exchange.response_body = ""
    return record_after_response(response, exchange)


def _cxml_document(fields: list[tuple[str, str]]) -> str:
    """Return the PunchOutOrderMessage carried in a cxml-urlencoded or cxml-base64 field."""
    for name, value in fields:
        if name == "cxml-base64":
            try:
                return base64.b64decode(value).decode("utf-8", errors="replace")
            except (binascii.Error, ValueError):
                return value
        if name == "cxml-urlencoded":
            return value
    return ""
