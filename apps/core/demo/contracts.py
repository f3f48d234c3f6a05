"""Demo customers and their contracts, which differ in prices and in the products each may buy."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from apps.catalog.models import Category, Product
from apps.contracts.models import Contract, ContractPrice, Customer, ServiceTier
from apps.core.demo.catalog import CURRENCY
from apps.core.demo.sync import SyncReport, sync_row, sync_rows
from apps.core.money import round_money

CONTRACT_START = dt.date(2026, 1, 1)
CONTRACT_END = dt.date(2028, 12, 31)


@dataclass(frozen=True)
class DemoCustomer:
    """A demo buyer organisation and the header of its one active contract."""

    account_number: str
    name: str
    payment_terms: str
    credit_limit: Decimal
    region: str
    ship_to_country: str
    service_tier: int
    contract_number: str
    assortment: str
    categories: tuple[str, ...] = ()
    products: tuple[str, ...] = ()


CUSTOMERS = [
    DemoCustomer(
        account_number="ACME-001",
        name="Acme Corporation",
        payment_terms="NET30",
        credit_limit=Decimal("250000.00"),
        region="EU-WEST",
        ship_to_country="NL",
        service_tier=ServiceTier.PLATINUM,
        contract_number="ACME-2026",
        assortment=Contract.Assortment.ALL,
    ),
    DemoCustomer(
        account_number="GLOBEX-002",
        name="Globex Corporation",
        payment_terms="NET45",
        credit_limit=Decimal("120000.00"),
        region="EU-NORTH",
        ship_to_country="NL",
        service_tier=ServiceTier.GOLD,
        contract_number="GLOBEX-2026",
        assortment=Contract.Assortment.SELECTED,
        categories=("IT", "OFFICE-FURN"),
    ),
    DemoCustomer(
        account_number="INITECH-003",
        name="Initech GmbH",
        payment_terms="NET14",
        credit_limit=Decimal("40000.00"),
        region="EU-CENTRAL",
        ship_to_country="DE",
        service_tier=ServiceTier.STANDARD,
        contract_number="INITECH-2026",
        assortment=Contract.Assortment.SELECTED,
        categories=("IND",),
        products=("PAP-0001", "PAP-0002", "PEN-0001", "SVC-0001", "SVC-0002"),
    ),
]


def seed_customers(*, products: dict[str, Product], report: SyncReport) -> dict[str, Customer]:
    """Create or update the demo customers, their contracts and contract prices; return customers by account."""
    customers = {}
    for demo in CUSTOMERS:
        customer = sync_row(
            Customer,
            lookup={"account_number": demo.account_number},
            values={
                "name": demo.name,
                "currency": CURRENCY,
                "payment_terms": demo.payment_terms,
                "credit_limit": demo.credit_limit,
                "credit_hold": False,
                "tax_exempt": False,
                "region": demo.region,
                "ship_to_country": demo.ship_to_country,
                "ship_to_region": "",
                "service_tier": demo.service_tier,
                "is_active": True,
            },
            report=report,
        )
        contract = sync_row(
            Contract,
            lookup={"number": demo.contract_number},
            values={
                "customer": customer,
                "name": f"{demo.name} framework agreement",
                "valid_from": CONTRACT_START,
                "valid_to": CONTRACT_END,
                "currency": CURRENCY,
                "status": Contract.Status.ACTIVE,
                "assortment": demo.assortment,
            },
            report=report,
        )
        # set() adds and removes only the difference, so an unchanged
        # assortment writes no m2m history rows.
        contract.categories.set(Category.objects.filter(code__in=demo.categories))
        contract.products.set([products[sku] for sku in demo.products])
        sync_rows(
            ContractPrice,
            key=("contract_id", "product_id", "min_quantity", "valid_from"),
            rows=[{"contract_id": contract.pk, **row} for row in _PRICE_RULES[demo.account_number](products)],
            report=report,
        )
        customers[demo.account_number] = customer
    return customers


def _acme_prices(products: dict[str, Product]) -> list[dict]:
    """Fixed prices on computers and monitors, quantity breaks on paper and gloves, a discount on pens."""
    rows = []
    for product in _family(products, "NB", "DT", "MON"):
        rows.append(_fixed(product, 1, Decimal("0.86")))
    for product in _family(products, "PAP", "GLV"):
        rows += [_fixed(product, 1, Decimal("0.92")), _fixed(product, 10, Decimal("0.85")),
                 _fixed(product, 50, Decimal("0.78"))]  # fmt: skip
    for product in _family(products, "PEN"):
        rows.append(_discount(product, 1, Decimal("10")))
    rows.append(_fixed(products["NB-CFG-14"], 1, Decimal("0.90")))
    return rows


def _globex_prices(products: dict[str, Product]) -> list[dict]:
    """A discount on all IT equipment that grows from 20 units, and fixed prices on chairs."""
    rows = []
    for product in _family(products, "NB", "DT", "MON", "KB", "MS", "DCK", "SW", "PC"):
        rows += [_discount(product, 1, Decimal("12")), _discount(product, 20, Decimal("15"))]
    for product in _family(products, "CHR"):
        rows.append(_fixed(product, 1, Decimal("0.80")))
    return rows


def _initech_prices(products: dict[str, Product]) -> list[dict]:
    """Fixed prices with breaks on bolts by the box, a discount on cable, a fixed hourly rate."""
    rows = []
    for product in _family(products, "BLT"):
        rows += [_fixed(product, 1, Decimal("0.95")), _fixed(product, 25, Decimal("0.88")),
                 _fixed(product, 100, Decimal("0.80"))]  # fmt: skip
    for product in _family(products, "CBL"):
        rows.append(_discount(product, 1, Decimal("7.5")))
    rows.append(_fixed(products["SVC-0001"], 1, Decimal("0.90")))
    return rows


_PRICE_RULES = {
    "ACME-001": _acme_prices,
    "GLOBEX-002": _globex_prices,
    "INITECH-003": _initech_prices,
}


def _family(products: dict[str, Product], *prefixes: str) -> list[Product]:
    """Return the generated (not configurable) products whose SKU starts with one of the prefixes."""
    return [
        product
        for sku, product in products.items()
        if sku.split("-")[0] in prefixes and not product.is_configurable and product.is_active
    ]


def _fixed(product: Product, min_quantity: int, share_of_list: Decimal) -> dict:
    price = round_money(product.list_price * share_of_list, CURRENCY)
    return _tier(product, min_quantity, price=price, discount_percent=None)


def _discount(product: Product, min_quantity: int, percent: Decimal) -> dict:
    return _tier(product, min_quantity, price=None, discount_percent=percent)


def _tier(product: Product, min_quantity: int, *, price: Decimal | None, discount_percent: Decimal | None) -> dict:
    return {
        "product_id": product.pk,
        "min_quantity": Decimal(min_quantity),
        "valid_from": None,
        "price": price,
        "discount_percent": discount_percent,
        "valid_to": None,
    }
