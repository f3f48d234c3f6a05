"""The checks every order goes through after intake; each failed check opens an exception case on the order.

A case concerns the order (never the line), so that ``has_blocking_open_cases(order)``
finds every problem; ``facts["line_position"]`` names the line of a line-level case.
The cause key (``line:<position>:<check>`` or ``order:<check>``) makes a check
that fails again on the same line find its case instead of opening another.

Checks, in order: unit of measure (a unit convertible to the product's is
converted, see ``_check_units``); unknown, inactive or not-offered product;
the buyer's price against ours beyond ``ORDER_PRICE_TOLERANCE_PERCENT``
(an order from an accepted quote keeps the quoted price, and a line that
refers to a quote line is compared with the quoted price instead);
stock across active warehouses; credit hold and credit limit (the exposure
counts the customer's other open orders and unpaid invoices, see
``apps.orders.credit``); a line without a tax rate in a country that has
rates, and the buyer's tax against ours (``apps.tax.services``) beyond
``ORDER_TAX_TOLERANCE_MINOR_UNITS``. Test orders skip the stock and credit
checks, because they never reach allocation.
"""

import logging
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import partial

from django.conf import settings
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from apps.catalog.conversions import is_counted, pack_size_of, unit_conversion
from apps.catalog.models import UnitAlias
from apps.catalog.units import match_units, normalise_unit_spelling
from apps.contracts.pricing import price_lines
from apps.core.money import minor_units, round_money
from apps.exceptions.models import CaseKind
from apps.exceptions.services import case_open
from apps.orders import allocation, credit
from apps.orders import quoted as quoted_lines
from apps.orders.models import Channel, LineStatus, Order, OrderLine
from apps.tax.services import TaxableLine, compute_tax, order_ship_to

logger = logging.getLogger(__name__)

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_QUANTITY_STEP = Decimal("0.001")
_UNIT_PRICE_STEP = Decimal("0.0001")
_FACTOR_STEP = Decimal("0.000000000001")

_UNIT_CONTEXTS = {Channel.CXML: UnitAlias.Context.CXML, Channel.OCI: UnitAlias.Context.OCI}

# The price source of an order line that takes an accepted quote's price.
QUOTED_PRICE_SOURCE = "quote"

_PRICED_FIELDS = [
    "contract_unit_price",
    "price_source",
    "unit_price",
    "unit",
    "quantity",
    "buyer_unit_price",
    "ordered_quantity",
    "ordered_unit_price",
    "unit_factor",
    "updated_at",
]


def validate_order(*, order: Order, lines: list[OrderLine] | None = None) -> list:
    """Price the order's lines, set its totals and open a case for each failed check; return the cases.

    ``lines`` may be unsaved (intake checks them before inserting them in one
    statement); saved lines are updated here. A saved order is locked by the
    caller and saved here. An unsaved order is left to the caller to insert,
    and its cases wait in ``order.pending_cases`` until ``open_pending_cases``.
    """
    if lines is None:
        lines = list(order.lines.select_related("product", "product__unit", "product__category"))
    active = [line for line in lines if line.status != LineStatus.CANCELLED]
    cases = []

    # Units first, because a converted line is priced at its quantity in the product's unit.
    cases += _check_units(order, active)
    cases += _check_products_and_prices(order, active)
    _set_totals(order, active)
    if not order.is_test:
        cases += _check_stock(order, active)
        cases += _check_credit(order)
    cases += _check_tax(order)
    saved = [line for line in active if line.pk is not None]
    if saved:
        now = timezone.now()
        for line in saved:
            line.updated_at = now
        bulk_update_with_history(saved, OrderLine, _PRICED_FIELDS, batch_size=500)
    if order.pk is not None:
        order.save(update_fields=["contract", "subtotal", "tax_total", "total", "updated_at"])
    return cases


