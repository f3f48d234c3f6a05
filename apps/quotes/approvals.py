"""Evaluate approval rules against a quote's figures, and decide which findings an earlier approval covers.

A finding is one rule applying to one line or to the whole quote, with the
figure the rule looked at: a line's manual discount or margin percent, the
quote's discount or margin percent, or its total. Findings are grouped by
the approving group. A group's approval comes at the highest step position
any applying rule gives it, then by group name. So a rule with the steps
sales-manager then finance has the manager decide first, even when another
applying rule names finance alone at position 1.

Coverage: an approval holds for a new finding of the same rule and scope
whose figure is no worse than the one approved: a discount or total at
most as high, a margin at least as high. A margin that cannot be computed
(a cost is unknown) is covered only by an approval of an unknown margin.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from apps.core.money import format_amount
from apps.quotes.models import HIGHER_IS_WORSE, ApprovalRule, ApprovalRuleKind, Quote, QuoteLine

_PERCENT_STEP = Decimal("0.01")


@dataclass(frozen=True)
class Requirement:
    """The approval one group must give, at its place in the order, for the findings listed."""

    group_id: int
    group_name: str
    sequence: int
    findings: tuple[dict, ...]

    def summary(self) -> str:
        return "; ".join(finding["message"] for finding in self.findings)


def load_rules() -> list[ApprovalRule]:
    """Return the active rules with their steps and groups, in two queries."""
    return list(ApprovalRule.objects.filter(is_active=True).prefetch_related("steps__group").order_by("id"))


def evaluate(quote: Quote, lines: Sequence[QuoteLine], rules: Iterable[ApprovalRule]) -> list[Requirement]:
    """Return the approvals the quote's current figures need, in the order they are to be given."""
    by_group: dict[int, dict] = {}
    for rule in rules:
        findings = _findings(rule, quote, lines)
        if not findings:
            continue
        for step in rule.steps.all():
            entry = by_group.setdefault(
                step.group_id, {"name": step.group.name, "position": step.position, "findings": []}
            )
            entry["position"] = max(entry["position"], step.position)
            entry["findings"].extend(findings)
    ordered = sorted(by_group.items(), key=lambda item: (item[1]["position"], item[1]["name"]))
    return [
        Requirement(group_id=group_id, group_name=entry["name"], sequence=index, findings=tuple(entry["findings"]))
        for index, (group_id, entry) in enumerate(ordered, start=1)
    ]


def uncovered(findings: Iterable[dict], approved: Iterable[dict]) -> list[dict]:
    """Return the findings that no approved finding of the same rule and scope covers (see the module docstring)."""
    approved_by_key = {(finding["rule"], finding["scope"]): finding for finding in approved}
    missing = []
    for finding in findings:
        earlier = approved_by_key.get((finding["rule"], finding["scope"]))
        if earlier is None or not _covers(earlier, finding):
            missing.append(finding)
    return missing


def _covers(earlier: dict, finding: dict) -> bool:
    if finding["figure"] is None or earlier["figure"] is None:
        return finding["figure"] is None and earlier["figure"] is None
    new, old = Decimal(finding["figure"]), Decimal(earlier["figure"])
    if finding["kind"] in HIGHER_IS_WORSE:
        return new <= old
    return new >= old


def _findings(rule: ApprovalRule, quote: Quote, lines: Sequence[QuoteLine]) -> list[dict]:
    threshold = rule.threshold
    kind = rule.kind
    if kind == ApprovalRuleKind.LINE_DISCOUNT_ABOVE:
        return [
            _finding(rule, line, line.discount_percent, f"line {line.position} has a {_pct(line.discount_percent)} "
                     f"discount, above {_pct(threshold)}")
            for line in lines
            if line.discount_percent > threshold
        ]  # fmt: skip
    if kind == ApprovalRuleKind.LINE_MARGIN_BELOW:
        findings = []
        for line in lines:
            if line.margin_percent is None:
                message = f"line {line.position} ({line.sku}) has no known cost, so its margin is unknown"
                findings.append(_finding(rule, line, None, message))
            elif line.margin_percent < threshold:
                message = f"line {line.position} has a {_pct(line.margin_percent)} margin, below {_pct(threshold)}"
                findings.append(_finding(rule, line, line.margin_percent, message))
        return findings
    if not lines:
        return []
    if kind == ApprovalRuleKind.QUOTE_DISCOUNT_ABOVE:
        discount = quote.discount_percent
        figure = discount.quantize(_PERCENT_STEP, rounding=ROUND_HALF_UP) if discount is not None else None
        if figure is not None and figure > threshold:
            return [_finding(rule, None, figure, f"the quote's discount is {_pct(figure)}, above {_pct(threshold)}")]
        return []
    if kind == ApprovalRuleKind.QUOTE_MARGIN_BELOW:
        if quote.margin_percent is None:
            return [_finding(rule, None, None, "the quote's margin is unknown, because a cost is unknown")]
        if quote.margin_percent < threshold:
            message = f"the quote's margin is {_pct(quote.margin_percent)}, below {_pct(threshold)}"
            return [_finding(rule, None, quote.margin_percent, message)]
        return []
    if kind == ApprovalRuleKind.TOTAL_ABOVE and rule.currency == quote.currency and quote.total > threshold:
        message = (
            f"the total of {format_amount(quote.total, quote.currency)} {quote.currency} is above "
            f"{format_amount(threshold, rule.currency)} {rule.currency}"
        )
        return [_finding(rule, None, quote.total, message)]
    return []


def _finding(rule: ApprovalRule, line: QuoteLine | None, figure: Decimal | None, message: str) -> dict:
    return {
        "rule": rule.pk,
        "rule_name": rule.name,
        "kind": rule.kind,
        "scope": f"line:{line.pk}" if line is not None else "quote",
        "line": line.position if line is not None else None,
        "figure": str(figure) if figure is not None else None,
        "threshold": str(rule.threshold),
        "message": f"{rule.name}: {message}",
    }


def _pct(value: Decimal) -> str:
    return f"{value.normalize():f} %"
