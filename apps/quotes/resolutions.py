"""Resolution actions of quote-approval cases, registered with the exceptions app.

Approving or rejecting from the exception queue resolves the case, and the
action records the group's decision on the quote in the same transaction.
A quote-approval case cannot be dismissed, because that would leave the
quote waiting with no approver asked to decide.
"""

from apps.exceptions.errors import ResolutionFailed
from apps.exceptions.models import CaseKind, CaseState
from apps.exceptions.registry import register_close_handler, register_resolution
from apps.quotes.errors import QuoteError
from apps.quotes.services.approvals import APPROVE_ACTION, REJECT_ACTION, decide


def register() -> None:
    """Register the approve and reject actions and the close handler; called once from ``QuotesConfig.ready``."""
    register_resolution(
        CaseKind.QUOTE_APPROVAL,
        APPROVE_ACTION,
        "Approve the quote",
        describe=lambda case: (
            f"Approves quote {case.facts.get('quote')} for {case.facts.get('approving_group')}: "
            f"{case.facts.get('total')} {case.facts.get('currency')}. The next approving group is asked, "
            "or the quote becomes approved."
        ),
        perform=_approve,
    )
    register_resolution(
        CaseKind.QUOTE_APPROVAL,
        REJECT_ACTION,
        "Reject the quote",
        describe=lambda case: (
            f"Rejects quote {case.facts.get('quote')} with your note as the reason; the sales person can revise it."
        ),
        perform=_reject,
    )
    register_close_handler("quotes.quote", _block_dismissal)


def _approve(case, actor, note) -> None:
    _decide(case, actor, note, approve=True)


def _reject(case, actor, note) -> None:
    _decide(case, actor, note, approve=False)


def _decide(case, actor, note, *, approve: bool) -> None:
    approval_id = case.facts.get("approval_id")
    if not isinstance(approval_id, int):
        raise ResolutionFailed(f"Case {case.pk} names no quote approval, so it cannot decide one.")
    try:
        decide(approval_id=approval_id, actor=actor, approve=approve, note=note)
    except QuoteError as error:
        raise ResolutionFailed(error.message) from None


def _block_dismissal(case, actor) -> None:
    if case.kind == CaseKind.QUOTE_APPROVAL and case.state == CaseState.DISMISSED:
        raise ResolutionFailed(
            f"Case {case.pk} asks for a quote approval; resolve it with Approve the quote or Reject the quote "
            "instead of dismissing it."
        )
