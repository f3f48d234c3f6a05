"""Catalog and contracts admin pages that sales may view run a query count that does not grow with rows."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.catalog.models import (
    CatalogReferenceVersion,
    Category,
    HeldChange,
    ImportJob,
    ImportKind,
    ImportRowError,
    Product,
    StockLevel,
    UnitAlias,
    UnitOfMeasure,
    Warehouse,
)
from apps.contracts.models import Contract, ContractPrice, Customer
from tests.factories import (
    CategoryFactory,
    ContractFactory,
    ContractPriceFactory,
    CustomerFactory,
    ProductFactory,
    StockLevelFactory,
    WarehouseFactory,
)

ADMIN_APPS = ("catalog", "contracts")
REGISTERED_MODELS = sorted(
    (model for model in admin.site._registry if model._meta.app_label in ADMIN_APPS),
    key=lambda model: model._meta.label,
)
PAGES = ("changelist", "change", "history")


class RowBuilder:
    """Adds rows to every catalog and contracts table, hanging the child rows on one object per model.

    After ``add(n)`` the opened objects have ``n`` children each: the first product has ``n`` stock
    levels, the first contract ``n`` prices, categories and products, and every opened object ``n``
    history rows.
    """

    def __init__(self):
        self.count = 0
        self.opened: dict[type, object] = {}

    def add(self, rows: int) -> None:
        for _ in range(rows):
            self._add_one(self.count)
            self.count += 1

    def _add_one(self, index: int) -> None:
        parent = self.opened.get(Category)
        category = CategoryFactory(code=f"C{index:03d}", parent=parent)
        warehouse = WarehouseFactory(code=f"W{index:03d}")
        product = ProductFactory(sku=f"P{index:03d}", category=category)
        customer = CustomerFactory(account_number=f"A{index:03d}", region=f"R{index % 3}")
        contract = ContractFactory(number=f"K{index:03d}", customer=customer)
        unit = UnitOfMeasure.objects.get(code="EA")
        alias = UnitAlias.objects.create(alias=f"TEST{index}", context="erp", unit=unit)
        job = ImportJob.objects.create(
            kind=ImportKind.CATALOG, source=ImportJob.Source.COMMAND, file_name=f"{index}.csv"
        )

        if not self.opened:
            self.opened = {
                Category: category,
                Warehouse: warehouse,
                Product: product,
                Customer: customer,
                Contract: contract,
                UnitOfMeasure: unit,
                UnitAlias: alias,
                ImportJob: job,
            }
        first_product = self.opened[Product]
        first_contract = self.opened[Contract]
        first_job = self.opened[ImportJob]
        ImportRowError.objects.create(job=first_job, line=index + 2, column="list_price", message="Invalid price.")
        held = HeldChange.objects.create(
            job=first_job,
            product=product,
            sku=product.sku,
            line=index + 2,
            reason=HeldChange.Reason.PRICE_JUMP,
            payload={"list_price": "150.00"},
            current={"list_price": "100.00"},
        )
        stock = StockLevelFactory(product=first_product, warehouse=warehouse, on_hand=Decimal(index))
        price = ContractPriceFactory(contract=first_contract, product=product, valid_from=dt.date(2026, 1, 1))
        first_contract.categories.add(category)
        first_contract.products.add(product)
        self.opened.setdefault(StockLevel, stock)
        self.opened.setdefault(ContractPrice, price)
        self.opened.setdefault(HeldChange, held)

        # One more history row for every opened object.
        for obj in self.opened.values():
            obj.save()


def _url(model, page: str, obj) -> str:
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}"
    return reverse(name) if page == "changelist" else reverse(name, args=[obj.pk])


def _count_queries(client, url: str) -> int:
    # The first request fills process-wide caches (content types), so the second one is measured.
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


def test_registry_covers_every_model():
    from django.apps import apps

    # Row errors are listed on their import job's page and in its CSV report, not on a page of their own.
    # The catalog reference data version is a counter that database triggers keep, with nothing to edit.
    shown_elsewhere = {ImportRowError, CatalogReferenceVersion}
    expected = {
        model
        for label in ADMIN_APPS
        for model in apps.get_app_config(label).get_models()
        if not model.__name__.startswith("Historical") and model not in shown_elsewhere
    }

    assert set(REGISTERED_MODELS) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("model", REGISTERED_MODELS, ids=lambda model: model._meta.label)
def test_admin_page_query_count_constant(client, sales_user, model, page):
    # given a sales user who may view the model, and one row of everything
    assert sales_user.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}")
    client.force_login(sales_user)
    rows = RowBuilder()
    rows.add(1)
    opened = rows.opened[model]

    # when the page is rendered with one row and again with twenty
    one_row = _count_queries(client, _url(model, page, opened))
    rows.add(19)
    twenty_rows = _count_queries(client, _url(model, page, opened))

    # then it runs the same number of queries
    assert twenty_rows == one_row
