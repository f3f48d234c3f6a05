"""Unit conversions: count units, Recommendation 20 factors and pack sizes."""

from decimal import Decimal
from fractions import Fraction

import pytest

from apps.catalog.conversions import is_counted, pack_size_of, parse_rec20_factor, unit_conversion


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kg", ("kg", Decimal(1))),
        ("10⁻³ kg", ("kg", Decimal("0.001"))),
        ("10³ m", ("m", Decimal(1000))),
        ("0,453 592 37 kg", ("kg", Decimal("0.45359237"))),
        ("2,834 952 x 10⁻² kg", ("kg", Decimal("0.02834952"))),
        ("1,157 41 \u00d7 10⁻⁵ m³/s", ("m³/s", Decimal("0.0000115741"))),
        ("3 600 s", ("s", Decimal(3600))),
        ("10⁻⁴ kg⁻¹ x m³ x s", None),
        ("", None),
    ],
)
def test_rec20_factor_text_is_read(text, expected):
    assert parse_rec20_factor(text) == expected


@pytest.mark.parametrize(
    ("source", "target", "factor"),
    [
        ("DZN", "EA", Fraction(12)),
        ("EA", "DZN", Fraction(1, 12)),
        ("H87", "C62", Fraction(1)),
        ("GRM", "KGM", Fraction(1, 1000)),
        ("TNE", "KGM", Fraction(1000)),
        ("MMT", "MTR", Fraction(1, 1000)),
        ("MLT", "LTR", Fraction(1, 1000)),
        ("HUR", "MIN", Fraction(60)),
    ],
)
def test_known_units_convert(source, target, factor):
    assert unit_conversion(source, target).factor == factor


@pytest.mark.parametrize(("source", "target"), [("KGM", "EA"), ("MTR", "KGM"), ("PR", "EA"), ("EA", "XBX")])
def test_unrelated_units_do_not_convert(source, target):
    assert unit_conversion(source, target) is None


def test_pack_size_converts_items_and_boxes():
    to_box = unit_conversion("EA", "XBX", pack_size=Decimal(12))
    to_items = unit_conversion("XBX", "DZN", pack_size=Decimal(24))

    assert to_box.factor == Fraction(1, 12)
    assert to_box.basis == "12 items per XBX"
    assert to_items.factor == Fraction(2)


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"pack_size": 12}, Decimal(12)),
        ({"pack_size": "50"}, Decimal(50)),
        ({"pack_size": 0}, None),
        ({"pack_size": "a dozen"}, None),
        ({"pack_size": 2.5}, None),
        ({}, None),
    ],
)
def test_pack_size_read_from_attributes(attributes, expected):
    assert pack_size_of(attributes) == expected


def test_items_and_packages_are_counted():
    assert is_counted("EA")
    assert is_counted("XBX")
    assert not is_counted("KGM")
