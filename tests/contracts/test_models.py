"""Contract price validation messages, the contract's dates as bounds, and the price's label."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.contracts.models import ContractPrice
from tests.factories import ContractFactory, ContractPriceFactory, CustomerFactory, ProductFactory

pytestmark = pytest.mark.django_db


def _unsaved_price(**overrides) -> ContractPrice:
    fields = {
        "contract": ContractFactory(valid_from=dt.date(2026, 1, 1), valid_to=dt.date(2028, 12, 31)),
        "product": ProductFactory(),
        "min_quantity": Decimal("1"),
        "price": Decimal("5.00"),
    }
    fields.update(overrides)
    return ContractPrice(**fields)


def _validation_messages(row: ContractPrice) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        row.full_clean()
    return caught.value.message_dict


def test_contract_price_dates_in_wrong_order_message():
    # given a contract price that ends before it starts, both dates inside the contract
    row = _unsaved_price(valid_from=dt.date(2026, 6, 1), valid_to=dt.date(2026, 1, 1))

    # when it is validated
    messages = _validation_messages(row)

    # then the message is a sentence about the dates, not the constraint's name
    assert messages == {
        "__all__": [
            "Valid to must be on or after valid from. Correct one of the dates, "
            "or leave valid to empty so the price applies until the contract ends."
        ]
    }


def test_contract_price_zero_min_quantity_message():
    row = _unsaved_price(min_quantity=Decimal("0"))

    messages = _validation_messages(row)

    assert messages == {
        "__all__": ["Min quantity must be greater than 0. Enter the quantity from which this price applies, such as 1."]
    }


def test_contract_price_with_price_and_discount_reported_once():
    row = _unsaved_price(price=Decimal("5.00"), discount_percent=Decimal("5"))

    messages = _validation_messages(row)

    assert messages == {"__all__": ["Set exactly one of price and discount percent."]}


def test_contract_price_without_price_or_discount_reported_once():
    row = _unsaved_price(price=None, discount_percent=None)

    messages = _validation_messages(row)

    assert messages == {"__all__": ["Set exactly one of price and discount percent."]}


def test_contract_price_duplicate_open_tier_message():
    # given a price with no start date
    existing = ContractPriceFactory(min_quantity=Decimal("10"))

    # when a second price for the same contract, product and min quantity also has no start date
    row = _unsaved_price(contract=existing.contract, product=existing.product, min_quantity=Decimal("10"))
    messages = _validation_messages(row)

    # then the message names the clash and what to change
    assert messages == {
        "__all__": [
            "This contract already prices this product from this min quantity with an empty valid from. "
            "Edit that price, or change the min quantity or set a valid from date."
        ]
    }


def test_contract_price_duplicate_dated_tier_message():
    existing = ContractPriceFactory(min_quantity=Decimal("10"), valid_from=dt.date(2026, 3, 1))

    row = _unsaved_price(
        contract=existing.contract, product=existing.product, min_quantity=Decimal("10"), valid_from=dt.date(2026, 3, 1)
    )
    messages = _validation_messages(row)

    assert messages == {
        "__all__": [
            "This contract already prices this product from this min quantity and valid from date. "
            "Edit that price, or change the min quantity or valid from."
        ]
    }


def test_contract_price_starting_before_contract_rejected():
    # given a contract for 2026 to 2028
    row = _unsaved_price(valid_from=dt.date(2020, 1, 1))

    # when a price for it starts in 2020
    messages = _validation_messages(row)

    # then valid from is rejected with both date ranges named
    assert messages == {
        "valid_from": [
            f"Valid from 2020-01-01 is outside contract {row.contract.number}'s validity, 2026-01-01 to 2028-12-31. "
            "Choose a date within the contract's validity, or leave it empty to follow the contract's dates."
        ]
    }


def test_contract_price_ending_after_contract_rejected():
    row = _unsaved_price(valid_to=dt.date(2029, 1, 1))

    messages = _validation_messages(row)

    assert messages == {
        "valid_to": [
            f"Valid to 2029-01-01 is outside contract {row.contract.number}'s validity, 2026-01-01 to 2028-12-31. "
            "Choose a date within the contract's validity, or leave it empty to follow the contract's dates."
        ]
    }


def test_contract_price_starting_after_contract_end_rejected():
    # a price that starts after its contract ends would never apply
    row = _unsaved_price(valid_from=dt.date(2029, 6, 1))

    messages = _validation_messages(row)

    assert list(messages) == ["valid_from"]


def test_contract_price_ending_before_open_ended_contract_rejected():
    contract = ContractFactory(valid_from=dt.date(2026, 1, 1), valid_to=None)
    row = _unsaved_price(contract=contract, valid_to=dt.date(2025, 12, 31))

    messages = _validation_messages(row)

    assert messages == {
        "valid_to": [
            f"Valid to 2025-12-31 is outside contract {contract.number}'s validity, 2026-01-01 with no end. "
            "Choose a date within the contract's validity, or leave it empty to follow the contract's dates."
        ]
    }


def test_contract_price_on_contract_boundaries_accepted():
    row = _unsaved_price(valid_from=dt.date(2026, 1, 1), valid_to=dt.date(2028, 12, 31))

    row.full_clean()

    assert (row.valid_from, row.valid_to) == (dt.date(2026, 1, 1), dt.date(2028, 12, 31))


def test_contract_price_without_dates_accepted():
    row = _unsaved_price(valid_from=None, valid_to=None)

    row.full_clean()

    assert (row.valid_from, row.valid_to) == (None, None)


def test_contract_price_label_names_contract_and_sku():
    # given a price whose contract and product are loaded
    contract = ContractFactory(number="K-00001", customer=CustomerFactory(currency="EUR"), currency="EUR")
    row = ContractPriceFactory(
        contract=contract, product=ProductFactory(sku="SKU-1"), min_quantity=Decimal("10"), price=Decimal("9.5")
    )
    loaded = ContractPrice.objects.select_related("contract", "product").get(pk=row.pk)

    # then its label names the contract number, SKU, tier and price in the contract's currency
    assert str(loaded) == "K-00001 · SKU-1 from 10: 9.50 EUR"


def test_contract_price_label_keeps_extra_price_decimals():
    contract = ContractFactory(number="K-00002", customer=CustomerFactory(currency="EUR"), currency="EUR")
    row = ContractPriceFactory(
        contract=contract, product=ProductFactory(sku="SKU-2"), min_quantity=Decimal("0.5"), price=Decimal("48.0525")
    )

    loaded = ContractPrice.objects.select_related("contract", "product").get(pk=row.pk)

    assert str(loaded) == "K-00002 · SKU-2 from 0.5: 48.0525 EUR"


def test_contract_price_label_uses_currency_minor_units():
    contract = ContractFactory(number="K-00003", customer=CustomerFactory(currency="JPY"), currency="JPY")
    row = ContractPriceFactory(
        contract=contract, product=ProductFactory(sku="SKU-3"), min_quantity=Decimal("100"), price=Decimal("1200")
    )

    loaded = ContractPrice.objects.select_related("contract", "product").get(pk=row.pk)

    assert str(loaded) == "K-00003 · SKU-3 from 100: 1200 JPY"


def test_contract_price_label_shows_discount():
    contract = ContractFactory(number="K-00004")
    row = ContractPriceFactory(
        contract=contract, product=ProductFactory(sku="SKU-4"), price=None, discount_percent=Decimal("12.50")
    )

    loaded = ContractPrice.objects.select_related("contract", "product").get(pk=row.pk)

    assert str(loaded) == "K-00004 · SKU-4 from 1: 12.5% off list price"


def test_contract_price_label_without_loaded_relations_runs_no_query(django_assert_num_queries):
    # given a price read without its contract and product
    row = ContractPriceFactory(min_quantity=Decimal("1"), price=Decimal("7.25"))
    plain = ContractPrice.objects.get(pk=row.pk)

    # when it is labelled, then no query runs and the ids stand in for the number and SKU
    with django_assert_num_queries(0):
        label = str(plain)
    assert label == f"contract {row.contract_id} · product {row.product_id} from 1: 7.25"
