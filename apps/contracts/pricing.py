"""The pricing engine: what a customer pays for products at given quantities on a day, and why.

Rules, in the order they apply to each requested line:

1. The day is ``on_date``, or today in UTC. The contract is the customer's
   contract in force that day (see ``selectors.active_contract_for``); without
   one, list prices apply.
2. A product id that does not exist is UNKNOWN_PRODUCT, an inactive product
   is INACTIVE_PRODUCT, and a quantity that is not a positive decimal number
   written with ASCII digits is INVALID_QUANTITY. That covers a float, NaN,
   zero, a negative number, 10^11 and above, and text that is not a number
   (Arabic-Indic or full-width digits included). It also covers a number
   with more than 3 decimal places once trailing zeros are dropped, such as
   ``Decimal("1E-30")`` or ``"0.0001"``, because the quantity columns hold 3
   decimals. A product outside a SELECTED assortment is NOT_IN_ASSORTMENT.
   Such lines are returned unpriced with a reason; the other lines are still
   priced.
3. Prices are in the contract's currency, or the customer's without a
   contract. Prices are never converted between currencies: a list price (or
   a discount off it) in another currency is CURRENCY_MISMATCH. A fixed
   contract price is in the contract's currency.
4. Among the product's contract prices valid on the day (``valid_from`` empty
   or on or before it, ``valid_to`` empty or on or after it) whose
   ``min_quantity`` is at most the quantity, the one with the highest
   ``min_quantity`` wins, then the latest ``valid_from``, then the highest id.
   When the quantity reaches no row, the rows with the lowest
   ``min_quantity`` still apply if that ``min_quantity`` is at most 1,
   because they are the base price of a product sold in fractions. So 0.5 m
   of cable gets the contract price of a row from 1, and the same
   tie-breaks pick one row.
   The source is QUANTITY_BREAK when the row's ``min_quantity`` is above 1,
   else CONTRACT_PRICE (fixed) or CONTRACT_DISCOUNT (percent off list).
   Without a row, the list price applies (LIST_PRICE).
5. Rounding: a discounted unit price is rounded with ``round_money`` (half
   up to the currency's minor unit). Fixed and list prices are used as
   stored, up to 4 decimals for sub-cent items. A line total is
   ``round_money(unit_price * quantity)``.

The number of queries is constant whatever the number of lines: the
contract (unless the caller passes it), the products, at most two for a
SELECTED assortment, and the contract prices. Everything else is computed
in Python.
"""

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.postgres.expressions import ArraySubquery
from django.db import models
from django.db.models import F, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Cast, JSONObject

from apps.catalog.models import Product
from apps.contracts.errors import ContractCustomerMismatch, InvalidPricingCurrency, InvalidPricingRequest
from apps.contracts.models import Contract, ContractPrice, Customer
from apps.contracts.selectors import (
    NOT_GIVEN,
    _NotGiven,
    active_contract_for,
    id_array_literal,
    id_in,
    products_by_id,
    today_utc,
    validate_customer,
    validate_pricing_date,
)
from apps.core.money import InvalidAmount, InvalidCurrency, round_money, to_decimal, validate_currency
from apps.core.prepared import PLACEHOLDER_DATE, PLACEHOLDER_ID, prepared

# Quantities must fit the 14-digit, 3-decimal quantity columns, so the
# largest accepted value is below 10^11. This also keeps unit price times
# quantity within Decimal's default 28-digit precision.
MAX_QUANTITY_EXCLUSIVE = Decimal(10) ** 11

# The quantity columns hold 3 decimals, so a quantity with more would be
# priced for an amount that cannot be stored on a quote or order line.
MAX_QUANTITY_DECIMALS = 3
_QUANTITY_STEP = Decimal(1).scaleb(-MAX_QUANTITY_DECIMALS)

# Largest id a PostgreSQL bigint primary key can hold. A bigger number cannot
# be a product and would make the query fail, so it is UNKNOWN_PRODUCT at once.
_MAX_ID = 2**63 - 1

_ZERO = Decimal(0)
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


