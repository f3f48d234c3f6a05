from decimal import Decimal

import pytest

from apps.punchout.templatetags.punchout_money import money


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Decimal("48.0500"), "EUR", "48.05 EUR"),
        (Decimal("48.0000"), "EUR", "48.00 EUR"),
        (Decimal("100"), "EUR", "100.00 EUR"),
        (Decimal("0.0125"), "EUR", "0.0125 EUR"),
        (Decimal("1.2340"), "EUR", "1.234 EUR"),
        (Decimal("72.00"), "USD", "72.00 USD"),
        (Decimal("1500.0000"), "JPY", "1500 JPY"),
        (Decimal("1500.5000"), "JPY", "1500.5 JPY"),
        (Decimal("2.5000"), "KWD", "2.500 KWD"),
        (Decimal("0"), "EUR", "0.00 EUR"),
        ("48.0500", "EUR", "48.05 EUR"),
        (Decimal("48.0500"), "XXX", "48.05 XXX"),
        (None, "EUR", ""),
    ],
)
def test_money_shows_minor_units_or_more(amount, currency, expected):
    assert money(amount, currency) == expected
