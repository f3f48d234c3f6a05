"""The SAP OCI entry at /punchout/oci/: login, then shopping or one of the OCI FUNCTIONs.

The login (USERNAME, PASSWORD) comes by POST or GET. A GET login that opens
the shop is answered with a redirect to a URL without the credentials, with
``Referrer-Policy: no-referrer``, so that the password is never shown in a
page, sent on in a Referer, or kept as the address of a page. VALIDATE,
BACKGROUND_SEARCH and QUANTITYCHECK answer on the called URL, because SAP
SRM reads their answer from there; their pages never contain the password.
The entry is called from a browser leaving the procurement system, which
holds no CSRF cookie of ours, so it is exempt from CSRF.
"""

import logging
from decimal import Decimal
from urllib.parse import urlencode

from csp.decorators import csp_replace
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt

from apps.contracts.pricing import price_lines
from apps.core.nul import nul_in_pairs, nul_message
from apps.integrations.services import record_after_response
from apps.punchout import oci, selectors, services
from apps.punchout.document_log import note_connection, oci_exchange
from apps.punchout.errors import ProductNotAvailable, PunchOutError
from apps.punchout.models import BuyerConnection, PunchOutSession
from apps.punchout.throttle import client_address
from apps.punchout.views.shop import render_return_form

logger = logging.getLogger(__name__)

FUNCTIONS = ("DETAIL", "DETAILADD", "VALIDATE", "BACKGROUND_SEARCH", "QUANTITYCHECK")
# BACKGROUND_SEARCH answers every hit on one page; more than this many are cut and logged.
MAX_BACKGROUND_HITS = 200
# Longest accepted text in a single OCI parameter (PRODUCTID, SEARCHSTRING, QUANTITY).
_MAX_PARAMETER_LENGTH = 100


class _BadParameter(PunchOutError):
    code = "invalid_oci_parameter"


@csrf_exempt
@never_cache
@xframe_options_exempt
# The OCI pages open inside the procurement system's frame before the
# connection is known, so any site may frame them, as the shop's error page.
@csp_replace({"frame-ancestors": ["*"]})
def oci_entry(request: HttpRequest) -> HttpResponse:
    """Log an OCI user in and open the shop, or answer the requested OCI FUNCTION."""
    if request.method not in {"GET", "POST"}:
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    try:
        params = _parameters(request)
    except _BadParameter as error:
        return _error(request, error)
    except (RequestDataTooBig, TooManyFieldsSent) as error:
        return _error(request, _BadParameter(f"The OCI request is too large ({error}); send fewer or smaller fields."))
    except MultiPartParserError as error:
        return _error(
            request, _BadParameter(f"The OCI form body is malformed ({error}); send the fields URL-encoded instead.")
        )

    if request.method == "GET" and set(request.GET) == {"error"}:
        return _error_after_redirect(request, request.GET["error"])
    # _error marks the exchange failed; every other answer is a success.
    request.document_exchange = oci_exchange(request, params)
    return record_after_response(_answer(request, params), request.document_exchange)


