"""The quote state machine's services: submit, approve, reject, send, accept, decline, expire, revise, convert.

Each service checks first (state, conditions, the actor's permission), then
locks the quote row, runs the transition, saves it with the reason, writes a
quote event, and schedules outbound work (the email with the PDF) after
commit. ``actor`` None means the system itself, such as the expiry task or
an API integration acting for the customer, and needs no user permission.
Approving and rejecting always need a person in the approving group.
"""

import datetime as dt
import logging
from functools import partial

from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed, has_transition_perm
from simple_history.utils import bulk_create_with_history

from apps.contracts.selectors import today_utc
from apps.exceptions.errors import ExceptionsError
from apps.exceptions.services import case_resolve
from apps.orders.models import Order
from apps.quotes.configuration import load_configurators
from apps.quotes.errors import (
    InvalidConfiguration,
    InvalidQuoteInput,
    QuoteActionNotPermitted,
    QuoteError,
    QuoteStateConflict,
)
from apps.quotes.models import Quote, QuoteLine, QuoteStatus
from apps.quotes.services import approvals
from apps.quotes.services.common import lock_quote, record_event, save_quote

logger = logging.getLogger(__name__)

# Transitions staff start from the admin, each with its service; approve and reject also run from the queue.
STAFF_TRANSITIONS = ("submit", "approve", "reject", "send", "accept", "decline", "revise", "convert")

_PAST = {
    "submit": "submitted",
    "approve_without_rules": "approved",
    "approve": "approved",
    "reject": "rejected",
    "send": "sent",
    "accept": "accepted",
    "decline": "declined",
    "expire": "expired",
    "revise": "revised",
    "convert": "converted to an order",
}


def check_transition(quote: Quote, name: str, actor) -> None:
    """Raise unless the quote's state and conditions allow the transition and the actor has its permission."""
    method = getattr(quote, name)
    if actor is not None and (not actor.is_authenticated or not actor.is_active):
        raise QuoteActionNotPermitted(f"Only a signed-in active user can change quote {quote.reference}.")
    if not can_proceed(method, check_conditions=False):
        raise QuoteStateConflict(
            f"Quote {quote.reference} is {quote.get_status_display()}; it cannot be {_PAST[name]} now."
        )
    if not can_proceed(method):
        raise QuoteStateConflict(_condition_message(quote, name))
    if actor is not None and not has_transition_perm(method, actor):
        raise QuoteActionNotPermitted(
            f"{actor.get_username()} lacks the permission to have quote {quote.reference} {_PAST[name]}."
        )


def quote_transition(*, quote: Quote, name: str, actor, reason: str = "") -> Quote:
    """Run one of STAFF_TRANSITIONS as the actor; ``reason`` is the note, required to reject or decline."""
    if name not in STAFF_TRANSITIONS:
        raise QuoteStateConflict(f"{name!r} is not a quote transition; use one of {', '.join(STAFF_TRANSITIONS)}.")
    if name == "approve":
        return quote_approve(quote=quote, actor=actor, note=reason)
    if name == "reject":
        return quote_reject(quote=quote, actor=actor, reason=reason)
    if name == "decline":
        return quote_decline(quote=quote, actor=actor, reason=reason)
    if name == "convert":
        quote_convert(quote=quote, actor=actor)
        return Quote.objects.get(pk=quote.pk)
    service = {"submit": quote_submit, "send": quote_send, "accept": quote_accept, "revise": quote_revise}[name]
    return service(quote=quote, actor=actor)


def quote_submit(*, quote: Quote, actor) -> Quote:
    """Submit a draft: with no approval rule applying it is approved at once, else it waits for the approvals.

    The approvals needed are stored on the quote, and the first approving
    group gets an exception case of kind quote approval in its queue.
    """
    with transaction.atomic():
        quote = lock_quote(quote)
        check_transition(quote, "submit", actor)
        _check_configurations(quote)

        requirements = approvals.approvals_required(quote=quote)
        quote.submitted_at = timezone.now()
        if not requirements:
            quote.approve_without_rules()
            quote.status_reason = "Submitted; no approval rule applies"
            save_quote(quote, actor=actor, reason="Submitted", fields=("status", "status_reason", "submitted_at"))
            record_event(quote, "quote.approved", actor=actor, payload={"approvals": []})
            return quote

        quote.submit()
        groups = ", ".join(requirement.group_name for requirement in requirements)
        quote.status_reason = f"Waiting for approval by {groups}"[:300]
        save_quote(quote, actor=actor, reason="Submitted", fields=("status", "status_reason", "submitted_at"))
        approvals.open_approvals(quote=quote, requirements=requirements, actor=actor)
        record_event(quote, "quote.submitted", actor=actor, payload={"groups": groups})
    logger.info("Quote submitted for approval", extra={"quote_id": quote.pk, "groups": groups})
    return quote


