"""Approval services: open the approvals a quote needs, record decisions, and re-check approvals after an edit.

Each pending approval is one group's decision. Only the first pending step
(lowest ``sequence``) has an exception case of kind quote approval, routed
to that group, so approvers work from the same queue as every other case.
Approving or rejecting, from the quote or from the queue, resolves that
case through ``case_resolve``, whose registered action calls ``decide``.
"""

import logging
from decimal import Decimal

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from apps.exceptions.models import CaseKind, ExceptionCase
from apps.exceptions.services import case_open
from apps.quotes import approvals as rules
from apps.quotes.errors import InvalidQuoteInput, QuoteActionNotPermitted, QuoteStateConflict
from apps.quotes.models import ApprovalStatus, Quote, QuoteApproval, QuoteStatus
from apps.quotes.services.common import lock_quote, record_event, save_quote

logger = logging.getLogger(__name__)

_PERCENT_STEP = Decimal("0.01")

APPROVE_ACTION = "approve_quote"
REJECT_ACTION = "reject_quote"


def approvals_required(*, quote: Quote) -> list[rules.Requirement]:
    """Return the approvals the quote's current figures need under the active rules, in order."""
    return rules.evaluate(quote, list(quote.lines.all()), rules.load_rules())


def current_step(quote: Quote) -> QuoteApproval | None:
    """Return the pending approval to be decided next, or None."""
    return (
        quote.approvals.filter(status=ApprovalStatus.PENDING)
        .select_related("group", "case")
        .order_by("sequence", "id")
        .first()
    )


def open_approvals(*, quote: Quote, requirements: list[rules.Requirement], actor) -> list[QuoteApproval]:
    """Create a pending approval per requirement and open the case of the first; the quote is locked."""
    created = []
    for requirement in requirements:
        approval = QuoteApproval(
            quote=quote,
            sequence=requirement.sequence,
            group_id=requirement.group_id,
            findings=list(requirement.findings),
        )
        approval._history_user = actor
        approval._change_reason = "Approval needed"
        approval.save()
        created.append(approval)
    first = current_step(quote)
    if first is not None:
        _open_case(quote, first, actor)
    return created


def approvals_after_change(*, quote: Quote, actor) -> None:
    """Keep the approvals an approved quote's new figures are covered by, and ask again for the others.

    The quote is locked by the caller. When some group must approve again,
    its earlier approval is superseded, a new pending approval is opened and
    the quote goes back to pending approval. A draft is checked on submit.
    """
    if quote.status != QuoteStatus.APPROVED:
        return
    requirements = approvals_required(quote=quote)
    approved_by_group: dict[int, list[dict]] = {}
    for approval in quote.approvals.filter(status=ApprovalStatus.APPROVED):
        approved_by_group.setdefault(approval.group_id, []).extend(approval.findings)

    needed = []
    for requirement in requirements:
        missing = rules.uncovered(requirement.findings, approved_by_group.get(requirement.group_id, []))
        if missing:
            needed.append(requirement)
    if not needed:
        logger.info("Quote change keeps its approvals", extra={"quote_id": quote.pk})
        return

    superseded = quote.approvals.filter(
        status=ApprovalStatus.APPROVED, group_id__in=[requirement.group_id for requirement in needed]
    )
    for approval in superseded:
        approval.status = ApprovalStatus.SUPERSEDED
        approval._history_user = actor
        approval._change_reason = "The approved figures changed"
        approval.save(update_fields=["status", "updated_at"])
    quote.require_approval()
    groups = ", ".join(requirement.group_name for requirement in needed)
    quote.status_reason = f"Changed after approval; needs approval again by {groups}"[:300]
    save_quote(quote, actor=actor, reason="Approval needed again", fields=("status", "status_reason"))
    open_approvals(quote=quote, requirements=needed, actor=actor)
    record_event(quote, "quote.approval_required", actor=actor, payload={"groups": groups})
    logger.info("Quote needs approval again", extra={"quote_id": quote.pk, "groups": groups})


