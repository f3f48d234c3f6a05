"""The cart of a PunchOut session: setting quantities, pricing, and building the return form."""

import base64
import dataclasses
import logging
from collections.abc import Iterable, Sequence

from django.db import transaction
from django.db.models import Max

from apps.catalog.models import Product
from apps.contracts.pricing import PricedLine, PricingResult, price_lines
from apps.contracts.selectors import visible_products
from apps.punchout import oci
from apps.punchout.cxml.documents import CartItem, Credential, build_punchout_order_message
from apps.punchout.errors import (
    CartAlreadyReturned,
    LineNotPriced,
    ProductNotAvailable,
    QuoteLineLocked,
    SessionGone,
    SessionReadOnly,
    UnitNotMapped,
)
from apps.punchout.models import BuyerConnection, BuyerPartNumber, BuyerUnit, CartLine, PunchOutSession
from apps.punchout.services.checks import check_return_url, echo_value, parse_quantity
from apps.punchout.services.lifecycle import ensure_session_usable

logger = logging.getLogger(__name__)


def cart_set_quantity(
    *, session: PunchOutSession, sku: str, quantity: object, line_number: object = None
) -> CartLine | None:
    """Set the quantity of a cart line, adding a line if needed; 0 removes it.

    With ``line_number`` the line with that number is changed (its product
    must be ``sku``), so that lines sharing a product stay apart. Without it
    the first line of the product is changed, or a new line is added. The
    product must be one the customer may buy and that the pricing engine
    prices at that quantity. Returns the line, or None when it was removed.
    A line loaded from a quote can only be removed. Raises InvalidQuantity,
    ProductNotAvailable, LineNotPriced, QuoteLineLocked, SessionReadOnly,
    CartAlreadyReturned or SessionGone and leaves the cart unchanged.
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
            raise _cart_already_returned()
        lines = session.lines.select_related("product").filter(product__sku=sku)
        if number is not None:
            line = lines.filter(line_number=number).first()
        else:
            # A product added from the catalog never joins a line loaded from a quote, whose quantity is agreed.
            line = lines.filter(quote_line__isnull=True).order_by("line_number").first()
        if number is not None and line is None:
            raise ProductNotAvailable(
                f"Cart line {number} with product {echo_value(sku)} does not exist; reload the cart."
            )
        if quantity == 0:
            if line is not None:
                line.delete()
                return None
            _visible_product(session, sku)
            return None

        if line is not None and line.quote_line_id is not None:
            raise QuoteLineLocked(
                f"Cart line {line.line_number} comes from quote line {line.quote_reference} at its agreed quantity; "
                "remove the line, or ask your sales contact for a quote with another quantity."
            )
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
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    invalid = ProductNotAvailable(f"Cart line number {echo_value(value)} is invalid; reload the cart.")
    if not text.isdigit() or len(text) > 9:
        raise invalid
    try:
        return int(text)
    except ValueError:
        # isdigit() is also true for digits int() does not read, such as the superscript "²".
        raise invalid from None


def ensure_cart_changeable(*, session: PunchOutSession) -> None:
    """Raise SessionReadOnly for inspect and detail sessions and CartAlreadyReturned after the return."""
    if session.is_read_only:
        raise SessionReadOnly(
            "This cart is open for viewing only (inspect); it cannot be changed or returned. "
            "Start an edit session from your procurement system to change it."
        )
    if session.state == PunchOutSession.State.RETURNED:
        raise _cart_already_returned()


def _cart_already_returned() -> CartAlreadyReturned:
    return CartAlreadyReturned(
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
            raise _cart_already_returned()
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
    """Price cart lines at their quantities with one pricing call; a line loaded from a quote keeps its price."""
    lines = list(lines)
    pricing = price_lines(
        customer=session.connection.customer,
        lines=[(line.product, line.quantity) for line in lines],
    )
    return lock_quoted_prices(lines=lines, pricing=pricing)


def lock_quoted_prices(*, lines: Sequence[CartLine], pricing: PricingResult) -> PricingResult:
    """Return the pricing with each quote line's price replaced by its quoted net price and currency."""
    if not any(line.quoted_unit_price is not None for line in lines):
        return pricing
    return dataclasses.replace(pricing, lines=quoted_line_prices(lines=lines, priced_lines=pricing.lines))


def quoted_line_prices(*, lines: Sequence[CartLine], priced_lines: Sequence[PricedLine]) -> tuple[PricedLine, ...]:
    """Return the cart lines' prices, with each quote line's price replaced by its quoted net price and currency."""
    return tuple(
        dataclasses.replace(
            priced,
            unit_price=line.quoted_unit_price,
            currency=line.quoted_currency,
            reason_code=None,
            reason=None,
        )
        if line.quoted_unit_price is not None
        else priced
        for line, priced in zip(lines, priced_lines, strict=True)
    )


def _visible_product(session: PunchOutSession, sku: str) -> Product:
    product = (
        visible_products(customer=session.connection.customer, contract=session.contract)
        .select_related("unit")
        .filter(sku=sku)
        .first()
    )
    if product is None:
        raise ProductNotAvailable(f"Product {echo_value(sku)} is not in your catalog; search the catalog for another.")
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
