"""Create quotes and change their header and lines; every change prices the lines again and stores the totals.

A quote can change only in draft or approved state and only in its newest
version. Prices are locked. Changing a line's quantity, configuration or
discount keeps its list and contract price and the prices of the options it
had, and an option chosen anew is priced on the quote's ``price_date``. Only
``quote_refresh_prices`` moves the quote to today's prices. A change to an
approved quote goes through ``approvals_after_change``, which keeps the
approvals that still cover the new figures and requests the others again.
"""

import datetime as dt
import logging
import secrets
from collections.abc import Sequence
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from apps.catalog.models import Product
from apps.contracts.models import Contract, Customer
from apps.contracts.selectors import active_contract_for, today_utc
from apps.core.money import InvalidCurrency, validate_currency
from apps.quotes.errors import (
    InvalidConfiguration,
    InvalidQuoteInput,
    QuoteActionNotPermitted,
    QuoteLineUnpriced,
    QuoteStateConflict,
)
from apps.quotes.models import Quote, QuoteLine
from apps.quotes.pricing import (
    LineRequest,
    PricedQuoteLine,
    keep_locked_prices,
    price_quote_lines,
    quote_tax,
    quote_totals,
)
from apps.quotes.services.common import lock_quote, record_event, save_quote

logger = logging.getLogger(__name__)

# Days a new quote stays open for acceptance unless the sales person sets a date and the
# QUOTE_VALIDITY_DAYS setting is missing.
DEFAULT_VALIDITY_DAYS = 30

# Header fields that ``quote_update`` changes; none of them is a figure an approval depends on.
HEADER_FIELDS = ("valid_until", "crm_opportunity", "contact_name", "contact_email", "notes", "terms")

_NOT_GIVEN = object()

_LINE_PRICE_FIELDS = (
    "sku",
    "description",
    "quantity",
    "configuration",
    "configuration_detail",
    "list_price",
    "contract_price",
    "price_source",
    "adders",
    "discount_percent",
    "discount_amount",
    "net_price",
    "line_total",
    "unit_cost",
    "cost_total",
    "margin",
    "margin_percent",
)
_TOTAL_FIELDS = ("gross_total", "discount_total", "total", "cost_total", "margin", "margin_percent", "tax_total")


def quote_create(
    *,
    actor,
    customer: Customer,
    lines: Sequence[LineRequest] = (),
    sales_person=None,
    valid_until: dt.date | None = None,
    crm_opportunity: str = "",
    contact_name: str = "",
    contact_email: str = "",
    notes: str = "",
    terms: str = "",
) -> Quote:
    """Create a draft quote, version 1, for the customer at today's prices under the contract in force.

    ``sales_person`` defaults to the actor; a system call (actor None, such as
    an API request) must name one. Raises InvalidQuoteInput, QuoteLineUnpriced
    or InvalidConfiguration naming every line that cannot be quoted, in which
    case nothing is created.
    """
    _check_perm(actor, "quotes.add_quote", "create quotes")
    sales_person = sales_person or actor
    if sales_person is None:
        raise InvalidQuoteInput("A quote needs a sales person; pass sales_person when no user is acting.")
    check_new_quote(customer=customer, valid_until=valid_until)
    today = today_utc()
    valid_until = valid_until or today + dt.timedelta(days=_validity_days())
    contract = active_contract_for(customer=customer, on_date=today)
    currency = _currency(customer, contract)

    with transaction.atomic():
        quote = Quote(
            number=_new_number(),
            customer=customer,
            contract=contract,
            sales_person=sales_person,
            currency=currency,
            valid_until=valid_until,
            price_date=today,
            crm_opportunity=crm_opportunity.strip(),
            contact_name=contact_name.strip(),
            contact_email=contact_email.strip(),
            notes=notes,
            terms=terms,
            status_reason="Created",
        )
        priced = _priced_or_raise(quote, lines, first_position=1)
        _apply_totals(quote, priced)
        save_quote(quote, actor=actor, reason="Created")
        new_lines = [_new_line(quote, position, line) for position, line in enumerate(priced, start=1)]
        bulk_create_with_history(new_lines, QuoteLine, batch_size=500, default_user=actor)
        record_event(quote, "quote.created", actor=actor)
    logger.info("Quote created", extra={"quote_id": quote.pk, "quote": quote.reference, "lines": len(new_lines)})
    return quote


