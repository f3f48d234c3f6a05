"""SAP OCI 4.0/5.0: the HOOK_URL, the return form's NEW_ITEM-* fields and their formats.

Field names, order and lengths follow SAP's Open Catalog Interface 4.0 and
5.0 documents (the return form, "NEW_ITEM-<FIELD>[n]", index from 1):
DESCRIPTION 40, MATNR 40, QUANTITY 15, UNIT 3, PRICE 15, CURRENCY 5,
PRICEUNIT 5, LEADTIME 5, LONGTEXT_n:132[] unlimited, VENDOR 10, VENDORMAT 40,
MANUFACTMAT 40, EXT_QUOTE_ID 35, EXT_QUOTE_ITEM 10, EXT_PRODUCT_ID 40,
EXT_SCHEMA_TYPE 10, EXT_CATEGORY_ID 60, CUST_FIELD4 20, CUST_FIELD5 50. Numbers use a decimal point, no thousands
separator and no leading blanks.
"""

import codecs
import logging
from collections.abc import Iterable
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from apps.catalog.models import Product, UnitOfMeasure
from apps.contracts.pricing import PricedLine
from apps.core.money import minor_units
from apps.punchout.errors import OCIValueTooLong, UnitNotMapped
from apps.quotes.line_references import parse_quote_line_reference

logger = logging.getLogger(__name__)

DESCRIPTION_LENGTH = 40
NUMBER_LENGTH = 15
UNIT_LENGTH = 3
CURRENCY_LENGTH = 5
PRICE_UNIT_LENGTH = 5
LEAD_TIME_LENGTH = 5
ID_LENGTH = 40
VENDOR_LENGTH = 10
SCHEMA_TYPE_LENGTH = 10
CATEGORY_ID_LENGTH = 60
CUST_FIELD4_LENGTH = 20
CUST_FIELD5_LENGTH = 50
QUOTE_ID_LENGTH = 35
QUOTE_ITEM_LENGTH = 10
# Price units tried in turn until the price per price unit needs no more
# decimals than the currency has: a price of 0.0125 EUR goes as 1.25 per 100.
PRICE_UNITS = (1, 10, 100, 1000, 10000)
DEFAULT_CHARSET = "utf-8"


# A page's worth of markup, with a label longer than 63 characters and characters outside Latin-1.
_CHARSET_PROBE = "<p>" + "a" * 80 + " \u20ac \u4e2d</p>"
_ASCII_PROBE = '<form action="x">'


def split_hook_url(url: str) -> tuple[str, list[tuple[str, str]]]:
    """Return the HOOK_URL without its query and fragment, and its query parameters as (name, value) pairs.

    SAP's OCI documents ask the catalog to post the return form to the bare
    URL and to send the query parameters back as hidden fields.
    """
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), pairs


def charset_or_default(value: str) -> str:
    """Return the http_content_charset's Python codec name when it can encode a page, else UTF-8 (logged).

    Python also knows codecs that are no charset of a web page (rot13,
    base64, punycode) or that fail on long text (idna). A name is used only
    when it encodes a sample page with character references and writes ASCII
    markup as ASCII, or is UTF-16 or UTF-32.
    """
    name = (value or "").strip()
    if not name:
        return DEFAULT_CHARSET
    try:
        codec = codecs.lookup(name).name
        writes_ascii = _ASCII_PROBE.encode(name) == _ASCII_PROBE.encode("ascii")
        _CHARSET_PROBE.encode(name, errors="xmlcharrefreplace")
    except (LookupError, UnicodeError, ValueError, TypeError):
        writes_ascii, codec = False, ""
    if not writes_ascii and not codec.startswith(("utf-16", "utf-32")):
        logger.warning("OCI http_content_charset unusable, UTF-8 used", extra={"charset": name[:40]})
        return DEFAULT_CHARSET
    return name.lower()