def quote_approve(*, quote: Quote, actor, note: str = "") -> Quote:
    """Approve the current approval step as a member of its group; the last step approves the quote.

    The decision resolves the step's exception case, exactly as approving
    from the queue does.
    """
    return _decide_through_case(quote, actor, approve=True, note=note)


def quote_reject(*, quote: Quote, actor, reason: str) -> Quote:
    """Reject the quote at the current approval step, with the reason the sales person reads."""
    if not (reason or "").strip():
        raise InvalidQuoteInput("Give a reason to reject a quote; the sales person reads it before revising.")
    return _decide_through_case(quote, actor, approve=False, note=reason)


def quote_send(*, quote: Quote, actor, email: bool = True) -> Quote:
    """Send an approved quote; with ``email`` it is mailed to the contact with the PDF after commit."""
    from apps.quotes.tasks import send_quote_email

    with transaction.atomic():
        quote = lock_quote(quote)
        check_transition(quote, "send", actor)
        if email and not quote.contact_email:
            raise InvalidQuoteInput(
                f"Quote {quote.reference} has no contact email; add the customer's contact email to send it."
            )

        quote.send()
        quote.sent_at = timezone.now()
        quote.status_reason = f"Sent to {quote.contact_email}" if email else "Sent"
        save_quote(quote, actor=actor, reason="Sent", fields=("status", "status_reason", "sent_at"))

        record_event(quote, "quote.sent", actor=actor, payload={"email": quote.contact_email if email else ""})
        if email:
            transaction.on_commit(partial(send_quote_email.delay, quote.pk))
    return quote


def quote_accept(*, quote: Quote, actor, po_number: str = "", convert: bool = True) -> Quote:
    """Record the customer's acceptance of a sent quote and, with ``convert``, turn it into an order.

    A failed conversion leaves the quote accepted, logs the reason and can be
    retried with ``quote_convert``.
    """
    po_number = (po_number or "").strip()
    if len(po_number) > 64:
        raise InvalidQuoteInput(f"PO number {po_number[:70]!r} is longer than 64 characters.")
    with transaction.atomic():
        quote = lock_quote(quote)
        check_transition(quote, "accept", actor)

        quote.accept()
        quote.answered_at = timezone.now()
        quote.customer_po_number = po_number
        quote.status_reason = "Accepted by the customer" + (f" with PO {po_number}" if po_number else "")
        save_quote(
            quote,
            actor=actor,
            reason="Accepted",
            fields=("status", "status_reason", "answered_at", "customer_po_number"),
        )
        record_event(quote, "quote.accepted", actor=actor, payload={"po_number": po_number})

    if convert:
        try:
            with transaction.atomic():
                quote_convert(quote=quote, actor=actor, check_permission=False)
        except QuoteError as error:
            logger.warning(
                "Accepted quote not converted to an order",
                extra={"quote_id": quote.pk, "code": error.code, "error": error.message},
            )
        quote = Quote.objects.get(pk=quote.pk)
    return quote


def quote_decline(*, quote: Quote, actor, reason: str = "") -> Quote:
    """Record that the customer declined a sent quote, with their reason when they gave one."""
    reason = (reason or "").strip()
    with transaction.atomic():
        quote = lock_quote(quote)
        check_transition(quote, "decline", actor)

        quote.decline()
        quote.answered_at = timezone.now()
        quote.status_reason = ("Declined: " + reason if reason else "Declined by the customer")[:300]
        save_quote(quote, actor=actor, reason="Declined", fields=("status", "status_reason", "answered_at"))

        record_event(quote, "quote.declined", actor=actor, payload={"reason": reason})
    return quote


