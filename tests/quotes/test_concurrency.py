"""Quote transitions under concurrency, on PostgreSQL, where the quote's row lock really blocks."""

import pytest

from apps.exceptions.models import CaseKind, ExceptionCase
from apps.quotes.errors import QuoteError
from apps.quotes.models import ApprovalStatus, Quote, QuoteEvent, QuoteStatus
from apps.quotes.services import quote_approve, quote_send, quote_submit
from tests.orders.test_concurrency import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_managers_approving_at_once_decide_once(approval_rules, make_quote, chair, sales, manager):
    # Given: a quote waiting for a sales manager, and a second manager
    from tests.quotes.conftest import _staff

    second = _staff("quote-manager-2", "sales-manager")
    quote = quote_submit(quote=make_quote((chair, 1, "15")), actor=sales)
    managers = [manager, second]

    # When: both approve at the same moment
    outcomes = run_threads(2, lambda index: quote_approve(quote=Quote.objects.get(pk=quote.pk), actor=managers[index]))

    # Then: one decision is recorded and the other is refused as a conflict
    errors = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert len(errors) == 1
    assert isinstance(errors[0], QuoteError)
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.APPROVED
    assert quote.approvals.filter(status=ApprovalStatus.APPROVED).count() == 1
    assert QuoteEvent.objects.filter(quote=quote, event="quote.approved").count() == 1
    assert ExceptionCase.objects.get(kind=CaseKind.QUOTE_APPROVAL).state == "resolved"


def test_sending_twice_at_once_sends_once(make_quote, chair, sales):
    quote = quote_submit(quote=make_quote((chair, 1)), actor=sales)

    outcomes = run_threads(2, lambda index: quote_send(quote=Quote.objects.get(pk=quote.pk), actor=sales, email=False))

    errors = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert [type(error).__name__ for error in errors] == ["QuoteStateConflict"]
    assert QuoteEvent.objects.filter(quote=quote, event="quote.sent").count() == 1
