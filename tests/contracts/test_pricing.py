import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from apps.catalog.models import Product
from apps.contracts.errors import ContractCustomerMismatch, InvalidPricingCurrency, InvalidPricingRequest
from apps.contracts.models import Contract
from apps.contracts.pricing import (
    PriceSource,
    PricingProduct,
    UnpricedReason,
    contract_tiers_column,
    price_lines,
    price_product,
)
from apps.contracts.selectors import active_contract_for
from tests.factories import (
    CategoryFactory,
    ContractFactory,
    ContractPriceFactory,
    CustomerFactory,
    ProductFactory,
)

pytestmark = pytest.mark.django_db

# ContractFactory's contracts run through 2026; pricing days are inside it unless a test sets another.
ON = dt.date(2026, 6, 15)


def test_list_price_without_contract():
    # given a customer with no contract and a product at list price
    customer = CustomerFactory(currency="EUR")
    product = ProductFactory(list_price=Decimal("12.3456"), currency="EUR")

    # when three are priced
    line = price_product(customer=customer, product=product, quantity=3, on_date=ON)

    # then the list price applies as stored, and the total is rounded to cents
    assert line.priced is True
    assert line.unit_price == Decimal("12.3456")
    assert line.source == PriceSource.LIST_PRICE
    assert line.currency == "EUR"
    assert line.contract_id is None
    assert line.contract_price_id is None
    assert line.list_price == Decimal("12.3456")
    assert line.line_total == Decimal("37.04")
    assert line.reason_code is None
    assert line.reason is None


def test_contract_fixed_price():
    # given an active contract with a fixed price for the product
    contract = ContractFactory()
    product = ProductFactory(list_price=Decimal("100.00"))
    row = ContractPriceFactory(contract=contract, product=product, price=Decimal("87.5000"))

    # when it is priced
    line = price_product(customer=contract.customer, product=product, quantity=2, on_date=ON)

    # then the contract price applies and names its contract price row
    assert line.unit_price == Decimal("87.5000")
    assert line.source == PriceSource.CONTRACT_PRICE
    assert line.contract_id == contract.pk
    assert line.contract_price_id == row.pk
    assert line.list_price == Decimal("100.00")
    assert line.line_total == Decimal("175.00")


def test_contract_fixed_price_keeps_sub_cent_price():
    contract = ContractFactory()
    product = ProductFactory(list_price=Decimal("0.0200"))
    ContractPriceFactory(contract=contract, product=product, price=Decimal("0.0125"))

    line = price_product(customer=contract.customer, product=product, quantity=7, on_date=ON)

    assert line.unit_price == Decimal("0.0125")
    assert line.line_total == Decimal("0.09")


@pytest.mark.parametrize(
    ("list_price", "percent", "expected"),
    [
        ("19.99", "12.5", "17.49"),  # 17.49125
        ("16.60", "12.5", "14.53"),  # 14.525: a tie goes up, where half-even would give 14.52
        ("0.20", "37.5", "0.13"),  # 0.125
        ("100.00", "0", "100.00"),
        ("100.00", "100", "0.00"),
    ],
)
def test_contract_discount_rounds_half_up_to_cents(list_price, percent, expected):
    # given a percent discount off the list price
    contract = ContractFactory()
    product = ProductFactory(list_price=Decimal(list_price))
    row = ContractPriceFactory(contract=contract, product=product, price=None, discount_percent=Decimal(percent))

    # when it is priced
    line = price_product(customer=contract.customer, product=product, on_date=ON)

    # then the discounted unit price is rounded half up to the cent
    assert line.unit_price == Decimal(expected)
    assert str(line.unit_price) == expected
    assert line.source == PriceSource.CONTRACT_DISCOUNT
    assert line.contract_price_id == row.pk
    assert line.list_price == Decimal(list_price)


def test_discount_in_jpy_rounds_to_whole_yen():
    # given a yen customer and contract with a discount off a yen list price
    customer = CustomerFactory(currency="JPY")
    contract = ContractFactory(customer=customer, currency="JPY")
    product = ProductFactory(list_price=Decimal("1234"), currency="JPY")
    ContractPriceFactory(contract=contract, product=product, price=None, discount_percent=Decimal("12.5"))

    # when 3 are priced
    line = price_product(customer=customer, product=product, quantity=3, on_date=ON)

    # then 1079.75 rounds to 1080 yen, and the total has no decimals
    assert line.unit_price == Decimal("1080")
    assert line.currency == "JPY"
    assert line.line_total == Decimal("3240")
    assert str(line.line_total) == "3240"


def test_list_price_total_in_jpy_rounds_to_whole_yen():
    customer = CustomerFactory(currency="JPY")
    product = ProductFactory(list_price=Decimal("99.5"), currency="JPY")

    result = price_lines(customer=customer, lines=[(product, 3)], on_date=ON)

    assert result.lines[0].unit_price == Decimal("99.5")
    assert result.lines[0].line_total == Decimal("299")
    assert result.total == Decimal("299")
    assert str(result.total) == "299"


