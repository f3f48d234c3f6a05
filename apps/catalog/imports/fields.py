"""Parsers for the values of import rows; each returns the parsed value or raises InvalidValue with the reason."""

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from django.conf import settings

from apps.core.money import InvalidCurrency, validate_currency

_TRUE = frozenset({"1", "true", "yes", "y", "t", "x"})
_FALSE = frozenset({"0", "false", "no", "n", "f", ""})
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+(,\d+)?$")


class InvalidValue(ValueError):
    """A value that cannot be used; ``str()`` is the reason, written for the person who fixes the file."""


def text(value: str, *, column: str, max_length: int, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidValue(f"{column} is required")
    if len(value) > max_length:
        raise InvalidValue(f"{column} has {len(value)} characters; at most {max_length} are allowed")
    return value


def decimal(
    value: str,
    *,
    column: str,
    decimal_comma: bool,
    max_digits: int,
    decimal_places: int,
    minimum: Decimal | None = None,
    maximum: Decimal | None = None,
) -> Decimal:
    raw = value.strip()
    if not raw:
        raise InvalidValue(f"{column} is required")
    if decimal_comma:
        if not _DECIMAL_COMMA.match(raw):
            raise InvalidValue(
                f"{column} {raw!r} is not a number with a decimal comma (the file was declared to use them); "
                "write it without thousands separators, such as 1234,50"
            )
        raw = raw.replace(",", ".")
    elif "," in raw:
        raise InvalidValue(
            f"{column} {raw!r} contains a comma; write a decimal point, or import with the decimal comma option"
        )
    if "e" in raw or "E" in raw:
        raise InvalidValue(
            f"{column} {raw!r} is in exponent notation; write it as a plain decimal number, such as 1250.50"
        )
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise InvalidValue(f"{column} {raw!r} is not a decimal number") from None
    if not number.is_finite():
        raise InvalidValue(f"{column} {raw!r} is not a finite number")
    exponent = number.as_tuple().exponent
    if exponent < -decimal_places and number != number.quantize(Decimal(1).scaleb(-decimal_places)):
        raise InvalidValue(f"{column} {raw!r} has more than {decimal_places} decimal places")
    if abs(number) >= Decimal(10) ** (max_digits - decimal_places):
        raise InvalidValue(f"{column} {raw!r} is too large; it must be below {10 ** (max_digits - decimal_places)}")
    if minimum is not None and number < minimum:
        raise InvalidValue(f"{column} {raw!r} is below the minimum of {minimum}")
    if maximum is not None and number > maximum:
        raise InvalidValue(f"{column} {raw!r} is above the maximum of {maximum}")
    return number.quantize(Decimal(1).scaleb(-decimal_places)) if exponent < -decimal_places else number


def integer(value: str, *, column: str, minimum: int = 0, maximum: int = 2_147_483_647) -> int:
    raw = value.strip()
    try:
        number = int(raw)
    except ValueError:
        raise InvalidValue(f"{column} {raw!r} is not a whole number") from None
    if not minimum <= number <= maximum:
        raise InvalidValue(f"{column} {raw!r} must be between {minimum} and {maximum}")
    return number


def boolean(value: str, *, column: str, empty: bool) -> bool:
    raw = value.strip().lower()
    if not raw:
        return empty
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise InvalidValue(f"{column} {value.strip()!r} is not a yes/no value; use true or false (or 1 or 0)")


def timestamp(value: str, *, column: str) -> dt.datetime:
    """Parse an ISO 8601 date and time; one without an offset is taken as UTC, a bare date as its midnight UTC."""
    raw = value.strip()
    if not raw:
        raise InvalidValue(f"{column} is required, as an ISO 8601 time such as 2026-03-01T08:00:00Z")
    try:
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidValue(f"{column} {raw!r} is not an ISO 8601 date and time, such as 2026-03-01T08:00:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    if too_far_ahead(parsed):
        raise InvalidValue(
            f"{column} {raw!r} is more than {settings.IMPORT_SOURCE_TIME_MAX_AHEAD_SECONDS} seconds in the future; "
            "send the time the source changed the row, with its UTC offset"
        )
    return parsed


def too_far_ahead(moment: dt.datetime) -> bool:
    """Tell whether an aware source time lies beyond now plus IMPORT_SOURCE_TIME_MAX_AHEAD_SECONDS."""
    return moment > latest_source_time()


def latest_source_time() -> dt.datetime:
    """Return the latest source time accepted now: now plus IMPORT_SOURCE_TIME_MAX_AHEAD_SECONDS, in UTC."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.IMPORT_SOURCE_TIME_MAX_AHEAD_SECONDS)


def date(value: str, *, column: str) -> dt.date | None:
    raw = value.strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidValue(f"{column} {raw!r} is not an ISO 8601 date such as 2026-03-01") from None


def currency(value: str, *, column: str) -> str:
    try:
        return validate_currency(value)
    except InvalidCurrency:
        raise InvalidValue(
            f"{column} {value.strip()!r} is not an ISO 4217 currency code; use a three-letter code such as EUR"
        ) from None


def unspsc(value: str, *, column: str) -> str:
    raw = value.strip()
    if raw and (len(raw) != 8 or not raw.isdigit()):
        raise InvalidValue(f"{column} {raw!r} is not a UNSPSC code; it has exactly eight digits, such as 43211503")
    return raw
