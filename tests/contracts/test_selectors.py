import datetime as dt

import pytest

from apps.contracts.errors import ContractCustomerMismatch, InvalidPricingRequest
from apps.contracts.models import Contract
from apps.contracts.selectors import active_contract_for, visible_products
from tests.factories import CategoryFactory, ContractFactory, CustomerFactory, ProductFactory

pytestmark = pytest.mark.django_db

ON = dt.date(2026, 6, 15)


def test_active_contract_for_returns_contract_in_force():
    contract = ContractFactory()

    assert active_contract_for(customer=contract.customer, on_date=ON) == contract


def test_active_contract_for_ignores_draft_and_expired():
    customer = CustomerFactory()
    ContractFactory(customer=customer, status=Contract.Status.DRAFT)
    ContractFactory(customer=customer, valid_from=dt.date(2025, 1, 1), valid_to=dt.date(2026, 6, 14))

    assert active_contract_for(customer=customer, on_date=ON) is None


def test_active_contract_for_rejects_datetime():
    with pytest.raises(InvalidPricingRequest, match="is not a date"):
        active_contract_for(customer=CustomerFactory(), on_date=dt.datetime(2026, 6, 15, tzinfo=dt.UTC))


def test_visible_products_without_contract_are_all_active():
    # given active and inactive products and a customer without a contract
    customer = CustomerFactory()
    active = ProductFactory()
    ProductFactory(is_active=False)

    # when the visible products are listed
    products = visible_products(customer=customer, on_date=ON)

    # then only the active one shows
    assert list(products) == [active]


def test_visible_products_of_all_assortment():
    contract = ContractFactory(assortment=Contract.Assortment.ALL)
    first = ProductFactory(category=None)
    second = ProductFactory()

    assert set(visible_products(customer=contract.customer, on_date=ON)) == {first, second}


def test_visible_products_of_selected_assortment():
    # given a SELECTED contract with the TOOLS subtree and one explicit product
    tools = CategoryFactory(code="TOOLS")
    drills = CategoryFactory(code="DRILLS", parent=tools)
    contract = ContractFactory(assortment=Contract.Assortment.SELECTED)
    contract.categories.add(tools)
    explicit = ProductFactory(category=CategoryFactory(code="OFFICE"))
    contract.products.add(explicit)
    in_category = ProductFactory(category=tools)
    in_subcategory = ProductFactory(category=drills)
    ProductFactory(category=CategoryFactory(code="TOOLBOX"))
    ProductFactory(category=None)
    ProductFactory(category=tools, is_active=False)

    # when the visible products are listed
    products = visible_products(customer=contract.customer, on_date=ON)

    # then the subtree and the explicit product show, once each, active only
    assert sorted(product.pk for product in products) == sorted([explicit.pk, in_category.pk, in_subcategory.pk])


def test_visible_products_treats_like_wildcards_literally():
    # given a chosen category whose code contains LIKE wildcards
    wild = CategoryFactory(code="A_%")
    contract = ContractFactory(assortment=Contract.Assortment.SELECTED)
    contract.categories.add(wild)
    inside = ProductFactory(category=CategoryFactory(code="X", parent=wild))
    ProductFactory(category=CategoryFactory(code="AB%"))

    assert list(visible_products(customer=contract.customer, on_date=ON)) == [inside]


def test_visible_products_with_explicit_none_ignores_contract():
    contract = ContractFactory(assortment=Contract.Assortment.SELECTED)
    product = ProductFactory()

    assert list(visible_products(customer=contract.customer, contract=None)) == [product]


def test_visible_products_with_given_contract_makes_no_contract_query(django_assert_num_queries):
    contract = ContractFactory(assortment=Contract.Assortment.SELECTED)
    product = ProductFactory()
    contract.products.add(product)

    with django_assert_num_queries(1):
        assert list(visible_products(customer=contract.customer, contract=contract)) == [product]


def test_visible_products_rejects_other_customers_contract():
    contract = ContractFactory(number="K-OTHER")
    other = CustomerFactory(account_number="ACME-2")

    with pytest.raises(ContractCustomerMismatch, match="Contract K-OTHER belongs to customer id"):
        visible_products(customer=other, contract=contract)