def check_new_quote(*, customer: Customer | None, valid_until: dt.date | None) -> None:
    """Raise InvalidQuoteInput unless a quote can be created for the customer with this valid-until date."""
    if customer is None or customer.pk is None or not customer.is_active:
        raise InvalidQuoteInput(f"Customer {customer} is not an active customer; choose an active customer.")
    if valid_until is not None:
        check_valid_until(valid_until)


def check_valid_until(valid_until: object) -> None:
    """Raise InvalidQuoteInput unless ``valid_until`` is a date from today (UTC) on."""
    today = today_utc()
    if not isinstance(valid_until, dt.date) or isinstance(valid_until, dt.datetime):
        raise InvalidQuoteInput(f"Valid until {valid_until!r} is not a date; pass a date such as 2026-12-31.")
    if valid_until < today:
        raise InvalidQuoteInput(
            f"Valid until {valid_until.isoformat()} is in the past; choose today ({today.isoformat()}) or later."
        )


def quote_update(*, quote: Quote, actor, **changes) -> Quote:
    """Change header fields (see HEADER_FIELDS) of an editable quote; approvals stay, as no figure changes."""
    unknown = sorted(set(changes) - set(HEADER_FIELDS))
    if unknown:
        raise InvalidQuoteInput(f"Fields {', '.join(unknown)} cannot be changed here; change one of {HEADER_FIELDS}.")
    _check_perm(actor, "quotes.change_quote", "change quotes")
    with transaction.atomic():
        quote = lock_quote(quote)
        _check_editable(quote, actor)
        if "valid_until" in changes:
            check_valid_until(changes["valid_until"])
        changed = []
        for name, value in changes.items():
            value = value.strip() if isinstance(value, str) and name != "notes" and name != "terms" else value
            if getattr(quote, name) != value:
                setattr(quote, name, value)
                changed.append(name)
        if changed:
            save_quote(quote, actor=actor, reason=f"Changed {', '.join(changed)}", fields=tuple(changed))
    return quote


def quote_add_line(
    *,
    quote: Quote,
    actor,
    product: Product | int,
    quantity: Decimal | int | str,
    configuration: object = None,
    discount_percent: Decimal | int | str = Decimal(0),
) -> QuoteLine:
    """Add a line priced at the quote's price date, then store the totals and check the approvals again."""
    _check_perm(actor, "quotes.change_quote", "change quotes")
    with transaction.atomic():
        quote = lock_quote(quote)
        _check_editable(quote, actor)
        position = (quote.lines.order_by("-position").values_list("position", flat=True).first() or 0) + 1
        request = LineRequest(
            product=product, quantity=quantity, configuration=configuration, discount_percent=discount_percent
        )
        (priced,) = _priced_or_raise(quote, [request], first_position=position)
        line = _new_line(quote, position, priced)
        line._history_user = actor
        line._change_reason = "Added"
        line.save()
        _after_lines_changed(quote, actor, reason=f"Line {position} added")
    return line


