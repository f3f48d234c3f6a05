"""Reusable reads of quotes: by reference, my quotes, waiting for my approval, out-of-date prices, version changes."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Exists, OuterRef, QuerySet

from apps.contracts.selectors import today_utc
from apps.quotes.errors import QuoteNotFound
from apps.quotes.models import ApprovalStatus, Quote, QuoteApproval, QuoteStatus
from apps.quotes.pricing import LineRequest, price_quote_lines

# Header fields compared between two versions of a quote, in display order.
COMPARED_FIELDS = (
    "status",
    "valid_until",
    "price_date",
    "contract",
    "crm_opportunity",
    "contact_name",
    "contact_email",
    "notes",
    "terms",
    "gross_total",
    "discount_total",
    "total",
    "margin_percent",
)
COMPARED_LINE_FIELDS = (
    "quantity",
    "configuration",
    "list_price",
    "contract_price",
    "adders",
    "discount_percent",
    "net_price",
    "line_total",
    "margin_percent",
)


@dataclass(frozen=True)
class StalePrice:
    """A locked price of a line that differs from what the catalog and contract give today."""

    position: int
    sku: str
    field: str
    quoted: Decimal | None
    current: Decimal | None


def quote_by_reference(reference: str, *, queryset: QuerySet[Quote] | None = None) -> Quote:
    """Return the version a reference names (``QT-…-V2``), or the newest version of a bare quote number.

    ``queryset`` narrows the search, such as to the customers an API key may see.
    """
    reference = (reference or "").strip()
    quotes = queryset if queryset is not None else Quote.objects.all()
    number, separator, version = reference.rpartition("-V")
    if separator and version.isdigit():
        quote = quotes.filter(number=number, version=int(version)).first()
    else:
        quote = quotes.filter(number=reference, is_current_version=True).first()
    if quote is None:
        raise QuoteNotFound(f"No quote has the number or reference {reference!r}.")
    return quote


def my_quotes(user) -> QuerySet[Quote]:
    """Return the newest versions of the user's own quotes."""
    return Quote.objects.filter(sales_person=user, is_current_version=True)


def quotes_awaiting_approval_by(user) -> QuerySet[Quote]:
    """Return the quotes whose next approval step is for one of the user's groups, except the user's own."""
    group_ids = list(user.groups.values_list("pk", flat=True))
    earlier_pending = QuoteApproval.objects.filter(
        quote=OuterRef("quote"), status=ApprovalStatus.PENDING, sequence__lt=OuterRef("sequence")
    )
    current_steps = QuoteApproval.objects.filter(
        quote=OuterRef("pk"), status=ApprovalStatus.PENDING, group_id__in=group_ids
    ).exclude(Exists(earlier_pending))
    return (
        Quote.objects.filter(status=QuoteStatus.PENDING_APPROVAL)
        .exclude(sales_person=user)
        .filter(Exists(current_steps))
    )


def stale_prices(quote: Quote) -> list[StalePrice]:
    """Compare each line's locked list price, contract price and adders with today's; return the differences.

    A line that cannot be priced today (an inactive product or option) is
    reported with an empty current price.
    """
    lines = list(quote.lines.order_by("position"))
    if not lines:
        return []
    requests = [
        LineRequest(product=line.product_id, quantity=line.quantity, configuration=line.configuration) for line in lines
    ]
    current = price_quote_lines(customer=quote.customer, currency=quote.currency, lines=requests, on_date=today_utc())
    stale = []
    for line, priced in zip(lines, current, strict=True):
        for field in ("list_price", "contract_price", "adders"):
            now = getattr(priced, field) if priced.ok else None
            if getattr(line, field) != now:
                stale.append(StalePrice(line.position, line.sku, field, getattr(line, field), now))
    return stale


def version_changes(older: Quote, newer: Quote) -> dict:
    """Return what changed from one version to another: header fields, and lines added, removed or changed.

    Lines are matched by position, which a revision copies.
    """
    header = [
        (name, getattr(older, name), getattr(newer, name))
        for name in COMPARED_FIELDS
        if getattr(older, name) != getattr(newer, name)
    ]
    old_lines = {line.position: line for line in older.lines.all()}
    new_lines = {line.position: line for line in newer.lines.all()}
    added = [new_lines[position] for position in sorted(new_lines.keys() - old_lines.keys())]
    removed = [old_lines[position] for position in sorted(old_lines.keys() - new_lines.keys())]
    changed = []
    for position in sorted(old_lines.keys() & new_lines.keys()):
        old, new = old_lines[position], new_lines[position]
        fields = [
            (name, getattr(old, name), getattr(new, name))
            for name in ("sku", *COMPARED_LINE_FIELDS)
            if getattr(old, name) != getattr(new, name)
        ]
        if fields:
            changed.append((new, fields))
    return {"header": header, "added": added, "removed": removed, "changed": changed}
