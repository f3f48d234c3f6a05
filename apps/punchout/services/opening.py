"""Opening PunchOut sessions: cXML PunchOutSetupRequest (create, edit, inspect) and the OCI entry."""

import contextlib
import dataclasses
import datetime as dt
import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from apps.contracts.selectors import visible_products
from apps.punchout import oci
from apps.punchout.cxml.reader import ItemOutLine, PunchOutSetupRequest
from apps.punchout.errors import (
    InvalidQuantity,
    OperationNotSupported,
)
from apps.punchout.models import BuyerConnection, CartLine, PunchOutSession
from apps.punchout.selectors import hash_session_token
from apps.punchout.services.checks import (
    check_return_url,
    contract_for_connection,
    contract_id_for_connection,
    parse_quantity,
)
from apps.punchout.services.lifecycle import session_idle_timeout, start_page_minutes
from apps.punchout.services.quotes import loadable_quote_lines

logger = logging.getLogger(__name__)

# Our SupplierPartAuxiliaryID of a cart line, echoed back by edit and inspect.
_CART_LINE_REFERENCE = re.compile(r"^cartline-(\d{1,18})$")


def punchout_session_open(*, connection: BuyerConnection, request: PunchOutSetupRequest) -> tuple[PunchOutSession, str]:
    """Open a session for a PunchOutSetupRequest and return it with its single-use StartPage token.

    ``create`` starts an empty cart (ItemOut lines, which some buyers send
    with create, are loaded too). ``edit`` and ``inspect`` load the buyer's
    cart from the ItemOut lines, one cart line per ItemOut. The shop prices
    them against the current contract, and inspect sessions are read-only. Checks the
    operation, the contract in force and the BrowserFormPost host. Only the
    token's hash is stored; it opens the start page once, within
    PUNCHOUT_START_PAGE_MINUTES.
    """
    operation = request.operation
    if operation not in {
        PunchOutSession.Operation.CREATE,
        PunchOutSession.Operation.EDIT,
        PunchOutSession.Operation.INSPECT,
    }:
        raise OperationNotSupported(
            f"PunchOutSetupRequest operation {operation!r} is not supported; send create, edit or inspect."
        )
    if operation != PunchOutSession.Operation.CREATE and not connection.allow_edit_inspect:
        raise OperationNotSupported(
            f"PunchOutSetupRequest operation {operation!r} is not enabled for this buyer connection; "
            "send operation create, or ask the supplier to allow edit and inspect."
        )
    contract_id = contract_id_for_connection(connection)
    check_return_url(connection=connection, url=request.browser_form_post_url or "")

    # Without ItemOut lines the session is one INSERT in autocommit, which saves the BEGIN and
    # COMMIT round trips on every setup request.
    with transaction.atomic() if request.items_out else contextlib.nullcontext():
        session, token = _create_session(
            connection=connection,
            contract_id=contract_id,
            operation=operation,
            buyer_cookie=request.buyer_cookie,
            browser_form_post_url=request.browser_form_post_url,
            deployment_mode=request.header.deployment_mode or "",
            user_email=request.user_email or "",
            ship_to=_to_json(request.ship_to) or {},
            extrinsics=_to_json(request.extrinsics) or {},
            selected_item_part_id=request.selected_item_part_id or "",
            request_payload_id=request.header.payload_id or "",
        )
        _add_items_out(session, request.items_out)

    logger.info(
        "PunchOut session opened",
        extra={
            "session_id": session.pk,
            "connection_id": connection.pk,
            "operation": operation,
            "payload_id": session.request_payload_id,
        },
    )
    return session, token


def _create_session(*, connection: BuyerConnection, **fields) -> tuple[PunchOutSession, str]:
    """Create a session waiting for its StartPage token to be used; return it with the token.

    ``fields`` names the contract as ``contract`` or ``contract_id``.
    """
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    session = PunchOutSession.objects.create(
        connection=connection,
        token_hash=None,
        start_token_hash=hash_session_token(token),
        start_expires_at=now + dt.timedelta(minutes=start_page_minutes()),
        expires_at=now + session_idle_timeout(),
        **fields,
    )
    return session, token


@dataclasses.dataclass(frozen=True)
class OCIReturnSettings:
    """Return form settings of an OCI session: the bare HOOK_URL, the hidden fields, the form target and charset."""

    action: str
    fields: list[tuple[str, str]]
    target: str
    charset: str


def oci_return_settings(*, connection: BuyerConnection, params: Mapping[str, str]) -> OCIReturnSettings:
    """Check the HOOK_URL and derive the return form's action, hidden fields, target and charset.

    The HOOK_URL's query parameters become hidden fields, followed by
    ``~OkCode``, ``~TARGET`` and ``~CALLER`` as SAP's examples echo them.
    ``returntarget`` wins over ``~TARGET`` as the form's target; ``_top`` is
    the default.
    """
    hook_url = (params.get("HOOK_URL") or "").strip()
    check_return_url(connection=connection, url=hook_url, label="HOOK_URL")
    action, fields = oci.split_hook_url(hook_url)
    target = (params.get("~TARGET") or "").strip()[:100]
    fields += [("~OkCode", "ADDI"), ("~TARGET", target or "_top"), ("~CALLER", "CTLG")]
    return_target = (params.get("returntarget") or "").strip()[:100] or target or "_top"
    return OCIReturnSettings(
        action=action,
        fields=fields,
        target=return_target,
        charset=oci.charset_or_default(params.get("http_content_charset") or ""),
    )


