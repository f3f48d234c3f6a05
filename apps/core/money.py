"""Money helpers: ISO 4217 currencies and the one rounding rule for amounts.

Rounding rule: every money amount the system computes (a unit price after a
discount, a line total, a document total) is rounded half up (away from zero
on a tie, ``ROUND_HALF_UP``) to the currency's minor unit from ISO 4217, so
EUR and USD round to cents, JPY to whole yen and KWD to fils. Inputs are
``Decimal`` values, never floats.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# Minor units (decimal places) of the active ISO 4217 codes, from the ISO 4217
# list one (amendment 177). Codes not listed here have two decimal places.
_NON_DEFAULT_EXPONENTS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}  # fmt: skip

ISO_4217_CODES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB
    BOV BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP
    CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ
    GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW
    KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR
    MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
    PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC
    SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS
    VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """.split()
)


class InvalidCurrency(ValueError):
    """A currency code that is not an active ISO 4217 code."""


class InvalidAmount(ValueError):
    """A money amount that is not a finite decimal number."""


def validate_currency(code: str) -> str:
    """Return the upper-cased ISO 4217 code, or raise InvalidCurrency naming it."""
    normalised = (code or "").strip().upper()
    if normalised not in ISO_4217_CODES:
        raise InvalidCurrency(f"Currency {code!r} is not an ISO 4217 code; use a three-letter code such as EUR or USD.")
    return normalised


def minor_units(currency: str) -> int:
    """Return the number of decimal places of a currency's minor unit."""
    return _NON_DEFAULT_EXPONENTS.get(validate_currency(currency), 2)


def to_decimal(value: object) -> Decimal:
    """Convert an int, str or Decimal to a finite Decimal; floats and text other than ASCII are rejected.

    ``Decimal()`` itself reads any Unicode decimal digit ("١٢" is 12) and
    underscores between digits ("1_000" is 1000). Neither is a decimal
    number in the notation that documents and forms use, so both raise
    InvalidAmount. Surrounding ASCII whitespace is ignored.
    """
    if isinstance(value, float):
        raise InvalidAmount(f"Amount {value!r} is a float; pass a Decimal or a string.")
    if isinstance(value, Decimal):
        result = value
    else:
        text = str(value)
        if not text.isascii():
            raise InvalidAmount(
                f"Amount {value!r} contains characters other than ASCII; write it with the digits 0-9 and a point."
            )
        if "_" in text:
            raise InvalidAmount(f"Amount {value!r} contains an underscore; write it without digit separators.")
        try:
            result = Decimal(text.strip())
        except InvalidOperation:
            raise InvalidAmount(f"Amount {value!r} is not a decimal number.") from None
    if not result.is_finite():
        raise InvalidAmount(f"Amount {value!r} is not a finite number.")
    return result


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round an amount half up to the currency's minor unit."""
    exponent = Decimal(1).scaleb(-minor_units(currency))
    return to_decimal(amount).quantize(exponent, rounding=ROUND_HALF_UP)


def format_amount(amount: Decimal, currency: str) -> str:
    """Format an amount for people with the currency's minor units, or more where the amount has them.

    Nothing is rounded: 48.0500 EUR shows as "48.05" and 0.0125 EUR as
    "0.0125". A currency that is not ISO 4217 shows two places.
    """
    try:
        places = minor_units(currency)
    except InvalidCurrency:
        places = 2
    significant_places = max(-amount.normalize().as_tuple().exponent, 0)
    return f"{amount:.{max(places, significant_places)}f}"
