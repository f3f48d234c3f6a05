"""ERP pushes of catalog and stock rows through the import service, with stale and bad rows."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.api.models import Scope
from apps.catalog.models import ImportJob, Product, StockLevel
from tests.factories import CategoryFactory, UnitOfMeasureFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def erp_key(make_key):
    return make_key(all_customers=True, scopes=[Scope.ERP_WRITE, Scope.CATALOG_READ])


@pytest.fixture
def catalog_row():
    CategoryFactory(code="FURNITURE")
    UnitOfMeasureFactory(code="EA")

    def _row(sku, price, updated_at, **extra):
        return {
            "sku": sku,
            "name": f"Product {sku}",
            "category_code": "FURNITURE",
            "uom": "EA",
            "list_price": price,
            "currency": "EUR",
            "updated_at": iso(updated_at),
            **extra,
        }

    return _row


def test_catalog_push_creates_and_updates(api, catalog, erp_key, catalog_row):
    # when
    response = api.call(
        "POST",
        "/api/v1/catalog/updates/",
        erp_key,
        {"rows": [catalog_row("NEW-1", "10.00", NOW), catalog_row("CHAIR-1", Decimal("121.50"), NOW)]},
    )

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["rows"], body["created"], body["updated"], body["rejected"], body["stale"]) == (2, 1, 1, 0, 0)
    assert body["status"] == "succeeded"
    assert Product.objects.get(sku="NEW-1").list_price == Decimal("10.00")
    assert Product.objects.get(sku="CHAIR-1").list_price == Decimal("121.50")
    assert ImportJob.objects.get(pk=body["job"]).source == ImportJob.Source.API


def test_catalog_push_skips_stale_rows(api, catalog, erp_key, catalog_row):
    # given
    api.call("POST", "/api/v1/catalog/updates/", erp_key, {"rows": [catalog_row("CHAIR-1", "121.00", NOW)]})

    # when
    older = NOW - dt.timedelta(hours=1)
    response = api.call("POST", "/api/v1/catalog/updates/", erp_key, {"rows": [catalog_row("CHAIR-1", "90.00", older)]})

    # then
    body = response.json()
    assert (body["stale"], body["updated"], body["created"]) == (1, 0, 0)
    assert Product.objects.get(sku="CHAIR-1").list_price == Decimal("121.00")


def test_catalog_push_reports_bad_rows(api, catalog, erp_key, catalog_row):
    # when
    response = api.call(
        "POST",
        "/api/v1/catalog/updates/",
        erp_key,
        {"rows": [catalog_row("GOOD-1", "5.00", NOW), catalog_row("BAD-1", "-3", NOW), {"sku": "X", "colour": "red"}]},
    )

    # then
    body = response.json()
    assert response.status_code == 200
    assert (body["created"], body["rejected"]) == (1, 2)
    assert [error["line"] for error in body["errors"]] == [2, 3]
    assert body["errors"][0]["column"] == "list_price"
    assert "colour" in body["errors"][1]["message"]
    assert not Product.objects.filter(sku="BAD-1").exists()


def test_catalog_push_dry_run_writes_nothing(api, catalog, erp_key, catalog_row):
    response = api.call(
        "POST", "/api/v1/catalog/updates/", erp_key, {"rows": [catalog_row("NEW-9", "1.00", NOW)], "dry_run": True}
    )

    assert response.json()["created"] == 1
    assert response.json()["dry_run"] is True
    assert not Product.objects.filter(sku="NEW-9").exists()


def test_push_over_row_limit_413(api, catalog, erp_key, settings):
    settings.API_PUSH_MAX_ROWS = 2

    response = api.call("POST", "/api/v1/stock/updates/", erp_key, {"rows": [{"sku": "A"}] * 3})

    assert response.status_code == 413
    assert response.json()["code"] == "too_many_rows"
    assert ImportJob.objects.count() == 0


def test_push_rows_must_be_objects(api, catalog, erp_key):
    response = api.call("POST", "/api/v1/stock/updates/", erp_key, {"rows": ["CHAIR-1"]})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["rows.0"]


def test_stock_push_skips_stale_rows(api, catalog, erp_key):
    # given
    level = StockLevel.objects.get(product__sku="CHAIR-1", warehouse__code="FRA")
    StockLevel.objects.filter(pk=level.pk).update(as_of=NOW)
    # The fixture stamps the other levels with the time it ran, which a slow run puts after NOW + 5 minutes.
    StockLevel.objects.filter(product__sku="CHAIR-1", warehouse__code="RTM").update(as_of=NOW)

    # when
    response = api.call(
        "POST",
        "/api/v1/stock/updates/",
        erp_key,
        {
            "rows": [
                {"sku": "CHAIR-1", "warehouse": "FRA", "on_hand": "1", "as_of": iso(NOW - dt.timedelta(minutes=5))},
                {"sku": "CHAIR-1", "warehouse": "RTM", "on_hand": 9, "as_of": iso(NOW + dt.timedelta(minutes=5))},
                {"sku": "DESK-1", "warehouse": "NOWHERE", "on_hand": "1", "as_of": iso(NOW)},
            ]
        },
    )

    # then
    body = response.json()
    assert response.status_code == 200
    assert (body["stale"], body["updated"], body["rejected"]) == (1, 1, 1)
    assert body["errors"][0]["line"] == 3
    assert StockLevel.objects.get(pk=level.pk).on_hand == Decimal("20")
    assert StockLevel.objects.get(product__sku="CHAIR-1", warehouse__code="RTM").on_hand == Decimal("9")