def check_approver(quote: Quote, approval: QuoteApproval, actor) -> None:
    """Raise unless the actor may decide this approval: signed in, permitted, in its group, not the quote's owner."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        raise QuoteActionNotPermitted(f"Only a signed-in active user can approve or reject quote {quote.reference}.")
    if actor.pk == quote.sales_person_id:
        raise QuoteActionNotPermitted(
            f"{actor.get_username()} is the sales person of quote {quote.reference} and cannot approve or reject "
            "their own quote; a colleague in the approving group decides."
        )
    if not actor.has_perm("quotes.approve_quote"):
        raise QuoteActionNotPermitted(f"{actor.get_username()} lacks the permission to approve or reject quotes.")
    if not actor.groups.filter(pk=approval.group_id).exists():
        raise QuoteActionNotPermitted(
            f"Quote {quote.reference} waits for the approval of {approval.group.name}, and "
            f"{actor.get_username()} is not in that group."
        )


def decide(*, approval_id: int, actor, approve: bool, note: str) -> Quote:
    """Record one group's decision on a pending approval and move the quote on; runs inside the case resolution.

    An approval opens the case of the next pending step, or approves the
    quote after the last. A rejection needs a reason, rejects the quote and
    cancels the later steps.
    """
    note = (note or "").strip()
    if not approve and not note:
        raise InvalidQuoteInput("Give a reason to reject a quote; the sales person reads it before revising.")
    approval = QuoteApproval.objects.select_related("group").filter(pk=approval_id).first()
    if approval is None:
        raise QuoteStateConflict(f"Approval {approval_id} no longer exists; reload the quote.")
    quote = lock_quote(approval.quote_id)
    approval = QuoteApproval.objects.select_for_update().select_related("group").get(pk=approval_id)
    if quote.status != QuoteStatus.PENDING_APPROVAL or approval.status != ApprovalStatus.PENDING:
        raise QuoteStateConflict(
            f"Quote {quote.reference} is {quote.get_status_display()} and this approval is "
            f"{approval.get_status_display()}; there is nothing to decide now."
        )
    step = current_step(quote)
    if step is not None and step.pk != approval.pk:
        raise QuoteStateConflict(
            f"Quote {quote.reference} waits for {step.group.name} first; {approval.group.name} decides after."
        )
    check_approver(quote, approval, actor)

    approval.status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
    approval.decided_by = actor
    approval.decided_at = timezone.now()
    approval.note = note
    approval._history_user = actor
    approval._change_reason = f"{approval.get_status_display().capitalize()} by {actor.get_username()}"[:100]
    approval.save(update_fields=["status", "decided_by", "decided_at", "note", "updated_at"])

    if not approve:
        _reject(quote, approval, actor, note)
    else:
        following = current_step(quote)
        if following is not None:
            _open_case(quote, following, actor)
            record_event(
                quote,
                "quote.approval_given",
                actor=actor,
                payload={"group": approval.group.name, "next": following.group.name},
            )
        else:
            quote.approve()
            quote.status_reason = f"Approved by {actor.get_username()}" + (f": {note}" if note else "")
            quote.status_reason = quote.status_reason[:300]
            save_quote(quote, actor=actor, reason="Approved", fields=("status", "status_reason"))
            record_event(quote, "quote.approved", actor=actor)
    logger.info(
        "Quote approval decided",
        extra={"quote_id": quote.pk, "approval_id": approval.pk, "approved": approve, "status": quote.status},
    )
    return quote


def _reject(quote: Quote, approval: QuoteApproval, actor, note: str) -> None:
    later = quote.approvals.filter(status=ApprovalStatus.PENDING).exclude(pk=approval.pk)
    for other in later:
        other.status = ApprovalStatus.CANCELLED
        other._history_user = actor
        other._change_reason = f"Cancelled: rejected by {approval.group.name}"[:100]
        other.save(update_fields=["status", "updated_at"])
    quote.reject()
    quote.status_reason = f"Rejected by {actor.get_username()}: {note}"[:300]
    save_quote(quote, actor=actor, reason="Rejected", fields=("status", "status_reason"))
    record_event(quote, "quote.rejected", actor=actor, payload={"reason": note})


def _open_case(quote: Quote, approval: QuoteApproval, actor) -> ExceptionCase:
    """Open (or return) the quote-approval case of one step, routed to the step's group."""
    group = approval.group if isinstance(approval.group, Group) else Group.objects.get(pk=approval.group_id)
    summary = "; ".join(finding["message"] for finding in approval.findings) or "Approval needed"
    case = case_open(
        kind=CaseKind.QUOTE_APPROVAL,
        concerning=quote,
        customer=quote.customer,
        facts={
            "quote": quote.reference,
            "approval_id": approval.pk,
            "step": approval.sequence,
            "approving_group": group.name,
            "sales_person": quote.sales_person.get_username(),
            "total": quote.total,
            "currency": quote.currency,
            "discount_percent": _rounded(quote.discount_percent),
            "margin_percent": quote.margin_percent,
            "findings": [
                {"rule": finding["rule_name"], "line": finding["line"], "figure": finding["figure"]}
                for finding in approval.findings
            ],
        },
        summary=f"Quote {quote.reference} needs {group.name} approval: {summary}"[:300],
        cause_key=f"approval:{approval.pk}",
        reference=quote.reference[:64],
        order_value=quote.total,
        currency=quote.currency,
        region=quote.customer.region or None,
        team=group,
        actor=actor,
    )
    if approval.case_id != case.pk:
        approval.case = case
        approval.save(update_fields=["case", "updated_at"])
    return case


def case_for(approval: QuoteApproval, actor) -> ExceptionCase:
    """Return the approval's active case, opening it again when someone closed it meanwhile."""
    case = approval.case
    if case is not None and case.is_active:
        return case
    with transaction.atomic():
        return _open_case(approval.quote, approval, actor)


def _rounded(value):
    return None if value is None else value.quantize(_PERCENT_STEP)
