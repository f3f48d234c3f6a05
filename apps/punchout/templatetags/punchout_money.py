"""Template filter that shows money amounts in the PunchOut shop."""

from decimal import Decimal, InvalidOperation

from django import template

from apps.core.money import format_amount

register = template.Library()


@register.filter
def money(amount: object, currency: str) -> str:
    """Format an amount with its currency code, such as "48.05 EUR".

    The amount shows the currency's minor units (2 for EUR, 0 for JPY), or
    more decimals when the stored value has more significant ones, so a
    price of 0.0125 EUR stays 0.0125. Trailing zeros beyond the minor units
    are dropped (48.0500 shows as 48.05). Nothing is rounded.
    """
    if amount is None or amount == "":
        return ""
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except InvalidOperation:
        return f"{amount} {currency}".strip()
    if not value.is_finite():
        return f"{value} {currency}".strip()
    return f"{format_amount(value, currency)} {currency}".strip()
