"""The pricing waterfall of quote lines, and the quote totals, through the editing services."""

import datetime as dt
import re
from decimal import Decimal

import pytest

from apps.contracts.pricing import PriceSource
from apps.quotes.errors import InvalidConfiguration, InvalidQuoteInput, QuoteLineUnpriced
from apps.quotes.models import Quote
from apps.quotes.pricing import LineRequest, price_quote_lines
from apps.quotes.services import quote_add_line, quote_change_line, quote_create, quote_remove_line
from tests.factories import CustomerFactory, ProductFactory
from tests.quotes.factories import OptionFactory

CONFIGURATION = {"cpu-16c": 1, "mem-32g": 4, "sup-3y": 1}


def test_plain_line_waterfall(customer, chair, sales):
    # When: 3 chairs at the contract price with 10 % off
    quote = quote_create(
        actor=None,
        sales_person=sales,
        customer=customer,
        lines=[LineRequest(product=chair, quantity="3", discount_percent=Decimal("10"))],
    )

    # Then: every step of the waterfall is stored on the line
    line = quote.lines.get()
    assert line.list_price == Decimal("120.00")
    assert line.contract_price == Decimal("99.50")
    assert line.price_source == PriceSource.CONTRACT_PRICE
    assert line.adders == Decimal("0")
    assert line.discount_percent == Decimal("10.00")
    assert line.discount_amount == Decimal("9.95")
    assert line.net_price == Decimal("89.55")
    assert line.line_total == Decimal("268.65")
    assert line.unit_cost == Decimal("60.00")
    assert line.cost_total == Decimal("180.00")
    assert line.margin == Decimal("88.65")
    assert line.margin_percent == Decimal("33.00")
    assert line.description == "Desk chair"


def test_configured_line_waterfall(customer, contract_prices, server, sales):
    # When: 2 servers (contract 1800.00) with a 16-core CPU (+450), 4 x 32 GB modules (160 list, 10 % off
    # by contract = 144 each) and 3-year support (+300), at 12.5 % manual discount
    quote = quote_create(
        actor=None,
        sales_person=sales,
        customer=customer,
        lines=[
            LineRequest(
                product=server.product, quantity=2, configuration=CONFIGURATION, discount_percent=Decimal("12.5")
            )
        ],
    )

    # Then
    line = quote.lines.get()
    assert (line.list_price, line.contract_price) == (Decimal("2000.00"), Decimal("1800.00"))
    assert line.adders == Decimal("1326.00")
    assert line.discount_amount == Decimal("390.75")
    assert line.net_price == Decimal("2735.25")
    assert line.line_total == Decimal("5470.50")
    assert line.unit_cost == Decimal("2000.00")
    assert line.cost_total == Decimal("4000.00")
    assert line.margin == Decimal("1470.50")
    assert line.margin_percent == Decimal("26.88")
    assert line.configuration == CONFIGURATION
    memory = next(item for item in line.configuration_detail if item["code"] == "mem-32g")
    assert memory == {
        "code": "mem-32g",
        "name": "32 GB module",
        "group": "Memory",
        "sku": "MEM-32G",
        "quantity": 4,
        "unit_price": "144.00",
        "source": "contract_discount",
        "unit_cost": "95.0000",
    }
    assert line.description.splitlines() == [
        "Rack server 2U",
        "Processor: 16-core CPU",
        "Memory: 4 x 32 GB module",
        "Support term: 3-year support",
    ]


def test_quote_totals_add_up_lines(customer, contract_prices, server, chair, sales):
    quote = quote_create(
        actor=None,
        sales_person=sales,
        customer=customer,
        lines=[
            LineRequest(product=server.product, quantity=2, configuration=CONFIGURATION, discount_percent="12.5"),
            LineRequest(product=chair, quantity="3", discount_percent="10"),
        ],
    )

    # gross: 2 x 3126.00 + 3 x 99.50 = 6550.50; net: 5470.50 + 268.65 = 5739.15
    assert quote.gross_total == Decimal("6550.50")
    assert quote.total == Decimal("5739.15")
    assert quote.discount_total == Decimal("811.35")
    assert quote.cost_total == Decimal("4180.00")
    assert quote.margin == Decimal("1559.15")
    assert quote.margin_percent == Decimal("27.17")
    assert quote.discount_percent.quantize(Decimal("0.01")) == Decimal("12.39")
    assert quote.currency == "EUR"
    assert quote.contract.number == "ACME-2026"


def test_list_price_line_without_contract(sales):
    customer = CustomerFactory(account_number="NOCON-1", currency="EUR")
    product = ProductFactory(sku="LAMP-1", name="Lamp", list_price=Decimal("33.33"))

    quote = quote_create(
        actor=None,
        sales_person=sales,
        customer=customer,
        lines=[LineRequest(product=product, quantity=1, discount_percent="50")],
    )

    line = quote.lines.get()
    assert line.price_source == PriceSource.LIST_PRICE
    assert line.contract_price == Decimal("33.33")
    # Half of 33.33 is 16.665, rounded half up to 16.67.
    assert line.discount_amount == Decimal("16.67")
    assert line.net_price == Decimal("16.66")
    assert quote.contract is None