def open_stock_cases(*, order: Order, shortages: list[dict], lines: list[OrderLine] | None = None) -> list:
    """Open an out-of-stock case for each product short, naming the lines that need it."""
    if lines is None:
        lines = list(order.lines.filter(status=LineStatus.OPEN, product__isnull=False))
    lines_by_product: dict[int, list[OrderLine]] = {}
    for line in lines:
        if line.status != LineStatus.OPEN or line.product_id is None:
            continue
        lines_by_product.setdefault(line.product_id, []).append(line)
    cases = []
    for shortage in shortages:
        for line in lines_by_product.get(shortage["product_id"], []):
            cases.append(
                _open(
                    order,
                    CaseKind.OUT_OF_STOCK,
                    line=line,
                    check="stock",
                    summary=f"{line.sku}: {shortage['needed']} needed, {shortage['available']} available",
                    facts={"needed": shortage["needed"], "available": shortage["available"]},
                )
            )
    return cases


def _check_products_and_prices(order: Order, lines: list[OrderLine]) -> list:
    cases = []
    known = [line for line in lines if line.product_id is not None]
    # The lines carry their products as intake just read them (with unit and category), so pricing reads none.
    pricing = price_lines(
        customer=order.customer,
        lines=[(line.product_id, line.quantity) for line in known],
        products={line.product_id: line.product for line in known},
    )
    order.contract = pricing.contract
    tolerance = Decimal(str(getattr(settings, "ORDER_PRICE_TOLERANCE_PERCENT", "0")))
    quoted = quoted_lines.quoted_prices(order=order, lines=known) if order.channel != Channel.QUOTE else {}

    for line in lines:
        if line.product_id is None:
            cases.append(
                _open(
                    order,
                    CaseKind.UNKNOWN_PRODUCT,
                    line=line,
                    check="product",
                    summary=f"Unknown SKU {line.sku!r} on line {line.line_number}",
                    facts={"reason": "unknown_product", "description": line.description},
                )
            )
    for line, priced in zip(known, pricing.lines, strict=True):
        if not priced.priced:
            line.contract_unit_price = None
            line.price_source = ""
            line.unit_price = line.buyer_unit_price
            if priced.reason_code in ("unknown_product", "inactive_product", "not_in_assortment"):
                cases.append(
                    _open(
                        order,
                        CaseKind.UNKNOWN_PRODUCT,
                        line=line,
                        check="product",
                        summary=f"{line.sku} on line {line.line_number}: {priced.reason_code.label}",
                        facts={"reason": str(priced.reason_code), "detail": priced.reason},
                    )
                )
            else:
                cases.append(_price_case(order, line, reason=priced.reason, ours=None, currency=pricing.currency))
            continue

        line.contract_unit_price = priced.unit_price
        line.price_source = str(priced.source)
        if priced.currency != line.currency:
            line.unit_price = line.buyer_unit_price
            cases.append(
                _price_case(
                    order,
                    line,
                    reason=f"our price is in {priced.currency}, the buyer's in {line.currency}",
                    ours=priced.unit_price,
                    currency=priced.currency,
                )
            )
            continue
        if line.position in quoted:
            cases += _check_quoted_price(order, line, quoted[line.position], priced, tolerance)
            continue
        if order.channel == Channel.QUOTE and line.buyer_unit_price is not None:
            # An accepted quote's net price is the agreed price: its approvals already covered the discount.
            line.unit_price = line.buyer_unit_price
            line.price_source = QUOTED_PRICE_SOURCE
            continue
        if line.buyer_unit_price is None or not _differs(line.buyer_unit_price, priced.unit_price, tolerance):
            # Within the tolerance the order keeps the buyer's price, which the buyer's invoice check expects.
            line.unit_price = priced.unit_price if line.buyer_unit_price is None else line.buyer_unit_price
            continue
        line.unit_price = priced.unit_price
        cases.append(_price_case(order, line, reason="price differs", ours=priced.unit_price, currency=priced.currency))
    return cases


