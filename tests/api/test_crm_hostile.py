"""CRM pushes with hostile values: each bad value is a row error naming it, never a 500 or a frozen row."""

import datetime as dt
from decimal import Decimal

import pytest

from apps.api.models import Scope
from apps.contracts.models import ContractPrice, Customer
from tests.api.test_crm import CONTRACTS_URL, CUSTOMERS_URL, NOW, customer_row, iso

pytestmark = pytest.mark.django_db


@pytest.fixture
def crm_key(make_key):
    return make_key(all_customers=True, scopes=[Scope.CRM_WRITE])


def test_customer_push_far_future_updated_at_rejected(api, acme, crm_key):
    typo = NOW.replace(year=NOW.year + 36)

    body = api.call(
        "POST", CUSTOMERS_URL, crm_key, {"rows": [customer_row("ACME-001", name="Typo", updated_at=typo)]}
    ).json()

    assert body["rejected"] == 1
    assert [error["column"] for error in body["errors"]] == ["updated_at"]
    acme.refresh_from_db()
    assert acme.name == "Acme"
    later = NOW + dt.timedelta(minutes=5)
    body = api.call(
        "POST", CUSTOMERS_URL, crm_key, {"rows": [customer_row("ACME-001", name="Acme Europe", updated_at=later)]}
    ).json()
    assert body["updated"] == 1


def test_customer_push_updated_at_past_year_9999_rejected(api, acme, crm_key):
    row = customer_row("ACME-001", name="Far", updated_at=NOW)
    row["updated_at"] = "9999-12-31T23:59:59-12:00"

    response = api.call("POST", CUSTOMERS_URL, crm_key, {"rows": [row]})

    assert response.status_code == 200
    body = response.json()
    assert body["rejected"] == 1
    assert body["errors"][0]["column"] == "updated_at"
    assert "9999-12-31T23:59:59-12:00" in body["errors"][0]["message"]


def test_customer_push_credit_limit_exponent_rejected(api, acme, crm_key):
    acme.credit_limit = Decimal("2500.00")
    acme.save(update_fields=["credit_limit"])

    body = api.call("POST", CUSTOMERS_URL, crm_key, {"rows": [customer_row("ACME-001", credit_limit="1e5")]}).json()

    assert body["rejected"] == 1
    assert body["errors"][0]["column"] == "credit_limit"
    assert "1e5" in body["errors"][0]["message"]
    acme.refresh_from_db()
    assert acme.credit_limit == Decimal("2500.00")


def test_contract_price_push_exponent_rejected(api, acme, catalog, crm_key):
    row = {"contract": "ACME-K", "sku": "DESK-1", "min_quantity": "1", "price": "1e2", "updated_at": iso(NOW)}

    body = api.call("POST", CONTRACTS_URL, crm_key, {"prices": [row]}).json()

    assert body["prices"]["rejected"] == 1
    assert body["prices"]["errors"][0]["column"] == "price"
    assert not ContractPrice.objects.filter(product__sku="DESK-1", contract__number="ACME-K").exists()


def test_customer_push_without_crm_scope_forbidden(api, acme, make_key):
    key = make_key(acme, scopes=[Scope.ERP_WRITE, Scope.ORDERS_READ])

    response = api.call("POST", CUSTOMERS_URL, key, {"rows": [customer_row("ACME-001", credit_limit="1")]})

    assert response.status_code == 403
    assert set(response.json()) >= {"detail", "code"}
    assert Customer.objects.get(pk=acme.pk).credit_limit != Decimal("1")
