"""PunchOut HTTP entry points: the cXML endpoint and the shop pages of a session.

CSRF: the cXML endpoint is called server to server and the shop pages by a
browser that arrived from the buyer's procurement system, often inside its
frame where our cookies are blocked, so neither caller can hold a CSRF
cookie. The shop pages need none, because the credential is the unguessable
token in the URL: another site that could forge a request would have to know
the token, and with the token it could send the request itself. The pages
set no cookies and read none.
"""

import base64
import binascii
import functools
import logging
from decimal import Decimal
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.catalog.models import Category
from apps.contracts.pricing import price_lines
from apps.core.money import round_money
from apps.core.xml import XMLRejected, parse_xml
from apps.punchout import selectors, services
from apps.punchout.cxml.documents import build_punchout_setup_response, build_status_response
from apps.punchout.cxml.reader import CXMLBadRequest, read_header, read_punchout_setup_request, request_type
from apps.punchout.errors import PunchOutError, SessionGone
from apps.punchout.models import BuyerConnection, PunchOutSession

logger = logging.getLogger(__name__)

PAGE_SIZE = 25
# Search terms longer than this are cut; no product text needs more.
MAX_QUERY_LENGTH = 100

_CXML_CONTENT_TYPE = "text/xml; charset=UTF-8"
_XML_MEDIA_TYPES = {"text/xml", "application/xml"}
_FORM_MEDIA_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
_STATUS_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    500: "Internal Server Error",
}


class _BadBody(Exception):
    """The request body contains no cXML document in a form the endpoint reads."""


# The cXML endpoint -----------------------------------------------------------


@csrf_exempt
@never_cache
def cxml_endpoint(request: HttpRequest) -> HttpResponse:
    """Handle an inbound cXML request and return a cXML document whose Status carries the outcome.

    Every answer is HTTP 200 with a cXML body, except a method other than
    POST, which gets HTTP 405 (with a cXML Status 405 body) so that HTTP
    clients and people with a browser see the mistake.
    """
    if request.method != "POST":
        response = _cxml_status(405, "Send cXML documents to this URL with POST.")
        response.status_code = 405
        response["Allow"] = "POST"
        return response
    try:
        return _handle_cxml(request)
    except Exception:
        logger.exception("cXML request failed unexpectedly")
        return _cxml_status(500, "The request could not be processed; try again later or contact the supplier.")


def _handle_cxml(request: HttpRequest) -> HttpResponse:
    try:
        data = _cxml_body(request)
        root = parse_xml(data, max_bytes=settings.XML_MAX_BYTES)
        header = read_header(root)
        kind = request_type(root)
    except _BadBody as error:
        logger.info("cXML request rejected: %s", error)
        return _cxml_status(400, str(error))
    except XMLRejected as error:
        logger.info("cXML request rejected: %s", error.message, extra={"code": error.code})
        return _cxml_status(400, error.message)
    except CXMLBadRequest as error:
        logger.info("cXML request rejected: %s", error)
        return _cxml_status(400, _message_of(error))

    try:
        connection = services.authenticate_cxml_sender(header=header)
    except PunchOutError as error:
        return _cxml_status(error.cxml_status, error.message)

    if kind != "PunchOutSetupRequest":
        logger.info(
            "cXML request type not supported",
            extra={"request_type": kind, "connection_id": connection.pk, "payload_id": header.payload_id},
        )
        return _cxml_status(406, f"{kind} is not supported at this URL yet; send a PunchOutSetupRequest.")
    return _handle_setup_request(root, connection)


def _handle_setup_request(root, connection: BuyerConnection) -> HttpResponse:
    try:
        setup = read_punchout_setup_request(root)
    except CXMLBadRequest as error:
        logger.info("PunchOutSetupRequest rejected: %s", error, extra={"connection_id": connection.pk})
        return _cxml_status(400, _message_of(error))
    try:
        session, token = services.punchout_session_open(connection=connection, request=setup)
    except PunchOutError as error:
        logger.info(
            "PunchOutSetupRequest rejected: %s",
            error.message,
            extra={"connection_id": connection.pk, "code": error.code, "payload_id": setup.header.payload_id},
        )
        return _cxml_status(error.cxml_status, error.message)

    start_page = _public_url(reverse("punchout:session_start", args=[token]))
    if session.selected_item_part_id:
        start_page += "?" + urlencode({"sku": session.selected_item_part_id})
    return HttpResponse(build_punchout_setup_response(start_page_url=start_page), content_type=_CXML_CONTENT_TYPE)


