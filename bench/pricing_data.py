"""Benchmark data for the pricing engine: a category tree, products, one customer and its SELECTED contract.

The data is generated from a fixed random seed and only once per database:
a second run finds the benchmark customer and reuses what is there. Rows are
written with plain ``bulk_create``, so they get no history rows; that is
acceptable for throwaway benchmark data and keeps generation to seconds.
"""

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction

from apps.catalog.models import Category, Product, UnitOfMeasure
from apps.contracts.models import Contract, ContractPrice, Customer

SEED = 20260615
ACCOUNT_NUMBER = "BENCH-PRICING"
CONTRACT_NUMBER = "BENCH-K-1"
SKU_PREFIX = "BENCH-"
ON_DATE = dt.date(2026, 6, 15)

ROOT_COUNT = 10
CHILDREN_PER_ROOT = 10
# The contract chooses this many root categories (with their subtrees), so
# about 60% of the products are in the assortment through a category.
CHOSEN_ROOTS = 6
# Products outside the chosen subtrees that the contract names one by one.
EXPLICIT_PRODUCTS = 500
# Share of in-assortment products that get contract prices, and the tiers each gets.
PRICED_SHARE = 0.6
TIER_MIN_QUANTITIES = (Decimal("1"), Decimal("10"), Decimal("100"))


@dataclass(frozen=True)
class BenchData:
    customer: Customer
    contract: Contract
    product_ids: list[int]


def ensure_pricing_data(*, product_count: int) -> BenchData:
    """Create the benchmark data unless the benchmark customer already exists, and return it."""
    customer = Customer.objects.filter(account_number=ACCOUNT_NUMBER).first()
    if customer is None:
        with transaction.atomic():
            customer = _generate(product_count)
        # Fresh statistics, so the planner does not plan for empty tables.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    contract = Contract.objects.get(number=CONTRACT_NUMBER)
    product_ids = list(Product.objects.filter(sku__startswith=SKU_PREFIX).order_by("id").values_list("id", flat=True))
    if len(product_ids) != product_count:
        raise SystemExit(
            f"The database has {len(product_ids)} benchmark products, not {product_count}; "
            "run with the same --products as before, or drop the database to regenerate."
        )
    return BenchData(customer=customer, contract=contract, product_ids=product_ids)


def _generate(product_count: int) -> Customer:
    rng = random.Random(SEED)
    unit, _ = UnitOfMeasure.objects.get_or_create(code="H87", defaults={"name": "piece"})

    roots = []
    leaves = []
    for root_number in range(ROOT_COUNT):
        root = Category(code=f"BENCH-R{root_number}", name=f"Bench root {root_number}")
        root.save()
        roots.append(root)
        for child_number in range(CHILDREN_PER_ROOT):
            child = Category(code=f"BENCH-R{root_number}-C{child_number}", name="Bench leaf", parent=root)
            child.save()
            leaves.append(child)

    products = []
    for number in range(product_count):
        products.append(
            Product(
                sku=f"{SKU_PREFIX}{number:06d}",
                name=f"Bench product {number}",
                category=leaves[number % len(leaves)],
                unit=unit,
                list_price=Decimal(rng.randint(50, 500_000)) / 100,
                # A few products are listed in another currency or inactive,
                # so those paths are part of the timing too.
                currency="USD" if number % 100 == 7 else "EUR",
                is_active=number % 50 != 13,
            )
        )
    Product.objects.bulk_create(products, batch_size=2000)

    customer = Customer.objects.create(account_number=ACCOUNT_NUMBER, name="Benchmark customer", currency="EUR")
    contract = Contract.objects.create(
        customer=customer,
        number=CONTRACT_NUMBER,
        valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 12, 31),
        currency="EUR",
        status=Contract.Status.ACTIVE,
        assortment=Contract.Assortment.SELECTED,
    )
    chosen_roots = roots[:CHOSEN_ROOTS]
    contract.categories.add(*chosen_roots)
    chosen_paths = tuple(root.path for root in chosen_roots)
    inside = [product for product in products if product.category.path.startswith(chosen_paths)]
    outside = [product for product in products if not product.category.path.startswith(chosen_paths)]
    explicit = rng.sample(outside, min(EXPLICIT_PRODUCTS, len(outside)))
    contract.products.add(*explicit)

    prices = []
    for product in rng.sample(inside + explicit, int(len(inside + explicit) * PRICED_SHARE)):
        prices.extend(_tiers_for(rng, contract, product))
    ContractPrice.objects.bulk_create(prices, batch_size=2000)
    return customer


def _tiers_for(rng: random.Random, contract: Contract, product: Product) -> list[ContractPrice]:
    tiers = []
    use_discount = rng.random() < 0.5
    for step, min_quantity in enumerate(TIER_MIN_QUANTITIES):
        if use_discount:
            amount = {"price": None, "discount_percent": Decimal(5 + 5 * step) + Decimal("0.5")}
        else:
            amount = {"price": (product.list_price * Decimal(90 - 5 * step) / 100).quantize(Decimal("0.0001"))}
        tiers.append(ContractPrice(contract=contract, product=product, min_quantity=min_quantity, **amount))
    # One product in ten also has a tier that ended before the pricing day, which the engine must skip.
    if rng.random() < 0.1:
        tiers.append(
            ContractPrice(
                contract=contract,
                product=product,
                min_quantity=Decimal("1"),
                price=product.list_price / 2,
                valid_from=dt.date(2026, 1, 1),
                valid_to=dt.date(2026, 3, 31),
            )
        )
    return tiers
