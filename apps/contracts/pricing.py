"""The pricing engine: what a customer pays for products at given quantities on a day, and why.

Rules, in the order they apply to each requested line:

1. The day is ``on_date``, or today in UTC. The contract is the customer's
   contract in force that day (see ``selectors.active_contract_for``); without
   one, list prices apply.
2. A product id that does not exist is UNKNOWN_PRODUCT, an inactive product
   is INACTIVE_PRODUCT, and a quantity that is not a positive decimal number
   (a float, NaN, zero, negative, not a number, or 10^11 and above) is
   INVALID_QUANTITY. A product outside a SELECTED assortment is
   NOT_IN_ASSORTMENT. Such lines are returned unpriced with a reason; the
   other lines are still priced.
3. Prices are in the contract's currency, or the customer's without a
   contract. Prices are never converted between currencies: a list price (or
   a discount off it) in another currency is CURRENCY_MISMATCH. A fixed
   contract price is in the contract's currency.
4. Among the product's contract prices valid on the day (``valid_from`` empty
   or on or before it, ``valid_to`` empty or on or after it) whose
   ``min_quantity`` is at most the quantity, the one with the highest
   ``min_quantity`` wins, then the latest ``valid_from``, then the highest id.
   Its source is QUANTITY_BREAK when its ``min_quantity`` is above 1, else
   CONTRACT_PRICE (fixed) or CONTRACT_DISCOUNT (percent off list). Without
   one, the list price applies (LIST_PRICE).
5. Rounding: a discounted unit price is rounded with ``round_money`` (half
   up to the currency's minor unit). Fixed and list prices are used as
   stored, up to 4 decimals for sub-cent items. A line total is
   ``round_money(unit_price * quantity)``.

The number of queries is constant whatever the number of lines: the
contract, the products, at most two for a SELECTED assortment, and the
contract prices. Everything else is computed in Python.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import models
from django.db.models import F, Q

from apps.catalog.models import Product
from apps.contracts.errors import InvalidPricingCurrency, InvalidPricingRequest
from apps.contracts.models import Contract, ContractPrice, Customer
from apps.contracts.selectors import active_contract_for, today_utc, validate_customer, validate_pricing_date
from apps.core.money import InvalidAmount, InvalidCurrency, round_money, to_decimal, validate_currency

# Quantities must fit the 14-digit, 3-decimal quantity columns, so the
# largest accepted value is below 10^11. This also keeps unit price times
# quantity within Decimal's default 28-digit precision.
MAX_QUANTITY_EXCLUSIVE = Decimal(10) ** 11

# Largest id a PostgreSQL bigint primary key can hold. A bigger number cannot
# be a product and would make the query fail, so it is UNKNOWN_PRODUCT at once.
_MAX_ID = 2**63 - 1

_ONE = Decimal(1)
_HUNDRED = Decimal(100)


class PriceSource(models.TextChoices):
    LIST_PRICE = "list_price", "list price"
    CONTRACT_PRICE = "contract_price", "contract price"
    CONTRACT_DISCOUNT = "contract_discount", "contract discount off list price"
    QUANTITY_BREAK = "quantity_break", "contract quantity break"


class UnpricedReason(models.TextChoices):
    UNKNOWN_PRODUCT = "unknown_product", "unknown product"
    INACTIVE_PRODUCT = "inactive_product", "inactive product"
    NOT_IN_ASSORTMENT = "not_in_assortment", "not in the contract's assortment"
    CURRENCY_MISMATCH = "currency_mismatch", "price in another currency"
    INVALID_QUANTITY = "invalid_quantity", "invalid quantity"


@dataclass(frozen=True)
class PricedLine:
    """One requested line with its unit price and where it came from, or the reason it has none.

    ``quantity`` is the parsed quantity, or 0 when the requested value was not
    a number (the reason then quotes it). ``list_price`` is the product's list
    price when it is in the answer's currency, else None.
    """

    index: int
    product: Product | None
    quantity: Decimal
    unit_price: Decimal | None
    currency: str | None
    source: PriceSource | None
    contract_id: int | None
    contract_price_id: int | None
    list_price: Decimal | None
    reason_code: UnpricedReason | None
    reason: str | None

    @property
    def priced(self) -> bool:
        return self.unit_price is not None

    @property
    def line_total(self) -> Decimal | None:
        """Unit price times quantity, rounded half up to the currency's minor unit; None when unpriced."""
        if self.unit_price is None:
            return None
        return round_money(self.unit_price * self.quantity, self.currency)