@pytest.mark.parametrize(
    ("quantity", "expected_price", "expected_source"),
    [
        (1, "10.00", PriceSource.CONTRACT_PRICE),
        (9, "10.00", PriceSource.CONTRACT_PRICE),
        (10, "9.00", PriceSource.QUANTITY_BREAK),
        (11, "9.00", PriceSource.QUANTITY_BREAK),
        (99, "9.00", PriceSource.QUANTITY_BREAK),
        ("99.999", "9.00", PriceSource.QUANTITY_BREAK),
        (100, "8.00", PriceSource.QUANTITY_BREAK),
        (101, "8.00", PriceSource.QUANTITY_BREAK),
    ],
)
def test_quantity_breaks_at_each_boundary(quantity, expected_price, expected_source):
    # given tiers from 1, 10 and 100
    contract = ContractFactory()
    product = ProductFactory(list_price=Decimal("12.00"))
    tiers = {
        "10.00": ContractPriceFactory(contract=contract, product=product, min_quantity=Decimal("1"), price="10.00"),
        "9.00": ContractPriceFactory(contract=contract, product=product, min_quantity=Decimal("10"), price="9.00"),
        "8.00": ContractPriceFactory(contract=contract, product=product, min_quantity=Decimal("100"), price="8.00"),
    }

    # when the quantity is priced
    line = price_product(customer=contract.customer, product=product, quantity=quantity, on_date=ON)

    # then the highest tier the quantity reaches applies
    assert line.unit_price == Decimal(expected_price)
    assert line.source == expected_source
    assert line.contract_price_id == tiers[expected_price].pk


def test_quantity_below_first_break_falls_back_to_list_price():
    # given only a tier from 10
    contract = ContractFactory()
    product = ProductFactory(list_price=Decimal("12.00"))
    ContractPriceFactory(contract=contract, product=product, min_quantity=Decimal("10"), price="9.00")

    # when 9 are priced
    line = price_product(customer=contract.customer, product=product, quantity=9, on_date=ON)

    # then the list price applies
    assert line.unit_price == Decimal("12.00")
    assert line.source == PriceSource.LIST_PRICE
    assert line.contract_id == contract.pk
    assert line.contract_price_id is None


def test_fixed_price_applies_below_one_unit():
    # given a fixed contract price from the default minimum quantity of 1
    contract = ContractFactory()
    product = ProductFactory(list_price=Decimal("100.00"))
    row = ContractPriceFactory(contract=contract, product=product, price=Decimal("90.00"))

    # when half a unit is priced (half a metre of cable)
    line = price_product(customer=contract.customer, product=product, quantity="0.5", on_date=ON)

    # then the contract price applies as it does for one unit
    assert line.unit_price == Decimal("90.00")
    assert line.source == PriceSource.CONTRACT_PRICE
    assert line.contract_price_id == row.pk
    assert line.line_total == Decimal("45.00")


def test_discount_applies_below_one_unit():
    # given a 10 % contract discount from the default minimum quantity of 1
    contract = ContractFactory()
    product = ProductFactory(list_price=Decimal("100.00"))
    row = ContractPriceFactory(contract=contract, product=product, price=None, discount_percent=Decimal("10"))

    # when a quarter of a unit is priced
    line = price_product(customer=contract.customer, product=product, quantity="0.25", on_date=ON)

    # then the discount applies
    assert line.unit_price == Decimal("90.00")
    assert line.source == PriceSource.CONTRACT_DISCOUNT
    assert line.contract_price_id == row.pk
    assert line.line_total == Decimal("22.50")


@pytest.mark.parametrize(
    ("quantity", "expected_price", "expected_source"),
    [
        ("0.3", "11.00", PriceSource.CONTRACT_PRICE),
        ("0.5", "11.00", PriceSource.CONTRACT_PRICE),
        ("0.7", "11.00", PriceSource.CONTRACT_PRICE),
        ("1", "10.00", PriceSource.CONTRACT_PRICE),
        ("9", "10.00", PriceSource.CONTRACT_PRICE),
        ("10", "9.00", PriceSource.QUANTITY_BREAK),
    ],
)
def test_fractional_tiers_at_each_quantity(quantity, expected_price, expected_source):
    # given tiers from 0.5, 1 and 10 for a product sold in fractions
    contract = ContractFactory()
    product = ProductFactory(list_price=Decimal("12.00"))
    tiers = {
        "11.00": ContractPriceFactory(contract=contract, product=product, min_quantity=Decimal("0.5"), price="11.00"),
        "10.00": ContractPriceFactory(contract=contract, product=product, min_quantity=Decimal("1"), price="10.00"),
        "9.00": ContractPriceFactory(contract=contract, product=product, min_quantity=Decimal("10"), price="9.00"),
    }

    # when the quantity is priced
    line = price_product(customer=contract.customer, product=product, quantity=quantity, on_date=ON)

    # then the highest tier reached applies, and below 0.5 the lowest tier is the base price
    assert line.unit_price == Decimal(expected_price)
    assert line.source == expected_source
    assert line.contract_price_id == tiers[expected_price].pk


