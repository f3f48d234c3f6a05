"""Approval rules that staff edit in the admin, and the approvals a submitted quote needs and gets."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from apps.core.models import TimeStampedModel
from apps.core.money import InvalidCurrency, validate_currency


class ApprovalRuleKind(models.TextChoices):
    LINE_DISCOUNT_ABOVE = "line_discount_above", "a line's manual discount above the threshold (%)"
    QUOTE_DISCOUNT_ABOVE = "quote_discount_above", "the quote's manual discount above the threshold (%)"
    LINE_MARGIN_BELOW = "line_margin_below", "a line's margin below the threshold (%)"
    QUOTE_MARGIN_BELOW = "quote_margin_below", "the quote's margin below the threshold (%)"
    TOTAL_ABOVE = "total_above", "the quote total above the threshold (amount in the rule's currency)"


# Kinds whose figure is worse when higher; for the others a lower figure is worse.
HIGHER_IS_WORSE = frozenset(
    {ApprovalRuleKind.LINE_DISCOUNT_ABOVE, ApprovalRuleKind.QUOTE_DISCOUNT_ABOVE, ApprovalRuleKind.TOTAL_ABOVE}
)


class ApprovalRule(TimeStampedModel):
    """A condition on a quote's figures that needs the approval of one or more groups, in the steps' order.

    A margin rule also applies when a margin cannot be computed because a cost
    is unknown. A total rule applies only to quotes in its currency, as
    amounts are never converted.
    """

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=24, choices=ApprovalRuleKind.choices)
    threshold = models.DecimalField(
        max_digits=18,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="A percent for discount and margin rules, an amount for total rules.",
    )
    currency = models.CharField(max_length=3, blank=True, help_text="ISO 4217 code; total rules only.")
    is_active = models.BooleanField("active", default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["kind", "threshold", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=ApprovalRuleKind.values), name="approvalrule_kind_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(kind=ApprovalRuleKind.TOTAL_ABOVE) | ~models.Q(currency=""),
                name="approvalrule_total_has_currency",
                violation_error_message="A total rule needs the currency of its amount.",
            ),
            models.CheckConstraint(
                condition=models.Q(threshold__gte=0),
                name="approvalrule_threshold_not_negative",
                violation_error_message="Threshold must not be negative.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        super().clean()
        if self.kind == ApprovalRuleKind.TOTAL_ABOVE:
            try:
                self.currency = validate_currency(self.currency)
            except InvalidCurrency as error:
                raise ValidationError({"currency": str(error)}) from None
        elif self.currency:
            raise ValidationError({"currency": "Only total rules have a currency; leave it empty."})


class ApprovalRuleStep(models.Model):
    """One group that must approve when the rule applies; steps are approved from the lowest position up."""

    rule = models.ForeignKey(ApprovalRule, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=1)
    group = models.ForeignKey("auth.Group", on_delete=models.PROTECT, related_name="quote_approval_steps")

    history = HistoricalRecords()

    class Meta:
        ordering = ["rule", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "group"],
                name="approvalrulestep_rule_group_uniq",
                violation_error_message="This group is already a step of the rule.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} step {self.position}: {self.group_id}"


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", "pending"
    APPROVED = "approved", "approved"
    REJECTED = "rejected", "rejected"
    SUPERSEDED = "superseded", "superseded by a change"
    CANCELLED = "cancelled", "cancelled"


class QuoteApproval(TimeStampedModel):
    """The approval of one group that a quote needs, with the findings it covers and the decision.

    ``findings`` lists each rule that applied, the line or quote it applied
    to and the figure. An approval covers those figures only: after an edit,
    it still holds for a finding of the same rule and line whose figure is
    the same or better, and is superseded otherwise.
    """

    quote = models.ForeignKey("quotes.Quote", on_delete=models.CASCADE, related_name="approvals")
    sequence = models.PositiveSmallIntegerField(help_text="Approvals are decided from the lowest number up.")
    group = models.ForeignKey("auth.Group", on_delete=models.PROTECT, related_name="quote_approvals")
    status = models.CharField(max_length=12, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING)
    findings = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    case = models.ForeignKey(
        "exceptions.ExceptionCase", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["quote", "sequence", "id"]
        indexes = [models.Index(fields=["group", "status"], name="quoteapproval_group_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ApprovalStatus.values), name="quoteapproval_status_valid"
            ),
            # One open approval per group and quote, so that a group decides once for the figures in front of it.
            models.UniqueConstraint(
                fields=["quote", "group"],
                condition=models.Q(status="pending"),
                name="quoteapproval_one_pending_per_group",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quote_id} step {self.sequence}: {self.group_id} ({self.status})"