def _cxml_body(request: HttpRequest) -> bytes:
    """Return the cXML document's bytes from an XML body or a cxml-urlencoded or cxml-base64 form field."""
    media_type = (request.content_type or "").lower()
    try:
        if media_type in _XML_MEDIA_TYPES:
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
        raise _BadBody(
            f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes; send a smaller document."
        ) from None
    raise _BadBody(
        f"Content-Type {media_type or '(none)'!r} is not supported; send the cXML document as the body with "
        "Content-Type text/xml, or as the form field cxml-urlencoded or cxml-base64."
    )


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


def _cxml_status(code: int, message: str) -> HttpResponse:
    document = build_status_response(code=code, text=_STATUS_TEXT.get(code, "Error"), message=message)
    return HttpResponse(document, content_type=_CXML_CONTENT_TYPE)


def _message_of(error: Exception) -> str:
    return getattr(error, "message", None) or str(error)


def _public_url(path: str) -> str:
    """Return ``path`` (from reverse(), with any script prefix) as an absolute URL on PUBLIC_BASE_URL's host."""
    base = urlsplit(settings.PUBLIC_BASE_URL)
    return f"{base.scheme}://{base.netloc}{path}"


# The shop pages --------------------------------------------------------------


def _shop_page(view):
    """Resolve the session from the URL token, render errors as pages and set the framing headers.

    The pages are shown inside the procurement system's frame, so they are
    exempt from X-Frame-Options and send a CSP frame-ancestors list of the
    connection's allowed return hosts instead.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, token: str) -> HttpResponse:
        session = None
        try:
            session = selectors.session_for_token(token=token)
            services.ensure_session_usable(session=session)
            response = view(request, session)
        except PunchOutError as error:
            response = render(
                request,
                "punchout/session_error.html",
                {"error": error, "gone": isinstance(error, SessionGone)},
                status=error.http_status,
            )
        response["Content-Security-Policy"] = _frame_ancestors(session)
        return response

    return csrf_exempt(xframe_options_exempt(never_cache(wrapper)))


def _frame_ancestors(session: PunchOutSession | None) -> str:
    if session is None:
        # An error page for an unknown token has no controls and shows
        # nothing of any session, so any procurement system may frame it.
        return "frame-ancestors *"
    sources = ["'self'"]
    try:
        sources += [pattern.as_csp_source() for pattern in session.connection.return_host_patterns()]
    except ValueError:
        logger.warning("Buyer connection has an invalid allowed host", extra={"connection_id": session.connection_id})
    return "frame-ancestors " + " ".join(sources)


@require_GET
@_shop_page
def session_start(request: HttpRequest, session: PunchOutSession) -> HttpResponse:
    """Show the session's catalog, a page at a time, optionally in one category."""
    category = None
    category_code = request.GET.get("category", "")
    if category_code:
        category = Category.objects.filter(code=category_code).first()
    products = selectors.shop_products(session=session, category=category)
    context = {"category": category, "unknown_category": category_code if category is None else ""}

    selected_sku = request.GET.get("sku", "").strip()[:MAX_QUERY_LENGTH]
    selected = None
    if selected_sku:
        selected = selectors.shop_products(session=session).filter(sku=selected_sku).first()
        context["selected_sku"] = selected_sku
    return _render_catalog(request, session, products, context, selected=selected)


@require_GET
@_shop_page
def session_search(request: HttpRequest, session: PunchOutSession) -> HttpResponse:
    """Show the session's products whose SKU, name, manufacturer part number or description contain the text."""
    query = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    products = selectors.shop_products(session=session, query=query) if query else None
    return _render_catalog(request, session, products, {"query": query, "searched": True})