@dataclass(frozen=True, slots=True)
class PricingProduct:
    """The fields of a product that pricing reads, for a caller that has already selected them.

    ``category_path`` is the materialised path of the product's category
    (None without a category). A SELECTED assortment needs it.
    """

    pk: int
    sku: str
    is_active: bool
    currency: str
    list_price: Decimal
    category_id: int | None
    category_path: str | None


# A product as pricing reads it: a model instance, or the selected fields of one.
AnyProduct = Product | PricingProduct


@dataclass(frozen=True, slots=True)
class PricedLine:
    """One requested line with its unit price and where it came from, or the reason it has none.

    ``quantity`` is the parsed quantity, or 0 when the requested value was not
    a number (the reason then quotes it). ``list_price`` is the product's list
    price when it is in the answer's currency, else None.
    """

    index: int
    product: AnyProduct | None
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
    lines: Iterable[tuple[Product | int, Decimal | int | str]],
    on_date: dt.date | None = None,
    contract: Contract | _NotGiven | None = NOT_GIVEN,
    products: Mapping[int, AnyProduct] | None = None,
    contract_tiers: Mapping[int, Sequence[Mapping]] | None = None,
) -> PricingResult:
    """Price each (product or product id, quantity) pair for the customer on ``on_date`` (today in UTC).

    Products are read from the database, also when a Product is passed, so
    that every line sees the same state; the returned lines carry the
    freshly read instances. A caller that has just selected the products
    passes them as ``products``, keyed by id, to save that query and the
    building of model instances: PricingProduct objects, or Product instances
    with their category loaded. The lines then carry those objects, and a line
    whose id is not among them is UNKNOWN_PRODUCT. Raises InvalidPricingRequest for a malformed
    request (an unsaved customer, lines that are not an iterable of pairs, a
    date that is not a date) and InvalidPricingCurrency when the customer's
    or contract's currency is not ISO 4217. A line with bad data (unknown or
    inactive product, bad quantity) never raises: it comes back unpriced with
    a reason.

    Leave ``contract`` out to use the contract in force on ``on_date``, which
    costs one query. A caller that has just read that contract with
    ``active_contract_for`` for the same day passes it (or None for "no
    contract") to save the query; ContractCustomerMismatch is raised when it
    belongs to another customer.

    A caller whose product query selected ``contract_tiers_column`` for that
    contract and day passes its values, keyed by product id, as
    ``contract_tiers`` to save the query of the contract prices. A product
    without an entry then has no contract price.
    """
    validate_customer(customer)
    on_date = today_utc() if on_date is None else on_date
    validate_pricing_date(on_date)
    lines = _request_lines(lines)
    product_ids = set()
    for index, line in enumerate(lines):
        product_id = _product_id(_split_line(index, line)[0])
        if product_id is not None:
            product_ids.add(product_id)

    if isinstance(contract, _NotGiven):
        contract = active_contract_for(customer=customer, on_date=on_date)
    elif contract is not None and contract.customer_id != customer.pk:
        raise ContractCustomerMismatch(
            f"Contract {contract.number} belongs to customer id {contract.customer_id}, "
            f"not to {customer.account_number}; pass that customer's own contract or None."
        )
    currency = _answer_currency(customer, contract)
    if products is None:
        products = products_by_id(product_ids)
    else:
        products = {product_id: products[product_id] for product_id in product_ids if product_id in products}
    assortment = _Assortment.fetch(contract, products)
    if contract is not None and contract_tiers is not None:
        tiers = _tiers_of_column(products, contract_tiers)
    else:
        tiers = _fetch_tiers(contract, products, on_date)

    contract_id = contract.pk if contract is not None else None
    context = _Context(customer, contract, contract_id, currency, products, assortment, tiers)
    priced = tuple([_price_one(context, index, *line) for index, line in enumerate(lines)])
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


# A contract price row as fetched: (product_id, min_quantity, id, price, discount_percent).
# Plain tuples, because a class per row took measurably longer for 10,000 rows.
_Tier = tuple[int, Decimal, int, Decimal | None, Decimal | None]


