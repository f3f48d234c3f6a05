"""Approval rules on submit, decisions from the quote and from the exception queue, and approvals after edits."""

from decimal import Decimal

import pytest

from apps.exceptions.errors import ResolutionFailed
from apps.exceptions.models import CaseKind, CaseState, ExceptionCase
from apps.exceptions.services import case_dismiss, case_resolve
from apps.quotes.errors import InvalidQuoteInput, QuoteActionNotPermitted, QuoteStateConflict
from apps.quotes.models import ApprovalRuleKind, ApprovalStatus, QuoteStatus
from apps.quotes.services import (
    approvals_required,
    quote_approve,
    quote_change_line,
    quote_reject,
    quote_submit,
    quote_update,
)
from tests.factories import ProductFactory
from tests.quotes.conftest import ApprovalRule, ApprovalRuleStep

SERVER_CONFIGURATION = {"cpu-16c": 1, "mem-32g": 4, "sup-3y": 1}


def _approval_cases(quote):
    return ExceptionCase.objects.filter(kind=CaseKind.QUOTE_APPROVAL, object_id=str(quote.pk)).order_by("id")


def _steps(quote):
    return list(quote.approvals.order_by("sequence", "id").values_list("group__name", "status"))


def test_submit_without_applying_rule_approves(approval_rules, make_quote, chair, sales):
    # Given: 5 % discount, inside every rule
    quote = make_quote((chair, 2, "5"))

    # When
    quote = quote_submit(quote=quote, actor=sales)

    # Then: approved at once, with no approval step and no case
    assert quote.status == QuoteStatus.APPROVED
    assert quote.status_reason == "Submitted; no approval rule applies"
    assert _steps(quote) == []
    assert not _approval_cases(quote).exists()


def test_line_discount_opens_case_for_sales_manager(approval_rules, make_quote, chair, sales):
    # Given: a 12 % discount on line 1, above the 10 % line rule
    quote = make_quote((chair, 2, "12"))

    # When
    quote = quote_submit(quote=quote, actor=sales)

    # Then: one approval for the sales managers, with its finding, and one case in their queue
    assert quote.status == QuoteStatus.PENDING_APPROVAL
    approval = quote.approvals.get()
    assert (approval.group.name, approval.status, approval.sequence) == ("sales-manager", "pending", 1)
    assert [(f["rule_name"], f["line"], f["figure"]) for f in approval.findings] == [("Line discount", 1, "12.00")]
    case = _approval_cases(quote).get()
    assert case.team.name == "sales-manager"
    assert case.state == CaseState.OPEN
    assert case.reference == quote.reference
    assert case.facts["approval_id"] == approval.pk
    assert case.summary == (
        f"Quote {quote.reference} needs sales-manager approval: Line discount: line 1 has a 12 % discount, above 10 %"
    )
    assert approval.case_id == case.pk


