"""Conversion between units of measure: counts, mass, length, area, volume and time, and product pack sizes.

Three sources, tried in this order:

1. Counts. ``EA``, ``C62`` and ``H87`` each count one item, ``DZN`` and ``DPC`` twelve,
   ``GRO`` 144. Recommendation 20 gives no rule between the three one-item codes; buyers
   use them for the same thing, so they convert one to one. ``PR`` (pair) is left out on
   purpose, because a buyer's "each" of a product sold by the pair usually means one pair.
2. Recommendation 20's conversion factors to the SI base unit, read from the column
   ``conversion_factor`` of ``data/rec20_Rev17e-2021_annex-II-III.csv`` (``GRM`` is
   10⁻³ kg, ``LBR`` 0,453 592 37 kg, ``HUR`` 3 600 s). Only units whose base is kg,
   m, m², m³ or s take part, so that a factor never links two different quantities.
3. A product's pack size: a product sold in a package unit (a Recommendation 21 X-code
   such as ``XBX``) whose ``attributes["pack_size"]`` gives the items one package
   holds converts to and from the count units above.
"""

import csv
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import cache
from pathlib import Path

REC20_FILE = Path(__file__).resolve().parent / "data" / "rec20_Rev17e-2021_annex-II-III.csv"

# Items one unit counts.
COUNT_UNITS = {
    "EA": Decimal(1),
    "C62": Decimal(1),
    "H87": Decimal(1),
    "DZN": Decimal(12),
    "DPC": Decimal(12),
    "GRO": Decimal(144),
}
# SI base units whose Recommendation 20 factors are used; anything else (N, W, kg/m³…) is left out.
_BASES = {"kg", "m", "m²", "m³", "s"}
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
# Recommendation 20 writes the multiplication both as "x" and as U+00D7.
_WITH_POWER = re.compile(
    r"^(?:(?P<mantissa>\d[\d ,]*?)\s*[x\u00d7]\s*)?10(?P<exponent>⁻?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)\s+(?P<base>\S+)$"
)
_PLAIN = re.compile(r"^(?P<mantissa>\d[\d ,]*?)\s+(?P<base>\S+)$")


@dataclass(frozen=True)
class Conversion:
    """How many target units one source unit makes, as an exact fraction, and where that factor comes from."""

    factor: Fraction
    basis: str

    def convert(self, quantity: Decimal) -> Fraction:
        """Return ``quantity`` source units in target units, exactly."""
        return Fraction(quantity) * self.factor


def unit_conversion(source: str, target: str, *, pack_size: Decimal | None = None) -> Conversion | None:
    """Return the conversion from the unit code ``source`` to ``target``, or None when none is known.

    ``pack_size`` is the number of items in one ``target`` (or ``source``)
    package unit, from the product.
    """
    if source == target:
        return Conversion(Fraction(1), "same unit")
    if source in COUNT_UNITS and target in COUNT_UNITS:
        return Conversion(Fraction(COUNT_UNITS[source]) / Fraction(COUNT_UNITS[target]), "count units")

    factors = _rec20_factors()
    if source in factors and target in factors and factors[source][0] == factors[target][0]:
        return Conversion(
            Fraction(factors[source][1]) / Fraction(factors[target][1]), "UN/CEFACT Recommendation 20 factors"
        )

    if pack_size is not None and pack_size > 0:
        if source in COUNT_UNITS and _is_package(target):
            return Conversion(
                Fraction(COUNT_UNITS[source]) / Fraction(pack_size), f"{pack_size.normalize():f} items per {target}"
            )
        if _is_package(source) and target in COUNT_UNITS:
            return Conversion(
                Fraction(pack_size) / Fraction(COUNT_UNITS[target]), f"{pack_size.normalize():f} items per {source}"
            )
    return None


def is_counted(code: str) -> bool:
    """Return whether a quantity in the unit must be whole: a count of items or of packages."""
    return code in COUNT_UNITS or _is_package(code)


def pack_size_of(attributes: dict) -> Decimal | None:
    """Return a product's pack size from its attributes, or None when it has none or it is not a positive number."""
    raw = (attributes or {}).get("pack_size")
    if raw is None or isinstance(raw, bool | float):
        return None
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() and value > 0 else None


def _is_package(code: str) -> bool:
    return len(code) == 3 and code.startswith("X")


@cache
def _rec20_factors() -> dict[str, tuple[str, Decimal]]:
    """Return {code: (SI base unit, factor)} for the Recommendation 20 codes in force whose base is in _BASES."""
    factors = {}
    with REC20_FILE.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["status"].strip():
                continue
            parsed = parse_rec20_factor(row["conversion_factor"])
            if parsed is not None and parsed[0] in _BASES:
                factors[row["code"]] = parsed
    return factors


def parse_rec20_factor(text: str) -> tuple[str, Decimal] | None:
    """Read a Recommendation 20 conversion factor such as "0,453 592 37 kg" or "10⁻³ m³" as (base, factor).

    Returns None for text in another form (compound units, several terms).
    """
    text = " ".join((text or "").replace("\xa0", " ").split())
    if not text:
        return None
    if " " not in text:
        return text, Decimal(1)
    match = _WITH_POWER.match(text)
    if match is not None:
        exponent = int(match["exponent"].translate(_SUPERSCRIPTS))
        mantissa = _mantissa(match["mantissa"]) if match["mantissa"] else Decimal(1)
        return (match["base"], mantissa.scaleb(exponent)) if mantissa is not None else None
    match = _PLAIN.match(text)
    if match is not None:
        mantissa = _mantissa(match["mantissa"])
        return (match["base"], mantissa) if mantissa is not None else None
    return None


def _mantissa(text: str) -> Decimal | None:
    """Read a number written with a decimal comma and spaces between digit groups, such as "0,304 8"."""
    try:
        return Decimal(text.replace(" ", "").replace(",", "."))
    except InvalidOperation:
        return None
