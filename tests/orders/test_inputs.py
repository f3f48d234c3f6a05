"""The strict number reading of order intake and the ERP's messages, for values the JSON parser hands over."""

from decimal import Decimal

import pytest

from apps.orders.inputs import InvalidNumber, parse_money, parse_quantity


@pytest.mark.parametrize("raw", [Decimal("-10.00"), -10, "-10.00", Decimal("-0.01")])
def test_parse_money_rejects_negative(raw):
    with pytest.raises(InvalidNumber) as error:
        parse_money(raw, "EUR")

    assert "negative" in str(error.value)
    assert str(raw) in str(error.value)


@pytest.mark.parametrize("raw", [Decimal("-1"), -1, "-1"])
def test_parse_quantity_rejects_negative(raw):
    with pytest.raises(InvalidNumber) as error:
        parse_quantity(raw)

    assert "negative" in str(error.value)


@pytest.mark.parametrize(
    ("raw", "expected"), [(Decimal("0"), Decimal(0)), (0, Decimal(0)), ("12.50", Decimal("12.50"))]
)
def test_parse_money_accepts_zero_and_plain(raw, expected):
    assert parse_money(raw, "EUR") == expected
