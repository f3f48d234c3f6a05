"""PunchOut operations: authenticate a cXML sender, open a session, change its cart and return the cart."""

import base64
import contextlib
import dataclasses
import datetime as dt
import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.catalog.models import Product
from apps.contracts.pricing import PricingResult, price_lines
from apps.contracts.selectors import active_contract_for, today_utc, visible_products
from apps.core.secrets import hash_secret, verify_secret
from apps.punchout import oci, throttle
from apps.punchout.cxml.documents import CartItem, Credential, build_punchout_order_message
from apps.punchout.cxml.reader import Header, ItemOutLine, PunchOutSetupRequest
from apps.punchout.errors import (
    AuthenticationFailed,
    CartAlreadyReturned,
    InvalidQuantity,
    LineNotPriced,
    NoContractInForce,
    OCILoginFailed,
    OperationNotSupported,
    ProductNotAvailable,
    ReturnURLNotAllowed,
    SessionGone,
    SessionNotFound,
    SessionReadOnly,
    StartPageExpired,
    UnitNotMapped,
)
from apps.punchout.models import BuyerConnection, BuyerPartNumber, BuyerUnit, CartLine, PunchOutSession
from apps.punchout.selectors import cxml_connections_for_sender, hash_session_token

logger = logging.getLogger(__name__)

# A cart line quantity has at most 3 decimals (the CartLine column and OCI's
# QUANTITY format) and stays below one million: a bigger line is almost
# surely a typing error, and such volumes go through a quote instead.
MAX_QUANTITY_DECIMALS = 3
MAX_LINE_QUANTITY = Decimal("1000000")
# Plain decimal notation only, the way a person types a quantity and OCI
# writes one: no exponent, sign, thousands separator or "NaN".
_QUANTITY_TEXT = re.compile(r"^\d+(\.\d+)?$")

# Length limit when echoing a rejected value in a message.
_ECHO_LIMIT = 60

# Hash compared when no connection matches, so that an unknown sender takes
# as long to reject as a wrong secret.
_UNUSED_HASH_INPUT = "no connection matches this sender"

# Defaults of the settings read at call time: minutes a StartPage URL stays
# usable, and minutes of inactivity after which a session expires.
DEFAULT_START_PAGE_MINUTES = 5
DEFAULT_SESSION_IDLE_MINUTES = 120
# The idle deadline is written again only when it moved by more than this,
# so that a user clicking through pages does not write on every request.
_IDLE_WRITE_GRANULARITY = dt.timedelta(minutes=1)

# Our SupplierPartAuxiliaryID of a cart line, echoed back by edit and inspect.
_CART_LINE_REFERENCE = re.compile(r"^cartline-(\d{1,18})$")


def authenticate_cxml_sender(*, header: Header) -> BuyerConnection:
    """Return the active cXML connection that the header's Sender, From and To credentials identify.

    The Sender domain is compared case-insensitively, the identity exactly
    and the shared secret in constant time against its stored hash. Then one
    of the From credentials must match the connection's From credential and
    one of the To credentials its To credential. Raises AuthenticationFailed
    with the same message whatever failed, and logs the failed part.
    """
    sender = header.sender
    log_extra = {
        "sender_domain": getattr(sender, "domain", ""),
        "sender_identity": getattr(sender, "identity", ""),
        "payload_id": header.payload_id,
    }
    if sender is None or not sender.domain or not sender.identity:
        _reject_sender("no Sender credential", log_extra)
    # One query brings the connection, its failed logins and its contract in force.
    candidates = cxml_connections_for_sender(domain=sender.domain, identity=sender.identity, on_date=today_utc())
    connection = candidates[0] if len(candidates) == 1 else None
    stored_hash = connection.shared_secret_hash if connection else hash_secret(_UNUSED_HASH_INPUT)
    secret_matches = verify_secret(sender.shared_secret or "", stored_hash)

    if connection is None:
        _reject_sender("no cXML connection has this Sender credential", log_extra)
    log_extra["connection_id"] = connection.pk
    throttle.check_login_allowed(connection=connection)
    if not connection.shared_secret_hash:
        _reject_sender("the connection has no shared secret set", log_extra)
    if not secret_matches:
        throttle.record_login_failure(connection=connection)
        _reject_sender("the shared secret does not match", log_extra)
    if not connection.is_active:
        _reject_sender("the connection is inactive", log_extra)
    if not connection.customer_is_active:
        _reject_sender("the connection's customer is inactive", log_extra)
    if not _any_credential_matches(header.from_credentials, connection.from_domain, connection.from_identity):
        _reject_sender("no From credential matches the connection", log_extra)
    if not _any_credential_matches(header.to_credentials, connection.to_domain, connection.to_identity):
        _reject_sender("no To credential matches the connection", log_extra)
    return connection


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
    contract_id = _contract_id_for_connection(connection)
    check_return_url(connection=connection, url=request.browser_form_post_url or "")

    # Without ItemOut lines the session is one INSERT, which needs no transaction of its own:
    # each statement sent costs a round trip, the largest part of a setup request's time.
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