def _check_quoted_price(order, line, quoted, priced, tolerance: Decimal) -> list:
    """Give a line that refers to a quote line the quoted price; open a price case when the buyer's differs.

    A quote the line cannot take its price from (``quoted.problem``) leaves
    the contract price, and the case names the problem.
    """
    if quoted.problem or quoted.unit_price is None:
        line.unit_price = priced.unit_price
        return [_price_case(order, line, reason=quoted.problem, ours=priced.unit_price, currency=priced.currency)]

    line.unit_price = quoted.unit_price
    line.price_source = QUOTED_PRICE_SOURCE
    if quoted.currency != line.currency:
        reason = f"quote {quoted.reference} is in {quoted.currency}, the buyer's price in {line.currency}"
    elif line.buyer_unit_price is not None and _differs(line.buyer_unit_price, quoted.unit_price, tolerance):
        reason = f"price differs from quote {quoted.reference} line {quoted.position}"
    else:
        return []
    return [_price_case(order, line, reason=reason, ours=quoted.unit_price, currency=quoted.currency)]


def _differs(buyer: Decimal, ours: Decimal, tolerance_percent: Decimal) -> bool:
    if ours == 0:
        return buyer != 0
    return abs(buyer - ours) * _HUNDRED / ours > tolerance_percent


def _price_case(order, line, *, reason, ours, currency):
    return _open(
        order,
        CaseKind.PRICE_MISMATCH,
        line=line,
        check="price",
        summary=f"{line.sku} line {line.line_number}: buyer {line.buyer_unit_price}, ours {ours} {currency}",
        facts={
            "buyer_price": line.buyer_unit_price,
            "our_price": ours,
            "currency": currency,
            "buyer_currency": line.currency,
            "reason": reason,
        },
    )


def _check_units(order: Order, lines: list[OrderLine]) -> list:
    """Resolve each line's unit; convert a line in another convertible unit to the product's, else open a case.

    A converted line keeps what the buyer sent in ``ordered_quantity`` and
    ``ordered_unit_price``, and its quantity, unit and buyer's price are then
    in the product's unit, which stock, pricing and the documents use. A
    conversion applies only when it is exact: at most 3 decimals, and whole
    numbers for items and packages.
    """
    cases = []
    known = [line for line in lines if line.product_id is not None]
    context = _UNIT_CONTEXTS.get(order.channel, UnitAlias.Context.ERP)
    # A line that names its product's unit code needs no lookup, which saves two queries for most orders.
    # NOTE: an alias that spells one unit code but means another unit is not applied to such a line.
    to_look_up = {
        line.unit_text
        for line in known
        if line.unit_text and normalise_unit_spelling(line.unit_text) != line.product.unit.code
    }
    matches = match_units(to_look_up, context=context)
    for line in known:
        _undo_conversion(line)
        product_unit = line.product.unit
        if not line.unit_text or line.unit_text not in to_look_up:
            line.unit = product_unit
            continue
        unit = matches.units.get(line.unit_text)
        line.unit = unit
        if unit is not None and unit.pk == product_unit.pk:
            continue
        if unit is None:
            error = matches.errors.get(line.unit_text)
            reason = str(error) if error else "the unit is unknown"
        else:
            reason = _convert_line(line, unit, product_unit)
            if not reason:
                continue
        cases.append(
            _open(
                order,
                CaseKind.UNIT_OF_MEASURE,
                line=line,
                check="unit",
                summary=f"{line.sku} line {line.line_number}: unit {line.unit_text!r}, product sold in "
                f"{product_unit.code}",
                facts={
                    "unit_received": line.unit_text,
                    "unit_resolved": unit.code if unit is not None else None,
                    "product_unit": product_unit.code,
                    "reason": reason,
                },
            )
        )
    return cases


def _undo_conversion(line: OrderLine) -> None:
    """Put back what the buyer sent on a line converted by an earlier check, so that it converts afresh."""
    if line.unit_factor is None:
        return
    line.quantity = line.ordered_quantity
    line.buyer_unit_price = line.ordered_unit_price
    line.ordered_quantity = None
    line.ordered_unit_price = None
    line.unit_factor = None


