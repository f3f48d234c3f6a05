"""Fixtures of the exceptions tests: staff users per team and a fake resolution action."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from apps.exceptions.errors import ResolutionFailed
from apps.exceptions.registry import register_resolution, unregister_resolution
from apps.exceptions.services import case_open
from tests.factories import CustomerFactory, ProductFactory, UserFactory


def member_of(username: str, *group_names: str):
    user = UserFactory(username=username)
    user.groups.add(*Group.objects.filter(name__in=group_names))
    return user


@pytest.fixture
def sales_colleague(db):
    return member_of("sales-colleague", "sales")


@pytest.fixture
def finance_user(db):
    return member_of("finance-test", "finance")


@pytest.fixture
def manager_user(db):
    return member_of("manager-test", "sales-manager")


@pytest.fixture
def superuser(db):
    return UserFactory(username="root-test", is_superuser=True)


@pytest.fixture
def product(db):
    """The object the cases concern; orders do not exist yet, and any model works through the generic relation."""
    return ProductFactory(sku="SKU-CASE-1")


@pytest.fixture
def customer(db):
    return CustomerFactory(account_number="ACME-001", name="Acme Industrial", region="EMEA")


@pytest.fixture
def open_case(product, customer):
    """Open a case of a kind for the product; extra keywords go to case_open."""

    def _open(kind="price_mismatch", cause_key="line-1", **overrides):
        arguments = {
            "kind": kind,
            "concerning": product,
            "customer": customer,
            "facts": {"buyer_price": Decimal("90.00"), "our_price": Decimal("100.00"), "currency": "EUR"},
            "summary": f"{kind} on line 1",
            "cause_key": cause_key,
            "reference": "SO-1001",
            "po_number": "PO-77",
            "sku": product.sku,
        }
        arguments.update(overrides)
        return case_open(**arguments)

    return _open


@pytest.fixture
def fake_resolution():
    """Register "accept_buyer_price" for price mismatches; ``calls`` records each perform, ``fail`` makes it raise."""
    state = {"calls": [], "fail": False}

    def perform(case, actor, note):
        if state["fail"]:
            raise ResolutionFailed("The order changed meanwhile.")
        state["calls"].append((case.pk, actor.username, note))

    register_resolution(
        "price_mismatch",
        "accept_buyer_price",
        "Accept the buyer's price",
        describe=lambda case: f"Sets line price to {case.facts['buyer_price']} {case.facts['currency']}.",
        perform=perform,
    )
    yield state
    unregister_resolution("price_mismatch", "accept_buyer_price")