def test_unknown_cost_leaves_margin_empty(customer, contract, sales):
    product = ProductFactory(sku="NOCOST-1", list_price=Decimal("10.00"))

    quote = quote_create(actor=None, sales_person=sales, customer=customer, lines=[LineRequest(product, 2)])

    line = quote.lines.get()
    assert (line.unit_cost, line.cost_total, line.margin, line.margin_percent) == (None, None, None, None)
    assert (quote.cost_total, quote.margin, quote.margin_percent) == (None, None, None)
    assert quote.total == Decimal("20.00")


def test_invalid_configuration_creates_nothing(customer, contract, server, sales):
    with pytest.raises(InvalidConfiguration) as raised:
        quote_create(
            actor=None,
            sales_person=sales,
            customer=customer,
            lines=[LineRequest(product=server.product, quantity=1, configuration={"cpu-8c": 1, "mem-16g": 3})],
        )

    assert [violation.code for violation in raised.value.violations] == ["too_few_choices", "quantity_multiple"]
    assert raised.value.message.startswith("Line 1: Support term: choose at least 1 option; none is chosen.")
    assert Quote.objects.count() == 0


def test_inactive_product_is_unpriced(customer, contract, sales):
    product = ProductFactory(sku="OLD-1", is_active=False)

    with pytest.raises(QuoteLineUnpriced, match=re.escape("Line 1: SKU OLD-1 is inactive and cannot be sold.")):
        quote_create(actor=None, sales_person=sales, customer=customer, lines=[LineRequest(product, 1)])


def test_adder_in_other_currency_is_rejected(customer, contract, server, sales):
    OptionFactory(group=server.groups["psu"], code="psu-usd", name="US power supply", price_adder="99", currency="USD")

    with pytest.raises(InvalidQuoteInput, match="adds a price in USD, but the quote is in EUR"):
        quote_create(
            actor=None,
            sales_person=sales,
            customer=customer,
            lines=[
                LineRequest(server.product, 1, configuration={"cpu-8c": 1, "mem-16g": 2, "sup-1y": 1, "psu-usd": 1})
            ],
        )


@pytest.mark.parametrize(
    ("discount", "message"),
    [
        ("101", "is not a percent from 0 to 100"),
        ("-1", "is not a percent from 0 to 100"),
        ("ten", "is not a percent from 0 to 100"),
        ("12.345", "has more than 2 decimals"),
    ],
)
def test_bad_discount_is_rejected(customer, chair, sales, discount, message):
    with pytest.raises(InvalidQuoteInput, match=message):
        quote_create(
            actor=None, sales_person=sales, customer=customer, lines=[LineRequest(chair, 1, discount_percent=discount)]
        )


def test_valid_until_in_the_past_is_rejected(customer, sales):
    with pytest.raises(InvalidQuoteInput, match="is in the past"):
        quote_create(actor=None, sales_person=sales, customer=customer, valid_until=dt.date(2020, 1, 1))


def test_changed_line_keeps_price_date(customer, contract, chair, sales):
    # Given: a quote priced today, then the contract price rises
    quote = quote_create(actor=None, sales_person=sales, customer=customer, lines=[LineRequest(chair, 1)])
    price = contract.prices.get(product=chair)
    price.price = Decimal("110.00")
    price.save()

    # When: the quantity changes
    line = quote_change_line(line=quote.lines.get(), actor=None, quantity="4")

    # Then: the line keeps the locked price and the totals follow the quantity
    quote.refresh_from_db()
    assert line.contract_price == Decimal("99.50")
    assert line.line_total == Decimal("398.00")
    assert quote.total == Decimal("398.00")


def test_add_and_remove_lines_update_totals(customer, contract, chair, sales):
    quote = quote_create(actor=None, sales_person=sales, customer=customer, lines=[LineRequest(chair, 1)])

    added = quote_add_line(quote=quote, actor=None, product=chair, quantity=2, discount_percent="5")
    quote.refresh_from_db()
    total_with_both = quote.total
    quote_remove_line(line=quote.lines.get(position=1), actor=None)
    quote.refresh_from_db()

    assert added.position == 2
    assert total_with_both == Decimal("99.50") + Decimal("189.04")
    assert quote.total == Decimal("189.04")
    assert list(quote.lines.values_list("position", flat=True)) == [2]


def test_history_records_actor_and_reason(customer, contract, chair, sales):
    quote = quote_create(actor=sales, customer=customer, lines=[LineRequest(chair, 1)])
    line = quote_change_line(line=quote.lines.get(), actor=sales, discount_percent="3")

    assert list(quote.history.values_list("history_change_reason", "history_user")) == [
        ("Line 1 changed", sales.pk),
        ("Created", sales.pk),
    ]
    assert list(line.history.values_list("history_change_reason", "history_user")) == [
        ("Changed discount_percent, discount_amount, net_price, line_total, margin, margin_percent", sales.pk),
        (None, sales.pk),
    ]


def test_pricing_query_count_does_not_grow_with_lines(customer, contract_prices, server, django_assert_max_num_queries):
    lines = [LineRequest(server.product, 1, configuration=CONFIGURATION) for _ in range(40)]

    with django_assert_max_num_queries(8):
        priced = price_quote_lines(customer=customer, currency="EUR", lines=lines, on_date=dt.date(2026, 6, 1))

    assert all(line.ok for line in priced)
    assert {line.line_total for line in priced} == {Decimal("3126.00")}
