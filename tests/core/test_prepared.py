"""Querysets compiled once and run again with other parameter values."""

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS

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


def test_model_queryset_cannot_be_prepared():
    with pytest.raises(ImproperlyConfigured, match="values"):
        PreparedQuery(Product.objects.filter(sku=PLACEHOLDER_SKU), {"sku": PLACEHOLDER_SKU})


def test_prepared_builds_once_per_key(products, django_assert_num_queries):
    builds = []

    def build():
        builds.append(1)
        return _after(PLACEHOLDER_SKU)

    first = prepared(("test", "after"), build, {"sku": PLACEHOLDER_SKU}, DEFAULT_DB_ALIAS)
    with django_assert_num_queries(1):
        second = prepared(("test", "after"), build, {"sku": PLACEHOLDER_SKU}, DEFAULT_DB_ALIAS)
        rows = second.run({"sku": "PR-2"})

    assert second is first
    assert len(builds) == 1
    assert [row["sku"] for row in rows] == ["PR-3"]