def format_quantity(quantity: Decimal) -> str:
    """Format a quantity with a decimal point and at most 3 decimals, without trailing zeros."""
    text = format(quantity.quantize(Decimal("0.001")).normalize(), "f")
    if len(text) > NUMBER_LENGTH:
        raise OCIValueTooLong(f"Quantity {text} is longer than OCI's {NUMBER_LENGTH} characters; split the line.")
    return text


def format_price(unit_price: Decimal, currency: str) -> tuple[str, str]:
    """Return (PRICE, PRICEUNIT): the price per price unit with the currency's decimals, and the price unit.

    The smallest price unit from PRICE_UNITS that carries the price exactly is
    chosen; a price finer than all of them is rounded at 10,000 units.
    """
    places = minor_units(currency)
    step = Decimal(1).scaleb(-places)
    for price_unit in PRICE_UNITS:
        scaled = unit_price * price_unit
        if scaled == scaled.quantize(step) or price_unit == PRICE_UNITS[-1]:
            text = format(scaled.quantize(step), "f")
            if len(text) > NUMBER_LENGTH:
                raise OCIValueTooLong(
                    f"Price {text} {currency} is longer than OCI's {NUMBER_LENGTH} characters; it cannot be sent."
                )
            return text, str(price_unit)
    raise AssertionError("PRICE_UNITS is empty")  # pragma: no cover


def unit_code(unit: UnitOfMeasure, buyer_units: dict[int, str]) -> str:
    """Return the code sent as NEW_ITEM-UNIT, or raise UnitNotMapped.

    A buyer's own code wins. Otherwise the UN/CEFACT Recommendation 20 code
    is sent, which SAP's ISO unit codes follow; Recommendation 21 package
    codes (X...) and deleted codes have no ISO code, so they need a mapping.
    """
    mapped = buyer_units.get(unit.pk)
    if mapped:
        return mapped
    if unit.source != UnitOfMeasure.Source.REC20 or unit.status == UnitOfMeasure.Status.DELETED:
        raise UnitNotMapped(
            f"Unit {unit.code} ({unit.name}) has no ISO code that SAP takes; the cart was not sent. "
            "Ask the supplier to map the unit for your procurement system, or remove the product."
        )
    if len(unit.code) > UNIT_LENGTH:
        raise UnitNotMapped(f"Unit {unit.code} is longer than OCI's {UNIT_LENGTH} characters; the cart was not sent.")
    return unit.code