def start_page_minutes() -> int:
    return int(getattr(settings, "PUNCHOUT_START_PAGE_MINUTES", DEFAULT_START_PAGE_MINUTES))


def session_idle_timeout() -> dt.timedelta:
    return dt.timedelta(minutes=int(getattr(settings, "PUNCHOUT_SESSION_IDLE_MINUTES", DEFAULT_SESSION_IDLE_MINUTES)))


def punchout_session_start(*, start_token: str) -> tuple[PunchOutSession, str]:
    """Use a StartPage token: return its session and a fresh session token, and make the StartPage URL useless.

    The swap is one conditional UPDATE, so of two concurrent requests with
    the same StartPage token only one gets a session. Raises SessionNotFound
    for an unknown or used token and StartPageExpired after the minutes.
    """
    start_hash = hash_session_token(start_token)
    session = PunchOutSession.objects.filter(start_token_hash=start_hash).only("pk", "start_expires_at").first()
    if session is None:
        raise SessionNotFound(
            "This PunchOut link is unknown or was used already; start a new session from your procurement system."
        )
    now = timezone.now()
    if session.start_expires_at is None or now >= session.start_expires_at:
        PunchOutSession.objects.filter(pk=session.pk, start_token_hash=start_hash).update(start_token_hash=None)
        raise StartPageExpired(
            f"This PunchOut link was valid for {start_page_minutes()} minutes and has expired; "
            "start a new session from your procurement system."
        )
    token = secrets.token_urlsafe(32)
    # PunchOutSession keeps no history rows, so a queryset update skips nothing.
    swapped = PunchOutSession.objects.filter(pk=session.pk, start_token_hash=start_hash).update(
        start_token_hash=None, token_hash=hash_session_token(token), expires_at=now + session_idle_timeout()
    )
    if swapped != 1:
        raise SessionNotFound("This PunchOut link was used already; start a new session from your procurement system.")
    logger.info("PunchOut start page opened", extra={"session_id": session.pk})
    return PunchOutSession.objects.select_related("connection__customer", "contract").get(pk=session.pk), token


