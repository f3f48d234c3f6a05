"""Benchmark data for paging through the partner API's products: 100,000 products, prices, stock and a key.

The data is generated from a fixed random seed once per database; a second
run finds the benchmark customer and reuses it. Rows are written with plain
``bulk_create``, so they get no history rows, which is acceptable for
throwaway benchmark data and keeps generation to seconds.
"""

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from apps.api.keys import api_key_create
from apps.api.models import Partner, Scope
from apps.catalog.models import Category, Product, StockLevel, UnitOfMeasure, Warehouse
from apps.contracts.models import Contract, ContractPrice, Customer

SEED = 20261204
ACCOUNT_NUMBER = "BENCH-API"
CONTRACT_NUMBER = "BENCH-API-K"
PARTNER_NAME = "Benchmark partner"
SKU_PREFIX = "API-"
LEAF_CATEGORIES = 100
# Share of products with contract prices (one to three tiers each) and with stock rows.
PRICED_SHARE = 0.4
STOCKED_SHARE = 0.7
BATCH_SIZE = 5000


@dataclass(frozen=True)
class BenchData:
    customer: Customer
    api_key: str
    product_count: int


def ensure_api_data(*, product_count: int) -> BenchData:
    """Create the benchmark data unless it exists, and return the customer with a fresh API key."""
    customer = Customer.objects.filter(account_number=ACCOUNT_NUMBER).first()
    if customer is None:
        with transaction.atomic():
            customer = _generate(product_count)
        # Fresh statistics, so the planner does not plan for empty tables.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    count = Product.objects.filter(sku__startswith=SKU_PREFIX, is_active=True).count()
    if count != product_count:
        raise SystemExit(
            f"The database has {count} active benchmark products, not {product_count}; "
            "run with the same --products as before, or drop the database to regenerate."
        )
    partner = Partner.objects.get(name=PARTNER_NAME)
    # A new key per run: keys are stored as hashes, so the one from an earlier run cannot be read back.
    _, raw_key = api_key_create(partner=partner, name="benchmark run", scopes=[Scope.CATALOG_READ])
    return BenchData(customer=customer, api_key=raw_key, product_count=product_count)


def _generate(product_count: int) -> Customer:
    rng = random.Random(SEED)
    unit, _ = UnitOfMeasure.objects.get_or_create(code="EA", defaults={"name": "each"})
    root = Category(code="API-ROOT", name="Benchmark root")
    root.save()
    leaves = []
    for number in range(LEAF_CATEGORIES):
        leaf = Category(code=f"API-C{number:03d}", name=f"Benchmark leaf {number}", parent=root)
        leaf.save()
        leaves.append(leaf)

    products = [
        Product(
            sku=f"{SKU_PREFIX}{number:06d}",
            name=f"Benchmark product {number}",
            manufacturer="Bench Manufacturing",
            manufacturer_part_number=f"BM-{number:06d}",
            category=leaves[number % LEAF_CATEGORIES],
            unspsc="43211503",
            unit=unit,
            list_price=Decimal(rng.randint(50, 500_000)) / 100,
            currency="EUR",
            lead_time_days=rng.randint(0, 20),
        )
        for number in range(product_count)
    ]
    Product.objects.bulk_create(products, batch_size=BATCH_SIZE)

    customer = Customer.objects.create(account_number=ACCOUNT_NUMBER, name="Benchmark partner customer", currency="EUR")
    contract = Contract.objects.create(
        customer=customer,
        number=CONTRACT_NUMBER,
        valid_from=dt.date(2020, 1, 1),
        currency="EUR",
        status=Contract.Status.ACTIVE,
        assortment=Contract.Assortment.ALL,
    )
    prices = []
    for product in rng.sample(products, int(product_count * PRICED_SHARE)):
        for step, min_quantity in enumerate((Decimal(1), Decimal(10), Decimal(100))[: rng.randint(1, 3)]):
            if step == 0 and rng.random() < 0.5:
                prices.append(
                    ContractPrice(contract=contract, product=product, min_quantity=min_quantity, discount_percent=10)
                )
            else:
                price = (product.list_price * Decimal(90 - 5 * step) / 100).quantize(Decimal("0.01"))
                prices.append(ContractPrice(contract=contract, product=product, min_quantity=min_quantity, price=price))
    ContractPrice.objects.bulk_create(prices, batch_size=BATCH_SIZE)

    warehouses = [
        Warehouse.objects.get_or_create(code=code, defaults={"name": name})[0]
        for code, name in (("API-FRA", "Bench Frankfurt"), ("API-RTM", "Bench Rotterdam"))
    ]
    now = timezone.now()
    levels = []
    for product in rng.sample(products, int(product_count * STOCKED_SHARE)):
        for warehouse in warehouses[: rng.randint(1, 2)]:
            levels.append(
                StockLevel(product=product, warehouse=warehouse, on_hand=Decimal(rng.randint(0, 500)), as_of=now)
            )
    StockLevel.objects.bulk_create(levels, batch_size=BATCH_SIZE)

    partner = Partner.objects.create(name=PARTNER_NAME)
    partner.customers.add(customer)
    return customer
