"""The seed_demo command: the documented demo data, and a second run that changes nothing."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import models

from apps.catalog.models import Category, HeldChange, Product, StockLevel, UnitOfMeasure, Warehouse
from apps.contracts.models import Contract, ContractPrice, Customer, ServiceTier
from apps.contracts.pricing import PriceSource, UnpricedReason, price_product
from apps.core.secrets import hash_secret, verify_secret
from apps.exceptions.models import CaseKind, ExceptionCase
from apps.orders.models import InboundDocument, Order, OrderStatus
from apps.punchout.models import BuyerConnection
from apps.tax.models import TaxClass, TaxRate

pytestmark = pytest.mark.django_db

PRICING_DAY = dt.date(2026, 6, 1)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # Each seeding sets or checks four passwords; PBKDF2 takes a quarter second per hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _seed() -> str:
    output = StringIO()
    call_command("seed_demo", stdout=output)
    return output.getvalue()


def _database_snapshot() -> dict[str, tuple]:
    """Row count and latest updated_at of every model, history and m2m tables included."""
    snapshot = {}
    for model in apps.get_models(include_auto_created=True):
        has_updated_at = any(field.name == "updated_at" for field in model._meta.concrete_fields)
        latest = model.objects.aggregate(latest=models.Max("updated_at"))["latest"] if has_updated_at else None
        snapshot[model._meta.label] = (model.objects.count(), latest)
    return snapshot


def test_seed_demo_creates_catalog():
    _seed()

    # 303 generated and configurable products, plus the demo server and its two memory modules.
    assert Product.objects.count() == 306
    assert Product.objects.filter(is_active=False).count() == 6
    assert Product.objects.filter(is_configurable=True).count() == 4
    assert set(Product.objects.values_list("unit__code", flat=True)) == {"EA", "XBX", "PR", "KGM", "MTR", "HUR"}
    assert Product.objects.filter(unspsc="").count() == 0
    assert Product.objects.order_by().values("name").distinct().count() == 306
    assert Category.objects.filter(parent=None).count() == 4
    assert Category.objects.get(code="IND-FAST").path == "/IND/IND-FAST/"
    assert set(Warehouse.objects.values_list("code", flat=True)) == {"FRA", "RTM"}
    assert StockLevel.objects.filter(warehouse__code="FRA").count() == 297
    assert StockLevel.objects.filter(product__unit__code="HUR").count() == 0


def test_seed_demo_configurable_options():
    _seed()

    notebook = Product.objects.get(sku="NB-CFG-14")
    options = notebook.attributes["configuration"]["options"]

    assert [option["code"] for option in options] == ["cpu", "ram", "ssd"]
    assert notebook.attributes["configuration"]["rules"][0]["requires"] == {"cpu": "i7"}


def test_seed_demo_differing_contracts():
    _seed()

    contracts = {contract.customer.account_number: contract for contract in Contract.objects.select_related("customer")}

    assert sorted(contracts) == ["ACME-001", "GLOBEX-002", "INITECH-003"]
    assert {contract.status for contract in contracts.values()} == {Contract.Status.ACTIVE}
    assert contracts["ACME-001"].assortment == Contract.Assortment.ALL
    assert contracts["GLOBEX-002"].assortment == Contract.Assortment.SELECTED
    assert sorted(contracts["GLOBEX-002"].categories.values_list("code", flat=True)) == ["IT", "OFFICE-FURN"]
    assert list(contracts["INITECH-003"].categories.values_list("code", flat=True)) == ["IND"]
    assert contracts["INITECH-003"].products.count() == 5
    assert ContractPrice.objects.filter(contract__number="ACME-2026", min_quantity=50).exists()
    assert ContractPrice.objects.filter(contract__number="GLOBEX-2026", discount_percent=Decimal("15")).exists()


def test_seed_demo_prices_differ_by_customer():
    _seed()
    notebook = Product.objects.get(sku="NB-0001")
    customers = {customer.account_number: customer for customer in Customer.objects.all()}

    acme = price_product(customer=customers["ACME-001"], product=notebook, quantity=1, on_date=PRICING_DAY)
    globex = price_product(customer=customers["GLOBEX-002"], product=notebook, quantity=1, on_date=PRICING_DAY)
    globex_bulk = price_product(customer=customers["GLOBEX-002"], product=notebook, quantity=20, on_date=PRICING_DAY)
    initech = price_product(customer=customers["INITECH-003"], product=notebook, quantity=1, on_date=PRICING_DAY)

    assert acme.source == PriceSource.CONTRACT_PRICE
    assert acme.unit_price == (notebook.list_price * Decimal("0.86")).quantize(Decimal("0.01"))
    assert globex.source == PriceSource.CONTRACT_DISCOUNT
    assert globex.unit_price == (notebook.list_price * Decimal("0.88")).quantize(Decimal("0.01"))
    assert globex_bulk.source == PriceSource.QUANTITY_BREAK
    assert globex_bulk.unit_price == (notebook.list_price * Decimal("0.85")).quantize(Decimal("0.01"))
    assert initech.unit_price is None
    assert initech.reason_code == UnpricedReason.NOT_IN_ASSORTMENT


def test_seed_demo_staff_users_in_groups():
    _seed()

    users = {user.username: user for user in get_user_model().objects.prefetch_related("groups")}

    assert sorted(users) == ["admin", "finance", "sales", "sales-manager"]
    assert users["admin"].is_superuser is True
    for username in ("sales", "sales-manager", "finance"):
        assert users[username].is_staff is True
        assert users[username].is_superuser is False
        assert [group.name for group in users[username].groups.all()] == [username]
    for user in users.values():
        assert user.check_password("demo-pass-2026") is True


def test_seed_demo_cxml_connection():
    _seed()

    connection = BuyerConnection.objects.get(protocol=BuyerConnection.Protocol.CXML)

    assert connection.customer.account_number == "ACME-001"
    assert connection.contract.number == "ACME-2026"
    assert (connection.from_domain, connection.from_identity) == ("NetworkID", "AN01000000001")
    assert (connection.sender_domain, connection.sender_identity) == ("NetworkID", "AN01000000001")
    assert (connection.to_domain, connection.to_identity) == ("DUNS", "987654321")
    assert connection.shared_secret_hash == hash_secret("demo-shared-secret")
    assert "demo-shared-secret" not in connection.shared_secret_hash
    assert [(pattern.host, pattern.port) for pattern in connection.return_host_patterns()] == [
        ("localhost", None),
        ("127.0.0.1", None),
    ]


def test_seed_demo_oci_connection():
    _seed()

    connection = BuyerConnection.objects.get(protocol=BuyerConnection.Protocol.OCI)

    assert connection.customer.account_number == "ACME-001"
    assert connection.oci_username == "acme-oci"
    assert verify_secret("demo-oci-secret", connection.oci_password_hash) is True
    assert connection.shared_secret_hash == ""


def test_seed_demo_second_run_changes_nothing():
    # Given: the demo data, seeded once
    _seed()
    before = _database_snapshot()
    hashes_before = list(BuyerConnection.objects.order_by("pk").values_list("shared_secret_hash", "oci_password_hash"))
    passwords_before = list(get_user_model().objects.order_by("pk").values_list("password", flat=True))

    # When: it runs again
    output = _seed()

    # Then: no row, history row or timestamp changed
    assert _database_snapshot() == before
    assert list(BuyerConnection.objects.order_by("pk").values_list("shared_secret_hash", "oci_password_hash")) == (
        hashes_before
    )
    assert list(get_user_model().objects.order_by("pk").values_list("password", flat=True)) == passwords_before
    assert "nothing changed" in output
    assert "products: 0 created, 0 updated, 306 unchanged" in output


def test_seed_demo_records_history():
    _seed()

    assert Product.history.count() == 306
    assert set(Product.history.values_list("history_change_reason", flat=True)) == {"demo data (seed_demo)"}
    assert Contract.history.filter(number="ACME-2026").count() == 1
    # A chosen assortment adds one history row when its categories are set.
    assert Contract.history.filter(number="GLOBEX-2026").count() == 2


def test_seed_demo_restores_changed_values():
    # Given: seeded demo data that a person then changed
    _seed()
    product = Product.objects.get(sku="PAP-0001")
    demo_price = product.list_price
    product.list_price = Decimal("1.00")
    product.save()
    connection = BuyerConnection.objects.get(protocol=BuyerConnection.Protocol.CXML)
    connection.set_shared_secret("another-secret")
    connection.save()
    history_before = Product.history.filter(sku="PAP-0001").count()

    # When
    output = _seed()

    # Then: the demo values are back, with one history row each, and nothing else moved
    product.refresh_from_db()
    connection.refresh_from_db()
    assert product.list_price == demo_price
    assert Product.history.filter(sku="PAP-0001").count() == history_before + 1
    assert verify_secret("demo-shared-secret", connection.shared_secret_hash) is True
    assert "products: 0 created, 1 updated, 305 unchanged" in output
    assert "buyer connections: 0 created, 1 updated, 1 unchanged" in output


def test_seed_demo_names_missing_units():
    # Given: a database whose unit table lacks the hour unit
    UnitOfMeasure.objects.filter(code="HUR").delete()

    # When / Then
    with pytest.raises(CommandError, match=r"Units of measure HUR are missing; run `python manage.py migrate`"):
        _seed()
    assert Product.objects.count() == 0


def test_seed_demo_missing_group_rolls_back():
    # Given: no group named finance; users are seeded after the catalog, so products would exist without a rollback
    Group.objects.filter(name="finance").update(name="finance-renamed")

    # When / Then: the command fails and leaves no demo row behind
    with pytest.raises(CommandError, match=r"Groups finance are missing; run `python manage.py migrate`"):
        _seed()
    assert Product.objects.count() == 0
    assert Customer.objects.count() == 0


def test_seed_demo_orders_open_every_kind():
    _seed()

    cases = ExceptionCase.objects.select_related("team")
    kinds = sorted(case.kind for case in cases)

    assert kinds == sorted([
        CaseKind.PRICE_MISMATCH,
        CaseKind.UNKNOWN_PRODUCT,
        CaseKind.UNIT_OF_MEASURE,
        CaseKind.OUT_OF_STOCK,
        CaseKind.CREDIT,
        CaseKind.TAX_MISMATCH,
        CaseKind.DUPLICATE_ORDER,
        CaseKind.CATALOG_ANOMALY,
        CaseKind.INTEGRATION_FAILURE,
        CaseKind.QUOTE_APPROVAL,
    ])  # fmt: skip
    assert {case.state for case in cases} == {"open"}


def test_seed_demo_cases_routed_to_teams():
    _seed()

    teams = {case.kind: case.team.name for case in ExceptionCase.objects.select_related("team")}

    for kind in ("price_mismatch", "unknown_product", "unit_of_measure", "out_of_stock", "duplicate_order"):
        assert teams[kind] == "sales", kind
    assert teams["credit"] == "finance"
    assert teams["tax_mismatch"] == "finance"
    assert teams["quote_approval"] == "sales-manager"


def test_seed_demo_orders_through_intake():
    _seed()

    orders = {order.po_number: order for order in Order.objects.select_related("customer")}

    assert sorted(orders) == [f"DEMO-PO-{number}" for number in range(1001, 1008)]
    assert {order.status for po, order in orders.items() if po != "DEMO-PO-1007"} == {OrderStatus.ON_HOLD}
    assert orders["DEMO-PO-1007"].status == OrderStatus.ALLOCATED
    assert orders["DEMO-PO-1005"].customer.account_number == "GLOBEX-002"
    assert InboundDocument.objects.filter(source="seed_demo").count() == 8
    assert InboundDocument.objects.get(document_id="DEMO-PO-1007-RESENT").result_code == "409:duplicate_po_number"


def test_seed_demo_price_order_one_blocking_case():
    _seed()
    order = Order.objects.get(po_number="DEMO-PO-1001")

    cases = list(ExceptionCase.objects.filter(object_id=str(order.pk), content_type__model="order"))

    assert [(case.kind, case.blocking) for case in cases] == [(CaseKind.PRICE_MISMATCH, True)]


def test_seed_demo_price_jump_held():
    _seed()

    held = HeldChange.objects.get()

    assert (held.sku, held.reason, held.status) == ("CHR-0001", "price_jump", "pending")
    assert Product.objects.get(sku="CHR-0001").list_price == Decimal("593.6600")


def test_seed_demo_keeps_reserved_stock():
    # Given: seeded demo data, where DEMO-PO-1007 reserved 5 mice
    _seed()
    level = StockLevel.objects.get(product__sku="MS-0001", warehouse__code="FRA")
    assert level.reserved == Decimal("5.000")

    # When
    output = _seed()

    # Then: the reservation stays, and so do the orders and cases
    level.refresh_from_db()
    assert level.reserved == Decimal("5.000")
    assert "inbound documents: 0 created, 0 updated, 8 unchanged" in output
    assert ExceptionCase.objects.count() == 10


def test_seed_demo_configurable_server_and_quote():
    from apps.quotes.models import ApprovalRule, Quote
    from apps.quotes.services import configuration_check

    _seed()

    server = Product.objects.get(sku="SRV-CFG-2U")
    odd_memory = configuration_check(product=server, configuration={"cpu-16c": 1, "mem-32g": 3, "sup-1y": 1})
    quote = Quote.objects.get(crm_opportunity="DEMO-OPP-0001")
    assert [violation.code for violation in odd_memory.violations] == ["quantity_multiple"]
    assert (quote.customer.account_number, quote.sales_person.username, quote.status) == ("ACME-001", "sales", "draft")
    assert quote.lines.get().contract_price == Decimal("3150.0000")
    assert ApprovalRule.objects.count() == 3
    pending = Quote.objects.get(crm_opportunity="DEMO-OPP-0002")
    assert pending.status == "pending_approval"
    notebook = configuration_check(product=Product.objects.get(sku="NB-CFG-14"), configuration={"ram-64": 1})
    assert {violation.code for violation in notebook.violations} == {"too_few_choices", "requires"}


def test_seed_demo_tax_rates_and_classes():
    _seed()

    rates = {
        (rate.country, rate.tax_class.code): rate.rate_percent for rate in TaxRate.objects.select_related("tax_class")
    }
    assert rates == {
        ("NL", "standard"): Decimal("21"),
        ("NL", "reduced"): Decimal("9"),
        ("DE", "standard"): Decimal("19"),
        ("DE", "reduced"): Decimal("7"),
    }
    assert TaxClass.objects.get(is_default=True).code == "standard"
    assert Product.objects.get(sku="PAP-0001").tax_class.code == "reduced"
    assert Product.objects.get(sku="DSK-0001").tax_class is None
    assert Customer.objects.get(account_number="ACME-001").service_tier == ServiceTier.PLATINUM


def test_seed_demo_orders_taxed_at_default_ship_to():
    _seed()

    clean = Order.objects.get(po_number="DEMO-PO-1007")
    tax_case = ExceptionCase.objects.get(kind=CaseKind.TAX_MISMATCH)

    assert clean.tax_total == Decimal("62.67")
    assert tax_case.facts["our_tax"] == "234.82"
    assert tax_case.facts["buyer_tax"] == "212.47"
    assert tax_case.facts["ship_to"] == "NL"