@dataclass(frozen=True)
class PricingResult:
    """The priced lines of one request, in request order, for one customer, day and currency."""

    customer: Customer
    contract: Contract | None
    on_date: dt.date
    currency: str
    lines: tuple[PricedLine, ...]

    @property
    def total(self) -> Decimal:
        """Sum of the priced lines' totals; unpriced lines count as nothing."""
        total = round_money(Decimal(0), self.currency)
        for line in self.lines:
            if line.unit_price is not None:
                total += line.line_total
        return total


def price_lines(
    *,
    customer: Customer,
    lines: Sequence[tuple[Product | int, Decimal | int | str]],
    on_date: dt.date | None = None,
) -> PricingResult:
    """Price each (product or product id, quantity) pair for the customer on ``on_date`` (today in UTC).

    Raises InvalidPricingRequest for a malformed request (an unsaved customer,
    a line that is not a pair, a date that is not a date) and
    InvalidPricingCurrency when the customer's or contract's currency is not
    ISO 4217. A line with bad data (unknown or inactive product, bad
    quantity) never raises: it comes back unpriced with a reason.
    """
    validate_customer(customer)
    on_date = today_utc() if on_date is None else on_date
    validate_pricing_date(on_date)
    requests = [_parse_line(index, line) for index, line in enumerate(lines)]

    contract = active_contract_for(customer=customer, on_date=on_date)
    currency = _answer_currency(customer, contract)
    product_ids = {request.product_id for request in requests if request.product_id is not None}
    products = _fetch_products(product_ids)
    assortment = _Assortment.fetch(contract, products)
    tiers = _fetch_tiers(contract, products, on_date)

    context = _Context(customer, contract, currency, products, assortment, tiers)
    priced = tuple(_price_one(context, request) for request in requests)
    return PricingResult(customer=customer, contract=contract, on_date=on_date, currency=currency, lines=priced)


def price_product(
    *,
    customer: Customer,
    product: Product | int,
    quantity: Decimal | int | str = 1,
    on_date: dt.date | None = None,
) -> PricedLine:
    """Price one product for the customer; the same rules and errors as ``price_lines``."""
    return price_lines(customer=customer, lines=[(product, quantity)], on_date=on_date).lines[0]


@dataclass(frozen=True, slots=True)
class _LineRequest:
    index: int
    product_id: int | None
    given_product: Product | None
    raw_product: object
    quantity: Decimal | None
    raw_quantity: object


@dataclass(frozen=True, slots=True)
class _Tier:
    min_quantity: Decimal
    contract_price_id: int
    price: Decimal | None
    discount_percent: Decimal | None


@dataclass(slots=True)
class _Context:
    customer: Customer
    contract: Contract | None
    currency: str
    products: dict[int, Product]
    assortment: "_Assortment"
    # Per product id, the tiers valid on the day, best first.
    tiers: dict[int, list[_Tier]]