def _convert_line(line: OrderLine, unit, product_unit) -> str:
    """Convert the line from ``unit`` to the product's unit; return why it cannot be converted, or "" when done."""
    conversion = unit_conversion(unit.code, product_unit.code, pack_size=pack_size_of(line.product.attributes))
    if conversion is None:
        return f"no conversion from {unit.code} to {product_unit.code} is known"
    converted = conversion.convert(line.quantity)
    if is_counted(product_unit.code) and converted.denominator != 1:
        return (
            f"{line.quantity.normalize():f} {unit.code} is {float(converted):.4g} {product_unit.code} "
            f"({conversion.basis}), and {product_unit.code} is sold in whole numbers"
        )
    if (converted * 1000).denominator != 1:
        return (
            f"{line.quantity.normalize():f} {unit.code} is {float(converted):.6g} {product_unit.code} "
            f"({conversion.basis}), which has more than 3 decimals"
        )

    line.ordered_quantity = line.quantity
    line.ordered_unit_price = line.buyer_unit_price
    line.unit_factor = _as_decimal(conversion.factor, _FACTOR_STEP)
    line.quantity = _as_decimal(converted, _QUANTITY_STEP)
    if line.buyer_unit_price is not None:
        line.buyer_unit_price = _as_decimal(Fraction(line.buyer_unit_price) / conversion.factor, _UNIT_PRICE_STEP)
    line.unit = product_unit
    logger.info(
        "Order line unit converted",
        extra={"order_id": line.order_id, "line": line.line_number, "conversion": line.conversion},
    )
    return ""


def _as_decimal(value: Fraction, step: Decimal) -> Decimal:
    """Round an exact fraction half up to ``step``."""
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(step, rounding=ROUND_HALF_UP)


def recompute_totals(order: Order) -> None:
    """Set the order's subtotal, tax and total from its active lines' agreed prices (the caller saves)."""
    _set_totals(order, list(order.lines.exclude(status=LineStatus.CANCELLED)))


def _set_totals(order: Order, lines: list[OrderLine]) -> None:
    """Set the subtotal, tax and total; the tax result stays on ``order.tax_result`` for the tax check."""
    currency = order.currency
    taxable = [
        TaxableLine(
            key=line.position,
            tax_class_id=line.product.tax_class_id if line.product_id is not None else None,
            amount=line.unit_price * line.quantity,
        )
        for line in lines
        if line.unit_price is not None
    ]
    tax = compute_tax(
        customer=order.customer,
        ship_to=order_ship_to(order),
        lines=taxable,
        currency=currency,
        on_date=timezone.localdate(order.created_at or timezone.now()),
    )
    subtotal = sum((line.amount for line in tax.lines), round_money(_ZERO, currency))
    order.tax_result = tax
    order.subtotal = subtotal
    order.tax_total = tax.total
    order.total = subtotal + tax.total


def _check_stock(order: Order, lines: list[OrderLine]) -> list:
    needed: dict[int, Decimal] = {}
    for line in lines:
        if line.product_id is not None and line.status == LineStatus.OPEN:
            needed[line.product_id] = needed.get(line.product_id, _ZERO) + line.quantity - line.quantity_allocated
    if not needed:
        return []
    # The rows, read without their locks, are kept for intake to plan the allocation on (see allocation).
    order.unlocked_stock = allocation.read_stock(needed)
    available = {
        product_id: sum((row.on_hand - row.reserved for row in rows), _ZERO).quantize(_QUANTITY_STEP)
        for product_id, rows in order.unlocked_stock.items()
    }
    shortages = [
        {"product_id": product_id, "needed": quantity, "available": max(available.get(product_id, _ZERO), _ZERO)}
        for product_id, quantity in needed.items()
        if available.get(product_id, _ZERO) < quantity
    ]
    return open_stock_cases(order=order, shortages=shortages, lines=lines) if shortages else []