@pytest.mark.parametrize(
    ("kind", "threshold", "currency", "lines", "figure"),
    [
        (ApprovalRuleKind.LINE_DISCOUNT_ABOVE, "10", "", [("chair", 1, "10")], None),
        (ApprovalRuleKind.LINE_DISCOUNT_ABOVE, "10", "", [("chair", 1, "10.01")], "10.01"),
        (ApprovalRuleKind.QUOTE_DISCOUNT_ABOVE, "5", "", [("chair", 1, "10"), ("chair", 1, "0")], None),
        (ApprovalRuleKind.QUOTE_DISCOUNT_ABOVE, "4.99", "", [("chair", 1, "10"), ("chair", 1, "0")], "5.00"),
        # 99.50 less 20 % is 79.60; over a cost of 60.00 that is a 24.62 % margin.
        (ApprovalRuleKind.LINE_MARGIN_BELOW, "24.62", "", [("chair", 1, "20")], None),
        (ApprovalRuleKind.LINE_MARGIN_BELOW, "24.63", "", [("chair", 1, "20")], "24.62"),
        (ApprovalRuleKind.LINE_MARGIN_BELOW, "1", "", [("nocost", 1, "0")], None),
        (ApprovalRuleKind.QUOTE_MARGIN_BELOW, "40", "", [("chair", 1, "0")], "39.70"),
        (ApprovalRuleKind.QUOTE_MARGIN_BELOW, "39.70", "", [("chair", 1, "0")], None),
        (ApprovalRuleKind.TOTAL_ABOVE, "198.99", "EUR", [("chair", 2, "0")], "199.00"),
        (ApprovalRuleKind.TOTAL_ABOVE, "199", "USD", [("chair", 2, "0")], None),
        (ApprovalRuleKind.TOTAL_ABOVE, "199", "EUR", [("chair", 1, "0")], None),
    ],
)
def test_each_rule_kind(make_quote, chair, manager, kind, threshold, currency, lines, figure):
    # Given: one rule, and lines of the chair or of a product without cost
    rule = ApprovalRule.objects.create(name="Rule", kind=kind, threshold=Decimal(threshold), currency=currency)
    ApprovalRuleStep.objects.create(rule=rule, group=manager.groups.get())
    products = {"chair": chair, "nocost": ProductFactory(sku="NOCOST-1", list_price=Decimal("10.00"))}
    quote = make_quote(*[(products[name], quantity, discount) for name, quantity, discount in lines])

    # When
    requirements = approvals_required(quote=quote)

    # Then: the rule applies exactly when a figure is beyond the threshold (or a needed cost is unknown)
    applies = figure is not None or (kind == ApprovalRuleKind.LINE_MARGIN_BELOW and lines[0][0] == "nocost")
    assert len(requirements) == (1 if applies else 0)
    if applies:
        assert [finding["figure"] for finding in requirements[0].findings] == [figure]


def test_rules_combine_in_step_order(approval_rules, make_quote, server, contract_prices, sales, manager, finance):
    # Given: 22 servers at 25 % off: line and quote discount, a 14.69 % margin and a 51,579.00 total
    quote = make_quote((server.product, 22, "25", SERVER_CONFIGURATION))

    # When
    quote = quote_submit(quote=quote, actor=sales)

    # Then: the managers decide first (every rule naming them puts them first), then finance
    assert quote.total == Decimal("51579.00")
    assert _steps(quote) == [("sales-manager", "pending"), ("finance", "pending")]
    manager_step, finance_step = quote.approvals.order_by("sequence")
    assert {f["rule_name"] for f in manager_step.findings} == {"Line discount", "Quote discount", "Large total"}
    assert {f["rule_name"] for f in finance_step.findings} == {"Quote discount", "Quote margin", "Large total"}
    assert [case.team.name for case in _approval_cases(quote)] == ["sales-manager"]

    # When: finance tries first, then the manager approves, then finance
    with pytest.raises(QuoteActionNotPermitted, match="waits for the approval of sales-manager"):
        quote_approve(quote=quote, actor=finance)
    after_manager = quote_approve(quote=quote, actor=manager, note="Strategic account")
    after_finance = quote_approve(quote=quote, actor=finance)

    # Then
    assert after_manager.status == QuoteStatus.PENDING_APPROVAL
    assert after_finance.status == QuoteStatus.APPROVED
    assert _steps(quote) == [("sales-manager", "approved"), ("finance", "approved")]
    cases = list(_approval_cases(quote))
    assert [(case.team.name, case.state, case.resolution_action) for case in cases] == [
        ("sales-manager", "resolved", "approve_quote"),
        ("finance", "resolved", "approve_quote"),
    ]
    assert cases[0].resolution_note == "Strategic account"


def test_own_quote_approval_refused(approval_rules, customer, contract, chair, manager):
    # Given: a sales manager's own quote with a discount only a sales manager may approve
    from apps.quotes.services import LineRequest, quote_create

    quote = quote_create(actor=manager, customer=customer, lines=[LineRequest(chair, 1, discount_percent="15")])
    quote = quote_submit(quote=quote, actor=manager)

    # When / Then
    with pytest.raises(QuoteActionNotPermitted, match="cannot approve or reject their own quote"):
        quote_approve(quote=quote, actor=manager)
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.PENDING_APPROVAL
    assert _steps(quote) == [("sales-manager", "pending")]
    assert _approval_cases(quote).get().state == CaseState.OPEN


