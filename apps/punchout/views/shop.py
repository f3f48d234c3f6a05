"""The shop pages of a PunchOut session: catalog, search, product detail, cart and the cart return.

CSRF: the pages are opened by a browser that arrived from the buyer's
procurement system, often inside its frame where our cookies are blocked,
so the browser cannot hold a CSRF cookie. The pages need none, because the
credential is the unguessable token in the URL: another site that could
forge a request would have to know the token, and with the token it could
send the request itself. The pages set no cookies and read none.
"""

import datetime as dt
import functools
import logging
from decimal import Decimal
from urllib.parse import urlencode, urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.catalog.models import Category, StockLevel
from apps.contracts.models import ContractPrice
from apps.contracts.pricing import price_lines
from apps.contracts.selectors import today_utc
from apps.core.money import round_money
from apps.punchout import selectors, services
from apps.punchout.document_log import record_cart_return
from apps.punchout.errors import PunchOutError, QuoteNotLoadable, SessionGone, SessionNotFound
from apps.punchout.models import PunchOutSession
from apps.quotes.errors import QuoteNotFound
from apps.quotes.line_references import parse_quote_line_reference
from apps.quotes.models import Quote
from apps.quotes.selectors import quote_by_reference

logger = logging.getLogger(__name__)

PAGE_SIZE = 25
# Search terms longer than this are cut; no product text needs more.
MAX_QUERY_LENGTH = 100


def _shop_page(view):
    """Resolve the session from the URL token, render errors as pages and set the framing headers.

    The pages are shown inside the procurement system's frame, so they are
    exempt from X-Frame-Options, and the project's Content-Security-Policy
    gets a frame-ancestors list of the connection's allowed return hosts
    instead of 'none'.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, token: str, **kwargs) -> HttpResponse:
        session = None
        try:
            session = selectors.session_for_token(token=token)
            services.ensure_session_usable(session=session)
            response = view(request, session, **kwargs)
        except SessionNotFound as error:
            if view is not _catalog_home or request.method != "GET":
                response = _error_page(request, error)
            else:
                response, session = _use_start_token(request, token)
        except PunchOutError as error:
            response = _error_page(request, error)
        replace = getattr(response, "_csp_replace", None) or {}
        response._csp_replace = {**replace, "frame-ancestors": _frame_ancestors(session)}
        return response

    return csrf_exempt(xframe_options_exempt(never_cache(wrapper)))


def _error_page(request: HttpRequest, error: PunchOutError) -> HttpResponse:
    return render(
        request,
        "punchout/session_error.html",
        {"error": error, "gone": isinstance(error, SessionGone | SessionNotFound)},
        status=error.http_status,
    )


def _use_start_token(request: HttpRequest, token: str):
    """Swap a StartPage token for a fresh session token and redirect to the session's first page."""
    try:
        session, fresh = services.punchout_session_start(start_token=token)
    except PunchOutError as error:
        return _error_page(request, error), None
    location = reverse("punchout:session_start", args=[fresh])
    sku = session.selected_item_part_id
    if sku:
        if selectors.shop_products(session=session).filter(sku=sku).exists():
            location = reverse("punchout:session_product", args=[fresh, sku])
        else:
            location += "?" + urlencode({"sku": sku})
    response = HttpResponseRedirect(location)
    response.status_code = 303
    response["Referrer-Policy"] = "no-referrer"
    return response, session


def _frame_ancestors(session: PunchOutSession | None) -> list[str]:
    """Return the CSP frame-ancestors sources of a shop page: the connection's allowed return hosts."""
    if session is None:
        # An error page for an unknown token has no controls and shows
        # nothing of any session, so any procurement system may frame it.
        return ["*"]
    sources = ["'self'"]
    try:
        sources += [pattern.as_csp_source() for pattern in session.connection.return_host_patterns()]
    except ValueError:
        logger.warning("Buyer connection has an invalid allowed host", extra={"connection_id": session.connection_id})
    return sources