def quote_change_line(
    *,
    line: QuoteLine,
    actor,
    quantity: object = _NOT_GIVEN,
    configuration: object = _NOT_GIVEN,
    discount_percent: object = _NOT_GIVEN,
) -> QuoteLine:
    """Change a line's quantity, configuration or manual discount and price it again at the quote's price date."""
    _check_perm(actor, "quotes.change_quote", "change quotes")
    with transaction.atomic():
        quote = lock_quote(line.quote_id)
        _check_editable(quote, actor)
        line = QuoteLine.objects.select_for_update().get(pk=line.pk, quote=quote)
        request = LineRequest(
            product=line.product_id,
            quantity=line.quantity if quantity is _NOT_GIVEN else quantity,
            configuration=line.configuration if configuration is _NOT_GIVEN else configuration,
            discount_percent=line.discount_percent if discount_percent is _NOT_GIVEN else discount_percent,
        )
        (priced,) = _priced_or_raise(quote, [request], first_position=line.position)
        changed = _fill_line(line, keep_locked_prices(priced, line, quote.currency))
        if not changed:
            return line
        line._history_user = actor
        # History reasons hold 100 characters; the changed fields are in the history row anyway.
        line._change_reason = f"Changed {', '.join(changed)}"[:100]
        line.save()
        _after_lines_changed(quote, actor, reason=f"Line {line.position} changed")
    return line


def quote_remove_line(*, line: QuoteLine, actor) -> None:
    """Remove a line from an editable quote and store the new totals."""
    _check_perm(actor, "quotes.change_quote", "change quotes")
    with transaction.atomic():
        quote = lock_quote(line.quote_id)
        _check_editable(quote, actor)
        line = QuoteLine.objects.select_for_update().filter(pk=line.pk, quote=quote).first()
        if line is None:
            return
        position = line.position
        line._history_user = actor
        line._change_reason = "Removed"
        line.delete()
        _after_lines_changed(quote, actor, reason=f"Line {position} removed")


def quote_refresh_prices(*, quote: Quote, actor) -> Quote:
    """Price every line again at today's catalog and contract prices, keeping quantities, options and discounts.

    The contract in force today replaces the quote's, as its prices are the
    ones now used. Raises like ``quote_create`` when a line can no longer be
    quoted (such as a discontinued option), and then changes nothing.
    """
    _check_perm(actor, "quotes.change_quote", "change quotes")
    with transaction.atomic():
        quote = lock_quote(quote)
        _check_editable(quote, actor)
        today = today_utc()
        contract = active_contract_for(customer=quote.customer, on_date=today)
        if _currency(quote.customer, contract) != quote.currency:
            raise QuoteStateConflict(
                f"Today's prices for {quote.customer.account_number} are in another currency than quote "
                f"{quote.reference} ({quote.currency}); create a new quote instead."
            )
        lines = list(quote.lines.select_for_update().order_by("position"))
        requests = [_request_from(line) for line in lines]
        quote.price_date = today
        quote.contract = contract
        quote.prices_out_of_date_since = None
        priced = _priced_or_raise(quote, requests, first_position=1, positions=[line.position for line in lines])
        for line, priced_line in zip(lines, priced, strict=True):
            if _fill_line(line, priced_line):
                line._history_user = actor
                line._change_reason = "Prices refreshed"
                line.save()
        save_quote(
            quote, actor=actor, reason="Prices refreshed", fields=("price_date", "contract", "prices_out_of_date_since")
        )
        _after_lines_changed(quote, actor, reason="Prices refreshed")
    return quote


def price_requests(quote: Quote, requests: Sequence[LineRequest]) -> list[PricedQuoteLine]:
    """Price line requests for the quote's customer in its currency at its price date, without saving."""
    return price_quote_lines(customer=quote.customer, currency=quote.currency, lines=requests, on_date=quote.price_date)


def _priced_or_raise(
    quote: Quote, requests: Sequence[LineRequest], *, first_position: int, positions: Sequence[int] | None = None
) -> list[PricedQuoteLine]:
    priced = price_requests(quote, requests)
    positions = positions or range(first_position, first_position + len(priced))
    problems = []
    violations = []
    for position, line in zip(positions, priced, strict=True):
        for problem in line.problems():
            problems.append(f"Line {position}: {problem}")
        violations += line.violations
    if not problems:
        return priced
    message = " ".join(problems[:10]) + (f" … and {len(problems) - 10} more." if len(problems) > 10 else "")
    if violations:
        raise InvalidConfiguration(message, violations=violations)
    if any(line.unpriced for line in priced):
        raise QuoteLineUnpriced(message)
    raise InvalidQuoteInput(message)