def test_base_price_below_one_prefers_latest_valid_from():
    # given two rows from 1, one open-start and one from March, and a break from 10
    contract = ContractFactory()
    product = ProductFactory(list_price=Decimal("100.00"))
    ContractPriceFactory(contract=contract, product=product, price="90.00", valid_from=None)
    newer = ContractPriceFactory(contract=contract, product=product, price="85.00", valid_from=dt.date(2026, 3, 1))
    ContractPriceFactory(contract=contract, product=product, min_quantity=Decimal("10"), price="80.00")

    # when 0.5 is priced in June
    line = price_product(customer=contract.customer, product=product, quantity="0.5", on_date=ON)

    # then the base price is chosen with the usual tie-breaks
    assert line.unit_price == Decimal("85.00")
    assert line.contract_price_id == newer.pk


def test_break_from_two_is_no_base_price():
    # given tiers from 2 and 10 only, so the product has no base contract price
    contract = ContractFactory()
    product = ProductFactory(list_price=Decimal("12.00"))
    ContractPriceFactory(contract=contract, product=product, min_quantity=Decimal("2"), price="10.00")
    ContractPriceFactory(contract=contract, product=product, min_quantity=Decimal("10"), price="9.00")

    # when 1.5 and 0.5 are priced
    result = price_lines(customer=contract.customer, lines=[(product, "1.5"), (product, "0.5")], on_date=ON)

    # then both get the list price, because a break from 2 is no base price
    assert [line.unit_price for line in result.lines] == [Decimal("12.00"), Decimal("12.00")]
    assert [line.source for line in result.lines] == [PriceSource.LIST_PRICE, PriceSource.LIST_PRICE]
    assert [line.contract_price_id for line in result.lines] == [None, None]


def test_quantity_break_with_discount_is_quantity_break():
    contract = ContractFactory()
    product = ProductFactory(list_price=Decimal("50.00"))
    ContractPriceFactory(contract=contract, product=product, price=None, discount_percent=Decimal("10"))
    ContractPriceFactory(
        contract=contract, product=product, min_quantity=Decimal("5"), price=None, discount_percent=Decimal("20")
    )

    line = price_product(customer=contract.customer, product=product, quantity=5, on_date=ON)

    assert line.unit_price == Decimal("40.00")
    assert line.source == PriceSource.QUANTITY_BREAK


def test_same_tier_prefers_latest_valid_from():
    # given two rows of one tier, one open-start and one from March
    contract = ContractFactory()
    product = ProductFactory()
    ContractPriceFactory(contract=contract, product=product, price="90.00", valid_from=None)
    newer = ContractPriceFactory(contract=contract, product=product, price="85.00", valid_from=dt.date(2026, 3, 1))

    # when priced in June
    line = price_product(customer=contract.customer, product=product, on_date=ON)

    # then the later start wins
    assert line.unit_price == Decimal("85.00")
    assert line.contract_price_id == newer.pk


@pytest.mark.parametrize(
    ("on_date", "expected_price", "expected_source"),
    [
        (dt.date(2026, 2, 28), "100.00", PriceSource.LIST_PRICE),
        (dt.date(2026, 3, 1), "80.00", PriceSource.CONTRACT_PRICE),
        (dt.date(2026, 3, 31), "80.00", PriceSource.CONTRACT_PRICE),
        (dt.date(2026, 4, 1), "100.00", PriceSource.LIST_PRICE),
    ],
)
def test_contract_price_validity_days(on_date, expected_price, expected_source):
    # given a contract price valid through March only
    contract = ContractFactory()
    product = ProductFactory(list_price=Decimal("100.00"))
    ContractPriceFactory(
        contract=contract, product=product, price="80.00", valid_from=dt.date(2026, 3, 1), valid_to=dt.date(2026, 3, 31)
    )

    # when priced on the day before, the first, the last and the day after
    line = price_product(customer=contract.customer, product=product, on_date=on_date)

    # then it applies on its first and last day only
    assert line.unit_price == Decimal(expected_price)
    assert line.source == expected_source


