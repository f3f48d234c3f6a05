"""Quoted prices of order lines that refer to a quote line, supplied by the app that owns quotes.

Orders do not import quotes (quotes call orders to convert). The quotes
app registers a matcher in its ``AppConfig.ready``. Validation gets each
line's quoted price from the matcher. Intake passes it every new or changed
order after saving, so that the matched quotes are converted to that order.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class QuotedPrice:
    """The quote line an order line refers to, and its agreed unit price.

    ``problem`` is set when the line names a quote whose price the order
    cannot take, such as a quote converted to another order. The line is then
    priced as any other, and the problem is the reason of its price case.
    """

    reference: str
    position: int
    unit_price: Decimal | None
    currency: str
    problem: str = ""


class QuoteMatcher(Protocol):
    def quoted_prices(self, *, order, lines: list) -> dict[int, QuotedPrice]:
        """Return the quoted price of each line that refers to a quote line, keyed by the line's position."""

    def order_taken_in(self, *, order, lines: list) -> None:
        """Convert the quotes that the saved order's lines take their prices from."""


_matchers: list[QuoteMatcher] = []


def register_quote_matcher(matcher: QuoteMatcher) -> None:
    """Add a matcher once; a second matcher of the same class is ignored."""
    if not any(type(known) is type(matcher) for known in _matchers):
        _matchers.append(matcher)


def quoted_prices(*, order, lines: list) -> dict[int, QuotedPrice]:
    """Return the quoted price of each line that refers to a quote line, keyed by the line's position."""
    prices: dict[int, QuotedPrice] = {}
    for matcher in _matchers:
        prices.update(matcher.quoted_prices(order=order, lines=lines))
    return prices


def order_taken_in(*, order, lines: list) -> None:
    """Tell every matcher that the order and its lines are saved."""
    for matcher in _matchers:
        matcher.order_taken_in(order=order, lines=lines)
