"""PunchOut operations: authenticate a cXML sender, open a session, change its cart and return the cart."""

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
from apps.punchout.cxml.documents import CartItem, Credential, build_punchout_order_message
from apps.punchout.cxml.reader import Header, PunchOutSetupRequest
from apps.punchout.errors import (
    AuthenticationFailed,
    InvalidQuantity,
    LineNotPriced,
    NoContractInForce,
    OperationNotSupported,
    ProductNotAvailable,
    ReturnURLNotAllowed,
    SessionGone,
)
from apps.punchout.models import BuyerConnection, CartLine, PunchOutSession
from apps.punchout.selectors import hash_session_token

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
    candidates = list(
        BuyerConnection.objects.select_related("customer").filter(
            protocol=BuyerConnection.Protocol.CXML,
            sender_domain__iexact=sender.domain,
            sender_identity=sender.identity,
        )
    )
    connection = candidates[0] if len(candidates) == 1 else None
    stored_hash = connection.shared_secret_hash if connection else hash_secret(_UNUSED_HASH_INPUT)
    secret_matches = verify_secret(sender.shared_secret or "", stored_hash)

    if connection is None:
        _reject_sender("no cXML connection has this Sender credential", log_extra)
    log_extra["connection_id"] = connection.pk
    if not connection.shared_secret_hash:
        _reject_sender("the connection has no shared secret set", log_extra)
    if not secret_matches:
        _reject_sender("the shared secret does not match", log_extra)
    if not connection.is_active:
        _reject_sender("the connection is inactive", log_extra)
    if not connection.customer.is_active:
        _reject_sender("the connection's customer is inactive", log_extra)
    if not _any_credential_matches(header.from_credentials, connection.from_domain, connection.from_identity):
        _reject_sender("no From credential matches the connection", log_extra)
    if not _any_credential_matches(header.to_credentials, connection.to_domain, connection.to_identity):
        _reject_sender("no To credential matches the connection", log_extra)
    return connection


def punchout_session_open(*, connection: BuyerConnection, request: PunchOutSetupRequest) -> tuple[PunchOutSession, str]:
    """Open a session for a PunchOutSetupRequest ``create`` and return it with its start page token.

    Checks the operation, the contract in force and the BrowserFormPost host,
    stores the request's fields, and puts the ItemOut lines whose
    SupplierPartID is a product the customer may buy into the cart. The token
    is returned once and only its hash is stored.
    """
    if request.operation != PunchOutSession.Operation.CREATE:
        raise OperationNotSupported(
            f"PunchOutSetupRequest operation {request.operation!r} is not supported yet; "
            "send operation create to start a new cart."
        )
    contract = _contract_for_connection(connection)
    check_return_url(connection=connection, url=request.browser_form_post_url or "")

    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        session = PunchOutSession.objects.create(
            connection=connection,
            contract=contract,
            token_hash=hash_session_token(token),
            operation=request.operation,
            buyer_cookie=request.buyer_cookie,
            browser_form_post_url=request.browser_form_post_url,
            deployment_mode=request.header.deployment_mode or "",
            user_email=request.user_email or "",
            ship_to=_to_json(request.ship_to) or {},
            extrinsics=_to_json(request.extrinsics) or {},
            selected_item_part_id=request.selected_item_part_id or "",
            request_payload_id=request.header.payload_id or "",
            expires_at=now + dt.timedelta(minutes=settings.PUNCHOUT_SESSION_MINUTES),
        )
        _add_items_out(session, request.items_out)

    logger.info(
        "PunchOut session opened",
        extra={"session_id": session.pk, "connection_id": connection.pk, "payload_id": session.request_payload_id},
    )
    return session, token


