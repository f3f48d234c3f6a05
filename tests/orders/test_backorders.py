"""The backorder queue: confirmed orders short of stock wait, and arriving stock allocates them by tier, then age."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.catalog.imports.service import import_rows
from apps.catalog.models import ImportKind, StockLevel
from apps.contracts.models import ServiceTier
from apps.exceptions.models import ExceptionCase
from apps.exceptions.services import case_resolve
from apps.orders.inputs import LineInput, OrderInput
from apps.orders.models import BackorderEntry, BackorderStatus, OrderStatus
from apps.orders.services import allocate_backorders, order_cancel, order_intake
from tests.factories import (
    ContractFactory,
    CustomerFactory,
    ProductFactory,
    StockLevelFactory,
    UserFactory,
    WarehouseFactory,
)


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Serve admin pages without the collectstatic manifest, which tests do not build."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def resolver(db):
    return UserFactory(username="resolver", is_superuser=True)


@pytest.fixture
def warehouse(db):
    return WarehouseFactory(code="RTM", country="NL")


@pytest.fixture
def widget(warehouse):
    product = ProductFactory(sku="WIDGET-1", list_price=Decimal("10.00"))
    StockLevelFactory(
        product=product, warehouse=warehouse, on_hand=Decimal("0"), as_of=timezone.now() - dt.timedelta(days=1)
    )
    return product


def customer_in(tier: int, name: str):
    customer = CustomerFactory(account_number=name, service_tier=tier, credit_limit=Decimal("1000000"))
    ContractFactory(customer=customer, valid_from=dt.date(2020, 1, 1), valid_to=None)
    return customer


def wait_for_stock(customer, sku: str, quantity: str, resolver, *, po_number: str):
    """Take in an order that is short of stock and resolve its case so that it waits in the queue."""
    result = order_intake(
        request=OrderInput(
            channel="api",
            source="backorder-test",
            customer=customer,
            document_id=f"doc-{po_number}",
            operation="new",
            po_number=po_number,
            currency="EUR",
            lines=(LineInput(line_number="1", sku=sku, quantity=quantity, unit="EA"),),
        )
    )
    order = result.order
    case = ExceptionCase.objects.get(object_id=str(order.pk), kind="out_of_stock")
    case_resolve(case=case, action="wait_for_stock", note="", actor=resolver)
    order.refresh_from_db()
    assert order.status == OrderStatus.CONFIRMED
    assert order.backorder.status == BackorderStatus.WAITING
    return order


def stock_arrives(sku: str, on_hand: str, warehouse: str = "RTM"):
    job = import_rows(
        ImportKind.STOCK,
        [{"sku": sku, "warehouse": warehouse, "on_hand": on_hand, "as_of": timezone.now().isoformat()}],
    )
    assert job.status == "succeeded", job.error
    return job


def status_of(order) -> str:
    order.refresh_from_db()
    return order.status


def test_arrival_serves_tiers_then_age(widget, resolver):
    # given three tiers, queued in the opposite order of their tiers, and two gold orders of different ages
    standard = wait_for_stock(customer_in(ServiceTier.STANDARD, "STD-1"), "WIDGET-1", "4", resolver, po_number="S")
    gold_old = wait_for_stock(customer_in(ServiceTier.GOLD, "GOLD-1"), "WIDGET-1", "3", resolver, po_number="G1")
    gold_new = wait_for_stock(customer_in(ServiceTier.GOLD, "GOLD-2"), "WIDGET-1", "3", resolver, po_number="G2")
    platinum = wait_for_stock(customer_in(ServiceTier.PLATINUM, "PLAT-1"), "WIDGET-1", "5", resolver, po_number="P")

    # when 8 arrive: platinum takes 5, the older gold order 3, and nothing is left
    stock_arrives("WIDGET-1", "8")

    # then
    assert status_of(platinum) == OrderStatus.ALLOCATED
    assert status_of(gold_old) == OrderStatus.ALLOCATED
    assert status_of(gold_new) == OrderStatus.CONFIRMED
    assert status_of(standard) == OrderStatus.CONFIRMED
    level = StockLevel.objects.get(product=widget)
    assert level.on_hand == Decimal("8")
    assert level.reserved == Decimal("8")
    assert BackorderEntry.objects.get(order=platinum).status == BackorderStatus.ALLOCATED
    assert BackorderEntry.objects.get(order=gold_new).status == BackorderStatus.WAITING


def test_short_order_keeps_its_claim(widget, resolver):
    # given platinum needs 10, standard needs 2
    platinum = wait_for_stock(customer_in(ServiceTier.PLATINUM, "PLAT-1"), "WIDGET-1", "10", resolver, po_number="P")
    standard = wait_for_stock(customer_in(ServiceTier.STANDARD, "STD-1"), "WIDGET-1", "2", resolver, po_number="S")

    # when 6 arrive, too few for platinum
    stock_arrives("WIDGET-1", "6")

    # then the standard order does not take the stock platinum waits for
    assert status_of(platinum) == OrderStatus.CONFIRMED
    assert status_of(standard) == OrderStatus.CONFIRMED
    assert StockLevel.objects.get(product=widget).reserved == Decimal("0")
    assert BackorderEntry.objects.get(order=platinum).shortages[0]["available"] == "6.000"

    # when 4 more arrive, both fit
    stock_arrives("WIDGET-1", "12")

    # then
    assert status_of(platinum) == OrderStatus.ALLOCATED
    assert status_of(standard) == OrderStatus.ALLOCATED
    assert StockLevel.objects.get(product=widget).reserved == Decimal("12")


def test_arrival_of_other_product_leaves_queue(widget, warehouse, resolver):
    # given
    other = ProductFactory(sku="OTHER-1")
    StockLevelFactory(
        product=other, warehouse=warehouse, on_hand=Decimal("0"), as_of=timezone.now() - dt.timedelta(days=1)
    )
    waiting = wait_for_stock(customer_in(ServiceTier.GOLD, "GOLD-1"), "WIDGET-1", "1", resolver, po_number="G")

    # when
    stock_arrives("OTHER-1", "50")

    # then
    assert status_of(waiting) == OrderStatus.CONFIRMED
    assert BackorderEntry.objects.get(order=waiting).checked_at is None


def test_cancelled_order_leaves_queue(widget, resolver):
    # given
    cancelled = wait_for_stock(customer_in(ServiceTier.PLATINUM, "PLAT-1"), "WIDGET-1", "2", resolver, po_number="P")
    waiting = wait_for_stock(customer_in(ServiceTier.STANDARD, "STD-1"), "WIDGET-1", "2", resolver, po_number="S")
    order_cancel(order=cancelled, actor=resolver, reason="buyer withdrew")

    # when
    stock_arrives("WIDGET-1", "2")

    # then
    assert status_of(waiting) == OrderStatus.ALLOCATED
    entry = BackorderEntry.objects.get(order=cancelled)
    assert entry.status == BackorderStatus.WITHDRAWN
    assert entry.status_reason == "Order is cancelled"


def test_staff_allocation_serves_queue_in_order(widget, resolver):
    # given stock changed outside an import
    gold = wait_for_stock(customer_in(ServiceTier.GOLD, "GOLD-1"), "WIDGET-1", "2", resolver, po_number="G")
    platinum = wait_for_stock(customer_in(ServiceTier.PLATINUM, "PLAT-1"), "WIDGET-1", "2", resolver, po_number="P")
    StockLevel.objects.filter(product=widget).update(on_hand=Decimal("2"))

    # when
    allocated = allocate_backorders(actor=resolver)

    # then
    assert allocated == [platinum]
    assert status_of(gold) == OrderStatus.CONFIRMED


def test_queue_admin_lists_waiting_by_tier(client, widget, resolver):
    # given
    wait_for_stock(customer_in(ServiceTier.STANDARD, "STD-1"), "WIDGET-1", "2", resolver, po_number="S")
    wait_for_stock(customer_in(ServiceTier.PLATINUM, "PLAT-1"), "WIDGET-1", "2", resolver, po_number="P")
    client.force_login(resolver)

    # when
    response = client.get(reverse("admin:orders_backorderentry_changelist"))

    # then
    assert response.status_code == 200
    listed = [entry.order.customer.account_number for entry in response.context["cl"].result_list]
    assert listed == ["PLAT-1", "STD-1"]
    assert "platinum" in response.content.decode()