def _check_credit(order: Order) -> list:
    customer = order.customer
    if customer.credit_hold:
        return [
            _open(
                order,
                CaseKind.CREDIT,
                check="credit_hold",
                summary=f"{customer.account_number} is on credit hold",
                facts={"reason": "credit_hold", "order_total": order.total, "currency": order.currency},
            )
        ]
    exposure = credit.exposure_of(customer, excluding=order)
    if exposure + order.total <= customer.credit_limit:
        return []
    return [
        _open(
            order,
            CaseKind.CREDIT,
            check="credit_limit",
            summary=f"{customer.account_number} would owe {exposure + order.total} over a limit of "
            f"{customer.credit_limit} {customer.currency}",
            facts={
                "reason": "credit_limit",
                "credit_limit": customer.credit_limit,
                "open_exposure": exposure,
                "order_total": order.total,
                "currency": customer.currency,
            },
        )
    ]


def _check_tax(order: Order) -> list:
    """Open a case for lines that no tax rate covers, and one when the buyer's tax differs from ours."""
    cases = []
    tax = getattr(order, "tax_result", None)
    if tax is not None and tax.missing:
        classes = sorted({line.tax_class for line in tax.missing})
        cases.append(
            _open(
                order,
                CaseKind.TAX_MISMATCH,
                check="tax_rate",
                summary=f"No tax rate for class {', '.join(classes)} in {tax.ship_to}; add one under Tax rates",
                facts={
                    "reason": "no_tax_rate",
                    "ship_to": str(tax.ship_to),
                    "tax_classes": classes,
                    "line_positions": [line.key for line in tax.missing],
                    "our_tax": order.tax_total,
                    "currency": order.currency,
                },
            )
        )
    if order.buyer_tax is None:
        return cases
    tolerance = getattr(settings, "ORDER_TAX_TOLERANCE_MINOR_UNITS", 1) * Decimal(1).scaleb(
        -minor_units(order.currency)
    )
    if abs(order.buyer_tax - order.tax_total) <= tolerance:
        return cases
    cases.append(
        _open(
            order,
            CaseKind.TAX_MISMATCH,
            check="tax",
            summary=f"Buyer's tax {order.buyer_tax}, ours {order.tax_total} {order.currency}",
            facts={
                "buyer_tax": order.buyer_tax,
                "our_tax": order.tax_total,
                "currency": order.currency,
                "ship_to": str(tax.ship_to) if tax is not None else "",
                "exemption": tax.exemption if tax is not None else "",
                "tolerance": tolerance,
            },
        )
    )
    return cases


def open_pending_cases(order: Order) -> list:
    """Open the cases that checks of the order found before it was saved; return them.

    The order must have been inserted by the current transaction, so no case
    of it exists yet (``case_open``'s ``concerning_created``). The exception
    is a case that an earlier pending case of the same kind and cause opened,
    and ``case_open`` returns that one again, as it would for any order.
    """
    pending = getattr(order, "pending_cases", None) or []
    order.pending_cases = []
    cases = []
    opened = set()
    for open_case in pending:
        key = (open_case.keywords["kind"], open_case.keywords["cause_key"])
        cases.append(_open_now(order, partial(open_case, concerning_created=key not in opened)))
        opened.add(key)
    return cases


def has_pending_cases(order: Order) -> bool:
    """Return whether checks of the unsaved order found problems whose cases wait for its insert."""
    return bool(getattr(order, "pending_cases", None))


def _open(order: Order, kind: str, *, check: str, summary: str, facts: dict, line: OrderLine | None = None):
    """Open a case for a failed check; for an order not saved yet, keep it until ``open_pending_cases``."""
    cause_key = f"line:{line.position}:{check}" if line is not None else f"order:{check}"
    if line is not None:
        facts = {"line_position": line.position, "line_number": line.line_number, "sku": line.sku, **facts}
    # Order value and routing are read when the case opens, so a kept case routes by the final total.
    open_case = partial(
        _open_case,
        order,
        kind=kind,
        facts=facts,
        summary=summary[:300],
        cause_key=cause_key,
        sku=(line.sku if line is not None else "")[:64],
    )
    if order.pk is None:
        if getattr(order, "pending_cases", None) is None:
            order.pending_cases = []
        order.pending_cases.append(open_case)
        return open_case
    return _open_now(order, open_case)