@dataclass(slots=True)
class _Context:
    customer: Customer
    contract: Contract | None
    contract_id: int | None
    currency: str
    products: dict[int, AnyProduct]
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
    def fetch(cls, contract: Contract | None, products: Mapping[int, object]) -> "_Assortment":
        if contract is None or contract.assortment != Contract.Assortment.SELECTED:
            return cls(selected=False, category_paths=frozenset(), product_ids=frozenset())
        paths = Contract.categories.through.objects.filter(contract_id=contract.pk).values_list(
            "category__path", flat=True
        )
        chosen_ids: frozenset[int] = frozenset()
        if products:
            chosen_ids = frozenset(
                Contract.products.through.objects.filter(id_in("product_id", products), contract_id=contract.pk)
                .order_by()
                .values_list("product_id", flat=True)
            )
        return cls(selected=True, category_paths=frozenset(paths), product_ids=chosen_ids)

    def contains(self, product_id: int, product: AnyProduct) -> bool:
        if not self.selected or product_id in self.product_ids:
            return True
        category_id = product.category_id
        verdict = self._category_verdicts.get(category_id)
        if verdict is None:
            if isinstance(product, PricingProduct):
                path = product.category_path
            else:
                path = product.category.path if category_id is not None else None
            verdict = path is not None and self._in_chosen_subtree(path)
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


def _request_lines(lines: object) -> list | tuple:
    """Return the request's lines as a list or tuple, or raise InvalidPricingRequest when they are not iterable."""
    if isinstance(lines, list | tuple):
        return lines
    # A string or a mapping is iterable, but its items are characters or keys, never (product, quantity) pairs.
    if isinstance(lines, str | bytes | Mapping):
        iterator = None
    else:
        try:
            iterator = iter(lines)
        except TypeError:
            iterator = None
    if iterator is None:
        raise InvalidPricingRequest(
            f"Lines {lines!r} are not a list of lines; pass a list of (product or product id, quantity) pairs."
        )
    return list(iterator)


def _split_line(index: int, line: object) -> tuple[object, object]:
    if not isinstance(line, tuple | list) or len(line) != 2:
        raise InvalidPricingRequest(
            f"Line {index} is {line!r}; pass each line as a (product or product id, quantity) pair."
        )
    return line


def _product_id(raw_product: object) -> int | None:
    """Return the id a line refers to, or None when it cannot be a product id."""
    if isinstance(raw_product, Product):
        product_id = raw_product.pk
    elif isinstance(raw_product, int) and not isinstance(raw_product, bool):
        product_id = raw_product
    else:
        return None
    if product_id is None or not 0 < product_id <= _MAX_ID:
        return None
    return product_id


def _parse_quantity(raw: object) -> Decimal | None:
    """Return the quantity as a Decimal when it is a finite number, else None (float, NaN, text, bool)."""
    if type(raw) is int:
        return Decimal(raw)
    if isinstance(raw, bool):
        return None
    try:
        return to_decimal(raw)
    except InvalidAmount:
        return None


def _answer_currency(customer: Customer, contract: Contract | None) -> str:
    code = contract.currency if contract else customer.currency
    try:
        return validate_currency(code)
    except InvalidCurrency:
        owner = _currency_owner(customer, contract)
        raise InvalidPricingCurrency(
            f"The currency {code!r} of {owner} is not an ISO 4217 code; correct it before pricing."
        ) from None


def _currency_owner(customer: Customer, contract: Contract | None) -> str:
    """Name the contract or, without one, the customer whose currency the prices are in."""
    return f"contract {contract.number}" if contract else f"customer {customer.account_number}"


def _fetch_tiers(contract: Contract | None, products: Mapping[int, object], on_date: dt.date) -> dict[int, list[_Tier]]:
    if contract is None or not products:
        return {}
    # The same SQL for every call, so it is compiled once per connection (see apps.core.prepared).
    values = {"product_ids": id_array_literal(products), "contract_id": contract.pk, "on_date": on_date}
    rows = prepared("pricing-tiers", _tiers_query_of_literal, _TIERS_PLACEHOLDERS).run(values)
    tiers: dict[int, list[_Tier]] = {}
    for row in rows:
        product_tiers = tiers.get(row[0])
        if product_tiers is None:
            tiers[row[0]] = [row]
        else:
            product_tiers.append(row)
    return tiers