def quote_expire(*, quote: Quote | int, actor=None) -> Quote:
    """Expire an approved or sent quote whose valid-until date has passed; any other quote stays as it is."""
    with transaction.atomic():
        quote = lock_quote(quote)
        if quote.status not in (QuoteStatus.APPROVED, QuoteStatus.SENT) or quote.valid_until >= today_utc():
            logger.info("Quote no longer due to expire", extra={"quote_id": quote.pk, "status": quote.status})
            return quote
        check_transition(quote, "expire", None)

        quote.expire()
        quote.status_reason = f"Expired after {quote.valid_until.isoformat()}"
        save_quote(quote, actor=actor, reason="Expired", fields=("status", "status_reason"))

        record_event(quote, "quote.expired", actor=actor)
    return quote


def quotes_expire_due(*, batch_size: int = 500) -> int:
    """Expire every approved or sent quote whose valid-until date is before today (UTC); return how many."""
    due = list(
        Quote.objects.filter(status__in=(QuoteStatus.APPROVED, QuoteStatus.SENT), valid_until__lt=today_utc())
        .order_by("valid_until", "id")
        .values_list("pk", flat=True)[:batch_size]
    )
    expired = 0
    for quote_id in due:
        if quote_expire(quote=quote_id).status == QuoteStatus.EXPIRED:
            expired += 1
    logger.info("Due quotes expired", extra={"expired": expired, "checked": len(due)})
    return expired


def quote_revise(*, quote: Quote, actor) -> Quote:
    """Make a new draft version of a rejected or expired quote; the old version keeps its state and figures.

    The new version has the same number and the next version number, a copy
    of the lines with their locked prices, and a valid-until date as far
    from today as the old one was from its price date. When catalog or
    contract prices changed since, the new version shows its prices as out
    of date until a sales person refreshes them.
    """
    with transaction.atomic():
        quote = lock_quote(quote)
        check_transition(quote, "revise", actor)

        quote.revise()
        save_quote(quote, actor=actor, reason="Revised", fields=("is_current_version",))

        validity = max(quote.valid_until - quote.price_date, dt.timedelta(days=1))
        revision = Quote(
            number=quote.number,
            version=quote.version + 1,
            previous_version=quote,
            customer=quote.customer,
            contract=quote.contract,
            sales_person=quote.sales_person,
            crm_opportunity=quote.crm_opportunity,
            currency=quote.currency,
            valid_until=today_utc() + validity,
            price_date=quote.price_date,
            contact_name=quote.contact_name,
            contact_email=quote.contact_email,
            notes=quote.notes,
            terms=quote.terms,
            gross_total=quote.gross_total,
            discount_total=quote.discount_total,
            total=quote.total,
            tax_total=quote.tax_total,
            cost_total=quote.cost_total,
            margin=quote.margin,
            margin_percent=quote.margin_percent,
            status_reason=f"Revised from version {quote.version}",
        )
        save_quote(revision, actor=actor, reason=f"Revised from version {quote.version}")
        copies = [_copy_line(line, revision) for line in quote.lines.order_by("position")]
        bulk_create_with_history(copies, QuoteLine, batch_size=500, default_user=actor)
        record_event(revision, "quote.revised", actor=actor, payload={"previous": quote.reference})
    logger.info("Quote revised", extra={"quote_id": revision.pk, "previous_id": quote.pk})
    return revision


def quote_convert(*, quote: Quote, actor, check_permission: bool = True) -> Order:
    """Turn an accepted quote into an order through order intake, at the quoted prices; return the order.

    Idempotent: a converted quote returns its order, and intake keys the
    document by the quote's reference, so a retry after a lost response makes
    no second order.
    """
    from apps.quotes.services.conversion import take_in_order

    with transaction.atomic():
        quote = lock_quote(quote)
        if quote.status == QuoteStatus.CONVERTED and quote.order_id is not None:
            logger.info("Quote already converted", extra={"quote_id": quote.pk, "order_id": quote.order_id})
            return quote.order
        check_transition(quote, "convert", actor if check_permission else None)

        order = take_in_order(quote)
        quote.convert()
        quote.order = order
        quote.status_reason = f"Converted to order {order.number}"
        save_quote(quote, actor=actor, reason="Converted to an order", fields=("status", "status_reason", "order"))

        record_event(quote, "quote.converted", actor=actor, payload={"order": order.number})
    logger.info("Quote converted to an order", extra={"quote_id": quote.pk, "order_id": order.pk})
    return order


