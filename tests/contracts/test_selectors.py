import datetime as dt
from decimal import Decimal

import pytest
from django.db.models.signals import post_init

from apps.catalog.models import Product
from apps.contracts.errors import ContractCustomerMismatch, InvalidPricingRequest
from apps.contracts.models import Contract, Customer
from apps.contracts.selectors import (
    active_contract_for,
    loaded_contract_in_force,
    products_by_id,
    visible_products,
    with_contract_in_force,
)
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


def test_with_contract_in_force_matches_active_contract_for():
    without = CustomerFactory(account_number="C-NONE")
    ContractFactory(customer=without, status=Contract.Status.DRAFT)
    ContractFactory(customer=without, valid_from=dt.date(2025, 1, 1), valid_to=dt.date(2026, 6, 14))
    single = ContractFactory(customer=CustomerFactory(account_number="C-ONE"))
    # Bad data: three contracts in force; the latest start wins, then the highest id.
    several = CustomerFactory(account_number="C-SEVERAL")
    ContractFactory(customer=several, valid_from=dt.date(2026, 1, 1))
    ContractFactory(customer=several, valid_from=dt.date(2026, 3, 1))
    ContractFactory(customer=several, valid_from=dt.date(2026, 3, 1))

    customers = list(with_contract_in_force(Customer.objects.order_by("account_number"), ON))

    assert [customer.account_number for customer in customers] == ["C-NONE", "C-ONE", "C-SEVERAL"]
    for customer in customers:
        assert loaded_contract_in_force(customer) == active_contract_for(customer=customer, on_date=ON), customer
    assert loaded_contract_in_force(customers[0]) is None
    assert loaded_contract_in_force(customers[1]) == single
    assert loaded_contract_in_force(customers[2]).valid_from == dt.date(2026, 3, 1)


def test_with_contract_in_force_rejects_datetime():
    with pytest.raises(InvalidPricingRequest, match="is not a date"):
        with_contract_in_force(Customer.objects.all(), dt.datetime(2026, 6, 15, tzinfo=dt.UTC))


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


def test_products_by_id_matches_orm_instances(django_assert_num_queries):
    # given a product with a timestamp from the ERP, JSON attributes and a category, and an id with no product
    product = ProductFactory(
        attributes={"colour": "red", "sizes": [1, 2]},
        list_price=Decimal("0.0125"),
        source_updated_at=dt.datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=dt.UTC),
    )
    missing_id = product.pk + 100

    # when both are loaded
    with django_assert_num_queries(1):
        loaded = products_by_id([product.pk, missing_id])
        category_path = loaded[product.pk].category.path

    # then the instance equals what the ORM loads, field by field, and the missing id is left out
    expected = Product.objects.select_related("category").get(pk=product.pk)
    assert list(loaded) == [product.pk]
    for field in Product._meta.concrete_fields:
        assert getattr(loaded[product.pk], field.attname) == getattr(expected, field.attname), field.name
    assert loaded[product.pk].created_at.utcoffset() == dt.timedelta(0)
    assert category_path == expected.category.path
    assert loaded[product.pk].category.created_at == expected.category.created_at
    assert loaded[product.pk]._state.adding is False


def test_products_by_id_instances_can_be_saved():
    product = ProductFactory(name="Old name")
    loaded = products_by_id([product.pk])[product.pk]

    loaded.name = "New name"
    loaded.save()

    assert Product.objects.get(pk=product.pk).name == "New name"
    assert Product.objects.count() == 1


def test_products_by_id_without_category():
    product = ProductFactory(category=None)

    loaded = products_by_id([product.pk])[product.pk]

    assert loaded.category is None


def test_products_by_id_runs_init_signal_receivers():
    # given a post_init receiver for products
    seen = []

    def remember(sender, instance, **kwargs):
        seen.append(instance.sku)

    product = ProductFactory(sku="SIG-1")
    post_init.connect(remember, sender=Product)
    try:
        # when the product is loaded
        products_by_id([product.pk])
    finally:
        post_init.disconnect(remember, sender=Product)

    # then the receiver saw it
    assert seen == ["SIG-1"]