def item_fields(
    *,
    index: int,
    product: Product,
    quantity: Decimal,
    priced: PricedLine,
    buyer_part_id: str,
    buyer_units: dict[int, str],
    vendor_number: str = "",
    contract_number: str = "",
    line_reference: str = "",
    quote_reference: str = "",
) -> list[tuple[str, str]]:
    """Return one item's NEW_ITEM-* fields, in the order of SAP's field list, for line ``index`` (from 1).

    ``quote_reference`` is the quote line reference of a line loaded from a
    quote (``QUOTE:<quote reference>:<position>``); it is sent split into
    EXT_QUOTE_ID and EXT_QUOTE_ITEM.
    """
    sku = product.sku
    for label, value in (("VENDORMAT", sku), ("EXT_PRODUCT_ID", sku)):
        if len(value) > ID_LENGTH:
            raise OCIValueTooLong(
                f"SKU {sku} is longer than OCI's {ID_LENGTH} characters for NEW_ITEM-{label}; it cannot be sent."
            )
    price, price_unit = format_price(priced.unit_price, priced.currency)
    name = " ".join(product.name.split())
    long_text = "\n".join(
        part for part in (name if len(name) > DESCRIPTION_LENGTH else "", product.description) if part
    )

    fields: list[tuple[str, str]] = [("DESCRIPTION", name[:DESCRIPTION_LENGTH])]
    if buyer_part_id:
        fields.append(("MATNR", buyer_part_id[:ID_LENGTH]))
    fields += [
        ("QUANTITY", format_quantity(quantity)),
        ("UNIT", unit_code(product.unit, buyer_units)),
        ("PRICE", price),
        ("CURRENCY", priced.currency[:CURRENCY_LENGTH]),
        ("PRICEUNIT", price_unit),
        ("LEADTIME", str(min(product.lead_time_days, 10**LEAD_TIME_LENGTH - 1))),
    ]
    named = [(f"NEW_ITEM-{field}[{index}]", value) for field, value in fields]
    if long_text:
        # The index goes before the colon and the brackets stay empty, as SAP's documents write it.
        named.append((f"NEW_ITEM-LONGTEXT_{index}:132[]", long_text))

    tail: list[tuple[str, str]] = []
    if vendor_number:
        tail.append(("VENDOR", vendor_number[:VENDOR_LENGTH]))
    tail.append(("VENDORMAT", sku))
    tail += _optional_identifier("MANUFACTMAT", product.manufacturer_part_number, sku)
    tail += _quote_fields(quote_reference)
    tail.append(("EXT_PRODUCT_ID", sku))
    if product.unspsc:
        tail += [("EXT_SCHEMA_TYPE", "UNSPSC"), ("EXT_CATEGORY_ID", product.unspsc[:CATEGORY_ID_LENGTH])]
    if contract_number:
        tail.append(("CUST_FIELD4", contract_number[:CUST_FIELD4_LENGTH]))
    if line_reference:
        tail.append(("CUST_FIELD5", line_reference[:CUST_FIELD5_LENGTH]))
    named += [(f"NEW_ITEM-{field}[{index}]", value) for field, value in tail]
    return named


def cart_fields(*, session, lines: Iterable[tuple[object, PricedLine]], mappings) -> list[tuple[str, str]]:
    """Return the NEW_ITEM-* fields of a session's priced cart lines, numbered from 1 without gaps."""
    fields: list[tuple[str, str]] = []
    for index, (line, priced) in enumerate(lines, start=1):
        fields += item_fields(
            index=index,
            product=line.product,
            quantity=line.quantity,
            priced=priced,
            buyer_part_id=mappings.part_numbers.get(line.product_id, ""),
            buyer_units=mappings.units,
            vendor_number=session.connection.oci_vendor_number,
            contract_number=session.contract.number,
            line_reference=line.cart_reference,
            quote_reference=line.quote_reference,
        )
    return fields


def _quote_fields(quote_reference: str) -> list[tuple[str, str]]:
    """Return EXT_QUOTE_ID and EXT_QUOTE_ITEM of a quote line reference, or [] for a line not from a quote.

    Neither value is cut: a quote reference longer than 35 characters raises OCIValueTooLong.
    """
    if not quote_reference:
        return []
    parsed = parse_quote_line_reference(quote_reference)
    if parsed is None:
        raise OCIValueTooLong(f"Quote line reference {quote_reference!r} is invalid; the cart was not sent.")
    reference, position = parsed
    if len(reference) > QUOTE_ID_LENGTH or len(str(position)) > QUOTE_ITEM_LENGTH:
        raise OCIValueTooLong(
            f"Quote {reference} line {position} is longer than OCI's {QUOTE_ID_LENGTH} characters for "
            f"NEW_ITEM-EXT_QUOTE_ID or {QUOTE_ITEM_LENGTH} for NEW_ITEM-EXT_QUOTE_ITEM; it cannot be sent."
        )
    return [("EXT_QUOTE_ID", reference), ("EXT_QUOTE_ITEM", str(position))]


def _optional_identifier(field: str, value: str, sku: str) -> list[tuple[str, str]]:
    """Return the field when the value fits its length; a longer one is left out, because cutting breaks it."""
    if not value:
        return []
    if len(value) > ID_LENGTH:
        logger.warning(
            "OCI field left out: value longer than its length", extra={"field": field, "sku": sku, "length": len(value)}
        )
        return []
    return [(field, value)]