def quote_convert_to_order(*, quote: Quote, order: Order, actor=None) -> Quote:
    """Mark an accepted quote converted to an order that came in through another channel, such as PunchOut.

    The buyer's purchase order refers to the quote's lines and took their
    prices, so no order is made here. Idempotent: a quote already converted
    to this order is returned as it is. A quote converted to another order
    raises QuoteStateConflict.
    """
    with transaction.atomic():
        quote = lock_quote(quote)
        if quote.status == QuoteStatus.CONVERTED and quote.order_id == order.pk:
            return quote
        if quote.status == QuoteStatus.CONVERTED:
            raise QuoteStateConflict(
                f"Quote {quote.reference} was converted to another order already (id {quote.order_id})."
            )
        check_transition(quote, "convert", actor)

        quote.convert()
        quote.order = order
        quote.status_reason = f"Converted to order {order.number} by the buyer's purchase order {order.po_number}"[:300]
        save_quote(
            quote, actor=actor, reason="Converted by a purchase order", fields=("status", "status_reason", "order")
        )
        record_event(
            quote, "quote.converted", actor=actor, payload={"order": order.number, "po_number": order.po_number}
        )
    logger.info("Quote converted by a purchase order", extra={"quote_id": quote.pk, "order_id": order.pk})
    return quote


def _check_configurations(quote: Quote) -> None:
    """Raise InvalidConfiguration when a line's configuration breaks today's rules, which may have changed."""
    lines = list(quote.lines.order_by("position"))
    configurators = load_configurators({line.product_id for line in lines})
    problems, violations = [], []
    for line in lines:
        configurator = configurators.get(line.product_id)
        if configurator is None:
            continue
        check = configurator.check(line.configuration)
        problems += [f"Line {line.position}: {violation.message}" for violation in check.violations]
        violations += check.violations
    if problems:
        raise InvalidConfiguration(
            f"Quote {quote.reference} cannot be submitted: " + " ".join(problems), violations=violations
        )


def _copy_line(line: QuoteLine, quote: Quote) -> QuoteLine:
    copy = QuoteLine(quote=quote)
    for field in QuoteLine._meta.concrete_fields:
        if field.name not in ("id", "quote", "created_at", "updated_at"):
            setattr(copy, field.attname, getattr(line, field.attname))
    return copy


def _decide_through_case(quote: Quote, actor, *, approve: bool, note: str) -> Quote:
    quote = Quote.objects.select_related("customer", "sales_person").get(pk=quote.pk)
    if quote.status != QuoteStatus.PENDING_APPROVAL:
        verb = "approved" if approve else "rejected"
        raise QuoteStateConflict(f"Quote {quote.reference} is {quote.get_status_display()}; it cannot be {verb} now.")
    step = approvals.current_step(quote)
    if step is None:
        raise QuoteStateConflict(f"Quote {quote.reference} has no pending approval; reload it.")
    approvals.check_approver(quote, step, actor)

    case = approvals.case_for(step, actor)
    action = approvals.APPROVE_ACTION if approve else approvals.REJECT_ACTION
    try:
        case_resolve(case=case, action=action, note=note, actor=actor)
    except ExceptionsError as error:
        raise QuoteStateConflict(error.message) from None
    return Quote.objects.get(pk=quote.pk)


def _condition_message(quote: Quote, name: str) -> str:
    if not quote.is_current_version:
        return f"Quote {quote.reference} is an old version; work on the newest version instead."
    if name in ("submit", "approve_without_rules") and not QuoteLine.objects.filter(quote=quote).exists():
        return f"Quote {quote.reference} has no lines; add at least one line before submitting it."
    if name in ("send", "accept"):
        return (
            f"Quote {quote.reference} was valid until {quote.valid_until.isoformat()}; it can no longer be "
            f"{_PAST[name]}. Let it expire and revise it."
        )
    return f"Quote {quote.reference} cannot be {_PAST[name]} now."