class _Assortment:
    """The products of a SELECTED contract: its chosen category paths and its chosen product ids."""

    def __init__(self, *, selected: bool, category_paths: frozenset[str], product_ids: frozenset[int]) -> None:
        self.selected = selected
        self.category_paths = category_paths
        self.product_ids = product_ids
        self._category_verdicts: dict[int | None, bool] = {}

    @classmethod
    def fetch(cls, contract: Contract | None, products: dict[int, Product]) -> "_Assortment":
        if contract is None or contract.assortment != Contract.Assortment.SELECTED:
            return cls(selected=False, category_paths=frozenset(), product_ids=frozenset())
        paths = Contract.categories.through.objects.filter(contract_id=contract.pk).values_list(
            "category__path", flat=True
        )
        chosen_ids: frozenset[int] = frozenset()
        if products:
            chosen_ids = frozenset(
                Contract.products.through.objects.filter(
                    contract_id=contract.pk, product_id__in=list(products)
                ).values_list("product_id", flat=True)
            )
        return cls(selected=True, category_paths=frozenset(paths), product_ids=chosen_ids)

    def contains(self, product: Product) -> bool:
        if not self.selected or product.pk in self.product_ids:
            return True
        category_id = product.category_id
        verdict = self._category_verdicts.get(category_id)
        if verdict is None:
            verdict = category_id is not None and self._in_chosen_subtree(product.category.path)
            self._category_verdicts[category_id] = verdict
        return verdict

    def _in_chosen_subtree(self, path: str) -> bool:
        # "/A/B/C/" lies below "/A/", "/A/B/" and "/A/B/C/", and each of those prefixes ends at a slash.
        end = path.find("/", 1)
        while end != -1:
            if path[: end + 1] in self.category_paths:
                return True
            end = path.find("/", end + 1)
        return False


def _parse_line(index: int, line: object) -> _LineRequest:
    if not isinstance(line, tuple | list) or len(line) != 2:
        raise InvalidPricingRequest(
            f"Line {index} is {line!r}; pass each line as a (product or product id, quantity) pair."
        )
    raw_product, raw_quantity = line

    given_product = raw_product if isinstance(raw_product, Product) else None
    if given_product is not None:
        product_id = given_product.pk
    elif isinstance(raw_product, int) and not isinstance(raw_product, bool):
        product_id = raw_product
    else:
        product_id = None
    if product_id is not None and not 0 < product_id <= _MAX_ID:
        product_id = None

    return _LineRequest(
        index=index,
        product_id=product_id,
        given_product=given_product,
        raw_product=raw_product,
        quantity=_parse_quantity(raw_quantity),
        raw_quantity=raw_quantity,
    )


def _parse_quantity(raw: object) -> Decimal | None:
    """Return the quantity as a Decimal when it is a finite number, else None (float, NaN, text, bool)."""
    if isinstance(raw, bool):
        return None
    try:
        return to_decimal(raw)
    except InvalidAmount:
        return None


def _answer_currency(customer: Customer, contract: Contract | None) -> str:
    owner = f"contract {contract.number}" if contract else f"customer {customer.account_number}"
    code = contract.currency if contract else customer.currency
    try:
        return validate_currency(code)
    except InvalidCurrency:
        raise InvalidPricingCurrency(
            f"The currency {code!r} of {owner} is not an ISO 4217 code; correct it before pricing."
        ) from None


def _fetch_products(product_ids: set[int]) -> dict[int, Product]:
    if not product_ids:
        return {}
    # NOTE: one IN list of every requested id. SQLite allows 32,766
    # parameters per statement (since 3.32), so a single call there is
    # limited to that many distinct products. PostgreSQL has no such limit
    # here because psycopg binds the values client-side.
    queryset = Product.objects.select_related("category").filter(pk__in=product_ids).order_by()
    return {product.pk: product for product in queryset}


def _fetch_tiers(contract: Contract | None, products: dict[int, Product], on_date: dt.date) -> dict[int, list[_Tier]]:
    if contract is None or not products:
        return {}
    rows = (
        ContractPrice.objects.filter(contract_id=contract.pk, product_id__in=list(products))
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=on_date))
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on_date))
        # Best first within each product, so the first tier a quantity reaches wins.
        .order_by("product_id", "-min_quantity", F("valid_from").desc(nulls_last=True), "-id")
        .values_list("product_id", "min_quantity", "id", "price", "discount_percent")
    )
    tiers: dict[int, list[_Tier]] = {}
    for product_id, min_quantity, price_id, price, discount_percent in rows:
        tier = _Tier(min_quantity, price_id, price, discount_percent)
        product_tiers = tiers.get(product_id)
        if product_tiers is None:
            tiers[product_id] = [tier]
        else:
            product_tiers.append(tier)
    return tiers