def _tiers_in_force(contract_id: int, on_date: dt.date) -> QuerySet[ContractPrice]:
    return (
        ContractPrice.objects.filter(contract_id=contract_id)
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=on_date))
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on_date))
        # Best first within each product, so the first tier a quantity reaches wins.
        .order_by("product_id", "-min_quantity", F("valid_from").desc(nulls_last=True), "-id")
    )


def _tiers_query(product_ids: Collection[int], contract_id: int, on_date: dt.date) -> QuerySet:
    return (
        _tiers_in_force(contract_id, on_date)
        .filter(id_in("product_id", product_ids))
        .values_list("product_id", "min_quantity", "id", "price", "discount_percent")
    )


def contract_tiers_column(contract_id: int, on_date: dt.date) -> ArraySubquery:
    """Build a column for a Product query: the product's contract price tiers on ``on_date``, for ``price_lines``.

    PostgreSQL only. Each tier is a JSON object with the amounts as text, so
    that they come back as exact decimals, and the array keeps the order in
    which pricing tries the tiers.
    """
    tiers = (
        _tiers_in_force(contract_id, on_date)
        .filter(product_id=OuterRef("pk"))
        .values(
            tier=JSONObject(
                min_quantity=Cast("min_quantity", TextField()),
                id="id",
                price=Cast("price", TextField()),
                discount_percent=Cast("discount_percent", TextField()),
            )
        )
    )
    return ArraySubquery(tiers)


def _tiers_of_column(
    products: Mapping[int, object], contract_tiers: Mapping[int, Sequence[Mapping]]
) -> dict[int, list[_Tier]]:
    """Return the tiers of ``contract_tiers_column`` values as ``_fetch_tiers`` returns them, for these products."""
    tiers: dict[int, list[_Tier]] = {}
    for product_id in products:
        rows = contract_tiers.get(product_id)
        if rows:
            tiers[product_id] = [
                (
                    product_id,
                    Decimal(row["min_quantity"]),
                    row["id"],
                    _decimal_or_none(row["price"]),
                    _decimal_or_none(row["discount_percent"]),
                )
                for row in rows
            ]
    return tiers


