"""Querysets compiled once and run again with other parameter values."""

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.transaction import TransactionManagementError

from apps.catalog.models import Product
from apps.core.prepared import PreparedQuery, prepared
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

PLACEHOLDER_SKU = "\x1fsku\x1f"


def _after(sku):
    return Product.objects.filter(sku__gt=sku, is_active=True).order_by("sku").values("sku", "list_price", "attributes")


@pytest.fixture
def products():
    return [
        ProductFactory(sku=f"PR-{number}", list_price=Decimal(f"{number}.50"), attributes={"size": number})
        for number in range(4)
    ]


def test_prepared_values_match_orm_rows(products):
    query = PreparedQuery(_after(PLACEHOLDER_SKU), {"sku": PLACEHOLDER_SKU})

    for after in ("", "PR-1", "PR-3"):
        assert query.run({"sku": after}) == list(_after(after))


def test_prepared_values_list_returns_tuples(products):
    queryset = Product.objects.filter(sku__gt=PLACEHOLDER_SKU).order_by("sku").values_list("sku", "attributes")
    query = PreparedQuery(queryset, {"sku": PLACEHOLDER_SKU})

    rows = query.run({"sku": "PR-2"})

    assert rows == [("PR-3", {"size": 3})]
    assert rows == list(Product.objects.filter(sku__gt="PR-2").order_by("sku").values_list("sku", "attributes"))


def test_prepared_value_of_other_type_raises(products):
    query = PreparedQuery(_after(PLACEHOLDER_SKU), {"sku": PLACEHOLDER_SKU})

    with pytest.raises(TypeError, match="is not a str"):
        query.run({"sku": None})


def test_placeholder_rewritten_by_lookup_raises():
    queryset = Product.objects.filter(name__icontains=PLACEHOLDER_SKU).values("sku")

    with pytest.raises(ImproperlyConfigured, match="rewritten"):
        PreparedQuery(queryset, {"name": PLACEHOLDER_SKU})


def test_placeholder_missing_from_sql_raises():
    with pytest.raises(ImproperlyConfigured, match="not parameters"):
        PreparedQuery(Product.objects.values("sku"), {"sku": PLACEHOLDER_SKU})


def test_prefetching_queryset_cannot_be_prepared():
    queryset = Product.objects.filter(sku=PLACEHOLDER_SKU).prefetch_related("stock_levels")

    with pytest.raises(ImproperlyConfigured, match="prefetch_related"):
        PreparedQuery(queryset, {"sku": PLACEHOLDER_SKU})


def test_prepared_instances_match_orm(products):
    queryset = Product.objects.select_related("category").filter(sku__gt=PLACEHOLDER_SKU).order_by("sku")
    query = PreparedQuery(queryset, {"sku": PLACEHOLDER_SKU})

    instances = query.run({"sku": "PR-1"})

    assert instances == list(Product.objects.filter(sku__gt="PR-1").order_by("sku"))
    assert [product.attributes for product in instances] == [{"size": 2}, {"size": 3}]
    assert instances[0].category == products[2].category
    assert instances[0]._state.adding is False


@pytest.mark.postgres
def test_prepared_builds_once_per_key(products, django_assert_num_queries):
    builds = []

    def build(sku):
        builds.append(sku)
        return _after(sku)

    first = prepared(("test", "after"), build, {"sku": PLACEHOLDER_SKU})
    with django_assert_num_queries(1):
        second = prepared(("test", "after"), build, {"sku": PLACEHOLDER_SKU})
        rows = second.run({"sku": "PR-2"})

    assert second is first
    assert builds == [PLACEHOLDER_SKU]
    assert [row["sku"] for row in rows] == ["PR-3"]


def test_prepared_runs_with_values_on_every_database(products):
    query = prepared(("test", "after"), _after, {"sku": PLACEHOLDER_SKU})

    assert query.run({"sku": "PR-2"}) == list(_after("PR-2"))


@pytest.mark.django_db(transaction=True)
def test_locking_query_outside_transaction_raises(products):
    """A select_for_update() query compiled once still raises outside a transaction, where it would lock nothing."""
    locking = Product.objects.select_for_update().filter(sku=PLACEHOLDER_SKU).values_list("sku")
    with transaction.atomic():
        query = PreparedQuery(locking, {"sku": PLACEHOLDER_SKU})
        inside = query.run({"sku": "PR-1"})

    with pytest.raises(TransactionManagementError, match="outside of a transaction"):
        query.run({"sku": "PR-1"})
    assert inside == [("PR-1",)]