def _catalog_home(request: HttpRequest, session: PunchOutSession) -> HttpResponse:
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


session_start = require_GET(_shop_page(_catalog_home))
session_start.__doc__ = "Open a StartPage URL once (redirecting to a fresh session URL), or show the catalog."


@require_GET
@_shop_page
def session_search(request: HttpRequest, session: PunchOutSession) -> HttpResponse:
    """Show the session's products whose SKU, name, manufacturer part number or description contain the text."""
    query = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    products = selectors.shop_products(session=session, query=query) if query else None
    return _render_catalog(request, session, products, {"query": query, "searched": True})


class _Page:
    """One page of products in SKU order, found from the SKU before or after it (keyset pagination).

    ``?after=SKU`` shows the products after that SKU, ``?before=SKU`` those
    before it. Each page reads PAGE_SIZE + 1 rows from the SKU index, so page
    200 costs what page 1 costs, where an OFFSET or a COUNT would scan
    everything before it (2.5 s for page 200 of 100,000 products).
    """

    def __init__(self, products, *, after: str = "", before: str = "") -> None:
        after = after[:MAX_QUERY_LENGTH]
        before = before[:MAX_QUERY_LENGTH]
        if before:
            rows = list(products.filter(sku__lt=before).order_by("-sku")[: PAGE_SIZE + 1])
            more_before = len(rows) > PAGE_SIZE
            self.object_list = list(reversed(rows[:PAGE_SIZE]))
            self.has_previous = more_before
            self.has_next = True
        else:
            if after:
                products = products.filter(sku__gt=after)
            rows = list(products.order_by("sku")[: PAGE_SIZE + 1])
            self.object_list = rows[:PAGE_SIZE]
            self.has_previous = bool(after)
            self.has_next = len(rows) > PAGE_SIZE
        self.has_other_pages = self.has_next or self.has_previous
        self.first_sku = self.object_list[0].sku if self.object_list else before
        self.last_sku = self.object_list[-1].sku if self.object_list else after


def _render_catalog(request, session, products, context, *, selected=None) -> HttpResponse:
    page = (
        _Page(products, after=request.GET.get("after", ""), before=request.GET.get("before", ""))
        if products is not None
        else None
    )
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
    cart_prices = services.quoted_line_prices(lines=cart_lines, priced_lines=pricing.lines[len(page_products) :])
    available = selectors.available_quantities(product_ids=[product.pk for product in page_products])
    rows = [
        {"product": product, "price": priced, "available": available[product.pk]}
        for product, priced in zip(page_products, product_prices, strict=True)
    ]
    context.update(
        {
            "rows": rows[1:] if selected is not None else rows,
            "page": page,
            "selected_row": rows[0] if selected is not None else None,
            "categories": selectors.shop_categories(session=session),
        }
    )
    context.update(_page_context(request, session, cart_prices, pricing.currency))
    return render(request, "punchout/catalog.html", context)


def _page_context(request, session: PunchOutSession, cart_prices, currency: str) -> dict:
    """Return what every shop page shows: paths, the cart summary, notices and whether the cart can change."""
    return {
        "session": session,
        "token_path": _token_paths(session, request),
        "cart": _cart_summary(cart_prices, currency),
        "currency": currency,
        "can_change": not session.is_read_only and session.state == PunchOutSession.State.OPEN,
        "returned": session.state == PunchOutSession.State.RETURNED,
        "notices": session.notices,
    }