@pytest.mark.parametrize(
    ("on_date", "expected_contract"),
    [
        (dt.date(2025, 12, 31), False),
        (dt.date(2026, 1, 1), True),
        (dt.date(2026, 12, 31), True),
        (dt.date(2027, 1, 1), False),
    ],
)
def test_contract_validity_days(on_date, expected_contract):
    # given a contract for the calendar year 2026
    contract = ContractFactory(valid_from=dt.date(2026, 1, 1), valid_to=dt.date(2026, 12, 31))
    product = ProductFactory(list_price=Decimal("100.00"))
    ContractPriceFactory(contract=contract, product=product, price="80.00")

    # when priced around its first and last day
    result = price_lines(customer=contract.customer, lines=[(product, 1)], on_date=on_date)

    # then the contract applies on its first and last day only
    assert (result.contract == contract) is expected_contract
    assert result.lines[0].unit_price == (Decimal("80.00") if expected_contract else Decimal("100.00"))
    assert result.lines[0].contract_id == (contract.pk if expected_contract else None)


def test_open_ended_contract_applies_years_later():
    contract = ContractFactory(valid_to=None)
    product = ProductFactory()
    ContractPriceFactory(contract=contract, product=product, price="80.00")

    line = price_product(customer=contract.customer, product=product, on_date=dt.date(2040, 1, 1))

    assert line.unit_price == Decimal("80.00")


@pytest.mark.parametrize(
    "status",
    [Contract.Status.DRAFT, Contract.Status.SUSPENDED, Contract.Status.TERMINATED],
)
def test_contract_not_active_falls_back_to_list_price(status):
    # given a contract that is not active
    contract = ContractFactory(status=status, assortment=Contract.Assortment.SELECTED)
    product = ProductFactory(list_price=Decimal("100.00"))
    ContractPriceFactory(contract=contract, product=product, price="80.00")

    # when priced inside its dates
    result = price_lines(customer=contract.customer, lines=[(product, 1)], on_date=ON)

    # then it is ignored: list price, and no assortment limit
    assert result.contract is None
    assert result.lines[0].unit_price == Decimal("100.00")
    assert result.lines[0].source == PriceSource.LIST_PRICE


def test_expired_contract_falls_back_to_list_price():
    contract = ContractFactory(valid_from=dt.date(2025, 1, 1), valid_to=dt.date(2025, 12, 31))
    product = ProductFactory(list_price=Decimal("100.00"))
    ContractPriceFactory(contract=contract, product=product, price="80.00")

    result = price_lines(customer=contract.customer, lines=[(product, 1)], on_date=ON)

    assert result.contract is None
    assert result.currency == "EUR"
    assert result.lines[0].unit_price == Decimal("100.00")
    assert result.lines[0].source == PriceSource.LIST_PRICE


def test_overlapping_contracts_pick_latest_start_then_highest_id():
    # given bad data: three active contracts in force on the same day
    customer = CustomerFactory()
    ContractFactory(customer=customer, valid_from=dt.date(2026, 1, 1))
    later_low_id = ContractFactory(customer=customer, valid_from=dt.date(2026, 3, 1))
    later_high_id = ContractFactory(customer=customer, valid_from=dt.date(2026, 3, 1))

    # when priced
    result = price_lines(customer=customer, lines=[], on_date=ON)

    # then the latest start wins, then the highest id
    assert later_high_id.pk > later_low_id.pk
    assert result.contract == later_high_id


def test_other_customers_contract_is_ignored():
    contract = ContractFactory()
    product = ProductFactory(list_price=Decimal("100.00"))
    ContractPriceFactory(contract=contract, product=product, price="80.00")
    other = CustomerFactory()

    line = price_product(customer=other, product=product, on_date=ON)

    assert line.unit_price == Decimal("100.00")
    assert line.contract_id is None


def test_selected_assortment_prices_products_inside_only():
    # given a SELECTED contract with the category TOOLS and one explicit product
    tools = CategoryFactory(code="TOOLS")
    drills = CategoryFactory(code="DRILLS", parent=tools)
    toolbox = CategoryFactory(code="TOOLBOX")  # a sibling whose code shares the prefix
    contract = ContractFactory(assortment=Contract.Assortment.SELECTED, number="K-SEL-1")
    contract.categories.add(tools)
    explicit = ProductFactory(sku="PAPER-1", category=CategoryFactory(code="OFFICE"))
    contract.products.add(explicit)
    in_category = ProductFactory(sku="HAMMER-1", category=tools)
    in_subcategory = ProductFactory(sku="DRILL-1", category=drills)
    outside = ProductFactory(sku="BOX-1", category=toolbox)
    no_category = ProductFactory(sku="LOOSE-1", category=None)

    # when all are priced
    result = price_lines(
        customer=contract.customer,
        lines=[(in_category, 1), (in_subcategory, 1), (explicit, 1), (outside, 1), (no_category, 1)],
        on_date=ON,
    )

    # then products in the subtree or chosen by name are priced, others are not
    assert [line.priced for line in result.lines] == [True, True, True, False, False]
    assert result.lines[3].reason_code == UnpricedReason.NOT_IN_ASSORTMENT
    assert result.lines[3].reason == "SKU BOX-1 is not in the assortment of contract K-SEL-1."
    assert result.lines[3].unit_price is None
    assert result.lines[3].line_total is None
    assert result.lines[4].reason_code == UnpricedReason.NOT_IN_ASSORTMENT
    assert result.total == Decimal("300.00")