def _answer(request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    function = (params.get("FUNCTION") or "").strip().upper()
    if function and function not in FUNCTIONS:
        return _error(
            request, _BadParameter(f"FUNCTION {function[:40]!r} is not supported; use one of {', '.join(FUNCTIONS)}.")
        )
    try:
        connection = services.authenticate_oci_login(
            username=params.get("USERNAME", ""),
            password=params.get("PASSWORD", ""),
            client_address=client_address(request),
        )
    except PunchOutError as error:
        if function == "QUANTITYCHECK":
            request.document_exchange.fail(error.message)
            return JsonResponse({"ERROR": error.message, "CODE": error.code}, status=error.http_status)
        return _error(request, error)
    note_connection(request.document_exchange, connection)

    try:
        if function == "QUANTITYCHECK":
            return _quantity_check(connection, params)
        if function == "VALIDATE":
            return _validate(request, connection, params)
        if function == "BACKGROUND_SEARCH":
            return _background_search(request, connection, params)
        operation = PunchOutSession.Operation.DETAIL if function == "DETAIL" else PunchOutSession.Operation.CREATE
        if function in {"DETAIL", "DETAILADD"} and not _parameter(params, "PRODUCTID"):
            raise _BadParameter(f"FUNCTION {function} needs PRODUCTID, the product's NEW_ITEM-EXT_PRODUCT_ID.")
        _session, token = services.oci_session_open(connection=connection, params=params, operation=operation)
    except PunchOutError as error:
        if function == "QUANTITYCHECK":
            request.document_exchange.fail(error.message)
            return JsonResponse({"ERROR": error.message, "CODE": error.code}, status=error.http_status)
        logger.info("OCI request rejected: %s", error.message, extra={"connection_id": connection.pk})
        return _error(request, error)

    # The StartPage flow swaps this token for a fresh one on the next request.
    response = HttpResponseRedirect(reverse("punchout:session_start", args=[token]))
    response.status_code = 303
    response["Referrer-Policy"] = "no-referrer"
    return response


def _parameters(request: HttpRequest) -> dict[str, str]:
    """Return the request's parameters by name, POST fields winning over the query string."""
    params = {key: request.GET.get(key, "") for key in request.GET}
    if request.method == "POST":
        params.update({key: request.POST.get(key, "") for key in request.POST})
    # The NUL middleware leaves this CSRF-exempt view's multipart forms to it, and PostgreSQL text cannot hold NUL.
    name = nul_in_pairs((key, [value]) for key, value in params.items())
    if name is not None:
        raise _BadParameter(nul_message(f"The OCI parameter {name!r}"))
    return params


def _parameter(params: dict[str, str], name: str) -> str:
    value = (params.get(name) or "").strip()
    if len(value) > _MAX_PARAMETER_LENGTH:
        raise _BadParameter(f"{name} is longer than {_MAX_PARAMETER_LENGTH} characters; send a shorter value.")
    return value


def _quantity(params: dict[str, str]) -> Decimal:
    raw = _parameter(params, "QUANTITY") or "1"
    quantity = services.parse_quantity(raw)
    if quantity == 0:
        raise _BadParameter("QUANTITY is 0; send a quantity above zero.")
    return quantity


def _product(connection: BuyerConnection, sku: str):
    contract = services.contract_for_connection(connection)
    product = (
        selectors.visible_products_for(connection=connection, contract=contract)
        .select_related("unit")
        .filter(sku=sku)
        .first()
    )
    if product is None:
        raise ProductNotAvailable(f"Product {sku!r} is not in your catalog; search the catalog for another.")
    return product, contract


def _quantity_check(connection: BuyerConnection, params: dict[str, str]) -> JsonResponse:
    """Answer QUANTITYCHECK (OCI 5.0) with the available quantity and the lead time in days, as JSON."""
    sku = _parameter(params, "EXT_PRODUCT_ID") or _parameter(params, "PRODUCTID")
    if not sku:
        raise _BadParameter("QUANTITYCHECK needs EXT_PRODUCT_ID, the product's NEW_ITEM-EXT_PRODUCT_ID.")
    quantity = _quantity(params)
    product, _contract = _product(connection, sku)
    available = selectors.available_quantities(product_ids=[product.pk])[product.pk]
    body = {
        "EXT_PRODUCT_ID": product.sku,
        "QUANTITY": oci.format_quantity(quantity),
        "AVAILABLE_QUANTITY": oci.format_quantity(available),
        "LEADTIME": str(0 if available >= quantity else product.lead_time_days),
    }
    return JsonResponse(body, json_dumps_params={"ensure_ascii": False})


def _validate(request: HttpRequest, connection: BuyerConnection, params: dict[str, str]) -> HttpResponse:
    """Answer VALIDATE: one item's current data as hidden NEW_ITEM fields, posted to the HOOK_URL by itself."""
    sku = _parameter(params, "PRODUCTID")
    if not sku:
        raise _BadParameter("VALIDATE needs PRODUCTID, the product's NEW_ITEM-EXT_PRODUCT_ID.")
    quantity = _quantity(params)
    return_settings = services.oci_return_settings(connection=connection, params=params)
    product, contract = _product(connection, sku)
    fields = _items_fields(connection, contract, [(product, quantity)])
    form = services.ReturnForm(
        action=return_settings.action,
        fields=return_settings.fields + fields,
        target=return_settings.target,
        charset=return_settings.charset,
    )
    return render_return_form(request, form, auto_submit=True, title="Validating the item")


def _background_search(request: HttpRequest, connection: BuyerConnection, params: dict[str, str]) -> HttpResponse:
    """Answer BACKGROUND_SEARCH: every hit for SEARCHSTRING as NEW_ITEM fields on one page, not submitted."""
    search = _parameter(params, "SEARCHSTRING")
    if not search:
        raise _BadParameter("BACKGROUND_SEARCH needs SEARCHSTRING, the text to search for.")
    return_settings = services.oci_return_settings(connection=connection, params=params)
    contract = services.contract_for_connection(connection)
    hits = list(
        selectors.search_products(
            selectors.visible_products_for(connection=connection, contract=contract), search
        ).select_related("unit")[: MAX_BACKGROUND_HITS + 1]
    )
    if len(hits) > MAX_BACKGROUND_HITS:
        logger.warning(
            "OCI background search cut at the maximum number of hits",
            extra={"connection_id": connection.pk, "max_hits": MAX_BACKGROUND_HITS},
        )
        hits = hits[:MAX_BACKGROUND_HITS]
    fields = _items_fields(connection, contract, [(product, Decimal(1)) for product in hits], skip_unpriced=True)
    form = services.ReturnForm(
        action=return_settings.action,
        fields=return_settings.fields + fields,
        target=return_settings.target,
        charset=return_settings.charset,
    )
    return render_return_form(request, form, auto_submit=False, title=f"{len(hits)} products found")


def _items_fields(connection, contract, products_quantities, *, skip_unpriced: bool = False):
    """Return NEW_ITEM fields for (product, quantity) pairs.

    With ``skip_unpriced`` an item that cannot be priced or sent is left out; without it, it raises.
    """
    pricing = price_lines(customer=connection.customer, lines=products_quantities)
    units = dict(connection.units.values_list("unit_id", "buyer_code"))
    part_numbers = dict(
        connection.part_numbers.filter(product_id__in=[product.pk for product, _ in products_quantities]).values_list(
            "product_id", "buyer_part_id"
        )
    )
    fields = []
    index = 0
    for (product, quantity), priced in zip(products_quantities, pricing.lines, strict=True):
        if not priced.priced:
            if skip_unpriced:
                continue
            raise ProductNotAvailable(f"Product {product.sku} cannot be priced now: {priced.reason}")
        try:
            item = oci.item_fields(
                index=index + 1,
                product=product,
                quantity=quantity,
                priced=priced,
                buyer_part_id=part_numbers.get(product.pk, ""),
                buyer_units=units,
                vendor_number=connection.oci_vendor_number,
                contract_number=contract.number,
            )
        except PunchOutError as error:
            if not skip_unpriced:
                raise
            logger.info("OCI search hit left out: %s", error.message, extra={"sku": product.sku})
            continue
        index += 1
        fields += item
    return fields


def _error(request: HttpRequest, error: PunchOutError) -> HttpResponse:
    """Show an OCI error page; after a GET login, first redirect to a URL without the credentials."""
    exchange = getattr(request, "document_exchange", None)
    if exchange is not None:
        exchange.fail(error.message)
    if request.method == "GET" and "PASSWORD" in request.GET:
        response = HttpResponseRedirect(reverse("punchout:oci") + "?" + urlencode({"error": error.code}))
        response.status_code = 303
        response["Referrer-Policy"] = "no-referrer"
        return response
    response = render(request, "punchout/oci_error.html", {"error": error}, status=error.http_status)
    response["Referrer-Policy"] = "no-referrer"
    return response


# Messages for the error codes a GET login is redirected with.
_REDIRECTED_ERRORS = {
    "unauthorized": "The OCI USERNAME or PASSWORD is invalid.",
    "too_many_failed_logins": "Too many failed login attempts for this buyer connection; try again in a few minutes.",
    "return_url_not_allowed": "The HOOK_URL is missing, not http or https, or on a host the supplier has not approved.",
    "no_contract_in_force": "Your company has no contract in force today; ask your sales contact to activate one.",
    "product_not_available": "The requested product is not in your catalog.",
    "invalid_oci_parameter": "A parameter of the OCI call is missing or invalid (FUNCTION, PRODUCTID or QUANTITY).",
}


_REDIRECTED_ERROR_STATUS = {"too_many_failed_logins": 429, "unauthorized": 401}


def _error_after_redirect(request: HttpRequest, code: str) -> HttpResponse:
    message = _REDIRECTED_ERRORS.get(code, "The catalog could not be opened.")
    error = PunchOutError(message, code=code if code in _REDIRECTED_ERRORS else "punchout_error")
    status = _REDIRECTED_ERROR_STATUS.get(code, 400)
    response = render(request, "punchout/oci_error.html", {"error": error}, status=status)
    response["Referrer-Policy"] = "no-referrer"
    return response
