from decimal import Decimal

import pytest

from apps.core.money import InvalidAmount, InvalidCurrency, minor_units, round_money, to_decimal, validate_currency


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.125", "EUR", "0.13"),
        ("14.525", "EUR", "14.53"),
        ("14.5249", "EUR", "14.52"),
        ("-0.125", "EUR", "-0.13"),
        ("1079.5", "JPY", "1080"),
        ("1078.5", "JPY", "1079"),
        ("1.2345", "KWD", "1.235"),
        ("7", "USD", "7.00"),
    ],
)
def test_round_money_rounds_half_up_to_minor_unit(amount, currency, expected):
    # given an amount and a currency
    # when it is rounded
    result = round_money(Decimal(amount), currency)

    # then a tie goes away from zero, at the currency's minor unit
    assert result == Decimal(expected)
    assert str(result) == expected


def test_round_money_accepts_lower_case_currency():
    assert round_money(Decimal("2.005"), "eur") == Decimal("2.01")


def test_round_money_rejects_unknown_currency():
    with pytest.raises(InvalidCurrency, match="'ABC' is not an ISO 4217 code"):
        round_money(Decimal("1"), "ABC")


def test_round_money_rejects_float_amount():
    with pytest.raises(InvalidAmount, match="is a float"):
        round_money(0.125, "EUR")


@pytest.mark.parametrize(("currency", "expected"), [("EUR", 2), ("JPY", 0), ("KWD", 3), ("CLF", 4), ("CHF", 2)])
def test_minor_units_of_currency(currency, expected):
    assert minor_units(currency) == expected


@pytest.mark.parametrize(("code", "expected"), [("EUR", "EUR"), ("eur", "EUR"), (" usd ", "USD"), ("JPY", "JPY")])
def test_validate_currency_normalises_code(code, expected):
    assert validate_currency(code) == expected


@pytest.mark.parametrize("code", ["", "EURO", "XYZ", "E U", None])
def test_validate_currency_rejects_non_iso_code(code):
    with pytest.raises(InvalidCurrency) as error:
        validate_currency(code)

    assert repr(code) in str(error.value)
    assert "three-letter code" in str(error.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, Decimal("3")), ("2.50", Decimal("2.50")), (" 4.1 ", Decimal("4.1")), (Decimal("0.0125"), Decimal("0.0125"))],
)
def test_to_decimal_converts_int_str_and_decimal(value, expected):
    result = to_decimal(value)

    assert result == expected
    assert isinstance(result, Decimal)


def test_to_decimal_keeps_trailing_zeros_of_string():
    assert str(to_decimal("2.50")) == "2.50"


def test_to_decimal_rejects_float():
    with pytest.raises(InvalidAmount, match=r"Amount 0\.1 is a float"):
        to_decimal(0.1)


@pytest.mark.parametrize("value", ["NaN", Decimal("NaN"), "sNaN", "Infinity", Decimal("-Infinity")])
def test_to_decimal_rejects_nan_and_infinity(value):
    with pytest.raises(InvalidAmount, match="not a finite number"):
        to_decimal(value)


@pytest.mark.parametrize("value", ["", "abc", "1,5", None, object()])
def test_to_decimal_rejects_non_numbers(value):
    with pytest.raises(InvalidAmount, match="not a decimal number"):
        to_decimal(value)


@pytest.mark.parametrize(
    "value",
    [
        "\u0661\u0662",  # 12 in Arabic-Indic digits
        "\uff11\uff12",  # 12 in full-width digits
        "\u0967",  # 1 in Devanagari digits
        "\u00a012",  # a no-break space before ASCII digits
    ],
)
def test_to_decimal_rejects_non_ascii_text(value):
    with pytest.raises(InvalidAmount) as error:
        to_decimal(value)

    assert str(error.value) == (
        f"Amount {value!r} contains characters other than ASCII; write it with the digits 0-9 and a point."
    )


def test_to_decimal_rejects_digit_separators():
    with pytest.raises(InvalidAmount) as error:
        to_decimal("1_000")

    assert str(error.value) == "Amount '1_000' contains an underscore; write it without digit separators."
