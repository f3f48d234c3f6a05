"""Fixtures of the order tests: a customer with a contract, products with stock, and an intake helper."""

import datetime as dt
from decimal import Decimal

import pytest

from apps.orders.inputs import LineInput, OrderInput
from apps.orders.services import order_intake
from tests.factories import (
    ContractFactory,
    ContractPriceFactory,
    CustomerFactory,
    ProductFactory,
    StockLevelFactory,
    WarehouseFactory,
)


@pytest.fixture
def customer(db):
    return CustomerFactory(account_number="ACME-001", region="EU-WEST", credit_limit=Decimal("10000.00"))


@pytest.fixture
def contract(customer):
    return ContractFactory(customer=customer, valid_from=dt.date(2020, 1, 1), valid_to=None)


@pytest.fixture
def warehouses(db):
    return {
        "RTM": WarehouseFactory(code="RTM", name="Rotterdam", country="NL"),
        "FRA": WarehouseFactory(code="FRA", name="Frankfurt", country="DE"),
    }


@pytest.fixture
def chair(contract, warehouses):
    product = ProductFactory(sku="CHAIR-1", name="Desk chair", list_price=Decimal("120.00"))
    ContractPriceFactory(contract=contract, product=product, price=Decimal("99.50"))
    StockLevelFactory(product=product, warehouse=warehouses["RTM"], on_hand=Decimal("5"))
    StockLevelFactory(product=product, warehouse=warehouses["FRA"], on_hand=Decimal("20"))
    return product


@pytest.fixture
def desk(contract, warehouses):
    product = ProductFactory(sku="DESK-1", name="Standing desk", list_price=Decimal("400.00"))
    StockLevelFactory(product=product, warehouse=warehouses["FRA"], on_hand=Decimal("3"))
    return product


@pytest.fixture
def place(customer):
    """Take in an order through the intake service; keywords override the request's fields."""

    def _place(lines, *, document_id="doc-1", po_number="PO-1", operation="new", **overrides):
        request = OrderInput(
            channel=overrides.pop("channel", "api"),
            source=overrides.pop("source", "test-source"),
            customer=overrides.pop("customer", customer),
            document_id=document_id,
            operation=operation,
            po_number=po_number,
            currency=overrides.pop("currency", "EUR"),
            lines=tuple(LineInput(**line) if isinstance(line, dict) else line for line in lines),
            **overrides,
        )
        return order_intake(request=request)

    return _place
