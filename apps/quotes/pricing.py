"""The quote pricing waterfall: list price, contract price, configuration adders, manual discount, net, cost, margin.

Each line is priced in this order, every step in the quote's currency:

1. ``list_price`` is the base product's list price. ``contract_price`` and
   ``price_source`` come from the pricing engine (``contracts.pricing``),
   asked for the customer, the line's quantity and the price date.
2. ``adders`` is, per configured unit, the sum over the chosen options of the
   option's price times its quantity. A product option is priced by the same
   engine call for the line quantity times the option quantity, so contract
   prices and quantity breaks apply to options too. A price-adder option adds
   its fixed amount, which must be in the quote's currency.
3. ``discount_amount`` is ``discount_percent`` of contract price plus adders,
   rounded with ``round_money``; ``net_price`` is what is left.
4. ``line_total`` is ``round_money(net_price * quantity)``.
5. ``unit_cost`` adds the base product's cost (``ProductCost`` in the quote's
   currency) and the options' costs; it is None when any is unknown.
   ``margin`` is the line total less ``round_money(unit_cost * quantity)``,
   and ``margin_percent`` that margin as a percent of the line total.

All lines of a quote are priced with a fixed number of queries: one pricing
engine call for every product and option, four for the configurations and
one for the costs.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from apps.catalog.models import Product
from apps.contracts.models import Customer
from apps.contracts.pricing import PricedLine, price_lines
from apps.core.money import round_money
from apps.quotes.configuration import Configurator, Violation, load_configurators
from apps.quotes.models import ProductCost
from apps.tax.services import TaxableLine, TaxResult, compute_tax, customer_ship_to

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_PERCENT_STEP = Decimal("0.01")


@dataclass(frozen=True)
class LineRequest:
    """A line to price: the product, quantity, configuration (option code to quantity) and manual discount."""

    product: Product | int
    quantity: Decimal | int | str
    configuration: object = None
    discount_percent: Decimal = _ZERO


@dataclass
class PricedQuoteLine:
    """The waterfall of one line, or the errors that keep it from being priced (then the amounts are None)."""

    index: int
    product: Product | None
    quantity: Decimal
    configuration: dict[str, int] = field(default_factory=dict)
    configuration_detail: list[dict] = field(default_factory=list)
    description: str = ""
    list_price: Decimal | None = None
    contract_price: Decimal | None = None
    price_source: str = ""
    adders: Decimal = _ZERO
    discount_percent: Decimal = _ZERO
    discount_amount: Decimal = _ZERO
    net_price: Decimal | None = None
    line_total: Decimal | None = None
    unit_cost: Decimal | None = None
    cost_total: Decimal | None = None
    margin: Decimal | None = None
    margin_percent: Decimal | None = None
    violations: tuple[Violation, ...] = ()
    errors: list[str] = field(default_factory=list)
    # True when the pricing engine could not price the product or a product option.
    unpriced: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors and not self.violations

    @property
    def gross_price(self) -> Decimal | None:
        return None if self.contract_price is None else self.contract_price + self.adders

    def problems(self) -> list[str]:
        """Return every reason the line cannot be quoted: pricing errors, then broken configuration rules."""
        return [*self.errors, *(violation.message for violation in self.violations)]


@dataclass(frozen=True)
class Totals:
    gross_total: Decimal
    discount_total: Decimal
    total: Decimal
    cost_total: Decimal | None
    margin: Decimal | None
    margin_percent: Decimal | None
    tax_total: Decimal


def price_quote_lines(
    *,
    customer: Customer,
    currency: str,
    lines: Sequence[LineRequest],
    on_date: dt.date,
) -> list[PricedQuoteLine]:
    """Price and check each line for the customer on ``on_date``; see the module docstring for the steps.

    A line that cannot be priced or whose configuration breaks a rule comes
    back with ``errors`` or ``violations`` and no amounts; the others are still
    priced. Raises the pricing engine's errors for a malformed request.
    """
    product_ids = [_product_id(line.product) for line in lines]
    configurators = load_configurators({pk for pk in product_ids if pk is not None})

    checks = []
    engine_lines: list[tuple[int | None, object]] = []
    for line, product_id in zip(lines, product_ids, strict=True):
        configurator = configurators.get(product_id) if product_id is not None else None
        check = configurator.check(line.configuration) if configurator is not None else None
        checks.append((configurator, check))
        engine_lines.append((product_id if product_id is not None else 0, line.quantity))
    option_slots = _option_requests(lines, checks, engine_lines)

    pricing = price_lines(customer=customer, lines=engine_lines, on_date=on_date)
    costs = _costs(pricing.lines, currency)

    priced = []
    for index, line in enumerate(lines):
        configurator, check = checks[index]
        priced.append(
            _price_line(
                index=index,
                request=line,
                base=pricing.lines[index],
                configurator=configurator,
                check=check,
                option_slots=option_slots.get(index, []),
                engine=pricing.lines,
                currency=currency,
                costs=costs,
            )
        )
    return priced


def quote_totals(lines: Sequence, currency: str, *, tax: TaxResult | None = None) -> Totals:
    """Add up priced lines (``PricedQuoteLine`` or ``QuoteLine``) into the quote's totals, with ``quote_tax``'s tax."""
    gross_total = round_money(_ZERO, currency)
    total = round_money(_ZERO, currency)
    cost_total: Decimal | None = round_money(_ZERO, currency)
    for line in lines:
        gross_total += round_money(line.gross_price * line.quantity, currency)
        total += line.line_total
        if cost_total is not None and line.cost_total is not None:
            cost_total += line.cost_total
        else:
            cost_total = None
    margin = total - cost_total if cost_total is not None else None
    return Totals(
        gross_total=gross_total,
        discount_total=gross_total - total,
        total=total,
        cost_total=cost_total,
        margin=margin,
        margin_percent=_percent(margin, total),
        tax_total=tax.total if tax is not None else round_money(_ZERO, currency),
    )


def quote_tax(*, customer: Customer, lines: Sequence, currency: str, on_date: dt.date) -> TaxResult:
    """Tax the lines' totals for the customer's default ship-to on the quote's price date.

    Quotes have no ship-to address of their own, so the customer's default
    decides; an order from the quote is taxed again at its own ship-to.
    """
    taxable = [
        TaxableLine(key=index, tax_class_id=_tax_class_id(line.product), amount=line.line_total)
        for index, line in enumerate(lines)
        if line.line_total is not None
    ]
    return compute_tax(
        customer=customer, ship_to=customer_ship_to(customer), lines=taxable, currency=currency, on_date=on_date
    )


def _tax_class_id(product: Product | int | None) -> int | None:
    return product.tax_class_id if isinstance(product, Product) else None


def _product_id(product: Product | int) -> int | None:
    if isinstance(product, Product):
        return product.pk
    if isinstance(product, int) and not isinstance(product, bool) and product > 0:
        return product
    return None


# (option code, quantity per unit, index of the option's line in the engine request or None for an adder)
_OptionSlot = tuple[str, int, int | None]


def _option_requests(lines, checks, engine_lines) -> dict[int, list[_OptionSlot]]:
    """Append an engine request per product option of each valid configuration; return the slots per line."""
    slots: dict[int, list[_OptionSlot]] = {}
    for index, (configurator, check) in enumerate(checks):
        if configurator is None or check is None or not check.valid:
            continue
        quantity = lines[index].quantity
        line_slots = []
        for code, option_quantity in check.selection.items():
            option = configurator.options[code]
            if option.product_id is None:
                line_slots.append((code, option_quantity, None))
                continue
            engine_lines.append((option.product_id, _multiplied(quantity, option_quantity)))
            line_slots.append((code, option_quantity, len(engine_lines) - 1))
        slots[index] = line_slots
    return slots


def _multiplied(quantity: object, option_quantity: int) -> object:
    """Multiply a line quantity by an option quantity, leaving a quantity the engine will reject untouched."""
    if isinstance(quantity, bool | float):
        return quantity
    try:
        return Decimal(str(quantity).strip()) * option_quantity
    except ArithmeticError:
        return quantity


def _costs(priced: Sequence[PricedLine], currency: str) -> dict[int, Decimal]:
    product_ids = {line.product.pk for line in priced if line.product is not None}
    if not product_ids:
        return {}
    rows = ProductCost.objects.filter(product_id__in=product_ids, currency=currency).values_list(
        "product_id", "unit_cost"
    )
    return dict(rows)


def _price_line(
    *,
    index: int,
    request: LineRequest,
    base: PricedLine,
    configurator: Configurator | None,
    check,
    option_slots: list[_OptionSlot],
    engine: Sequence[PricedLine],
    currency: str,
    costs: dict[int, Decimal],
) -> PricedQuoteLine:
    errors: list[str] = []
    discount_percent = _discount(request.discount_percent, errors)
    result = PricedQuoteLine(
        index=index, product=base.product, quantity=base.quantity, discount_percent=discount_percent, errors=errors
    )
    if check is not None:
        result.configuration = dict(check.selection)
        result.violations = check.violations
    elif request.configuration:
        sku = base.product.sku if base.product is not None else "The product"
        result.errors.append(f"{sku} has no options; remove the configuration or choose a configurable product.")
    if not base.priced:
        result.errors.insert(0, base.reason)
        result.unpriced = True
        return result
    if not result.ok:
        return result

    unit_cost = costs.get(base.product.pk)
    detail = []
    for code, option_quantity, engine_index in option_slots:
        option = configurator.options[code]
        if engine_index is None:
            if option.currency != currency:
                result.errors.append(
                    f"Option {option.name} ({code}) adds a price in {option.currency}, but the quote is in "
                    f"{currency}; prices are not converted between currencies."
                )
                continue
            unit_price, source, option_cost = option.price_adder, "price_adder", option.cost
        else:
            priced_option = engine[engine_index]
            if not priced_option.priced:
                result.errors.append(f"Option {option.name} ({code}): {priced_option.reason}")
                result.unpriced = True
                continue
            unit_price, source = priced_option.unit_price, str(priced_option.source)
            option_cost = costs.get(option.product_id)
        if unit_cost is not None and option_cost is not None:
            unit_cost += option_cost * option_quantity
        else:
            unit_cost = None
        detail.append(
            {
                "code": code,
                "name": option.name,
                "group": configurator.groups[option.group_code].name,
                "sku": option.product_sku,
                "quantity": option_quantity,
                "unit_price": unit_price,
                "source": source,
                "unit_cost": option_cost,
            }
        )
    if result.errors:
        return result

    result.list_price = base.list_price
    result.contract_price = base.unit_price
    result.price_source = str(base.source)
    result.configuration_detail = detail
    _finish(result, unit_cost, currency)
    result.description = _description(base.product, configurator, result.configuration)
    return result


def keep_locked_prices(priced: PricedQuoteLine, locked, currency: str) -> PricedQuoteLine:
    """Put a stored line's locked prices back on a freshly priced version of it, and compute the rest again.

    The base product's list and contract price and the unit price of every
    option the stored line already had are kept; an option chosen anew gets
    today's price. Costs are always the current ones. ``locked`` is a
    ``QuoteLine`` of the same product.
    """
    if not priced.ok or locked.product_id != priced.product.pk:
        return priced
    old_options = {item["code"]: item for item in locked.configuration_detail}
    unit_cost = priced.unit_cost
    for item in priced.configuration_detail:
        old = old_options.get(item["code"])
        if old is not None:
            item["unit_price"] = Decimal(str(old["unit_price"]))
            item["source"] = old["source"]
    priced.list_price = locked.list_price
    priced.contract_price = locked.contract_price
    priced.price_source = locked.price_source
    _finish(priced, unit_cost, currency)
    return priced


def _finish(result: PricedQuoteLine, unit_cost: Decimal | None, currency: str) -> None:
    """Compute adders, discount, net price, total, cost and margin from the line's unit prices."""
    adders = _ZERO
    for item in result.configuration_detail:
        adders += Decimal(str(item["unit_price"])) * item["quantity"]
    gross = result.contract_price + adders
    discount_amount = round_money(gross * result.discount_percent / _HUNDRED, currency)
    net_price = gross - discount_amount
    line_total = round_money(net_price * result.quantity, currency)
    cost_total = round_money(unit_cost * result.quantity, currency) if unit_cost is not None else None
    margin = line_total - cost_total if cost_total is not None else None

    result.adders = adders
    result.discount_amount = discount_amount
    result.net_price = net_price
    result.line_total = line_total
    result.unit_cost = unit_cost
    result.cost_total = cost_total
    result.margin = margin
    result.margin_percent = _percent(margin, line_total)


def _discount(raw: object, errors: list[str]) -> Decimal:
    text = "0" if raw is None else str(raw).strip()
    try:
        value = raw if isinstance(raw, Decimal) else Decimal(text)
    except ArithmeticError:
        value = None
    if isinstance(raw, bool | float) or value is None or not value.is_finite() or not _ZERO <= value <= _HUNDRED:
        errors.append(f"Manual discount {raw!r} is not a percent from 0 to 100; enter a number such as 12.5.")
        return _ZERO
    if value != value.quantize(_PERCENT_STEP):
        errors.append(f"Manual discount {raw!r} has more than 2 decimals; round it to two, such as 12.25.")
        return _ZERO
    return value


def _percent(part: Decimal | None, whole: Decimal) -> Decimal | None:
    if part is None or not whole:
        return None
    return (part * _HUNDRED / whole).quantize(_PERCENT_STEP, rounding=ROUND_HALF_UP)


def _description(product: Product, configurator: Configurator | None, selection: dict[str, int]) -> str:
    if configurator is None:
        return product.name
    return "\n".join([product.name, *configurator.describe(selection)])
