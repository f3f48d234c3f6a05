"""Field ownership in the import service: a sender's values for fields it does not own are kept out and reported."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.catalog.imports.errors import InvalidImportOptions
from apps.catalog.imports.service import import_rows
from apps.catalog.models import ImportJob, ImportKind, ImportRowError
from apps.contracts.models import Customer
from apps.exceptions.models import CaseKind, ExceptionCase
from apps.integrations import ownership
from apps.integrations.ownership import System
from tests.factories import CategoryFactory, ContractPriceFactory, CustomerFactory, ProductFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def conflict_cases():
    return list(ExceptionCase.objects.filter(kind=CaseKind.INTEGRATION_CONFLICT).order_by("pk"))


def customer_row(account, **fields):
    return {"account": account, "name": "Acme", "currency": "EUR", "updated_at": NOW.isoformat(), **fields}


@pytest.fixture
def erp_owns_credit_limits(monkeypatch):
    """A map in which the ERP owns customers' credit limits, as in companies whose ERP runs credit control."""
    monkeypatch.setitem(ownership._FIELD_OWNERS, ("contracts.Customer", "credit_limit"), System.ERP)


@pytest.mark.usefixtures("erp_owns_credit_limits")
def test_non_owner_field_rejected_others_apply():
    # given a customer whose credit limit the ERP owns
    customer = CustomerFactory(account_number="ACME-001", name="Acme", credit_limit=Decimal("5000.00"))

    # when the CRM sends a new name and a new credit limit
    job = import_rows(
        ImportKind.CUSTOMERS,
        [customer_row("ACME-001", name="Acme Europe", credit_limit="9000")],
        sender=System.CRM,
    )

    # then the name applies, the credit limit keeps its value, and a conflict case shows both values
    customer.refresh_from_db()
    assert customer.name == "Acme Europe"
    assert customer.credit_limit == Decimal("5000.00")
    assert (job.updated_count, job.rejected_count) == (1, 0)
    [case] = conflict_cases()
    assert case.concerning == customer
    assert case.customer == customer
    assert case.facts["field"] == "credit_limit"
    assert case.facts["owner"] == "the ERP"
    assert case.facts["sender"] == "the CRM"
    assert case.facts["stored_value"] == "5000.00"
    assert case.facts["offered_value"] == "9000"
    [notice] = ImportRowError.objects.filter(job=job)
    assert (notice.line, notice.column, notice.level) == (1, "credit_limit", ImportRowError.Level.NOTICE)
    assert "owned by the ERP" in notice.message


@pytest.mark.usefixtures("erp_owns_credit_limits")
def test_owner_field_update_applies():
    customer = CustomerFactory(account_number="ACME-001", name="Acme", credit_limit=Decimal("5000.00"))

    # the ERP's row changes only the field it owns, whatever else it carries
    job = import_rows(
        ImportKind.CUSTOMERS, [customer_row("ACME-001", credit_limit="9000", region="NEW")], sender=System.ERP
    )

    customer.refresh_from_db()
    assert customer.credit_limit == Decimal("9000.00")
    assert customer.region == ""
    assert job.updated_count == 1
    assert [case.facts["field"] for case in conflict_cases()] == ["region"]


@pytest.mark.usefixtures("erp_owns_credit_limits")
def test_non_owner_replay_opens_no_second_case():
    CustomerFactory(account_number="ACME-001", name="Acme", credit_limit=Decimal("5000.00"))
    rows = [customer_row("ACME-001", credit_limit="9000")]

    import_rows(ImportKind.CUSTOMERS, rows, sender=System.CRM)
    import_rows(ImportKind.CUSTOMERS, rows, sender=System.CRM)
    import_rows(ImportKind.CUSTOMERS, [customer_row("ACME-001", credit_limit="9100")], sender=System.CRM)

    assert [case.facts["offered_value"] for case in conflict_cases()] == ["9000", "9100"]