def test_all_assortment_prices_any_active_product():
    contract = ContractFactory(assortment=Contract.Assortment.ALL)
    product = ProductFactory(category=None)

    line = price_product(customer=contract.customer, product=product, on_date=ON)

    assert line.priced is True


def test_currency_mismatch_of_list_price_without_contract():
    # given a EUR customer and a product listed in USD
    customer = CustomerFactory(currency="EUR", account_number="ACME-9")
    product = ProductFactory(sku="USD-1", list_price=Decimal("10.00"), currency="USD")

    # when priced
    line = price_product(customer=customer, product=product, on_date=ON)

    # then it is not priced, and the reason says there is no conversion
    assert line.priced is False
    assert line.reason_code == UnpricedReason.CURRENCY_MISMATCH
    assert line.reason == (
        "SKU USD-1 has its list price in USD, but customer ACME-9 is priced in EUR; "
        "prices are not converted between currencies."
    )
    assert line.currency == "EUR"
    assert line.list_price is None


def test_currency_mismatch_of_discount_off_foreign_list_price():
    contract = ContractFactory(number="K-EUR-1")
    product = ProductFactory(sku="USD-2", currency="USD")
    ContractPriceFactory(contract=contract, product=product, price=None, discount_percent=Decimal("10"))

    line = price_product(customer=contract.customer, product=product, on_date=ON)

    assert line.reason_code == UnpricedReason.CURRENCY_MISMATCH
    assert "contract K-EUR-1 is priced in EUR" in line.reason


def test_fixed_contract_price_applies_despite_foreign_list_price():
    # given a USD-listed product with a fixed EUR contract price
    contract = ContractFactory()
    product = ProductFactory(currency="USD")
    ContractPriceFactory(contract=contract, product=product, price="70.00")

    # when priced
    line = price_product(customer=contract.customer, product=product, on_date=ON)

    # then the fixed price is in the contract's currency, with no list price to compare
    assert line.unit_price == Decimal("70.00")
    assert line.currency == "EUR"
    assert line.list_price is None


def test_contract_currency_wins_over_customer_currency():
    customer = CustomerFactory(currency="EUR")
    ContractFactory(customer=customer, currency="USD")
    product = ProductFactory(list_price=Decimal("5.00"), currency="USD")

    result = price_lines(customer=customer, lines=[(product, 2)], on_date=ON)

    assert result.currency == "USD"
    assert result.lines[0].unit_price == Decimal("5.00")
    assert result.total == Decimal("10.00")


@pytest.mark.parametrize(
    "quantity",
    [
        0,
        -1,
        "0",
        "-2.5",
        "abc",
        "",
        None,
        1.5,
        float("nan"),
        "NaN",
        Decimal("NaN"),
        "Infinity",
        True,
        "1e11",
        "\u0661\u0662",  # 12 in Arabic-Indic digits
        "\uff11\uff12",  # 12 in full-width digits
        "1_000",
        Decimal("1E-30"),
        "0.0001",
        "2.0005",
    ],
)
def test_invalid_quantity_is_not_priced(quantity):
    # given a request line with a bad quantity between two good ones
    customer = CustomerFactory()
    product = ProductFactory(sku="Q-1", list_price=Decimal("10.00"))

    # when priced
    result = price_lines(customer=customer, lines=[(product, 1), (product, quantity), (product, 2)], on_date=ON)

    # then that line is unpriced with a reason naming the value, and the others are priced
    bad = result.lines[1]
    assert bad.priced is False
    assert bad.reason_code == UnpricedReason.INVALID_QUANTITY
    assert bad.reason.startswith(f"Quantity {quantity!r} for SKU Q-1 is invalid")
    assert bad.line_total is None
    assert result.lines[0].unit_price == Decimal("10.00")
    assert result.lines[2].line_total == Decimal("20.00")
    assert result.total == Decimal("30.00")


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("2.5", "2.5"),
        (" 3 ", "3"),
        (Decimal("0.001"), "0.001"),
        (4, "4"),
        ("2.50000", "2.5"),  # trailing zeros are not decimal places that count
        (Decimal("1E+3"), "1000"),
        ("99999999999.999", "99999999999.999"),
    ],
)
def test_valid_quantity_forms(quantity, expected):
    product = ProductFactory(list_price=Decimal("10.00"))

    line = price_product(customer=CustomerFactory(), product=product, quantity=quantity, on_date=ON)

    assert line.quantity == Decimal(expected)
    assert line.priced is True