@pytest.mark.parametrize("approver", ["sales", "other_sales", "finance"])
def test_approval_outside_group_refused(approval_rules, make_quote, chair, sales, request, approver):
    quote = quote_submit(quote=make_quote((chair, 1, "15")), actor=sales)
    user = request.getfixturevalue(approver)

    with pytest.raises(QuoteActionNotPermitted):
        quote_approve(quote=quote, actor=user)

    quote.refresh_from_db()
    assert quote.status == QuoteStatus.PENDING_APPROVAL
    assert _steps(quote) == [("sales-manager", "pending")]


def test_approve_from_exception_queue(approval_rules, make_quote, chair, sales, manager):
    # Given
    quote = quote_submit(quote=make_quote((chair, 1, "15")), actor=sales)
    case = _approval_cases(quote).get()

    # When: the manager resolves the case in the queue
    case_resolve(case=case, action="approve_quote", note="OK for this customer", actor=manager)

    # Then
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.APPROVED
    approval = quote.approvals.get()
    assert (approval.status, approval.decided_by, approval.note) == ("approved", manager, "OK for this customer")
    assert quote.events.filter(event="quote.approved").count() == 1


def test_reject_from_exception_queue(approval_rules, make_quote, server, contract_prices, sales, manager):
    quote = quote_submit(quote=make_quote((server.product, 22, "25", SERVER_CONFIGURATION)), actor=sales)

    case_resolve(case=_approval_cases(quote).get(), action="reject_quote", note="Too deep a discount", actor=manager)

    quote.refresh_from_db()
    assert quote.status == QuoteStatus.REJECTED
    assert quote.status_reason == f"Rejected by {manager.username}: Too deep a discount"
    assert _steps(quote) == [("sales-manager", "rejected"), ("finance", "cancelled")]


def test_reject_without_reason_refused(approval_rules, make_quote, chair, sales, manager):
    quote = quote_submit(quote=make_quote((chair, 1, "15")), actor=sales)
    case = _approval_cases(quote).get()

    with pytest.raises(InvalidQuoteInput, match="Give a reason"):
        quote_reject(quote=quote, actor=manager, reason=" ")
    with pytest.raises(ResolutionFailed, match="Give a reason"):
        case_resolve(case=case, action="reject_quote", note="", actor=manager)

    quote.refresh_from_db()
    case.refresh_from_db()
    assert quote.status == QuoteStatus.PENDING_APPROVAL
    assert case.state == CaseState.OPEN


def test_reject_from_quote_resolves_case(approval_rules, make_quote, chair, sales, manager):
    quote = quote_submit(quote=make_quote((chair, 1, "15")), actor=sales)

    quote = quote_reject(quote=quote, actor=manager, reason="Not this quarter")

    case = _approval_cases(quote).get()
    assert quote.status == QuoteStatus.REJECTED
    assert (case.state, case.resolution_action, case.resolution_note) == (
        "resolved",
        "reject_quote",
        "Not this quarter",
    )


def test_dismissing_approval_case_refused(approval_rules, make_quote, chair, sales, manager):
    quote = quote_submit(quote=make_quote((chair, 1, "15")), actor=sales)
    case = _approval_cases(quote).get()

    with pytest.raises(ResolutionFailed, match="instead of dismissing it"):
        case_dismiss(case=case, reason="not mine", actor=manager)

    case.refresh_from_db()
    assert case.state == CaseState.OPEN


@pytest.fixture
def approved_two_step(approval_rules, make_quote, server, contract_prices, chair, sales, manager, finance):
    """An approved quote that needed both groups: 22 servers at 25 % off, and a chair at 0 %."""
    quote = make_quote((server.product, 22, "25", SERVER_CONFIGURATION), (chair, 1, "0"))
    quote_submit(quote=quote, actor=sales)
    quote_approve(quote=quote, actor=manager)
    quote = quote_approve(quote=quote, actor=finance)
    assert quote.status == QuoteStatus.APPROVED
    return quote


