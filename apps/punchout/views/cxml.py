"""The cXML endpoint: PunchOutSetupRequest, ProfileRequest, OrderRequest and StatusUpdateRequest.

Every answer, whatever the method, path, content type, body or credentials,
is HTTP 200 with a complete cXML document whose Status carries the outcome,
as buyers' networks expect, with ``Content-Type: text/xml; charset=UTF-8``.
The endpoint is called server to server, so it is exempt from CSRF.
"""

import base64
import binascii
import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from apps.core.views import DATABASE_UNAVAILABLE_MESSAGE, is_database_unavailable
from apps.core.xml import XMLRejected, parse_xml
from apps.integrations.models import BodyFormat, Channel, Direction
from apps.integrations.services import (
    DocumentExchange,
    cxml_status_of,
    outcome_for_cxml_status,
    record_after_response,
)
from apps.punchout import order_handlers, services
from apps.punchout.cxml.documents import build_profile_response, build_punchout_setup_response, build_status_response
from apps.punchout.cxml.reader import (
    CXMLBadRequest,
    inbound_oddities,
    read_header,
    read_punchout_setup_request,
    request_type,
)
from apps.punchout.errors import PunchOutError
from apps.punchout.models import BuyerConnection
from apps.punchout.throttle import client_address

logger = logging.getLogger(__name__)

CXML_CONTENT_TYPE = "text/xml; charset=UTF-8"
_XML_MEDIA_TYPES = {"text/xml", "application/xml"}
_STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    500: "Internal Server Error",
}
# Requests this endpoint answers, as listed in a ProfileResponse.
SUPPORTED_REQUESTS = ("ProfileRequest", "PunchOutSetupRequest", "OrderRequest", "StatusUpdateRequest")


class _BadBody(Exception):
    """The request body contains no cXML document in a form the endpoint reads."""


@csrf_exempt
@never_cache
def cxml_endpoint(request: HttpRequest, subpath: str | None = None) -> HttpResponse:
    """Handle an inbound cXML request and return a cXML document whose Status carries the outcome.

    Every request is written to the document log after the response is sent.
    """
    exchange = DocumentExchange(
        direction=Direction.INBOUND,
        channel=Channel.CXML,
        document_type="cXML",
        url=request.path,
        request_format=BodyFormat.XML,
        response_format=BodyFormat.XML,
    )
    response = _answer(request, subpath, exchange)
    code = cxml_status_of(response.content)
    exchange.note(cxml_status=code, outcome=outcome_for_cxml_status(code))
    return record_after_response(response, exchange)


def _answer(request: HttpRequest, subpath: str | None, exchange: DocumentExchange) -> HttpResponse:
    if (subpath or "").strip("/"):
        return cxml_status(
            404, f"There is no cXML endpoint at {request.path[:100]!r}; post cXML documents to {_endpoint_url()}."
        )
    if request.method != "POST":
        response = cxml_status(405, f"Send cXML documents to {_endpoint_url()} with POST, not {request.method}.")
        response["Allow"] = "POST"
        return response
    try:
        return _handle_cxml(request, exchange)
    except Exception as error:
        if is_database_unavailable(error):
            logger.warning("cXML request failed: the database is unavailable", extra={"error": str(error)[:200]})
            return cxml_status(500, DATABASE_UNAVAILABLE_MESSAGE)
        logger.exception("cXML request failed unexpectedly")
        return cxml_status(500, "The request could not be processed; try again later or contact the supplier.")


def _handle_cxml(request: HttpRequest, exchange: DocumentExchange) -> HttpResponse:
    try:
        data = _cxml_body(request)
        exchange.request_body = data
        root = parse_xml(data)
        header = read_header(root)
        kind = request_type(root)
    except _BadBody as error:
        logger.info("cXML request rejected: %s", error)
        return cxml_status(400, str(error))
    except XMLRejected as error:
        logger.info("cXML request rejected: %s", error.message, extra={"code": error.code})
        return cxml_status(400, error.message)
    except CXMLBadRequest as error:
        logger.info("cXML request rejected: %s", error)
        return cxml_status(400, _message_of(error))

    exchange.note(document_type=kind or "cXML", payload_id=header.payload_id)
    oddities = inbound_oddities(root)
    if oddities:
        # Real buyers' documents often break the DTD in harmless ways; they are read anyway.
        logger.info(
            "cXML request read despite oddities: %s",
            "; ".join(oddities),
            extra={"payload_id": header.payload_id, "request_type": kind, "user_agent": header.user_agent[:100]},
        )

    try:
        connection = services.authenticate_cxml_sender(header=header, client_address=client_address(request))
    except PunchOutError as error:
        exchange.message = error.message
        return cxml_status(error.cxml_status, error.message)
    exchange.note(connection_id=connection.pk, customer_id=connection.customer_id)

    if kind == "PunchOutSetupRequest":
        return _handle_setup_request(root, connection)
    if kind == "ProfileRequest":
        return _profile_response(connection)
    if kind == "OrderRequest":
        # The raw body goes along so that the order keeps the document exactly as received.
        document = order_handlers.handle_order_request(
            root=root, header=header, connection=connection, body=data, exchange=exchange
        )
        return HttpResponse(document, content_type=CXML_CONTENT_TYPE)
    if kind == "StatusUpdateRequest":
        document = order_handlers.handle_status_update_request(root=root, header=header, connection=connection)
        return HttpResponse(document, content_type=CXML_CONTENT_TYPE)
    logger.info(
        "cXML request type not supported",
        extra={"request_type": kind, "connection_id": connection.pk, "payload_id": header.payload_id},
    )
    return cxml_status(
        406, f"{kind} is not supported at this URL; this endpoint takes {', '.join(SUPPORTED_REQUESTS)}."
    )


