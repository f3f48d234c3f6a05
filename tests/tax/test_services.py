"""The tax computation on a table of cases: rates by country, region and class, exemptions, rounding per line."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.tax.models import TaxClass, TaxExemption, TaxRate
from apps.tax.services import ShipTo, TaxableLine, compute_tax, order_ship_to
from tests.factories import CustomerFactory, OrderFactory

DAY = dt.date(2026, 6, 1)


@pytest.fixture
def classes(db):
    return {
        "standard": TaxClass.objects.create(code="standard", name="Standard", is_default=True),
        "reduced": TaxClass.objects.create(code="reduced", name="Reduced"),
        "zero": TaxClass.objects.create(code="zero", name="Zero-rated"),
        "digital": TaxClass.objects.create(code="digital", name="Digital services"),
    }


@pytest.fixture
def rates(classes):
    def rate(country, tax_class, percent, region="", valid_from=dt.date(2020, 1, 1), valid_to=None):
        return TaxRate.objects.create(
            country=country,
            region=region,
            tax_class=classes[tax_class],
            rate_percent=Decimal(percent),
            valid_from=valid_from,
            valid_to=valid_to,
        )

    return [
        rate("NL", "standard", "21"),
        rate("NL", "reduced", "9"),
        rate("NL", "zero", "0"),
        rate("US", "standard", "0"),
        rate("US", "standard", "7.25", region="CA"),
        rate("US", "reduced", "0"),
        # Germany's standard rate changed on 2026-07-01 in this table.
        rate("DE", "standard", "19", valid_to=dt.date(2026, 6, 30)),
        rate("DE", "standard", "20", valid_from=dt.date(2026, 7, 1)),
    ]


def exempt_customer(*, expires_on, country="", region="", flag=True):
    customer = CustomerFactory(tax_exempt=flag)
    TaxExemption.objects.create(
        customer=customer,
        certificate_number="EX-1",
        country=country,
        region=region,
        valid_from=dt.date(2026, 1, 1),
        expires_on=expires_on,
    )
    return customer


def taxed(customer, ship_to, lines, *, currency="EUR", on_date=DAY):
    return compute_tax(
        customer=customer,
        ship_to=ship_to,
        lines=[
            TaxableLine(key=index, tax_class_id=tax_class, amount=Decimal(amount))
            for index, (tax_class, amount) in enumerate(lines)
        ],
        currency=currency,
        on_date=on_date,
    )


# (case, ship-to, [(class code or None, amount)], currency, expected line taxes, expected total)
CASES = [
    ("country rate", ShipTo("NL"), [("standard", "100.00")], "EUR", ["21.00"], "21.00"),
    ("no class takes default", ShipTo("NL"), [(None, "100.00")], "EUR", ["21.00"], "21.00"),
    (
        "mixed classes",
        ShipTo("NL"),
        [("standard", "100.00"), ("reduced", "50.00"), ("zero", "30.00")],
        "EUR",
        ["21.00", "4.50", "0.00"],
        "25.50",
    ),
    # 0.05 x 21% = 0.0105 each: rounding per line gives 0.01 + 0.01, not round(0.021) = 0.02 once.
    (
        "rounding per line down",
        ShipTo("NL"),
        [("standard", "0.05"), ("standard", "0.05")],
        "EUR",
        ["0.01", "0.01"],
        "0.02",
    ),
    # 0.50 x 9% = 0.045 rounds half up to 0.05 on each line: 0.10, where rounding the sum once gives 0.09.
    (
        "rounding per line half up",
        ShipTo("NL"),
        [("reduced", "0.50"), ("reduced", "0.50")],
        "EUR",
        ["0.05", "0.05"],
        "0.10",
    ),
    ("region rate wins", ShipTo("US", "CA"), [("standard", "100.00")], "USD", ["7.25"], "7.25"),
    (
        "region without own rate takes country's",
        ShipTo("US", "OR"),
        [("standard", "100.00")],
        "USD",
        ["0.00"],
        "0.00",
    ),
    ("region is case-insensitive", ShipTo.of("us", "ca"), [("standard", "19.99")], "USD", ["1.45"], "1.45"),
    ("yen rounds to whole units", ShipTo("NL"), [("standard", "1234")], "JPY", ["259"], "259"),
    ("rate valid on the day", ShipTo("DE"), [("standard", "100.00")], "EUR", ["19.00"], "19.00"),
    ("country outside the table", ShipTo("CH"), [("standard", "100.00")], "EUR", ["0.00"], "0.00"),
    ("unknown country", ShipTo(""), [("standard", "100.00")], "EUR", ["0.00"], "0.00"),
]


@pytest.mark.parametrize(
    ("ship_to", "lines", "currency", "line_taxes", "total"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_tax_table_of_cases(classes, rates, ship_to, lines, currency, line_taxes, total):
    customer = CustomerFactory()

    result = taxed(
        customer, ship_to, [(classes[code].pk if code else None, amount) for code, amount in lines], currency=currency
    )

    assert [str(line.tax) for line in result.lines] == line_taxes
    assert str(result.total) == total
    assert result.missing == ()
    assert result.exemption == ""


def test_rate_from_its_valid_from_day(classes, rates):
    result = taxed(CustomerFactory(), ShipTo("DE"), [(classes["standard"].pk, "100.00")], on_date=dt.date(2026, 7, 1))

    assert result.total == Decimal("20.00")


def test_exempt_customer_pays_no_tax(classes, rates):
    customer = exempt_customer(expires_on=dt.date(2026, 12, 31), country="NL")

    result = taxed(customer, ShipTo("NL"), [(classes["standard"].pk, "100.00"), (None, "10.00")])

    assert result.total == Decimal("0.00")
    assert [line.exempt for line in result.lines] == [True, True]
    assert result.exemption == "EX-1"


def test_exemption_valid_on_its_last_day(classes, rates):
    customer = exempt_customer(expires_on=DAY)

    result = taxed(customer, ShipTo("NL"), [(classes["standard"].pk, "100.00")])

    assert result.total == Decimal("0.00")


def test_expired_exemption_does_not_exempt(classes, rates):
    customer = exempt_customer(expires_on=DAY - dt.timedelta(days=1))

    result = taxed(customer, ShipTo("NL"), [(classes["standard"].pk, "100.00")])

    assert result.total == Decimal("21.00")
    assert result.exemption == ""


def test_exempt_flag_without_certificate_does_not_exempt(classes, rates):
    customer = CustomerFactory(tax_exempt=True)

    result = taxed(customer, ShipTo("NL"), [(classes["standard"].pk, "100.00")])

    assert result.total == Decimal("21.00")


def test_certificate_without_exempt_flag_does_not_exempt(classes, rates):
    customer = exempt_customer(expires_on=dt.date(2026, 12, 31), flag=False)

    result = taxed(customer, ShipTo("NL"), [(classes["standard"].pk, "100.00")])

    assert result.total == Decimal("21.00")


def test_exemption_for_other_region_does_not_exempt(classes, rates):
    customer = exempt_customer(expires_on=dt.date(2026, 12, 31), country="US", region="NY")

    california = taxed(customer, ShipTo("US", "CA"), [(classes["standard"].pk, "100.00")], currency="USD")
    new_york = taxed(customer, ShipTo("US", "NY"), [(classes["standard"].pk, "100.00")], currency="USD")

    assert california.total == Decimal("7.25")
    assert new_york.total == Decimal("0.00")


def test_class_without_rate_is_reported_missing(classes, rates):
    result = taxed(
        CustomerFactory(), ShipTo("NL"), [(classes["standard"].pk, "100.00"), (classes["digital"].pk, "50.00")]
    )

    assert result.total == Decimal("21.00")
    assert [line.key for line in result.missing] == [1]
    assert result.missing[0].tax_class == "digital"
    assert result.missing[0].tax == Decimal("0.00")


def test_default_class_missing_is_reported(classes, rates):
    classes["standard"].is_default = False
    classes["standard"].save()

    result = taxed(CustomerFactory(), ShipTo("NL"), [(None, "100.00")])

    assert result.total == Decimal("0.00")
    assert result.missing[0].tax_class == "default (none set)"


def test_order_ship_to_from_address(db):
    order = OrderFactory(ship_to={"country_code": "us", "state": "ca"})

    assert order_ship_to(order) == ShipTo("US", "CA")


def test_order_without_country_uses_customer_default(db):
    customer = CustomerFactory(ship_to_country="NL", ship_to_region="")
    order = OrderFactory(customer=customer, ship_to={"city": "Utrecht"})

    assert order_ship_to(order) == ShipTo("NL")


def test_overlapping_rate_is_rejected(classes, rates):
    rate = TaxRate(
        country="NL", tax_class=classes["standard"], rate_percent=Decimal("22"), valid_from=dt.date(2026, 1, 1)
    )

    with pytest.raises(ValidationError) as error:
        rate.full_clean()

    assert "already applies from 2020-01-01" in str(error.value)


def test_second_default_class_is_rejected(classes):
    other = TaxClass(code="other", name="Other", is_default=True)

    with pytest.raises(ValidationError) as error:
        other.full_clean()

    assert "already the default" in str(error.value)