def test_edit_beyond_approved_discount_asks_again(approved_two_step, sales, manager):
    # When: the server discount goes from 25 % to 26 %
    quote = approved_two_step
    quote_change_line(line=quote.lines.get(position=1), actor=sales, discount_percent="26")

    # Then: both groups approved figures that got worse, so both are asked again, the managers first
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.PENDING_APPROVAL
    assert _steps(quote) == [
        ("sales-manager", "superseded"),
        ("sales-manager", "pending"),
        ("finance", "superseded"),
        ("finance", "pending"),
    ]
    assert [case.state for case in _approval_cases(quote)] == ["resolved", "resolved", "open"]


def test_edit_that_only_some_approvals_depend_on(make_quote, chair, sales, manager, finance):
    # Given: discounts above 10 % need the managers, totals above 100.00 EUR need finance;
    # 2 chairs at 12 % off (175.12 EUR) needed both, and both approved
    for kind, threshold, group, currency in (
        (ApprovalRuleKind.LINE_DISCOUNT_ABOVE, "10", manager.groups.get(), ""),
        (ApprovalRuleKind.TOTAL_ABOVE, "100", finance.groups.get(), "EUR"),
    ):
        rule = ApprovalRule.objects.create(name=kind, kind=kind, threshold=Decimal(threshold), currency=currency)
        ApprovalRuleStep.objects.create(rule=rule, group=group)
    quote = quote_submit(quote=make_quote((chair, 2, "12")), actor=sales)
    quote_approve(quote=quote, actor=finance if _steps(quote)[0][0] == "finance" else manager)
    quote_approve(quote=quote, actor=finance if _steps(quote)[1][0] == "finance" else manager)

    # When: a third chair at the same discount raises the total, but not the discount
    quote_change_line(line=quote.lines.get(), actor=sales, quantity="3")

    # Then: only finance is asked again; the managers' approval of 12 % still holds
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.PENDING_APPROVAL
    assert sorted(_steps(quote)) == [("finance", "pending"), ("finance", "superseded"), ("sales-manager", "approved")]


def test_edit_within_approved_figures_keeps_approval(approved_two_step, sales):
    # When: the header changes and one server fewer is quoted, which lowers the total and the quote's
    # discount and raises its margin
    quote = approved_two_step
    quote_update(quote=quote, actor=sales, notes="Delivery in two batches")
    quote_change_line(line=quote.lines.get(position=1), actor=sales, quantity="21")

    # Then: nothing an approval depended on got worse, so the quote stays approved
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.APPROVED
    assert quote.notes == "Delivery in two batches"
    assert _steps(quote) == [("sales-manager", "approved"), ("finance", "approved")]


def test_quantity_edit_over_approved_total_asks_again(approved_two_step, sales):
    quote = approved_two_step

    quote_change_line(line=quote.lines.get(position=1), actor=sales, quantity="30")

    quote.refresh_from_db()
    assert quote.status == QuoteStatus.PENDING_APPROVAL
    assert [step for step in _steps(quote) if step[1] == "pending"] == [
        ("sales-manager", "pending"),
        ("finance", "pending"),
    ]


def test_pending_quote_cannot_change(approval_rules, make_quote, chair, sales):
    quote = quote_submit(quote=make_quote((chair, 1, "15")), actor=sales)

    with pytest.raises(QuoteStateConflict, match="only draft and approved quotes can change"):
        quote_change_line(line=quote.lines.get(), actor=sales, discount_percent="10")


def test_approvals_are_recorded_per_step(approved_two_step):
    approvals = list(approved_two_step.approvals.order_by("sequence"))

    assert [approval.status for approval in approvals] == [ApprovalStatus.APPROVED, ApprovalStatus.APPROVED]
    assert all(approval.decided_at is not None for approval in approvals)
    assert approved_two_step.approvals.first().history.count() >= 2