@require_GET
@_shop_page
def session_product(request: HttpRequest, session: PunchOutSession, sku: str) -> HttpResponse:
    """Show one product with its contract price, its quantity breaks and its stock by warehouse."""
    product = selectors.shop_products(session=session).filter(sku=sku[:MAX_QUERY_LENGTH]).first()
    if product is None:
        location = reverse("punchout:session_start", args=[request.resolver_match.kwargs["token"]])
        response = HttpResponseRedirect(location + "?" + urlencode({"sku": sku[:MAX_QUERY_LENGTH]}))
        response.status_code = 303
        return response

    today = today_utc()
    break_quantities = sorted(
        set(
            ContractPrice.objects.filter(contract_id=session.contract_id, product=product, min_quantity__gt=1)
            .exclude(valid_from__gt=today)
            .exclude(valid_to__lt=today)
            .values_list("min_quantity", flat=True)
        )
    )
    cart_lines = list(session.lines.select_related("product").order_by("line_number"))
    # One pricing call: quantity 1, each quantity break, then the cart.
    pricing = price_lines(
        customer=session.connection.customer,
        lines=[(product, 1)]
        + [(product, quantity) for quantity in break_quantities]
        + [(line.product, line.quantity) for line in cart_lines],
    )
    services.ensure_pricing_contract(session=session, pricing=pricing)
    product_price = pricing.lines[0]
    breaks = [
        priced
        for priced in pricing.lines[1 : 1 + len(break_quantities)]
        if priced.priced and priced.unit_price != product_price.unit_price
    ]
    stock = list(
        StockLevel.objects.filter(product=product, warehouse__is_active=True)
        .select_related("warehouse")
        .order_by("warehouse__code")
    )
    available = sum((max(level.on_hand - level.reserved, Decimal(0)) for level in stock), start=Decimal(0))
    context = {
        "product": product,
        "price": product_price,
        "breaks": breaks,
        "stock": [(level.warehouse, max(level.on_hand - level.reserved, Decimal(0))) for level in stock],
        "available": available,
        "delivery_date": today + dt.timedelta(days=product.lead_time_days),
    }
    cart_prices = services.quoted_line_prices(lines=cart_lines, priced_lines=pricing.lines[1 + len(break_quantities) :])
    context.update(_page_context(request, session, cart_prices, pricing.currency))
    return render(request, "punchout/product.html", context)


@_shop_page
def session_cart(request: HttpRequest, session: PunchOutSession) -> HttpResponse:
    """Show the cart (GET), or set a line's quantity and redirect to the cart (POST; 0 removes the line)."""
    if request.method == "POST":
        try:
            services.cart_set_quantity(
                session=session,
                sku=request.POST.get("sku", ""),
                quantity=request.POST.get("quantity", ""),
                line_number=request.POST.get("line"),
            )
        except PunchOutError as error:
            if isinstance(error, SessionGone):
                raise
            return _render_cart(request, session, error=error.message, status=error.http_status)
        return _see_cart(request)
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    return _render_cart(request, session)


def _see_cart(request: HttpRequest) -> HttpResponse:
    """Redirect to the cart with 303 See Other, so that reloading the cart page does not post a form again."""
    response = HttpResponseRedirect(reverse("punchout:session_cart", args=[request.resolver_match.kwargs["token"]]))
    response.status_code = 303
    return response


def _render_cart(request, session, *, error: str = "", status: int = 200) -> HttpResponse:
    lines = list(session.lines.select_related("product__unit").order_by("line_number"))
    pricing = services.price_session_lines(session=session, lines=lines)
    services.ensure_pricing_contract(session=session, pricing=pricing)
    rows = [
        {
            "line": line,
            "price": priced,
            "price_changed": line.previous_unit_price is not None
            and priced.priced
            and (line.previous_unit_price != priced.unit_price or line.previous_currency != priced.currency),
        }
        for line, priced in zip(lines, pricing.lines, strict=True)
    ]
    context = {"rows": rows, "error": error}
    context.update(_page_context(request, session, pricing.lines, pricing.currency))
    return render(request, "punchout/cart.html", context, status=status)


@_shop_page
def session_quotes(request: HttpRequest, session: PunchOutSession) -> HttpResponse:
    """List the customer's accepted quotes (GET), or load one into the cart and redirect to it (POST)."""
    if request.method == "POST":
        try:
            quote = _customer_quote(session, request.POST.get("quote", ""))
            services.cart_load_quote(session=session, quote=quote)
        except PunchOutError as error:
            if isinstance(error, SessionGone):
                raise
            return _render_quotes(request, session, error=error.message, status=error.http_status)
        return _see_cart(request)
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    return _render_quotes(request, session)


