"""Admin rules: fields locked by owner (ERP, CRM, finance), validation errors shown on the form, staff groups."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from apps.catalog.models import Category, UnitAlias, UnitOfMeasure
from apps.contracts.models import Contract, ContractPrice
from apps.quotes.services import LineRequest, quote_create
from tests.admin.forms import change_form_data
from tests.factories import (
    CategoryFactory,
    ContractFactory,
    ContractPriceFactory,
    CustomerFactory,
    ProductFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db):
    """Superusers may still change fields another system owns, so they see the admin's validation messages."""
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def _change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _catalog_editor():
    """A staff user outside every group who may change products but is no superuser."""
    user = UserFactory(username="catalog-editor")
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="catalog", codename__in=["view_product", "change_product"])
    )
    return user


def test_customer_owned_fields_read_only_for_sales(client, sales_user):
    # given a customer and a sales user
    customer = CustomerFactory(name="Acme", credit_limit=Decimal("5000.00"), is_active=True)
    client.force_login(sales_user)

    # when sales opens the customer and posts a new name, a higher credit limit, a hold and "inactive"
    page = client.get(_change_url(customer))
    data = change_form_data(page)
    data.update({"name": "Acme Europe", "credit_limit": "900000.00", "credit_hold": "on"})
    data.pop("is_active", None)
    response = client.post(_change_url(customer), data)

    # then the CRM's fields and the finance field are shown without inputs, and only the back-office flag changed
    content = page.content.decode()
    assert page.status_code == 200
    assert 'name="name"' not in content
    assert 'name="credit_limit"' not in content
    assert 'name="credit_hold"' not in content
    assert 'name="is_active"' in content
    assert "Owned by the CRM: its next update overwrites this value." in content
    assert "Set by finance." in content
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.name == "Acme"
    assert customer.credit_limit == Decimal("5000.00")
    assert customer.credit_hold is False
    assert customer.is_active is False


def test_customer_credit_hold_editable_for_finance(client, finance_user):
    customer = CustomerFactory(credit_limit=Decimal("5000.00"))
    client.force_login(finance_user)

    page = client.get(_change_url(customer))
    data = change_form_data(page)
    data.update({"credit_limit": "7500.00", "credit_hold": "on"})
    response = client.post(_change_url(customer), data)

    content = page.content.decode()
    assert 'name="credit_hold"' in content
    assert 'name="credit_limit"' not in content
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.credit_limit == Decimal("5000.00")
    assert customer.credit_hold is True


def test_customer_crm_fields_editable_for_superuser(client, superuser):
    customer = CustomerFactory(credit_limit=Decimal("5000.00"))
    client.force_login(superuser)

    page = client.get(_change_url(customer))
    data = change_form_data(page)
    data.update({"credit_limit": "7500.00"})
    response = client.post(_change_url(customer), data)

    assert 'name="credit_limit"' in page.content.decode()
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.credit_limit == Decimal("7500.00")


def test_contract_prices_read_only_for_sales(client, sales_user):
    price = ContractPriceFactory(price=Decimal("90.00"))
    client.force_login(sales_user)

    contract_page = client.get(_change_url(price.contract))
    price_page = client.get(_change_url(price))

    contract_content = contract_page.content.decode()
    assert contract_page.status_code == 200
    assert 'name="prices-0-price"' not in contract_content
    assert 'name="prices-TOTAL_FORMS"' in contract_content
    assert 'name="valid_from"' not in contract_content
    assert 'name="assortment"' in contract_content
    assert "Owned by the CRM: its next update overwrites this value." in contract_content
    assert price_page.status_code == 200
    assert 'name="price"' not in price_page.content.decode()


def test_product_erp_fields_read_only_for_sales(client, sales_user):
    product = ProductFactory()
    client.force_login(sales_user)

    page = client.get(_change_url(product))

    assert page.status_code == 200
    assert 'name="list_price"' not in page.content.decode()
    assert 'name="name"' not in page.content.decode()


def test_product_erp_fields_locked_for_editor(client):
    # given a staff user who may change products but is no superuser
    product = ProductFactory(name="Drill", list_price=Decimal("100.00"))
    client.force_login(_catalog_editor())

    # when the editor posts a new list price and name along with the configurable flag
    page = client.get(_change_url(product))
    data = change_form_data(page)
    data.update({"list_price": "1.00", "name": "Cheap drill", "is_configurable": "on"})
    response = client.post(_change_url(product), data)

    # then the ERP's fields are shown read-only with their owner and keep their values
    content = page.content.decode()
    assert 'name="list_price"' not in content
    assert 'name="is_configurable"' in content
    assert "Owned by the ERP: its next update overwrites this value." in content
    assert response.status_code == 302
    product.refresh_from_db()
    assert product.list_price == Decimal("100.00")
    assert product.name == "Drill"
    assert product.is_configurable is True