@pytest.mark.parametrize(
    ("quantity", "expected_reason"),
    [
        (
            "\u0661\u0662",
            "Quantity '\u0661\u0662' for SKU Q-1 is invalid because it contains characters other than ASCII; "
            "write it with the digits 0-9 and a point.",
        ),
        (
            Decimal("1E-30"),
            "Quantity Decimal('1E-30') for SKU Q-1 is invalid because it has more than 3 decimal places; "
            "round it to at most 3 decimals.",
        ),
        (
            "0.0001",
            "Quantity '0.0001' for SKU Q-1 is invalid because it has more than 3 decimal places; "
            "round it to at most 3 decimals.",
        ),
        (
            "-1",
            "Quantity '-1' for SKU Q-1 is invalid; pass a positive decimal number below 100,000,000,000 "
            "with at most 3 decimals, as a string, int or Decimal.",
        ),
    ],
)
def test_invalid_quantity_reason_names_the_fix(quantity, expected_reason):
    product = ProductFactory(sku="Q-1")

    line = price_product(customer=CustomerFactory(), product=product, quantity=quantity, on_date=ON)

    assert line.reason_code == UnpricedReason.INVALID_QUANTITY
    assert line.reason == expected_reason
    assert line.line_total is None


def test_unknown_product_id_is_not_priced():
    # given an id no product has, and one beyond the bigint range
    customer = CustomerFactory()
    product = ProductFactory()
    missing_id = product.pk + 1000

    # when priced alongside a real product
    result = price_lines(
        customer=customer, lines=[(missing_id, 1), (product.pk, 1), (2**70, 1), ("SKU-1", 1)], on_date=ON
    )

    # then only the real product is priced
    assert result.lines[0].reason_code == UnpricedReason.UNKNOWN_PRODUCT
    assert result.lines[0].reason == f"Product id {missing_id} does not exist."
    assert result.lines[0].product is None
    assert result.lines[1].product == product
    assert result.lines[1].priced is True
    assert result.lines[2].reason_code == UnpricedReason.UNKNOWN_PRODUCT
    assert result.lines[3].reason_code == UnpricedReason.UNKNOWN_PRODUCT
    assert result.lines[3].reason == (
        "Product reference 'SKU-1' is not a product or a product id; pass a Product or its id."
    )


def test_deleted_product_instance_is_unknown():
    # given a Product instance whose row no longer exists (built here, so that no delete cascades into other apps)
    product = ProductFactory.build(sku="GONE-1")
    product.pk = ProductFactory().pk + 1000

    # when it is priced
    line = price_product(customer=CustomerFactory(), product=product, on_date=ON)

    # then it is unknown, and the reason names its SKU and id
    assert line.reason_code == UnpricedReason.UNKNOWN_PRODUCT
    assert line.reason == f"SKU GONE-1 (product id {product.pk}) no longer exists."


def test_unsaved_product_instance_is_unknown():
    product = ProductFactory.build(sku="NEW-1")

    line = price_product(customer=CustomerFactory(), product=product, on_date=ON)

    assert line.reason_code == UnpricedReason.UNKNOWN_PRODUCT
    assert line.reason == "SKU NEW-1 has not been saved, so it has no price; save the product first."


def test_inactive_product_is_not_priced():
    product = ProductFactory(sku="OLD-1", is_active=False)

    line = price_product(customer=CustomerFactory(), product=product, on_date=ON)

    assert line.reason_code == UnpricedReason.INACTIVE_PRODUCT
    assert line.reason == "SKU OLD-1 is inactive and cannot be sold."
    assert line.product == product


def test_lines_keep_request_order_and_index():
    customer = CustomerFactory()
    first = ProductFactory(list_price=Decimal("1.00"))
    second = ProductFactory(list_price=Decimal("2.00"))

    result = price_lines(customer=customer, lines=[(second, 1), (first, 1), (second, 3)], on_date=ON)

    assert [line.index for line in result.lines] == [0, 1, 2]
    assert [line.product for line in result.lines] == [second, first, second]
    assert [line.line_total for line in result.lines] == [Decimal("2.00"), Decimal("1.00"), Decimal("6.00")]
    assert result.total == Decimal("9.00")


def test_empty_request_has_zero_total():
    result = price_lines(customer=CustomerFactory(currency="JPY"), lines=[], on_date=ON)

    assert result.lines == ()
    assert result.total == Decimal("0")
    assert str(result.total) == "0"


def test_on_date_defaults_to_today_in_utc(monkeypatch):
    # given a contract that starts on the day that "now" falls on in UTC
    import django.utils.timezone

    now = dt.datetime(2026, 3, 1, 0, 30, tzinfo=dt.UTC)
    monkeypatch.setattr(django.utils.timezone, "now", lambda: now)
    contract = ContractFactory(valid_from=dt.date(2026, 3, 1))

    # when priced without a date
    result = price_lines(customer=contract.customer, lines=[])

    # then the day is the UTC date
    assert result.on_date == dt.date(2026, 3, 1)
    assert result.contract == contract