def _price_one(context: _Context, request: _LineRequest) -> PricedLine:
    product = context.products.get(request.product_id) if request.product_id is not None else None
    if product is None:
        return _unpriced(context, request, None, UnpricedReason.UNKNOWN_PRODUCT, _unknown_reason(request))

    quantity = request.quantity
    if quantity is None or not 0 < quantity < MAX_QUANTITY_EXCLUSIVE:
        reason = (
            f"Quantity {request.raw_quantity!r} for SKU {product.sku} is invalid; "
            f"pass a positive decimal number below {MAX_QUANTITY_EXCLUSIVE:,} as a string, int or Decimal."
        )
        return _unpriced(context, request, product, UnpricedReason.INVALID_QUANTITY, reason)

    if not product.is_active:
        reason = f"SKU {product.sku} is inactive and cannot be sold."
        return _unpriced(context, request, product, UnpricedReason.INACTIVE_PRODUCT, reason)

    contract = context.contract
    if not context.assortment.contains(product):
        reason = f"SKU {product.sku} is not in the assortment of contract {contract.number}."
        return _unpriced(context, request, product, UnpricedReason.NOT_IN_ASSORTMENT, reason)

    currency = context.currency
    list_price = product.list_price if product.currency == currency else None
    tier = _best_tier(context.tiers.get(product.pk), quantity)

    if tier is not None and tier.price is not None:
        unit_price = tier.price
        source = PriceSource.QUANTITY_BREAK if tier.min_quantity > _ONE else PriceSource.CONTRACT_PRICE
    elif list_price is None:
        reason = _currency_mismatch_reason(context, product, discounted=tier is not None)
        return _unpriced(context, request, product, UnpricedReason.CURRENCY_MISMATCH, reason)
    elif tier is not None:
        unit_price = round_money(list_price * (_HUNDRED - tier.discount_percent) / _HUNDRED, currency)
        source = PriceSource.QUANTITY_BREAK if tier.min_quantity > _ONE else PriceSource.CONTRACT_DISCOUNT
    else:
        unit_price = list_price
        source = PriceSource.LIST_PRICE

    return PricedLine(
        index=request.index,
        product=product,
        quantity=quantity,
        unit_price=unit_price,
        currency=currency,
        source=source,
        contract_id=contract.pk if contract is not None else None,
        contract_price_id=tier.contract_price_id if tier is not None else None,
        list_price=list_price,
        reason_code=None,
        reason=None,
    )


def _best_tier(tiers: list[_Tier] | None, quantity: Decimal) -> _Tier | None:
    if tiers:
        for tier in tiers:
            if tier.min_quantity <= quantity:
                return tier
    return None


def _unpriced(
    context: _Context,
    request: _LineRequest,
    product: Product | None,
    reason_code: UnpricedReason,
    reason: str,
) -> PricedLine:
    list_price = None
    if product is not None and product.currency == context.currency:
        list_price = product.list_price
    return PricedLine(
        index=request.index,
        product=product,
        quantity=request.quantity if request.quantity is not None else Decimal(0),
        unit_price=None,
        currency=context.currency,
        source=None,
        contract_id=context.contract.pk if context.contract is not None else None,
        contract_price_id=None,
        list_price=list_price,
        reason_code=reason_code,
        reason=reason,
    )


def _unknown_reason(request: _LineRequest) -> str:
    given = request.given_product
    if given is not None and given.pk is None:
        return f"SKU {given.sku} has not been saved, so it has no price; save the product first."
    if given is not None:
        return f"SKU {given.sku} (product id {given.pk}) no longer exists."
    if isinstance(request.raw_product, int) and not isinstance(request.raw_product, bool):
        return f"Product id {request.raw_product} does not exist."
    return f"Product reference {request.raw_product!r} is not a product or a product id; pass a Product or its id."


def _currency_mismatch_reason(context: _Context, product: Product, *, discounted: bool) -> str:
    owner = f"contract {context.contract.number}" if context.contract else f"customer {context.customer.account_number}"
    what = "the list price that the contract discount applies to" if discounted else "its list price"
    return (
        f"SKU {product.sku} has {what} in {product.currency}, but {owner} is priced in {context.currency}; "
        "prices are not converted between currencies."
    )