def test_product_erp_fields_editable_for_superuser(client, superuser):
    product = ProductFactory(list_price=Decimal("100.00"))
    client.force_login(superuser)

    page = client.get(_change_url(product))
    data = change_form_data(page)
    data["list_price"] = "80.00"
    response = client.post(_change_url(product), data)

    assert 'name="list_price"' in page.content.decode()
    assert response.status_code == 302
    product.refresh_from_db()
    assert product.list_price == Decimal("80.00")


def test_overlapping_active_contract_shows_form_error(client, sales_user):
    # given an active contract for the whole of 2026
    existing = ContractFactory(number="K-2026", valid_from=dt.date(2026, 1, 1), valid_to=dt.date(2026, 12, 31))
    client.force_login(sales_user)

    # when sales adds a second active contract from June for the same customer
    response = client.post(
        reverse("admin:contracts_contract_add"),
        {
            "number": "K-2026-B",
            "name": "",
            "customer": existing.customer.pk,
            "status": Contract.Status.ACTIVE,
            "valid_from": "2026-06-01",
            "valid_to": "2026-12-31",
            "currency": "EUR",
            "assortment": Contract.Assortment.ALL,
            "prices-TOTAL_FORMS": "0",
            "prices-INITIAL_FORMS": "0",
            "prices-MIN_NUM_FORMS": "0",
            "prices-MAX_NUM_FORMS": "1000",
        },
    )

    # then the form shows the clash and no contract is added
    assert response.status_code == 200
    assert "Contract K-2026 is already active for this customer in these dates" in response.content.decode()
    assert list(Contract.objects.values_list("number", flat=True)) == ["K-2026"]


def test_contract_price_admin_change_flags_open_quote(client, superuser, sales_user):
    # given a draft quote at the contract price of 90.00
    price = ContractPriceFactory(
        price=Decimal("90.00"), contract=ContractFactory(valid_from=dt.date(2020, 1, 1), valid_to=None)
    )
    quote = quote_create(
        actor=sales_user,
        customer=price.contract.customer,
        lines=[LineRequest(product=price.product, quantity=Decimal("1"))],
    )
    client.force_login(superuser)

    # when a superuser lowers the price in the admin
    data = change_form_data(client.get(_change_url(price)))
    data["price"] = "85.00"
    response = client.post(_change_url(price), data)

    # then the quote is flagged and keeps its price
    assert response.status_code == 302
    quote.refresh_from_db()
    assert quote.prices_out_of_date_since is not None
    assert quote.lines.get().contract_price == Decimal("90.00")


def test_contract_price_missing_amount_shows_error(client, superuser):
    contract_price = ContractPriceFactory(price=Decimal("90.00"))
    client.force_login(superuser)

    data = change_form_data(client.get(_change_url(contract_price)))
    data.update({"price": "", "discount_percent": ""})
    response = client.post(_change_url(contract_price), data)

    assert response.status_code == 200
    assert "Set exactly one of price and discount percent." in response.content.decode()
    contract_price.refresh_from_db()
    assert contract_price.price == Decimal("90.00")


def test_contract_inline_duplicate_tier_shows_form_error(client, superuser):
    # given a contract without prices
    contract = ContractFactory()
    product = ProductFactory(sku="SKU-DUP")
    client.force_login(superuser)

    # when two new rows price the same product from the same quantity with no start date
    data = change_form_data(client.get(_change_url(contract)))
    row = {"product": product.pk, "min_quantity": "1", "price": "10.00", "discount_percent": ""}
    data["prices-TOTAL_FORMS"] = "2"
    for index in range(2):
        data.update({f"prices-{index}-{name}": value for name, value in row.items()})
    response = client.post(_change_url(contract), data)

    # then the page shows the clash and nothing is saved
    assert response.status_code == 200
    assert "Two rows price SKU-DUP from quantity 1" in response.content.decode()
    assert ContractPrice.objects.filter(contract=contract).count() == 0


def test_category_moved_under_own_child_shows_form_error(client, superuser):
    # given a category with a child
    parent = CategoryFactory(code="TOOLS")
    child = CategoryFactory(code="DRILLS", parent=parent)
    client.force_login(superuser)

    # when the parent is moved under its child
    data = change_form_data(client.get(_change_url(parent)))
    data["parent"] = child.pk
    response = client.post(_change_url(parent), data)

    # then the form rejects it and the tree is unchanged
    assert response.status_code == 200
    assert "choose a parent outside its subtree" in response.content.decode()
    parent.refresh_from_db()
    assert parent.parent_id is None
    assert Category.objects.get(pk=child.pk).path == "/TOOLS/DRILLS/"


def test_unit_alias_admin_stores_normalised_alias(client, superuser):
    client.force_login(superuser)

    response = client.post(
        reverse("admin:catalog_unitalias_add"),
        {"alias": " bucketfuls. ", "context": "erp", "unit": UnitOfMeasure.objects.get(code="XBJ").pk},
    )

    assert response.status_code == 302
    assert UnitAlias.objects.get(alias="BUCKETFUL", context="erp").unit.code == "XBJ"