def authenticate_oci_login(*, username: str, password: str) -> BuyerConnection:
    """Return the active OCI connection with this USERNAME and PASSWORD; raises OCILoginFailed or LoginRateLimited.

    The password is compared in constant time against its keyed hash, also
    when no connection has the user name, so both failures take as long.
    Failed attempts count towards the connection's rate limit.
    """
    username = (username or "").strip()
    candidates = (
        list(
            BuyerConnection.objects.select_related("customer").filter(
                protocol=BuyerConnection.Protocol.OCI, oci_username=username
            )
        )
        if username and len(username) <= 100
        else []
    )
    connection = candidates[0] if len(candidates) == 1 else None
    stored_hash = connection.oci_password_hash if connection else hash_secret(_UNUSED_HASH_INPUT)
    password_matches = verify_secret(password or "", stored_hash)
    log_extra = {"oci_username": username[:100]}
    if connection is None:
        logger.warning("OCI login failed: no OCI connection has this USERNAME", extra=log_extra)
        raise OCILoginFailed()
    log_extra["connection_id"] = connection.pk
    throttle.check_login_allowed(connection=connection)
    if not connection.oci_password_hash or not password_matches:
        throttle.record_login_failure(connection=connection)
        logger.warning("OCI login failed: the PASSWORD does not match", extra=log_extra)
        raise OCILoginFailed()
    if not connection.is_active or not connection.customer.is_active:
        logger.warning("OCI login failed: the connection or its customer is inactive", extra=log_extra)
        raise OCILoginFailed()
    return connection


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


