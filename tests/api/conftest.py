"""Fixtures of the API tests: two customers with contracts, products with stock, and partner keys."""

import datetime as dt
from decimal import Decimal

import pytest
from celery import Celery
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.api import tasks
from apps.api.keys import api_key_create
from apps.api.models import Partner, Scope
from apps.orders.models import OrderStatus
from tests.celery_worker import REDIS_URL, running_worker
from tests.factories import (
    ContractFactory,
    ContractPriceFactory,
    CustomerFactory,
    ProductFactory,
    StockLevelFactory,
    UserFactory,
    WarehouseFactory,
)
from tests.punchout.support import create_order_connection, place_order

ALL_SCOPES = list(Scope.values)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Start every test with empty rate-limit counters, which live in the cache."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def acme(db):
    customer = CustomerFactory(account_number="ACME-001", name="Acme", region="EU-WEST")
    ContractFactory(customer=customer, number="ACME-K", valid_from=dt.date(2020, 1, 1), valid_to=None)
    return customer


@pytest.fixture
def globex(db):
    customer = CustomerFactory(account_number="GLOBEX-002", name="Globex")
    ContractFactory(customer=customer, number="GLOBEX-K", valid_from=dt.date(2020, 1, 1), valid_to=None)
    return customer


@pytest.fixture
def warehouses(db):
    return {
        "FRA": WarehouseFactory(code="FRA", name="Frankfurt", country="DE"),
        "RTM": WarehouseFactory(code="RTM", name="Rotterdam", country="NL"),
    }


@pytest.fixture
def catalog(acme, globex, warehouses):
    """Three products: a chair with ACME's contract price, a desk at list price, a lamp Globex pays less for."""
    chair = ProductFactory(sku="CHAIR-1", name="Desk chair", list_price=Decimal("120.00"))
    desk = ProductFactory(sku="DESK-1", name="Standing desk", list_price=Decimal("400.00"))
    lamp = ProductFactory(sku="LAMP-1", name="Desk lamp", list_price=Decimal("30.00"))
    ContractPriceFactory(contract=acme.contracts.get(), product=chair, price=Decimal("99.50"))
    ContractPriceFactory(
        contract=acme.contracts.get(), product=chair, price=Decimal("95.00"), min_quantity=Decimal("10")
    )
    ContractPriceFactory(contract=globex.contracts.get(), product=lamp, price=Decimal("25.00"))
    StockLevelFactory(product=chair, warehouse=warehouses["FRA"], on_hand=Decimal("20"), reserved=Decimal("2"))
    StockLevelFactory(product=chair, warehouse=warehouses["RTM"], on_hand=Decimal("5"))
    StockLevelFactory(product=desk, warehouse=warehouses["FRA"], on_hand=Decimal("3"))
    return {"chair": chair, "desk": desk, "lamp": lamp}


@pytest.fixture
def make_key(db):
    """Create a partner serving the given customers with a key of the given scopes; return the plain key."""

    def _make_key(*customers, scopes=ALL_SCOPES, name=None, all_customers=False, **key_options):
        partner = Partner.objects.create(
            name=name
            or f"Partner of {'+'.join(c.account_number for c in customers) or 'all'} {Partner.objects.count()}",
            all_customers=all_customers,
        )
        partner.customers.set(customers)
        _, raw_key = api_key_create(partner=partner, name="test key", scopes=scopes, **key_options)
        return raw_key

    return _make_key


@pytest.fixture
def acme_key(acme, make_key):
    return make_key(acme)


@pytest.fixture
def globex_key(globex, make_key):
    return make_key(globex)


@pytest.fixture
def api():
    """An API client whose ``call(method, path, key, data=None, **headers)`` sends JSON with a bearer key."""

    class Client(APIClient):
        def call(self, method, path, key=None, data=None, **headers):
            if key is not None:
                headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
            return getattr(self, method.lower())(path, data=data, format="json", **headers)

    return Client()


@pytest.fixture
def worker(tmp_path):
    """Start ``celery worker`` with one prefork child on the test database; stop it after the test."""
    with running_worker(
        settings_module="tests.api.celery_worker_settings",
        log_path=tmp_path / "worker.log",
        env={"SECRET_KEY": settings.SECRET_KEY, "API_WEBHOOK_SIGNING_KEY": settings.API_WEBHOOK_SIGNING_KEY},
    ) as process:
        yield process


@pytest.fixture
def broker(monkeypatch):
    """Send the on-commit enqueue of the test process to Redis instead of running it eagerly."""
    app = Celery("api-test", broker=REDIS_URL, set_as_current=False)
    monkeypatch.setattr(
        tasks.send_webhook, "delay", lambda delivery_id: app.send_task("api.send_webhook", [delivery_id])
    )
    yield app
    app.close()


@pytest.fixture
def sales(db, settings):
    """The sales person that partners' quote requests are assigned to."""
    user = UserFactory(username="api-quote-sales")
    user.groups.add(Group.objects.get(name="sales"))
    settings.API_QUOTE_SALES_PERSON = user.username
    return user


@pytest.fixture
def allocated_order(db):
    """An order that a cXML buyer placed and that is allocated, ready for the ERP's messages."""
    placed = place_order(create_order_connection()).order
    assert placed.status == OrderStatus.ALLOCATED
    return placed


@pytest.fixture
def erp_writer_key(make_key):
    """A key of the supplier's ERP: every customer, erp:write and orders:read."""
    return make_key(all_customers=True, scopes=[Scope.ERP_WRITE, Scope.ORDERS_READ], name="ERP")