def _render_catalog(request, session, products, context, *, selected=None) -> HttpResponse:
    page = Paginator(products, PAGE_SIZE).get_page(request.GET.get("page")) if products is not None else None
    page_products = list(page.object_list) if page is not None else []
    if selected is not None:
        page_products = [selected, *[product for product in page_products if product.pk != selected.pk]]
    cart_lines = list(session.lines.select_related("product").order_by("line_number"))

    # One pricing call for the shown products (at quantity 1) and the cart.
    pricing = price_lines(
        customer=session.connection.customer,
        lines=[(product, 1) for product in page_products] + [(line.product, line.quantity) for line in cart_lines],
    )
    services.ensure_pricing_contract(session=session, pricing=pricing)
    product_prices = pricing.lines[: len(page_products)]
    cart_prices = pricing.lines[len(page_products) :]
    available = selectors.available_quantities(product_ids=[product.pk for product in page_products])
    rows = [
        {"product": product, "price": priced, "available": available[product.pk]}
        for product, priced in zip(page_products, product_prices, strict=True)
    ]
    context.update(
        {
            "session": session,
            "token_path": _token_paths(session, request),
            "page": page,
            "rows": rows[1:] if selected is not None else rows,
            "selected_row": rows[0] if selected is not None else None,
            "categories": selectors.shop_categories(session=session),
            "cart": _cart_summary(cart_prices, pricing.currency),
            "currency": pricing.currency,
        }
    )
    return render(request, "punchout/catalog.html", context)


@_shop_page
def session_cart(request: HttpRequest, session: PunchOutSession) -> HttpResponse:
    """Show the cart (GET), or set a product's quantity and redirect to the cart (POST; 0 removes the line)."""
    if request.method == "POST":
        sku = request.POST.get("sku", "")
        quantity = request.POST.get("quantity", "")
        try:
            services.cart_set_quantity(session=session, sku=sku, quantity=quantity)
        except PunchOutError as error:
            if isinstance(error, SessionGone):
                raise
            return _render_cart(request, session, error=error.message, status=error.http_status)
        # 303 See Other, so that reloading the cart page does not post the form again.
        response = HttpResponseRedirect(reverse("punchout:session_cart", args=[request.resolver_match.kwargs["token"]]))
        response.status_code = 303
        return response
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    return _render_cart(request, session)


def _render_cart(request, session, *, error: str = "", status: int = 200) -> HttpResponse:
    lines = list(session.lines.select_related("product__unit").order_by("line_number"))
    pricing = services.price_session_lines(session=session, lines=lines)
    services.ensure_pricing_contract(session=session, pricing=pricing)
    rows = [{"line": line, "price": priced} for line, priced in zip(lines, pricing.lines, strict=True)]
    context = {
        "session": session,
        "token_path": _token_paths(session, request),
        "rows": rows,
        "cart": _cart_summary(pricing.lines, pricing.currency),
        "currency": pricing.currency,
        "error": error,
    }
    return render(request, "punchout/cart.html", context, status=status)


@require_POST
@_shop_page
def session_return(request: HttpRequest, session: PunchOutSession) -> HttpResponse:
    """Build the PunchOutOrderMessage and return a page whose form posts it to the BrowserFormPost URL."""
    try:
        document = services.punchout_cart_return(session=session)
    except PunchOutError as error:
        if isinstance(error, SessionGone):
            raise
        return _render_cart(request, session, error=error.message, status=error.http_status)

    field = session.connection.cart_field
    if field == BuyerConnection.CartField.CXML_BASE64:
        value = base64.b64encode(document).decode("ascii")
    else:
        # NOTE: browsers send the field's line breaks as CRLF, which an XML
        # parser reads back as LF. A BuyerCookie with a CR in it therefore
        # survives byte for byte only in the cxml-base64 field.
        value = document.decode("utf-8")
    context = {"session": session, "action": session.browser_form_post_url, "field": field, "value": value}
    return render(request, "punchout/return.html", context)


def _token_paths(session: PunchOutSession, request: HttpRequest) -> dict[str, str]:
    token = request.resolver_match.kwargs["token"]
    return {
        "start": reverse("punchout:session_start", args=[token]),
        "search": reverse("punchout:session_search", args=[token]),
        "cart": reverse("punchout:session_cart", args=[token]),
        "return": reverse("punchout:session_return", args=[token]),
    }


def _cart_summary(priced_lines, currency: str) -> dict:
    total = sum((line.line_total for line in priced_lines if line.priced), start=round_money(Decimal(0), currency))
    return {
        "count": len(priced_lines),
        "total": total,
        "unpriced": [line for line in priced_lines if not line.priced],
    }