def oci_session_open(
    *, connection: BuyerConnection, params: Mapping[str, str], operation: str = PunchOutSession.Operation.CREATE
) -> tuple[PunchOutSession, str]:
    """Open an OCI session (create, or detail for FUNCTION=DETAIL) and return it with its StartPage token."""
    contract = contract_for_connection(connection)
    if operation == PunchOutSession.Operation.DETAIL and not params.get("HOOK_URL"):
        return_settings = OCIReturnSettings(action="", fields=[], target="", charset="utf-8")
    else:
        return_settings = oci_return_settings(connection=connection, params=params)
    session, token = _create_session(
        connection=connection,
        contract=contract,
        operation=operation,
        buyer_cookie="",
        browser_form_post_url=return_settings.action,
        oci_form_fields=[list(pair) for pair in return_settings.fields],
        oci_target=return_settings.target,
        oci_charset=return_settings.charset,
        selected_item_part_id=(params.get("PRODUCTID") or "").strip()[:255],
    )
    logger.info(
        "OCI session opened", extra={"session_id": session.pk, "connection_id": connection.pk, "operation": operation}
    )
    return session, token


def _add_items_out(session: PunchOutSession, items_out: Iterable[ItemOutLine]) -> None:
    """Load the request's ItemOut lines into the cart, one cart line each, in the request's order.

    A line that carries our SupplierPartAuxiliaryID ``cartline-<id>`` from a
    session of the same connection takes that line's product. A line that
    carries a quote line reference of a quote that can still be loaded keeps
    the quoted quantity and price. Any other line
    is looked up by SupplierPartID among the products the customer may buy.
    Lines sharing a SupplierPartID stay separate lines. A line that names no
    such product, or has an invalid quantity, is skipped with a notice for
    the user and a log entry. The price the buyer's cart carried is kept for
    display; the cart is priced again against the current contract.
    """
    items_out = list(items_out or ())
    if not items_out:
        return
    visible = visible_products(customer=session.connection.customer, contract=session.contract)
    earlier_line_ids = {}
    for item in items_out:
        match = _CART_LINE_REFERENCE.match((item.supplier_part_auxiliary_id or "").strip())
        if match:
            earlier_line_ids[item] = int(match.group(1))
    earlier_products = (
        dict(
            CartLine.objects.filter(
                pk__in=set(earlier_line_ids.values()), session__connection_id=session.connection_id
            ).values_list("pk", "product_id")
        )
        if earlier_line_ids
        else {}
    )
    skus = {(item.supplier_part_id or "").strip() for item in items_out}
    products_by_sku = {product.sku: product for product in visible.filter(sku__in=skus)}
    products_by_id = (
        {product.pk: product for product in visible.filter(pk__in=set(earlier_products.values()))}
        if earlier_products
        else {}
    )

    quoted = loadable_quote_lines(
        session=session, references=[item.supplier_part_auxiliary_id or "" for item in items_out]
    )

    notices = []
    lines = []
    for position, item in enumerate(items_out, start=1):
        sku = (item.supplier_part_id or "").strip()
        quote_line = quoted.get((item.supplier_part_auxiliary_id or "").strip())
        if quote_line is not None and quote_line.sku == sku:
            lines.append(_quoted_cart_line(session, quote_line, line_number=len(lines) + 1, item=item))
            continue
        product = products_by_id.get(earlier_products.get(earlier_line_ids.get(item)))
        if product is None or product.sku != sku:
            product = products_by_sku.get(sku)
        if product is None:
            notices.append(f"Line {position} (product {sku}) is not in your catalog any more and was left out.")
            logger.warning(
                "ItemOut skipped: SupplierPartID is not a product the customer may buy",
                extra={"session_id": session.pk, "supplier_part_id": sku},
            )
            continue
        try:
            quantity = parse_quantity(item.quantity)
        except InvalidQuantity as error:
            notices.append(f"Line {position} (product {sku}) was left out: {error.message}")
            logger.warning(
                "ItemOut skipped: %s", error.message, extra={"session_id": session.pk, "supplier_part_id": sku}
            )
            continue
        if quantity == 0:
            continue
        lines.append(
            CartLine(
                session=session,
                product=product,
                quantity=quantity,
                line_number=len(lines) + 1,
                previous_unit_price=_storable_price(item.unit_price),
                previous_currency=(item.currency or "")[:3],
            )
        )
    CartLine.objects.bulk_create(lines)
    if notices:
        session.notices = [*session.notices, *notices]
        session.save(update_fields=["notices", "updated_at"])


def _quoted_cart_line(session: PunchOutSession, quote_line, *, line_number: int, item: ItemOutLine) -> CartLine:
    """Return a cart line for an ItemOut that names a quote line: locked at the quoted quantity and price."""
    reference = (item.supplier_part_auxiliary_id or "").strip()
    return CartLine(
        session=session,
        product=quote_line.product,
        quantity=quote_line.quantity,
        line_number=line_number,
        previous_unit_price=_storable_price(item.unit_price),
        previous_currency=(item.currency or "")[:3],
        quote_line=quote_line,
        quote_reference=reference,
        quoted_unit_price=quote_line.net_price,
        quoted_currency=quote_line.quote.currency,
    )


def _storable_price(value: Decimal | None) -> Decimal | None:
    """Return a buyer's unit price when it fits CartLine.previous_unit_price (14 integer digits), else None."""
    if value is None or not value.is_finite() or abs(value) >= Decimal("1e14"):
        return None
    return value.quantize(Decimal("0.0001"))


def _to_json(value):
    """Convert reader values (dataclasses, tuples, Decimals, dates) into JSON-compatible data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _to_json(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): _to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(item) for item in value]
    if isinstance(value, Decimal | dt.date | dt.datetime):
        return str(value)
    return value
