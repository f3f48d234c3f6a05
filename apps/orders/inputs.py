"""The channel-agnostic input of order intake, and the strict reading of its numbers.

Every channel (cXML, OCI, the API, quotes, staff) fills these dataclasses
with the values as received, as text where the sender wrote text. Intake
reads quantities and money here, so that every channel refuses the same
things: scientific notation ("1e3"), decimal commas ("2,50"), signs,
thousands separators, and more decimals than the currency's minor unit
allows. Each refusal names the line and the value.
"""

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal

from apps.core.money import InvalidCurrency, minor_units, validate_currency

# Quantities fit the 14-digit, 3-decimal columns.
MAX_QUANTITY_DECIMALS = 3
MAX_QUANTITY = Decimal(10) ** 11
# Unit prices may be finer than the currency's minor unit (sub-cent items such
# as screws), up to the 4 decimals of the price columns. Currencies without a
# minor unit (JPY, KRW) are the exception: there a fraction of the unit is rejected.
MAX_UNIT_PRICE_DECIMALS = 4
MAX_MONEY = Decimal(10) ** 14

_PLAIN_DECIMAL = re.compile(r"^\d+(\.\d+)?$")
_EXPONENT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")
_DECIMAL_COMMA = re.compile(r"^\d+,\d+$")


@dataclass(frozen=True)
class LineInput:
    """One line as the channel received it; numbers may be text, a Decimal or an int."""

    line_number: str
    sku: str
    quantity: object
    unit: str = ""
    unit_price: object = None
    currency: str | None = None
    description: str = ""
    supplier_part_auxiliary_id: str = ""
    requested_delivery_date: dt.date | None = None
    classification: dict = field(default_factory=dict)
    extrinsics: dict = field(default_factory=dict)
    comments: str = ""
    tax: object = None


@dataclass(frozen=True)
class OrderInput:
    """A request to create, change or cancel an order, from any channel.

    ``source`` is the channel's key of the sender and ``document_id`` the
    sender's id of this document (a cXML payloadID or an API idempotency
    key); together they make intake idempotent. ``refers_to`` is the
    document id of the order an update or delete changes.
    """

    channel: str
    source: str
    customer: object
    document_id: str
    operation: str
    po_number: str
    lines: tuple[LineInput, ...] = ()
    currency: str | None = None
    total: object = None
    tax: object = None
    refers_to: str = ""
    order_date: dt.datetime | None = None
    requested_delivery_date: dt.date | None = None
    ship_to: dict = field(default_factory=dict)
    bill_to: dict = field(default_factory=dict)
    contact: dict = field(default_factory=dict)
    extrinsics: dict = field(default_factory=dict)
    comments: str = ""
    is_test: bool = False
    body: str = ""
    contract: object = None
    cart: "CartReference | None" = None


@dataclass(frozen=True)
class CartLineReference:
    """One line of the cart a PunchOut session returned: our reference for it, the SKU and the quantity."""

    reference: str
    sku: str
    quantity: Decimal


@dataclass(frozen=True)
class CartReference:
    """The cart that a PunchOut session returned, which an order that follows it is compared with."""

    session_id: str
    lines: tuple[CartLineReference, ...]
    ship_to: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedLine:
    position: int
    source: LineInput
    quantity: Decimal
    unit_price: Decimal | None
    currency: str
    tax: Decimal | None


@dataclass(frozen=True)
class ParsedOrder:
    currency: str
    total: Decimal | None
    tax: Decimal | None
    lines: tuple[ParsedLine, ...]


class InvalidNumber(ValueError):
    """A number written in a way intake does not read; the message states why and what to send instead."""


def parse_quantity(raw: object) -> Decimal:
    """Read a positive quantity in plain decimal notation with at most 3 decimals."""
    value = _plain_decimal(raw, expected="a quantity greater than zero")
    if value <= 0:
        raise InvalidNumber(f"{_show(raw)} is not greater than zero")
    if value >= MAX_QUANTITY:
        raise InvalidNumber(f"{_show(raw)} is too large; the largest quantity is below {MAX_QUANTITY:,}")
    if _decimals(value) > MAX_QUANTITY_DECIMALS:
        raise InvalidNumber(f"{_show(raw)} has more than {MAX_QUANTITY_DECIMALS} decimals")
    return value


def parse_money(raw: object, currency: str, *, unit_price: bool = False) -> Decimal:
    """Read a non-negative amount in ``currency``, with no more decimals than the currency allows.

    An amount (a total, a tax) has at most the currency's minor unit decimals,
    none for JPY. A unit price may have up to 4 where the currency has a minor
    unit. Trailing zeros never count, so "1505.0" USD and "100.00" JPY pass.
    """
    value = _plain_decimal(raw)
    places = minor_units(currency)
    allowed = max(places, MAX_UNIT_PRICE_DECIMALS) if unit_price and places > 0 else places
    if _decimals(value) > allowed:
        unit = "no decimals" if allowed == 0 else f"at most {allowed} decimals"
        raise InvalidNumber(f"{_show(raw)} has more decimals than {currency} allows ({unit})")
    if value >= MAX_MONEY:
        raise InvalidNumber(f"{_show(raw)} is too large")
    return value