def _open_now(order: Order, open_case):
    case = open_case()
    logger.info(
        "Order check failed",
        extra={"order_id": order.pk, "case_id": case.pk, "kind": case.kind, "cause": case.cause_key},
    )
    return case


def _open_case(
    order: Order, *, kind: str, facts: dict, summary: str, cause_key: str, sku: str, concerning_created: bool = False
):
    return case_open(
        kind=kind,
        concerning=order,
        customer=order.customer,
        facts=facts,
        summary=summary,
        cause_key=cause_key,
        reference=order.number,
        po_number=order.po_number[:64],
        sku=sku,
        order_value=order.total,
        currency=order.currency,
        region=order.customer.region or None,
        concerning_created=concerning_created,
    )


def reconcile_cart(*, order: Order, lines: list[OrderLine], cart) -> list:
    """Compare the order with the PunchOut cart it follows, store the differences, and open cases where they matter.

    Lines are matched by our cart-line reference (SupplierPartAuxiliaryID).
    Every difference is stored in ``order.cart_differences``. A line that was
    not in the cart, a line whose product changed, and a different ship-to
    address each open an integration-conflict case, because the PunchOut session
    never showed them to the buyer with our prices and checks. Changed quantities and removed lines are only stored.
    """
    differences = []
    cases = []
    cart_lines = {cart_line.reference: cart_line for cart_line in cart.lines}
    matched = set()
    for line in lines:
        cart_line = cart_lines.get(line.supplier_part_auxiliary_id.strip())
        if cart_line is None:
            differences.append({"change": "added", "line_number": line.line_number, "sku": line.sku})
            cases.append(_cart_case(order, line, "added", f"{line.sku} on line {line.line_number} was not in the cart"))
            continue
        matched.add(cart_line.reference)
        if cart_line.sku != line.sku:
            differences.append(
                {"change": "product", "line_number": line.line_number, "cart_sku": cart_line.sku, "sku": line.sku}
            )
            cases.append(
                _cart_case(
                    order, line, "product", f"Line {line.line_number} is {line.sku}; the cart had {cart_line.sku}"
                )
            )
        if cart_line.quantity != line.quantity:
            differences.append(
                {
                    "change": "quantity",
                    "line_number": line.line_number,
                    "sku": line.sku,
                    "cart_quantity": cart_line.quantity,
                    "quantity": line.quantity,
                }
            )
    for reference, cart_line in cart_lines.items():
        if reference not in matched:
            differences.append({"change": "removed", "sku": cart_line.sku, "cart_quantity": cart_line.quantity})

    cart_address = _comparable_address(cart.ship_to)
    order_address = _comparable_address(order.ship_to)
    if cart_address and order_address and cart_address != order_address:
        differences.append({"change": "ship_to", "cart_ship_to": cart.ship_to, "ship_to": order.ship_to})
        cases.append(
            _open(
                order,
                CaseKind.INTEGRATION_CONFLICT,
                check="cart_ship_to",
                summary="The order ships to another address than the PunchOut cart",
                facts={"cart_ship_to": cart.ship_to, "ship_to": order.ship_to, "session": cart.session_id},
            )
        )

    order.cart_differences = differences
    if order.pk is not None:
        order.save(update_fields=["cart_differences", "updated_at"])
    return cases


def _cart_case(order: Order, line: OrderLine, change: str, summary: str):
    return _open(
        order,
        CaseKind.INTEGRATION_CONFLICT,
        line=line,
        check=f"cart_{change}",
        summary=summary,
        facts={"change": change},
    )


def _comparable_address(address: dict) -> tuple:
    """Return the parts of an address that decide where goods go, normalised for comparison; () when empty."""
    if not address:
        return ()
    parts = (
        tuple(part.casefold() for part in address.get("street_lines", [])),
        str(address.get("city", "")).casefold(),
        str(address.get("postal_code", "")).replace(" ", "").casefold(),
        str(address.get("country_code", "")).upper(),
    )
    return parts if any(parts) else ()