def test_malformed_line_raises_naming_it():
    with pytest.raises(InvalidPricingRequest, match=r"Line 1 is 5; pass each line as a"):
        price_lines(customer=CustomerFactory(), lines=[(1, 1), 5], on_date=ON)


@pytest.mark.parametrize("lines", [None, 5, "abc", b"abc", {1: 1}])
def test_lines_not_a_list_of_pairs_raises(lines):
    with pytest.raises(InvalidPricingRequest) as error:
        price_lines(customer=CustomerFactory(), lines=lines, on_date=ON)

    assert error.value.code == "invalid_pricing_request"
    assert error.value.message == (
        f"Lines {lines!r} are not a list of lines; pass a list of (product or product id, quantity) pairs."
    )


def test_lines_from_generator_are_priced():
    product = ProductFactory(list_price=Decimal("2.00"))

    result = price_lines(customer=CustomerFactory(), lines=((product, n) for n in (1, 2)), on_date=ON)

    assert [line.line_total for line in result.lines] == [Decimal("2.00"), Decimal("4.00")]


def test_datetime_as_date_raises():
    with pytest.raises(InvalidPricingRequest, match="is not a date"):
        price_lines(customer=CustomerFactory(), lines=[], on_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def test_unsaved_customer_raises():
    with pytest.raises(InvalidPricingRequest, match="is not a saved customer"):
        price_lines(customer=CustomerFactory.build(), lines=[], on_date=ON)


def test_invalid_customer_currency_raises():
    customer = CustomerFactory(currency="EU", account_number="BAD-1")

    with pytest.raises(InvalidPricingCurrency) as error:
        price_lines(customer=customer, lines=[], on_date=ON)

    assert error.value.code == "invalid_pricing_currency"
    assert error.value.message == (
        "The currency 'EU' of customer BAD-1 is not an ISO 4217 code; correct it before pricing."
    )


def _bulk_request(count):
    """A SELECTED contract with a category, an explicit product and tiers, and ``count`` request lines."""
    category = CategoryFactory()
    contract = ContractFactory(assortment=Contract.Assortment.SELECTED)
    contract.categories.add(category)
    products = [ProductFactory(category=category) for _ in range(min(count, 20))]
    contract.products.add(products[0])
    for product in products[::2]:
        ContractPriceFactory(contract=contract, product=product, price="90.00")
        ContractPriceFactory(contract=contract, product=product, min_quantity=Decimal("10"), price="80.00")
    lines = [(products[i % len(products)].pk, (i % 15) + 1) for i in range(count)]
    return contract.customer, lines


@pytest.mark.parametrize("count", [1, 500])
def test_query_count_is_constant(count, django_assert_num_queries):
    # given a SELECTED contract with tiers, and 1 or 500 lines
    customer, lines = _bulk_request(count)

    # when priced: contract, products, category paths, chosen products, contract prices
    with django_assert_num_queries(5):
        result = price_lines(customer=customer, lines=lines, on_date=ON)

    # then every line is priced
    assert len(result.lines) == count
    assert all(line.priced for line in result.lines)


def test_query_count_without_contract(django_assert_num_queries):
    customer = CustomerFactory()
    lines = [(ProductFactory().pk, 1) for _ in range(30)]

    with django_assert_num_queries(2):
        result = price_lines(customer=customer, lines=lines, on_date=ON)

    assert all(line.priced for line in result.lines)


def test_given_contract_saves_its_query(django_assert_num_queries):
    # given the contract in force, read by the caller
    customer, lines = _bulk_request(40)
    contract = active_contract_for(customer=customer, on_date=ON)
    expected = price_lines(customer=customer, lines=lines, on_date=ON)

    # when priced with it: products, category paths, chosen products, contract prices
    with django_assert_num_queries(4):
        result = price_lines(customer=customer, lines=lines, on_date=ON, contract=contract)

    # then the prices are the same as without it
    assert [line.unit_price for line in result.lines] == [line.unit_price for line in expected.lines]
    assert result.contract == contract


def _pricing_products(product_ids):
    """The PricingProduct of each product, as a caller that selected the products itself would build them."""
    products = {}
    for product in Product.objects.filter(pk__in=product_ids).select_related("category"):
        products[product.pk] = PricingProduct(
            pk=product.pk,
            sku=product.sku,
            is_active=product.is_active,
            currency=product.currency,
            list_price=product.list_price,
            category_id=product.category_id,
            category_path=product.category.path if product.category_id else None,
        )
    return products


def test_given_products_price_like_database_reads(django_assert_num_queries):
    # given a SELECTED contract, a product outside it, an inactive one and one listed in another currency
    customer, lines = _bulk_request(40)
    contract = active_contract_for(customer=customer, on_date=ON)
    outside = ProductFactory(category=CategoryFactory())
    inactive = ProductFactory(category=contract.categories.get(), is_active=False)
    dollars = ProductFactory(category=contract.categories.get(), currency="USD")
    lines = [*lines, (outside.pk, 1), (inactive.pk, 1), (dollars.pk, 2), (0, 1)]
    expected = price_lines(customer=customer, lines=lines, on_date=ON, contract=contract)
    products = _pricing_products({product_id for product_id, _ in lines})

    # when priced from the given products: category paths, chosen products, contract prices
    with django_assert_num_queries(3):
        result = price_lines(customer=customer, lines=lines, on_date=ON, contract=contract, products=products)

    # then every line has the same price, source and reason as when the engine reads the products
    assert [line.unit_price for line in result.lines] == [line.unit_price for line in expected.lines]
    assert [line.source for line in result.lines] == [line.source for line in expected.lines]
    assert [line.reason_code for line in result.lines] == [line.reason_code for line in expected.lines]
    assert [line.reason for line in result.lines] == [line.reason for line in expected.lines]
    assert [line.list_price for line in result.lines] == [line.list_price for line in expected.lines]
    assert result.lines[-4].reason_code == UnpricedReason.NOT_IN_ASSORTMENT
    assert result.lines[-3].reason_code == UnpricedReason.INACTIVE_PRODUCT
    assert result.lines[-2].reason_code == UnpricedReason.CURRENCY_MISMATCH
    assert result.lines[-1].reason_code == UnpricedReason.UNKNOWN_PRODUCT
    assert result.lines[0].product is products[lines[0][0]]


def test_given_products_missing_id_is_unknown():
    product = ProductFactory()
    customer = CustomerFactory()

    result = price_lines(customer=customer, lines=[(product.pk, 1)], on_date=ON, contract=None, products={})

    assert result.lines[0].reason_code == UnpricedReason.UNKNOWN_PRODUCT
    assert result.lines[0].reason == f"Product id {product.pk} does not exist."


def test_given_contract_of_other_customer_raises():
    customer, lines = _bulk_request(1)
    other_contract = ContractFactory()

    with pytest.raises(ContractCustomerMismatch):
        price_lines(customer=customer, lines=lines, on_date=ON, contract=other_contract)


def test_result_product_category_needs_no_query(django_assert_num_queries):
    product = ProductFactory()
    result = price_lines(customer=CustomerFactory(), lines=[(product.pk, 1)], on_date=ON)

    with django_assert_num_queries(0):
        assert result.lines[0].product.category.path == product.category.path


@pytest.mark.skipif(connection.vendor != "postgresql", reason="contract_tiers_column needs PostgreSQL arrays")
def test_contract_tiers_column_prices_like_database_reads(django_assert_num_queries):
    # given a SELECTED contract with tiers, one tier only valid later, and a discount tier
    customer, lines = _bulk_request(40)
    contract = active_contract_for(customer=customer, on_date=ON)
    first_product_id = lines[0][0]
    ContractPriceFactory(
        contract=contract,
        product_id=first_product_id,
        min_quantity=Decimal("5"),
        price="70.00",
        valid_from=ON + dt.timedelta(days=1),
    )
    ContractPriceFactory(
        contract=contract,
        product_id=lines[1][0],
        min_quantity=Decimal("3"),
        price=None,
        discount_percent=Decimal("12.50"),
    )
    lines = [*lines, (first_product_id, 7), (lines[1][0], 4)]
    expected = price_lines(customer=customer, lines=lines, on_date=ON, contract=contract)
    product_ids = {product_id for product_id, _ in lines}
    products = _pricing_products(product_ids)
    contract_tiers = dict(
        Product.objects.filter(pk__in=product_ids).values_list("pk", contract_tiers_column(contract.pk, ON))
    )

    # when priced from the products and their tiers: category paths, chosen products
    with django_assert_num_queries(2):
        result = price_lines(
            customer=customer,
            lines=lines,
            on_date=ON,
            contract=contract,
            products=products,
            contract_tiers=contract_tiers,
        )

    # then every line has the same price and source as when the engine reads the contract prices
    assert [line.unit_price for line in result.lines] == [line.unit_price for line in expected.lines]
    assert [line.source for line in result.lines] == [line.source for line in expected.lines]
    assert [line.reason_code for line in result.lines] == [line.reason_code for line in expected.lines]
    # The tier valid only later is left out, and 12.5 % off the list price of 100.00 applies from 3 units.
    assert result.lines[-2].unit_price == Decimal("90.00")
    assert result.lines[-1].unit_price == Decimal("87.50")
    assert result.lines[-1].source == PriceSource.QUANTITY_BREAK