def check_return_url(*, connection: BuyerConnection, url: str, label: str = "BrowserFormPost URL") -> None:
    """Raise ReturnURLNotAllowed unless ``url`` is http(s) on a host the connection allows.

    ``label`` names the URL in messages (BrowserFormPost URL or HOOK_URL).
    """
    if not url:
        raise ReturnURLNotAllowed(f"The request has no {label}; send one so the cart can be returned.")
    if any(character.isspace() or ord(character) < 32 for character in url):
        raise ReturnURLNotAllowed(f"{label} {_echo(url)} contains white space or control characters; encode them.")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ReturnURLNotAllowed(
            f"{label} {_echo(url)} is not an absolute http or https URL; send one such as "
            "https://procurement.example.com/punchout/return."
        )
    if parts.username is not None or parts.password is not None:
        raise ReturnURLNotAllowed(f"{label} {_echo(url)} contains user information; send the URL without it.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ReturnURLNotAllowed(f"{label} {_echo(url)} has an invalid port.") from None
    host = parts.hostname.lower()
    if not any(pattern.matches(host, port) for pattern in connection.return_host_patterns()):
        shown = f"[{host}]" if ":" in host else host
        raise ReturnURLNotAllowed(
            f"{label} host {shown}:{port} is not allowed for this buyer connection; "
            "ask the supplier to add it to the connection's allowed return hosts."
        )


def parse_quantity(value: object) -> Decimal:
    """Parse a cart quantity: a decimal number from 0 to the maximum with at most 3 decimals."""
    if isinstance(value, float):
        raise InvalidQuantity(f"Quantity {value!r} is a float, which is inexact; pass a string or a Decimal.")
    if isinstance(value, Decimal):
        text = format(value, "f") if value.is_finite() else str(value)
    else:
        text = str(value).strip()
    if not _QUANTITY_TEXT.match(text):
        raise InvalidQuantity(
            f"Quantity {_echo(value)} is invalid; enter a number from 0 to {MAX_LINE_QUANTITY} with at most "
            f"{MAX_QUANTITY_DECIMALS} decimals, such as 2 or 1.5 (0 removes the line)."
        )
    quantity = Decimal(text)
    if quantity > MAX_LINE_QUANTITY:
        raise InvalidQuantity(
            f"Quantity {_echo(value)} is above the maximum of {MAX_LINE_QUANTITY} per line; "
            "ask your sales contact for a quote for larger volumes."
        )
    if quantity != quantity.quantize(Decimal(1).scaleb(-MAX_QUANTITY_DECIMALS)):
        raise InvalidQuantity(f"Quantity {_echo(value)} has more than {MAX_QUANTITY_DECIMALS} decimals; round it.")
    return quantity


def cart_set_quantity(
    *, session: PunchOutSession, sku: str, quantity: object, line_number: object = None
) -> CartLine | None:
    """Set the quantity of a cart line, adding a line if needed; 0 removes it.

    With ``line_number`` the line with that number is changed (its product
    must be ``sku``), so that lines sharing a product stay apart. Without it
    the first line of the product is changed, or a new line is added. The
    product must be one the customer may buy and that the pricing engine
    prices at that quantity. Returns the line, or None when it was removed.
    Raises InvalidQuantity, ProductNotAvailable, LineNotPriced,
    SessionReadOnly, CartAlreadyReturned or SessionGone and leaves the cart
    unchanged.
    """
    ensure_session_usable(session=session)
    ensure_cart_changeable(session=session)
    sku = (sku or "").strip()
    if not sku:
        raise ProductNotAvailable("The SKU is missing; choose a product from the catalog.")
    quantity = parse_quantity(quantity)
    number = _parse_line_number(line_number)

    with transaction.atomic():
        # Lock the session so that concurrent requests number the lines one after another.
        locked = PunchOutSession.objects.select_for_update().filter(pk=session.pk).only("state").first()
        if locked is None or locked.state != PunchOutSession.State.OPEN:
            raise CartAlreadyReturned(
                "This cart was returned to your procurement system already; start a new session to change it."
            )
        lines = session.lines.select_related("product").filter(product__sku=sku)
        line = lines.filter(line_number=number).first() if number is not None else lines.order_by("line_number").first()
        if number is not None and line is None:
            raise ProductNotAvailable(f"Cart line {number} with product {_echo(sku)} does not exist; reload the cart.")
        if quantity == 0:
            if line is not None:
                line.delete()
                return None
            _visible_product(session, sku)
            return None

        product = _visible_product(session, sku)
        priced = price_lines(customer=session.connection.customer, lines=[(product, quantity)]).lines[0]
        if not priced.priced:
            raise LineNotPriced(f"Product {sku} cannot be priced at quantity {quantity}: {priced.reason}")

        if line is None:
            next_number = (session.lines.aggregate(last=Max("line_number"))["last"] or 0) + 1
            line = CartLine.objects.create(session=session, product=product, quantity=quantity, line_number=next_number)
        else:
            line.quantity = quantity
            line.save(update_fields=["quantity", "updated_at"])
    return line


def _parse_line_number(value: object) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if not text.isdigit() or len(text) > 9:
        raise ProductNotAvailable(f"Cart line number {_echo(value)} is invalid; reload the cart.")
    return int(text)


def ensure_cart_changeable(*, session: PunchOutSession) -> None:
    """Raise SessionReadOnly for inspect and detail sessions and CartAlreadyReturned after the return."""
    if session.is_read_only:
        raise SessionReadOnly(
            "This cart is open for viewing only (inspect); it cannot be changed or returned. "
            "Start an edit session from your procurement system to change it."
        )
    if session.state == PunchOutSession.State.RETURNED:
        raise CartAlreadyReturned(
            "This cart was returned to your procurement system already; start a new session to change it."
        )


@dataclasses.dataclass(frozen=True)
class ReturnForm:
    """The form that carries a cart back to the procurement system: action URL, target, charset and fields."""

    action: str
    fields: list[tuple[str, str]]
    target: str = ""
    charset: str = "utf-8"


def punchout_cart_return(*, session: PunchOutSession) -> ReturnForm:
    """Price the cart, build the return form's fields and mark the session returned.

    cXML sessions return one field (``cxml-urlencoded`` or ``cxml-base64``,
    per connection) holding the PunchOutOrderMessage; OCI sessions return
    the NEW_ITEM-* fields and the HOOK_URL's own fields. Every line is priced
    in one pricing call. A line that is no longer offered or priced raises
    LineNotPriced, a unit without a code for the buyer UnitNotMapped, and
    nothing changes. A session returns its cart once.
    """
    ensure_session_usable(session=session)
    ensure_cart_changeable(session=session)
    connection = session.connection
    label = "HOOK_URL" if session.is_oci else "BrowserFormPost URL"
    # The allowed hosts may have changed since the session opened.
    check_return_url(connection=connection, url=session.browser_form_post_url, label=label)
    lines = list(session.lines.select_related("product__unit").order_by("line_number"))
    pricing = price_session_lines(session=session, lines=lines)
    _check_lines_offered(session, lines, pricing)
    mappings = buyer_mappings(connection=connection, lines=lines)

    if session.is_oci:
        fields = oci.cart_fields(session=session, lines=list(zip(lines, pricing.lines, strict=True)), mappings=mappings)
        form = ReturnForm(
            action=session.browser_form_post_url,
            fields=[(str(name), str(value)) for name, value in session.oci_form_fields] + fields,
            target=session.oci_target or "_top",
            charset=session.oci_charset or "utf-8",
        )
    else:
        document = _order_message(session, lines, pricing, mappings)
        value = _cart_field_value(connection, document)
        form = ReturnForm(action=session.browser_form_post_url, fields=[(connection.cart_field, value)])

    with transaction.atomic():
        locked = PunchOutSession.objects.select_for_update().get(pk=session.pk)
        if locked.state != PunchOutSession.State.OPEN:
            raise CartAlreadyReturned(
                "This cart was returned to your procurement system already; start a new session to change it."
            )
        locked.return_cart()
        locked.save(update_fields=["state", "returned_at", "return_count", "updated_at"])
    session.refresh_from_db(fields=["state", "returned_at", "return_count", "updated_at"])
    logger.info(
        "PunchOut cart returned",
        extra={"session_id": session.pk, "connection_id": connection.pk, "lines": len(lines)},
    )
    return form


@dataclasses.dataclass(frozen=True)
class BuyerMappings:
    """A connection's part numbers by product id and unit codes by unit id, for the lines of one cart."""

    part_numbers: dict[int, str]
    units: dict[int, str]

    def unit_code(self, unit) -> str:
        return self.units.get(unit.pk, unit.code)


def buyer_mappings(*, connection: BuyerConnection, lines: Iterable[CartLine]) -> BuyerMappings:
    """Load the buyer's part numbers and unit codes for the cart's products, in two queries."""
    lines = list(lines)
    product_ids = {line.product_id for line in lines}
    unit_ids = {line.product.unit_id for line in lines}
    part_numbers = (
        dict(
            BuyerPartNumber.objects.filter(connection=connection, product_id__in=product_ids).values_list(
                "product_id", "buyer_part_id"
            )
        )
        if product_ids
        else {}
    )
    units = (
        dict(BuyerUnit.objects.filter(connection=connection, unit_id__in=unit_ids).values_list("unit_id", "buyer_code"))
        if unit_ids
        else {}
    )
    return BuyerMappings(part_numbers=part_numbers, units=units)


def _order_message(session, lines, pricing, mappings: BuyerMappings) -> bytes:
    connection = session.connection
    items = []
    for line, priced in zip(lines, pricing.lines, strict=True):
        unit = line.product.unit
        if unit.status == unit.Status.DELETED and unit.pk not in mappings.units:
            raise UnitNotMapped(
                f"Product {line.product.sku} uses unit {unit.code}, which UN/CEFACT has deleted; ask the supplier "
                "to map it to a code for your procurement system. The cart was not sent."
            )
        items.append(
            CartItem(
                supplier_part_id=line.product.sku,
                supplier_part_auxiliary_id=line.auxiliary_id,
                buyer_part_id=mappings.part_numbers.get(line.product_id, ""),
                quantity=line.quantity,
                unit_price=priced.unit_price,
                currency=priced.currency,
                description=line.product.name,
                unit_of_measure=mappings.unit_code(unit),
                classification_domain="UNSPSC",
                classification_code=line.product.unspsc,
                manufacturer_name=line.product.manufacturer,
                manufacturer_part_id=line.product.manufacturer_part_number,
                lead_time_days=line.product.lead_time_days,
                line_number=line.line_number,
            )
        )
    supplier = Credential(connection.to_domain, connection.to_identity)
    return build_punchout_order_message(
        buyer_cookie=session.buyer_cookie,
        from_credential=supplier,
        to_credential=Credential(connection.from_domain, connection.from_identity),
        sender_credential=supplier,
        items=items,
        currency=pricing.currency,
        # "edit" is the highest operation the buyer may send for this cart later.
        operation_allowed="edit" if connection.allow_edit_inspect else "create",
        deployment_mode="test" if session.deployment_mode == "test" else "production",
    )


def _cart_field_value(connection: BuyerConnection, document: bytes) -> str:
    if connection.cart_field == BuyerConnection.CartField.CXML_BASE64:
        return base64.b64encode(document).decode("ascii")
    # NOTE: browsers send a form field's line breaks as CRLF, and an XML
    # parser reads CRLF back as LF, so the documents escape every CR as
    # "&#13;" (see build_punchout_order_message) to keep it byte for byte.
    return document.decode("utf-8")


def price_session_lines(*, session: PunchOutSession, lines: Iterable[CartLine]) -> PricingResult:
    """Price cart lines at their quantities with one pricing call."""
    return price_lines(
        customer=session.connection.customer,
        lines=[(line.product, line.quantity) for line in lines],
    )


def ensure_session_usable(*, session: PunchOutSession, touch: bool = True) -> None:
    """Raise SessionGone when the session expired or its connection or customer is no longer active.

    An open or returned session found past its idle deadline is marked
    expired. With ``touch`` the deadline moves to PUNCHOUT_SESSION_IDLE_MINUTES
    from now (written at most once a minute).
    """
    now = timezone.now()
    if session.state != PunchOutSession.State.EXPIRED and session.is_expired(now):
        punchout_session_expire(session=session)
    if session.state == PunchOutSession.State.EXPIRED:
        raise SessionGone("This PunchOut session has expired; start a new one from your procurement system.")
    if not session.connection.is_active or not session.connection.customer.is_active:
        raise SessionGone("This PunchOut session is closed; start a new one from your procurement system.")
    if touch:
        deadline = now + session_idle_timeout()
        if deadline - session.expires_at > _IDLE_WRITE_GRANULARITY:
            PunchOutSession.objects.filter(pk=session.pk).update(expires_at=deadline)
            session.expires_at = deadline


def punchout_sessions_expire_idle(*, now: dt.datetime | None = None) -> int:
    """Mark every open or returned session past its idle deadline expired, and return how many.

    One UPDATE for all of them: PunchOutSession keeps no history rows, and
    expiring has no side effect beyond the state. Unused StartPage tokens of
    those sessions are cleared too.
    """
    now = now or timezone.now()
    count = PunchOutSession.objects.filter(
        state__in=[PunchOutSession.State.OPEN, PunchOutSession.State.RETURNED], expires_at__lte=now
    ).update(state=PunchOutSession.State.EXPIRED, start_token_hash=None, updated_at=now)
    if count:
        logger.info("PunchOut sessions expired", extra={"count": count})
    return count


def punchout_session_expire(*, session: PunchOutSession) -> None:
    """Mark an open or returned session expired."""
    with transaction.atomic():
        locked = PunchOutSession.objects.select_for_update().get(pk=session.pk)
        if locked.state != PunchOutSession.State.EXPIRED:
            locked.expire()
            locked.save(update_fields=["state", "updated_at"])
    session.refresh_from_db(fields=["state", "updated_at"])
    logger.info("PunchOut session expired", extra={"session_id": session.pk})


def _reject_sender(reason: str, log_extra: Mapping[str, object]) -> None:
    logger.warning("cXML authentication failed: %s", reason, extra=dict(log_extra))
    raise AuthenticationFailed()


def _any_credential_matches(credentials: Iterable[Credential], domain: str, identity: str) -> bool:
    if not domain or not identity:
        return False
    return any(
        (credential.domain or "").lower() == domain.lower() and credential.identity == identity
        for credential in credentials or ()
    )


def _contract_id_for_connection(connection: BuyerConnection) -> int:
    """Return the id of the contract a session of the connection uses, from the annotation when it was loaded."""
    if not hasattr(connection, "contract_in_force_id"):
        return contract_for_connection(connection).pk
    in_force_id = connection.contract_in_force_id
    if in_force_id is None or (connection.contract_id is not None and connection.contract_id != in_force_id):
        # The error messages name the contracts, so the slower path builds them.
        return contract_for_connection(connection).pk
    return in_force_id


def contract_for_connection(connection: BuyerConnection):
    """Return the connection's contract when it is the one in force today, else the contract in force.

    The pricing engine always prices with the contract in force. A pinned
    contract that is not in force today would show its own assortment with
    another contract's prices, so no session is opened for it.
    """
    in_force = active_contract_for(customer=connection.customer, on_date=today_utc())
    if in_force is None:
        raise NoContractInForce(
            f"Customer {connection.customer.account_number} has no contract in force today; "
            "ask your sales contact to activate one."
        )
    if connection.contract_id is not None and connection.contract_id != in_force.pk:
        raise NoContractInForce(
            f"The contract set on this buyer connection is not the one in force today "
            f"({in_force.number}); ask your sales contact to update the connection."
        )
    return in_force


def _visible_product(session: PunchOutSession, sku: str) -> Product:
    product = (
        visible_products(customer=session.connection.customer, contract=session.contract)
        .select_related("unit")
        .filter(sku=sku)
        .first()
    )
    if product is None:
        raise ProductNotAvailable(f"Product {_echo(sku)} is not in your catalog; search the catalog for another.")
    return product


def ensure_pricing_contract(*, session: PunchOutSession, pricing: PricingResult) -> None:
    """Raise SessionGone when the prices came from another contract than the session's.

    The pricing engine prices with the customer's contract in force, which
    can change while a session is open.
    """
    if pricing.contract is None or pricing.contract.pk != session.contract_id:
        raise SessionGone(
            "The contract of this PunchOut session has changed; start a new one from your procurement system."
        )


def _check_lines_offered(session: PunchOutSession, lines: list[CartLine], pricing: PricingResult) -> None:
    ensure_pricing_contract(session=session, pricing=pricing)
    visible_ids = set(
        visible_products(customer=session.connection.customer, contract=session.contract)
        .filter(pk__in=[line.product_id for line in lines])
        .values_list("pk", flat=True)
    )
    for line, priced in zip(lines, pricing.lines, strict=True):
        if line.product_id not in visible_ids:
            raise LineNotPriced(
                f"Product {line.product.sku} is no longer in your catalog; remove it from the cart and return again."
            )
        if not priced.priced:
            raise LineNotPriced(
                f"Product {line.product.sku} cannot be priced now ({priced.reason}); remove it from the cart."
            )


def _add_items_out(session: PunchOutSession, items_out: Iterable[ItemOutLine]) -> None:
    """Load the request's ItemOut lines into the cart, one cart line each, in the request's order.

    A line that carries our SupplierPartAuxiliaryID ``cartline-<id>`` from a
    session of the same connection takes that line's product. Any other line
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

    notices = []
    lines = []
    for position, item in enumerate(items_out, start=1):
        sku = (item.supplier_part_id or "").strip()
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
                quantity=min(quantity, MAX_LINE_QUANTITY),
                line_number=len(lines) + 1,
                previous_unit_price=_storable_price(item.unit_price),
                previous_currency=(item.currency or "")[:3],
            )
        )
    CartLine.objects.bulk_create(lines)
    if notices:
        session.notices = [*session.notices, *notices]
        session.save(update_fields=["notices", "updated_at"])


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


def _echo(value: object) -> str:
    text = str(value)
    if len(text) > _ECHO_LIMIT:
        text = text[:_ECHO_LIMIT] + "…"
    return repr(text)