def check_return_url(*, connection: BuyerConnection, url: str) -> None:
    """Raise ReturnURLNotAllowed unless ``url`` is http(s) on a host the connection allows."""
    if not url:
        raise ReturnURLNotAllowed("The request has no BrowserFormPost URL; send one so the cart can be returned.")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ReturnURLNotAllowed(
            f"BrowserFormPost URL {_echo(url)} is not an absolute http or https URL; send one such as "
            "https://procurement.example.com/punchout/return."
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ReturnURLNotAllowed(f"BrowserFormPost URL {_echo(url)} has an invalid port.") from None
    host = parts.hostname.lower()
    if not any(pattern.matches(host, port) for pattern in connection.return_host_patterns()):
        raise ReturnURLNotAllowed(
            f"BrowserFormPost host {host}:{port} is not allowed for this buyer connection; "
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


def cart_set_quantity(*, session: PunchOutSession, sku: str, quantity: object) -> CartLine | None:
    """Set the quantity of a product in the session's cart, adding the line if needed; 0 removes it.

    The product must be one the customer may buy and that the pricing engine
    prices at that quantity. Returns the line, or None when it was removed.
    Raises InvalidQuantity, ProductNotAvailable, LineNotPriced or SessionGone
    and leaves the cart unchanged.
    """
    ensure_session_usable(session=session)
    sku = (sku or "").strip()
    if not sku:
        raise ProductNotAvailable("The SKU is missing; choose a product from the catalog.")
    quantity = parse_quantity(quantity)

    with transaction.atomic():
        # Lock the session so that concurrent requests number the lines one after another.
        PunchOutSession.objects.select_for_update().filter(pk=session.pk).first()
        line = session.lines.select_related("product").filter(product__sku=sku).first()
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


def punchout_cart_return(*, session: PunchOutSession) -> bytes:
    """Price the cart, build the PunchOutOrderMessage and mark the session returned.

    Every line is priced in one pricing call; a line that is no longer
    offered or priced raises LineNotPriced naming its SKU, and nothing
    changes. The BuyerCookie is echoed exactly. From is our credential (the
    connection's To), To is the buyer's (the connection's From), and Sender is
    ours without a shared secret, because the document travels through the
    user's browser. The session may return again until it expires.
    """
    ensure_session_usable(session=session)
    connection = session.connection
    # The allowed hosts may have changed since the session opened.
    check_return_url(connection=connection, url=session.browser_form_post_url)
    lines = list(session.lines.select_related("product__unit").order_by("line_number"))
    pricing = price_session_lines(session=session, lines=lines)
    _check_lines_offered(session, lines, pricing)

    items = [
        CartItem(
            supplier_part_id=line.product.sku,
            supplier_part_auxiliary_id=line.auxiliary_id,
            quantity=line.quantity,
            unit_price=priced.unit_price,
            currency=priced.currency,
            description=line.product.name,
            unit_of_measure=line.product.unit.code,
            classification_domain="UNSPSC",
            classification_code=line.product.unspsc,
            manufacturer_name=line.product.manufacturer,
            manufacturer_part_id=line.product.manufacturer_part_number,
            lead_time_days=line.product.lead_time_days,
            line_number=line.line_number,
        )
        for line, priced in zip(lines, pricing.lines, strict=True)
    ]
    supplier = Credential(connection.to_domain, connection.to_identity)
    document = build_punchout_order_message(
        buyer_cookie=session.buyer_cookie,
        from_credential=supplier,
        to_credential=Credential(connection.from_domain, connection.from_identity),
        sender_credential=supplier,
        items=items,
        currency=pricing.currency,
        # NOTE: operationAllowed "create" means the buyer may not send edit or
        # inspect for this cart, because those operations are not handled yet.
        operation_allowed="create",
        deployment_mode="test" if session.deployment_mode == "test" else "production",
    )

    with transaction.atomic():
        locked = PunchOutSession.objects.select_for_update().get(pk=session.pk)
        locked.return_cart()
        locked.save(update_fields=["state", "returned_at", "return_count", "updated_at"])
    session.refresh_from_db(fields=["state", "returned_at", "return_count", "updated_at"])
    logger.info(
        "PunchOut cart returned",
        extra={"session_id": session.pk, "connection_id": connection.pk, "lines": len(lines)},
    )
    return document


def price_session_lines(*, session: PunchOutSession, lines: Iterable[CartLine]) -> PricingResult:
    """Price cart lines at their quantities with one pricing call."""
    return price_lines(
        customer=session.connection.customer,
        lines=[(line.product, line.quantity) for line in lines],
    )


def ensure_session_usable(*, session: PunchOutSession) -> None:
    """Raise SessionGone when the session expired or its connection or customer is no longer active.

    An open or returned session found past its expiry is marked expired.
    """
    if session.state != PunchOutSession.State.EXPIRED and session.is_expired():
        punchout_session_expire(session=session)
    if session.state == PunchOutSession.State.EXPIRED:
        raise SessionGone("This PunchOut session has expired; start a new one from your procurement system.")
    if not session.connection.is_active or not session.connection.customer.is_active:
        raise SessionGone("This PunchOut session is closed; start a new one from your procurement system.")


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


def _contract_for_connection(connection: BuyerConnection):
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


def _add_items_out(session: PunchOutSession, items_out) -> None:
    """Put the request's ItemOut lines into the cart when they name a product the customer may buy."""
    if not items_out:
        return
    quantities: dict[str, Decimal] = {}
    for item in items_out:
        sku = (getattr(item, "supplier_part_id", "") or "").strip()
        try:
            quantity = parse_quantity(getattr(item, "quantity", ""))
        except InvalidQuantity as error:
            logger.warning(
                "ItemOut skipped: %s", error.message, extra={"session_id": session.pk, "supplier_part_id": sku}
            )
            continue
        if quantity > 0:
            quantities[sku] = quantities.get(sku, Decimal("0")) + quantity

    products = {
        product.sku: product
        for product in visible_products(customer=session.connection.customer, contract=session.contract).filter(
            sku__in=list(quantities)
        )
    }
    line_number = 0
    for sku, quantity in quantities.items():
        product = products.get(sku)
        if product is None:
            logger.warning(
                "ItemOut skipped: SupplierPartID is not a product the customer may buy",
                extra={"session_id": session.pk, "supplier_part_id": sku},
            )
            continue
        line_number += 1
        CartLine.objects.create(
            session=session, product=product, quantity=min(quantity, MAX_LINE_QUANTITY), line_number=line_number
        )


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