def test_contract_price_file_from_erp_keeps_crm_price(tmp_path):
    # given a contract price that the CRM owns
    price = ContractPriceFactory(price=Decimal("90.00"), product=ProductFactory(sku="A-1"))
    path = tmp_path / "prices.csv"
    path.write_text(f"contract,sku,min_quantity,price\n{price.contract.number},A-1,1,80.00\n")

    # when the ERP's file changes it
    call_command("import_contract_prices", str(path), "--source", "erp", "--no-progress", stdout=io.StringIO())

    # then the price stays, and one case names both prices
    price.refresh_from_db()
    assert price.price == Decimal("90.00")
    [case] = conflict_cases()
    assert (case.facts["stored_value"], case.facts["offered_value"]) == ("90.0000", "80.00")
    assert case.concerning == price
    assert case.customer == price.contract.customer
    assert ImportJob.objects.get().sender == System.ERP


def test_contract_price_file_from_crm_applies(tmp_path):
    price = ContractPriceFactory(price=Decimal("90.00"), product=ProductFactory(sku="A-1"))
    path = tmp_path / "prices.csv"
    path.write_text(f"contract,sku,min_quantity,price\n{price.contract.number},A-1,1,80.00\n")

    call_command("import_contract_prices", str(path), "--no-progress", stdout=io.StringIO())

    price.refresh_from_db()
    assert price.price == Decimal("80.00")
    assert conflict_cases() == []
    assert ImportJob.objects.get().sender == System.CRM


def test_catalog_row_from_crm_changes_no_erp_field():
    product = ProductFactory(sku="A-1", name="Drill", list_price=Decimal("100.00"))
    row = {
        "sku": "A-1",
        "name": "Cheap drill",
        "uom": product.unit.code,
        "list_price": "1.00",
        "currency": product.currency,
        "updated_at": (NOW + dt.timedelta(days=1)).isoformat(),
    }

    job = import_rows(ImportKind.CATALOG, [row], sender=System.CRM)

    product.refresh_from_db()
    assert (product.name, product.list_price) == ("Drill", Decimal("100.00"))
    assert job.unchanged_count == 1
    assert sorted(case.facts["field"] for case in conflict_cases()) == ["list_price", "name"]


def test_reference_conflict_reported_in_file_terms():
    product = ProductFactory(sku="A-1", category=CategoryFactory(code="DRILLS"))
    CategoryFactory(code="SAWS")
    row = {
        "sku": "A-1",
        "name": product.name,
        "category_code": "SAWS",
        "uom": product.unit.code,
        "list_price": str(product.list_price),
        "currency": product.currency,
        "updated_at": (NOW + dt.timedelta(days=1)).isoformat(),
    }

    job = import_rows(ImportKind.CATALOG, [row], sender=System.CRM)

    [notice] = ImportRowError.objects.filter(job=job)
    assert (notice.column, notice.value) == ("category_code", "SAWS")
    assert notice.message.startswith("category_code is owned by the ERP, so the CRM's value SAWS was not applied")
    assert "the stored value DRILLS was kept" in notice.message
    [case] = conflict_cases()
    assert (case.facts["field"], case.facts["stored_value"], case.facts["offered_value"]) == (
        "category_code",
        "DRILLS",
        "SAWS",
    )


def test_non_owner_cannot_create_rows():
    job = import_rows(ImportKind.CUSTOMERS, [customer_row("NEW-1")], sender=System.ERP)

    assert job.rejected_count == 1
    assert not Customer.objects.filter(account_number="NEW-1").exists()
    [error] = ImportRowError.objects.filter(job=job)
    assert "only the CRM creates it" in error.message


@pytest.mark.usefixtures("erp_owns_credit_limits")
def test_non_owner_dry_run_reports_without_cases():
    CustomerFactory(account_number="ACME-001", credit_limit=Decimal("5000.00"))
    rows = [customer_row("ACME-001", credit_limit="1")]

    job = import_rows(ImportKind.CUSTOMERS, rows, sender=System.CRM, dry_run=True)

    assert ImportRowError.objects.filter(job=job, column="credit_limit").count() == 1
    assert conflict_cases() == []


def test_import_sender_must_be_erp_or_crm():
    with pytest.raises(InvalidImportOptions, match="Import sender 'back_office' is unknown"):
        import_rows(ImportKind.CUSTOMERS, [customer_row("ACME-001")], sender=System.BACK_OFFICE)