def parse_order(order: OrderInput) -> tuple[ParsedOrder | None, list[str]]:
    """Read every number of the order; return the parsed order, or None and the reasons for each problem."""
    reasons: list[str] = []
    currency = _currency(order, reasons)
    if not (order.po_number or "").strip():
        reasons.append("The order has no PO number (orderID); send the buyer's purchase order number.")
    elif len(order.po_number.strip()) > 64:
        reasons.append(f"PO number {order.po_number[:70]!r} is longer than 64 characters.")
    if order.operation != "delete" and not order.lines:
        reasons.append("The order has no lines; send at least one line.")

    total = _optional_money(order.total, currency, "The order total", reasons)
    tax = _optional_money(order.tax, currency, "The order tax", reasons)

    parsed_lines = []
    seen_numbers: set[str] = set()
    for position, line in enumerate(order.lines, start=1):
        label = _line_label(position, line)
        if not (line.sku or "").strip():
            reasons.append(f"{label} has no supplier part ID; send our SKU.")
        number = (line.line_number or str(position)).strip()
        if number in seen_numbers:
            reasons.append(f"{label} repeats line number {number}; each line needs its own.")
        seen_numbers.add(number)
        try:
            quantity = parse_quantity(line.quantity)
        except InvalidNumber as error:
            reasons.append(f"{label}: the quantity {error}.")
            quantity = None
        line_currency = currency
        if line.currency and currency:
            try:
                line_currency = validate_currency(line.currency)
            except InvalidCurrency as error:
                reasons.append(f"{label}: {error}")
            if line_currency != currency:
                reasons.append(f"{label} is in {line.currency}, but the order is in {currency}; use one currency.")
        unit_price = None
        if line.unit_price is not None and currency:
            try:
                unit_price = parse_money(line.unit_price, currency, unit_price=True)
            except InvalidNumber as error:
                reasons.append(f"{label}: the unit price {error}.")
        line_tax = _optional_money(line.tax, currency, f"{label}: the tax", reasons)
        if quantity is not None and currency:
            parsed_lines.append(
                ParsedLine(
                    position=position,
                    source=line,
                    quantity=quantity,
                    unit_price=unit_price,
                    currency=currency,
                    tax=line_tax,
                )
            )
    if reasons:
        return None, reasons
    return ParsedOrder(currency=currency, total=total, tax=tax, lines=tuple(parsed_lines)), []


def _currency(order: OrderInput, reasons: list[str]) -> str | None:
    raw = order.currency or next((line.currency for line in order.lines if line.currency), None)
    if raw is None:
        raw = getattr(order.customer, "currency", None)
    try:
        return validate_currency(raw or "")
    except InvalidCurrency as error:
        reasons.append(str(error))
        return None


def _optional_money(raw: object, currency: str | None, label: str, reasons: list[str]) -> Decimal | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()) or currency is None:
        return None
    try:
        return parse_money(raw, currency)
    except InvalidNumber as error:
        reasons.append(f"{label} {error}.")
        return None


def _plain_decimal(raw: object, *, expected: str = "an amount of zero or more") -> Decimal:
    """Read ``raw`` as a decimal of zero or more; a JSON number arrives as a Decimal or an int, with its sign."""
    if isinstance(raw, float):
        raise InvalidNumber(f"{raw!r} is a binary float; send the number as text such as 12.50")
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            raise InvalidNumber(f"{raw!r} is not a finite number")
        value = raw
    elif isinstance(raw, int) and not isinstance(raw, bool):
        value = Decimal(raw)
    else:
        value = _decimal_from_text(raw)
    if value < 0:
        raise InvalidNumber(f"{_show(raw)} is negative; send {expected}")
    return value


def _decimal_from_text(raw: object) -> Decimal:
    text = "" if raw is None else str(raw).strip()
    if not text:
        raise InvalidNumber("is missing")
    if _EXPONENT.match(text):
        raise InvalidNumber(f"{_show(raw)} uses scientific notation; write it out, such as 1000 for 1e3")
    if _DECIMAL_COMMA.match(text):
        raise InvalidNumber(f"{_show(raw)} uses a decimal comma; use a decimal point, such as 2.50")
    if text.startswith("-") and _PLAIN_DECIMAL.match(text[1:]):
        return Decimal(text)
    if not _PLAIN_DECIMAL.match(text):
        raise InvalidNumber(f"{_show(raw)} is not a plain decimal number such as 12.50")
    return Decimal(text)


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _show(raw: object) -> str:
    text = str(raw)
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _line_label(position: int, line: LineInput) -> str:
    number = (line.line_number or "").strip()
    return f"Line {number}" if number else f"Line {position}"
