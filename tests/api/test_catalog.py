"""Products with contract prices, one product with stock by warehouse, bulk prices and availability."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.api import selectors
from apps.catalog.models import Product
from apps.contracts.models import Contract
from tests.factories import CategoryFactory, ProductFactory, StockLevelFactory

pytestmark = pytest.mark.django_db


def test_products_carry_customer_prices(api, catalog, acme_key):
    response = api.call("GET", "/api/v1/products/", acme_key)

    assert response.status_code == 200
    products = {row["sku"]: row for row in response.json()["results"]}
    assert list(products) == ["CHAIR-1", "DESK-1", "LAMP-1"]
    assert products["CHAIR-1"]["price"] == "99.50"
    assert products["CHAIR-1"]["price_source"] == "contract_price"
    assert products["CHAIR-1"]["list_price"] == "120.00"
    assert products["CHAIR-1"]["currency"] == "EUR"
    assert products["CHAIR-1"]["available"] == "23"
    assert products["DESK-1"]["price"] == "400.00"
    assert products["DESK-1"]["price_source"] == "list_price"
    assert products["LAMP-1"]["available"] == "0"


def test_products_differ_per_customer(api, catalog, acme_key, globex_key):
    acme_lamp = api.call("GET", "/api/v1/products/?search=LAMP", acme_key).json()["results"][0]
    globex_lamp = api.call("GET", "/api/v1/products/?search=LAMP", globex_key).json()["results"][0]

    assert acme_lamp["price"] == "30.00"
    assert globex_lamp["price"] == "25.00"
    assert globex_lamp["price_source"] == "contract_price"


def test_products_outside_assortment_hidden(api, catalog, globex, globex_key):
    # given
    contract = globex.contracts.get()
    contract.assortment = Contract.Assortment.SELECTED
    contract.save()
    contract.products.add(catalog["lamp"])

    # when
    response = api.call("GET", "/api/v1/products/", globex_key)
    detail = api.call("GET", "/api/v1/products/CHAIR-1/", globex_key)

    # then
    assert [row["sku"] for row in response.json()["results"]] == ["LAMP-1"]
    assert detail.status_code == 404


def test_products_filters(api, catalog, acme_key):
    # given
    category = CategoryFactory(code="SEATING")
    child = CategoryFactory(code="OFFICE-CHAIRS", parent=category)
    Product.objects.filter(pk=catalog["chair"].pk).update(category=child)
    old = timezone.now() - dt.timedelta(days=3)
    Product.objects.filter(sku="DESK-1").update(updated_at=old)

    # when
    by_category = api.call("GET", "/api/v1/products/?category=SEATING", acme_key).json()["results"]
    by_search = api.call("GET", "/api/v1/products/?search=standing", acme_key).json()["results"]
    since = (timezone.now() - dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")
    by_time = api.call("GET", f"/api/v1/products/?updated_since={since}", acme_key).json()["results"]

    # then
    assert [row["sku"] for row in by_category] == ["CHAIR-1"]
    assert [row["sku"] for row in by_search] == ["DESK-1"]
    assert [row["sku"] for row in by_time] == ["CHAIR-1", "LAMP-1"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("category=NOPE", "invalid_filter"),
        ("updated_since=yesterday", "invalid_filter"),
        ("cursor=zzz", "invalid_cursor"),
    ],
)
def test_products_bad_filter_is_400(api, catalog, acme_key, query, code):
    response = api.call("GET", f"/api/v1/products/?{query}", acme_key)

    assert response.status_code == 400
    assert response.json()["code"] == code


def test_products_cursor_pages_cover_all(api, acme, acme_key):
    # given
    for number in range(7):
        ProductFactory(sku=f"P-{number:02d}")

    # when
    seen = []
    url = "/api/v1/products/?page_size=3"
    while url:
        page = api.call("GET", url, acme_key).json()
        seen.extend(row["sku"] for row in page["results"])
        url = page["next"]

    # then
    assert seen == [f"P-{number:02d}" for number in range(7)]


def test_products_previous_links_page_back(api, acme, acme_key):
    # given
    for number in range(7):
        ProductFactory(sku=f"P-{number:02d}")
    url = "/api/v1/products/?page_size=3"
    while True:
        page = api.call("GET", url, acme_key).json()
        if not page["next"]:
            break
        url = page["next"]

    # when
    seen = [row["sku"] for row in page["results"]]
    url = page["previous"]
    while url:
        page = api.call("GET", url, acme_key).json()
        seen[:0] = [row["sku"] for row in page["results"]]
        url = page["previous"]

    # then
    assert seen == [f"P-{number:02d}" for number in range(7)]


def test_products_selected_assortment_pages(api, globex, globex_key):
    # given a SELECTED contract with 5 chosen products among 8
    contract = globex.contracts.get()
    contract.assortment = Contract.Assortment.SELECTED
    contract.save()
    products = [ProductFactory(sku=f"S-{number:02d}") for number in range(8)]
    contract.products.add(*products[::2], products[1])

    # when
    seen = []
    url = "/api/v1/products/?page_size=2"
    while url:
        page = api.call("GET", url, globex_key).json()
        seen.extend(row["sku"] for row in page["results"])
        url = page["next"]

    # then
    assert seen == ["S-00", "S-01", "S-02", "S-04", "S-06"]


def test_products_page_queries_constant(api, acme, acme_key):
    """A page of products costs the same queries for 5 products as for 50.

    They read the key with its partner, the customer with its contract in
    force, and the page. On PostgreSQL the page query brings the contract's
    prices, elsewhere a fourth query reads them.
    """
    # given
    for number in range(60):
        product = ProductFactory(sku=f"Q-{number:03d}")
        if number % 2:
            StockLevelFactory(product=product, on_hand=Decimal("4"))
    api.call("GET", "/api/v1/products/?page_size=5", acme_key)

    # when
    with CaptureQueriesContext(connection) as small:
        small_page = api.call("GET", "/api/v1/products/?page_size=5", acme_key)
    with CaptureQueriesContext(connection) as large:
        large_page = api.call("GET", "/api/v1/products/?page_size=50", acme_key)

    # then
    assert small_page.status_code == large_page.status_code == 200
    assert len(large_page.json()["results"]) == 50
    assert len(small.captured_queries) == len(large.captured_queries)
    expected_queries = 3 if connection.vendor == "postgresql" else 4
    assert len(large.captured_queries) == expected_queries, [query["sql"][:90] for query in large.captured_queries]


def test_products_etag_returns_304(api, catalog, acme_key):
    # given
    first = api.call("GET", "/api/v1/products/", acme_key)
    etag = first["ETag"]

    # when
    unchanged = api.call("GET", "/api/v1/products/", acme_key, HTTP_IF_NONE_MATCH=etag)
    Product.objects.filter(sku="DESK-1").update(list_price=Decimal("410.00"))
    changed = api.call("GET", "/api/v1/products/", acme_key, HTTP_IF_NONE_MATCH=etag)

    # then
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged["ETag"] == etag
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_product_detail_stock_by_warehouse(api, catalog, acme_key):
    response = api.call("GET", "/api/v1/products/CHAIR-1/", acme_key)

    assert response.status_code == 200
    body = response.json()
    assert body["price"] == "99.50"
    assert body["available"] == "23"
    assert [(row["warehouse"], row["on_hand"], row["available"]) for row in body["warehouses"]] == [
        ("FRA", "20", "18"),
        ("RTM", "5", "5"),
    ]
    assert response["ETag"]


def test_product_detail_unknown_sku_404(api, catalog, acme_key):
    response = api.call("GET", "/api/v1/products/NOPE-1/", acme_key)

    assert response.status_code == 404
    assert response.json() == {"detail": "Product 'NOPE-1' not found.", "code": "not_found"}


def test_prices_bulk_lookup(api, catalog, acme_key):
    # when
    response = api.call(
        "POST",
        "/api/v1/prices/",
        acme_key,
        {"lines": [{"sku": "CHAIR-1", "quantity": "12"}, {"sku": "DESK-1", "quantity": 2}, {"sku": "GHOST-1"}]},
    )

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["customer"] == "ACME-001"
    assert body["contract"] == "ACME-K"
    assert body["total"] == "1940.00"
    chair, desk, ghost = body["lines"]
    assert (chair["unit_price"], chair["line_total"], chair["price_source"]) == ("95.00", "1140.00", "quantity_break")
    assert (desk["unit_price"], desk["line_total"], desk["price_source"]) == ("400.00", "800.00", "list_price")
    assert ghost["unit_price"] is None
    assert ghost["reason_code"] == "unknown_product"
    assert ghost["reason"] == "SKU 'GHOST-1' not found."


def test_prices_float_quantity_reads_as_decimal(api, catalog, acme_key):
    response = api.call("POST", "/api/v1/prices/", acme_key, {"lines": [{"sku": "DESK-1", "quantity": 0.1}]})

    assert response.status_code == 200
    assert response.json()["lines"][0]["line_total"] == "40.00"


@pytest.mark.parametrize("quantity", ["0", "-1", "1e3", "2,5", "0.0001", True])
def test_prices_bad_quantity_names_field(api, catalog, acme_key, quantity):
    response = api.call("POST", "/api/v1/prices/", acme_key, {"lines": [{"sku": "DESK-1", "quantity": quantity}]})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["fields"]) == ["lines.0.quantity"]


def test_prices_missing_lines_names_field(api, catalog, acme_key):
    response = api.call("POST", "/api/v1/prices/", acme_key, {"customer": "ACME-001"})

    assert response.status_code == 400
    assert response.json()["fields"] == {"lines": ["This field is required."]}


def test_invalid_json_body_is_400(api, catalog, acme_key):
    response = api.generic(
        "POST",
        "/api/v1/prices/",
        b"{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {acme_key}",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_availability_by_warehouse(api, catalog, acme_key):
    response = api.call("GET", "/api/v1/availability/?sku=CHAIR-1&sku=DESK-1&sku=GHOST-1", acme_key)

    assert response.status_code == 200
    body = response.json()
    assert [(row["sku"], row["available"]) for row in body["results"]] == [("CHAIR-1", "23"), ("DESK-1", "3")]
    assert [row["warehouse"] for row in body["results"][0]["warehouses"]] == ["FRA", "RTM"]
    assert body["not_found"] == ["GHOST-1"]


def test_availability_needs_a_sku(api, catalog, acme_key):
    response = api.call("GET", "/api/v1/availability/", acme_key)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_filter"


@pytest.mark.parametrize("amount", ["120", "120.00", "48.0500", "0.0125", "1E+2", "7.125000", "-3.10"])
def test_page_money_text_matches_money_text(amount):
    assert selectors._money_places(Decimal(amount), 2) == selectors.money_text(Decimal(amount), "EUR")


def test_products_updated_since_any_offset(api, catalog, acme_key):
    # Python accepts offsets up to 23:59, PostgreSQL only up to 15:59.
    far_offset = api.call("GET", "/api/v1/products/?updated_since=2020-02-11T07:05:25%2B19:25", acme_key)
    first_year = api.call("GET", "/api/v1/products/?updated_since=0001-01-01T00:00:00%2B05:00", acme_key)

    assert far_offset.status_code == 200
    assert [row["sku"] for row in far_offset.json()["results"]] == ["CHAIR-1", "DESK-1", "LAMP-1"]
    assert first_year.status_code == 400
    assert first_year.json()["code"] == "invalid_filter"