def _after_lines_changed(quote: Quote, actor, *, reason: str) -> None:
    """Store the totals of the quote's lines, and on an approved quote check which approvals still hold."""
    from apps.quotes.services.approvals import approvals_after_change

    lines = list(quote.lines.select_related("product"))
    _apply_totals(quote, lines)
    save_quote(quote, actor=actor, reason=reason, fields=_TOTAL_FIELDS)
    approvals_after_change(quote=quote, actor=actor)


def _apply_totals(quote: Quote, lines: Sequence) -> None:
    tax = quote_tax(customer=quote.customer, lines=lines, currency=quote.currency, on_date=quote.price_date)
    totals = quote_totals(lines, quote.currency, tax=tax)
    for name in _TOTAL_FIELDS:
        setattr(quote, name, getattr(totals, name))


def _new_line(quote: Quote, position: int, priced: PricedQuoteLine) -> QuoteLine:
    line = QuoteLine(quote=quote, position=position, product=priced.product)
    _fill_line(line, priced)
    return line


def _fill_line(line: QuoteLine, priced: PricedQuoteLine) -> list[str]:
    """Copy the priced figures onto the line; return the names of the fields whose value changed."""
    values = {
        "sku": priced.product.sku,
        "description": priced.description,
        "quantity": priced.quantity,
        "configuration": priced.configuration,
        "configuration_detail": _json_ready(priced.configuration_detail),
        "list_price": priced.list_price,
        "contract_price": priced.contract_price,
        "price_source": priced.price_source,
        "adders": priced.adders,
        "discount_percent": priced.discount_percent,
        "discount_amount": priced.discount_amount,
        "net_price": priced.net_price,
        "line_total": priced.line_total,
        "unit_cost": priced.unit_cost,
        "cost_total": priced.cost_total,
        "margin": priced.margin,
        "margin_percent": priced.margin_percent,
    }
    changed = []
    for name in _LINE_PRICE_FIELDS:
        if getattr(line, name) != values[name]:
            setattr(line, name, values[name])
            changed.append(name)
    return changed


def _json_ready(detail: list[dict]) -> list[dict]:
    """Write Decimal amounts as strings, so that a stored detail compares equal to a freshly priced one."""
    return [
        {key: (str(value) if isinstance(value, Decimal) else value) for key, value in item.items()} for item in detail
    ]


def _request_from(line: QuoteLine) -> LineRequest:
    return LineRequest(
        product=line.product_id,
        quantity=line.quantity,
        configuration=line.configuration,
        discount_percent=line.discount_percent,
    )


def _check_perm(actor, permission: str, what: str) -> None:
    if actor is None:
        return
    if not actor.is_authenticated or not actor.is_active:
        raise QuoteActionNotPermitted(f"Only a signed-in active user can {what}.")
    if not actor.has_perm(permission):
        raise QuoteActionNotPermitted(f"{actor.get_username()} lacks the permission to {what}.")


def _check_editable(quote: Quote, actor) -> None:
    if not quote.is_current_version:
        raise QuoteStateConflict(
            f"Quote {quote.reference} is an old version and is kept as it was; change the newest version."
        )
    if not quote.is_editable:
        raise QuoteStateConflict(
            f"Quote {quote.reference} is {quote.get_status_display()}; only draft and approved quotes can change. "
            "Revise a rejected or expired quote to change it."
        )


def _currency(customer: Customer, contract: Contract | None) -> str:
    code = contract.currency if contract is not None else customer.currency
    try:
        return validate_currency(code)
    except InvalidCurrency as error:
        raise InvalidQuoteInput(str(error)) from None


def _validity_days() -> int:
    return int(getattr(settings, "QUOTE_VALIDITY_DAYS", DEFAULT_VALIDITY_DAYS))


def _new_number() -> str:
    """Return a quote number such as QT-261204-9F3A61C2: the UTC date and 32 random bits."""
    return f"QT-{timezone.now():%y%m%d}-{secrets.token_hex(4).upper()}"