def _handle_setup_request(root, connection: BuyerConnection) -> HttpResponse:
    try:
        setup = read_punchout_setup_request(root)
    except CXMLBadRequest as error:
        logger.info("PunchOutSetupRequest rejected: %s", error, extra={"connection_id": connection.pk})
        return cxml_status(400, _message_of(error))
    try:
        _session, token = services.punchout_session_open(connection=connection, request=setup)
    except PunchOutError as error:
        logger.info(
            "PunchOutSetupRequest rejected: %s",
            error.message,
            extra={"connection_id": connection.pk, "code": error.code, "payload_id": setup.header.payload_id},
        )
        return cxml_status(error.cxml_status, error.message)

    start_page = public_url(reverse("punchout:session_start", args=[token]))
    return HttpResponse(build_punchout_setup_response(start_page_url=start_page), content_type=CXML_CONTENT_TYPE)


def _profile_response(connection: BuyerConnection) -> HttpResponse:
    url = _endpoint_url()
    document = build_profile_response(
        transactions=[(name, url) for name in SUPPORTED_REQUESTS], effective_date=connection.created_at
    )
    return HttpResponse(document, content_type=CXML_CONTENT_TYPE)


def _cxml_body(request: HttpRequest) -> bytes:
    """Return the cXML document's bytes from an XML body or a cxml-urlencoded or cxml-base64 form field."""
    media_type = (request.content_type or "").lower()
    limit = settings.XML_MAX_BYTES
    try:
        if media_type in _XML_MEDIA_TYPES:
            declared_length = _content_length(request)
            if declared_length > limit:
                # Rejected before reading, with the limit that parse_xml applies.
                raise _BadBody(
                    f"The XML document has {declared_length} bytes, more than the limit of {limit} bytes; "
                    "send a smaller document."
                )
            return request.body
        if media_type == "application/x-www-form-urlencoded":
            # Decoding as Latin-1 maps each byte to one character, so encoding
            # back gives the exact bytes the sender form-encoded, whatever
            # encoding the document's XML declaration names.
            form = QueryDict(request.body, encoding="iso-8859-1")
            return _cxml_from_form(form, lambda value: value.encode("iso-8859-1"))
        if media_type == "multipart/form-data":
            # NOTE: Django decodes multipart fields as UTF-8, so a
            # cxml-urlencoded document in another encoding reaches the parser
            # re-encoded as UTF-8 under its original declaration.
            return _cxml_from_form(request.POST, lambda value: value.encode("utf-8"))
    except RequestDataTooBig:
        # NOTE: DATA_UPLOAD_MAX_MEMORY_SIZE allows for Base64's extra third
        # plus 1 MiB, but percent-encoding turns each escaped byte into
        # three, so a urlencoded cxml-urlencoded field holding a document
        # under XML_MAX_BYTES may still be rejected here.
        raise _BadBody(
            f"The request body is more than the limit of {limit} bytes for a cXML document; send a smaller document."
        ) from None
    except (MultiPartParserError, TooManyFieldsSent, TooManyFilesSent) as error:
        raise _BadBody(
            f"The {media_type} body is malformed ({error}); send the cXML document as the body with "
            "Content-Type text/xml, or as the form field cxml-urlencoded or cxml-base64 of a well-formed form."
        ) from None
    raise _BadBody(
        f"Content-Type {media_type or '(none)'!r} is not supported; send the cXML document as the body with "
        "Content-Type text/xml, or as the form field cxml-urlencoded or cxml-base64."
    )


def _content_length(request: HttpRequest) -> int:
    """Return the request's Content-Length, or 0 when it is missing or not a number."""
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def _cxml_from_form(form: QueryDict, to_bytes) -> bytes:
    if "cxml-base64" in form:
        text = "".join(form["cxml-base64"].split())
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise _BadBody("The cxml-base64 field is not valid Base64; encode the cXML document with Base64.") from None
    if "cxml-urlencoded" in form:
        return to_bytes(form["cxml-urlencoded"])
    raise _BadBody("The form has no cxml-urlencoded or cxml-base64 field; put the cXML document in one of them.")


def cxml_status(code: int, message: str) -> HttpResponse:
    """Return HTTP 200 with a cXML Response holding only a Status."""
    document = build_status_response(code=code, text=_STATUS_TEXT.get(code, "Error"), message=message)
    return HttpResponse(document, content_type=CXML_CONTENT_TYPE)


def _message_of(error: Exception) -> str:
    return getattr(error, "message", None) or str(error)


def _endpoint_url() -> str:
    return public_url(reverse("punchout:cxml"))


def public_url(path: str) -> str:
    """Return ``path`` (from reverse(), with any script prefix) as an absolute URL on PUBLIC_BASE_URL's host."""
    base = urlsplit(settings.PUBLIC_BASE_URL)
    return f"{base.scheme}://{base.netloc}{path}"