def _codenames(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return set(
        group.permissions.filter(content_type__app_label__in=["catalog", "contracts"]).values_list(
            "codename", flat=True
        )
    )


CATALOG_VIEW = {
    "view_category",
    "view_unitofmeasure",
    "view_unitalias",
    "view_product",
    "view_warehouse",
    "view_stocklevel",
}
IMPORT_REVIEW = {"view_importjob", "view_heldchange", "view_importrowerror"}
SALES = (
    CATALOG_VIEW
    | IMPORT_REVIEW
    | {
        "view_customer",
        "change_customer",
        "view_contract",
        "add_contract",
        "change_contract",
        "view_contractprice",
        "add_contractprice",
        "change_contractprice",
    }
)


def test_sales_group_permissions():
    assert _codenames("sales") == SALES


def test_sales_manager_group_permissions():
    assert _codenames("sales-manager") == SALES | {"delete_contract", "delete_contractprice", "add_importjob"}


def test_finance_group_permissions():
    assert _codenames("finance") == CATALOG_VIEW | {
        "view_importjob",
        "view_customer",
        "change_customer",
        "view_contract",
        "view_contractprice",
    }


def test_sales_user_cannot_change_products(sales_user):
    assert sales_user.has_perm("catalog.view_product") is True
    assert sales_user.has_perm("catalog.change_product") is False
    assert sales_user.has_perm("contracts.delete_contract") is False


def test_product_autocomplete_answers_sales(client, sales_user):
    ProductFactory(sku="AUTO-1", name="Cordless drill")
    client.force_login(sales_user)

    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "contracts", "model_name": "contractprice", "field_name": "product", "term": "cordless"},
    )

    assert response.status_code == 200
    assert [result["text"] for result in response.json()["results"]] == ["AUTO-1 Cordless drill"]


def test_contract_price_outside_contract_dates_shows_form_error(client, superuser):
    # given a contract price on a contract for 2026
    contract_price = ContractPriceFactory(contract=ContractFactory(number="K-2026-DATES"))
    client.force_login(superuser)

    # when a superuser moves its start to 2020
    data = change_form_data(client.get(_change_url(contract_price)))
    data["valid_from"] = "2020-01-01"
    response = client.post(_change_url(contract_price), data)

    # then the form names both date ranges and the price keeps its dates
    assert response.status_code == 200
    assert (
        "Valid from 2020-01-01 is outside contract K-2026-DATES&#x27;s validity, 2026-01-01 to 2026-12-31."
        in response.content.decode()
    )
    contract_price.refresh_from_db()
    assert contract_price.valid_from is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"min_quantity": "0"},
            "Min quantity must be greater than 0. Enter the quantity from which this price applies, such as 1.",
        ),
        (
            {"valid_from": "2026-06-01", "valid_to": "2026-01-01"},
            "Valid to must be on or after valid from. Correct one of the dates",
        ),
    ],
    ids=["zero-min-quantity", "dates-reversed"],
)
def test_contract_price_constraint_error_shown_as_sentence(client, superuser, changes, message):
    contract_price = ContractPriceFactory()
    client.force_login(superuser)

    data = change_form_data(client.get(_change_url(contract_price)))
    data.update(changes)
    response = client.post(_change_url(contract_price), data)

    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert "Constraint" not in page


def test_contract_price_price_and_discount_error_shown_once(client, superuser):
    contract_price = ContractPriceFactory(price=Decimal("90.00"))
    client.force_login(superuser)

    data = change_form_data(client.get(_change_url(contract_price)))
    data["discount_percent"] = "5"
    response = client.post(_change_url(contract_price), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == ["Set exactly one of price and discount percent."]


def test_contract_price_page_title_names_contract_and_sku(client, sales_user):
    # given a contract price
    contract_price = ContractPriceFactory(
        contract=ContractFactory(number="K-TITLE"),
        product=ProductFactory(sku="SKU-TITLE"),
        min_quantity=Decimal("10"),
        price=Decimal("9.5"),
    )
    client.force_login(sales_user)

    # when its change page is opened
    response = client.get(_change_url(contract_price))

    # then the breadcrumbs and title label it with contract number, SKU, tier and price
    assert response.status_code == 200
    assert "K-TITLE · SKU-TITLE from 10: 9.50 EUR" in response.content.decode()


def _order_codenames(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return set(group.permissions.filter(content_type__app_label="orders").values_list("codename", flat=True))


ORDER_VIEW = {"view_order", "view_inbounddocument", "view_shipment", "view_invoice"}


def test_order_permissions_of_each_group():
    assert _order_codenames("sales") == ORDER_VIEW | {"view_outboxevent", "hold_order", "confirm_order", "cancel_order"}
    assert _order_codenames("sales-manager") == ORDER_VIEW | {
        "view_outboxevent",
        "view_outboundendpoint",
        "hold_order",
        "confirm_order",
        "cancel_order",
        "allocate_order",
        "reject_order",
        "revise_order",
    }
    assert _order_codenames("finance") == ORDER_VIEW | {"hold_order", "invoice_order", "mark_order_paid"}