def _customer_quote(session: PunchOutSession, reference: str) -> Quote:
    """Return the session customer's quote with this reference, or raise QuoteNotLoadable."""
    reference = reference.strip()[:MAX_QUERY_LENGTH]
    try:
        return quote_by_reference(reference, queryset=Quote.objects.filter(customer_id=session.connection.customer_id))
    except QuoteNotFound:
        raise QuoteNotLoadable(
            f"Quote {reference!r} is not one of your quotes; choose one from the list of quotes."
        ) from None


def _render_quotes(request, session, *, error: str = "", status: int = 200) -> HttpResponse:
    lines = list(session.lines.select_related("product__unit").order_by("line_number"))
    pricing = services.price_session_lines(session=session, lines=lines)
    services.ensure_pricing_contract(session=session, pricing=pricing)
    quotes = list(services.loadable_quotes(session=session).prefetch_related("lines"))
    in_cart = {parse_quote_line_reference(line.quote_reference)[0] for line in lines if line.quote_reference}
    context = {"quotes": [(quote, quote.reference in in_cart) for quote in quotes], "error": error}
    context.update(_page_context(request, session, pricing.lines, pricing.currency))
    return render(request, "punchout/quotes.html", context, status=status)


@require_POST
@_shop_page
def session_return(request: HttpRequest, session: PunchOutSession) -> HttpResponse:
    """Build the cart's return form and respond with a page that posts it to the procurement system by itself.

    For OCI the page is written in the charset the buyer asked for with
    http_content_charset; characters outside it become character references.
    """
    try:
        form = services.punchout_cart_return(session=session)
    except PunchOutError as error:
        if isinstance(error, SessionGone):
            raise
        response = _render_cart(request, session, error=error.message, status=error.http_status)
        return record_cart_return(response, session=session, error=error.message)

    return record_cart_return(render_return_form(request, form, auto_submit=True), session=session, form=form)


def render_return_form(request: HttpRequest, form, *, auto_submit: bool, title: str = "") -> HttpResponse:
    """Render a page holding ``form`` (a services.ReturnForm) in its charset, optionally submitting itself."""
    html = render_to_string(
        "punchout/return.html",
        {"form": form, "auto_submit": auto_submit, "charset": form.charset, "title": title},
        request=request,
    )
    response = HttpResponse(
        html.encode(form.charset, errors="xmlcharrefreplace"), content_type=f"text/html; charset={form.charset}"
    )
    response["Referrer-Policy"] = "no-referrer"
    # The form posts to the procurement system, whose URL the services checked
    # against the connection's allowed hosts; CSP form-action must allow it.
    action = urlsplit(form.action)
    response._csp_update = {"form-action": [f"{action.scheme}://{action.netloc}"]}
    return response


def _token_paths(session: PunchOutSession, request: HttpRequest) -> dict[str, str]:
    token = request.resolver_match.kwargs["token"]
    return {
        "start": reverse("punchout:session_start", args=[token]),
        "search": reverse("punchout:session_search", args=[token]),
        "cart": reverse("punchout:session_cart", args=[token]),
        "quotes": reverse("punchout:session_quotes", args=[token]),
        "return": reverse("punchout:session_return", args=[token]),
        # Product pages are this prefix plus the URL-quoted SKU and a slash.
        "product": reverse("punchout:session_product", args=[token, "-"])[:-2],
    }


def _cart_summary(priced_lines, currency: str) -> dict:
    total = sum((line.line_total for line in priced_lines if line.priced), start=round_money(Decimal(0), currency))
    return {
        "count": len(priced_lines),
        "total": total,
        "unpriced": [line for line in priced_lines if not line.priced],
    }