def _decimal_or_none(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


_TIERS_PLACEHOLDERS = {
    "product_ids": id_array_literal([PLACEHOLDER_ID]),
    "contract_id": PLACEHOLDER_ID,
    "on_date": PLACEHOLDER_DATE,
}


def _tiers_query_of_literal(product_ids: str, contract_id: int, on_date: dt.date) -> QuerySet:
    # The ids come as their array literal, which id_in renders again as the parameter on PostgreSQL.
    ids = [int(text) for text in product_ids.strip("{}").split(",") if text]
    return _tiers_query(ids, contract_id, on_date)


def _price_one(context: _Context, index: int, raw_product: object, raw_quantity: object) -> PricedLine:
    product_id = _product_id(raw_product)
    product = context.products.get(product_id) if product_id is not None else None
    quantity = _parse_quantity(raw_quantity)
    if product is None:
        reason = _unknown_reason(raw_product)
        return _unpriced(context, index, None, quantity, UnpricedReason.UNKNOWN_PRODUCT, reason)

    if (
        quantity is None
        or not _ZERO < quantity < MAX_QUANTITY_EXCLUSIVE
        # More than 3 decimals: rounding to 0.001 changes the value. Below 10^11 the rounded value has at
        # most 14 digits, so quantize cannot exceed the context's 28-digit precision and raise.
        or quantity != quantity.quantize(_QUANTITY_STEP)
    ):
        reason = _invalid_quantity_reason(product, raw_quantity, quantity)
        return _unpriced(context, index, product, quantity, UnpricedReason.INVALID_QUANTITY, reason)

    if not product.is_active:
        reason = f"SKU {product.sku} is inactive and cannot be sold."
        return _unpriced(context, index, product, quantity, UnpricedReason.INACTIVE_PRODUCT, reason)

    contract = context.contract
    if not context.assortment.contains(product_id, product):
        reason = f"SKU {product.sku} is not in the assortment of contract {contract.number}."
        return _unpriced(context, index, product, quantity, UnpricedReason.NOT_IN_ASSORTMENT, reason)

    currency = context.currency
    list_price = product.list_price if product.currency == currency else None
    tier = _best_tier(context.tiers.get(product_id), quantity)
    if tier is None:
        contract_price_id = min_quantity = price = discount_percent = None
    else:
        _, min_quantity, contract_price_id, price, discount_percent = tier

    if price is not None:
        unit_price = price
        source = PriceSource.QUANTITY_BREAK if min_quantity > _ONE else PriceSource.CONTRACT_PRICE
    elif list_price is None:
        reason = _currency_mismatch_reason(context, product, discounted=tier is not None)
        return _unpriced(context, index, product, quantity, UnpricedReason.CURRENCY_MISMATCH, reason)
    elif discount_percent is not None:
        unit_price = round_money(list_price * (_HUNDRED - discount_percent) / _HUNDRED, currency)
        source = PriceSource.QUANTITY_BREAK if min_quantity > _ONE else PriceSource.CONTRACT_DISCOUNT
    else:
        unit_price = list_price
        source = PriceSource.LIST_PRICE

    return PricedLine(
        index=index,
        product=product,
        quantity=quantity,
        unit_price=unit_price,
        currency=currency,
        source=source,
        contract_id=context.contract_id,
        contract_price_id=contract_price_id,
        list_price=list_price,
        reason_code=None,
        reason=None,
    )


def _best_tier(tiers: list[_Tier] | None, quantity: Decimal) -> _Tier | None:
    """Return the best tier the quantity reaches, else the best base tier (lowest ``min_quantity``, at most 1)."""
    if not tiers:
        return None
    for tier in tiers:
        if tier[1] <= quantity:
            return tier

    # No tier reached: the lowest min_quantity comes last, and the best row with it is the first of its run.
    lowest = tiers[-1][1]
    if lowest > _ONE:
        return None
    position = len(tiers) - 1
    while position > 0 and tiers[position - 1][1] == lowest:
        position -= 1
    return tiers[position]


def _unpriced(
    context: _Context,
    index: int,
    product: AnyProduct | None,
    quantity: Decimal | None,
    reason_code: UnpricedReason,
    reason: str,
) -> PricedLine:
    list_price = None
    if product is not None and product.currency == context.currency:
        list_price = product.list_price
    return PricedLine(
        index=index,
        product=product,
        quantity=quantity if quantity is not None else Decimal(0),
        unit_price=None,
        currency=context.currency,
        source=None,
        contract_id=context.contract_id,
        contract_price_id=None,
        list_price=list_price,
        reason_code=reason_code,
        reason=reason,
    )


def _invalid_quantity_reason(product: AnyProduct, raw_quantity: object, quantity: Decimal | None) -> str:
    prefix = f"Quantity {raw_quantity!r} for SKU {product.sku} is invalid"
    if isinstance(raw_quantity, str) and not raw_quantity.isascii():
        return f"{prefix} because it contains characters other than ASCII; write it with the digits 0-9 and a point."
    if quantity is not None and _ZERO < quantity < MAX_QUANTITY_EXCLUSIVE:
        return (
            f"{prefix} because it has more than {MAX_QUANTITY_DECIMALS} decimal places; "
            f"round it to at most {MAX_QUANTITY_DECIMALS} decimals."
        )
    return (
        f"{prefix}; pass a positive decimal number below {MAX_QUANTITY_EXCLUSIVE:,} "
        f"with at most {MAX_QUANTITY_DECIMALS} decimals, as a string, int or Decimal."
    )


def _unknown_reason(given: object) -> str:
    if isinstance(given, Product) and given.pk is None:
        return f"SKU {given.sku} has not been saved, so it has no price; save the product first."
    if isinstance(given, Product):
        return f"SKU {given.sku} (product id {given.pk}) no longer exists."
    if isinstance(given, int) and not isinstance(given, bool):
        return f"Product id {given} does not exist."
    return f"Product reference {given!r} is not a product or a product id; pass a Product or its id."


def _currency_mismatch_reason(context: _Context, product: AnyProduct, *, discounted: bool) -> str:
    owner = _currency_owner(context.customer, context.contract)
    what = "the list price that the contract discount applies to" if discounted else "its list price"
    return (
        f"SKU {product.sku} has {what} in {product.currency}, but {owner} is priced in {context.currency}; "
        "prices are not converted between currencies."
    )
