"""Exception cases, the routing rules that send them to a team, and their escalations."""

from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinValueValidator
from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from simple_history.models import HistoricalRecords

from apps.core.models import TimeStampedModel
from apps.core.money import InvalidCurrency, validate_currency


class CaseKind(models.TextChoices):
    UNKNOWN_PRODUCT = "unknown_product", "unknown or inactive product"
    UNIT_OF_MEASURE = "unit_of_measure", "unit of measure"
    PRICE_MISMATCH = "price_mismatch", "price mismatch"
    OUT_OF_STOCK = "out_of_stock", "out of stock"
    CREDIT = "credit", "credit limit or hold"
    TAX_MISMATCH = "tax_mismatch", "tax mismatch"
    DUPLICATE_ORDER = "duplicate_order", "duplicate purchase order"
    QUOTE_APPROVAL = "quote_approval", "quote approval needed"
    CATALOG_ANOMALY = "catalog_anomaly", "catalog anomaly"
    INTEGRATION_FAILURE = "integration_failure", "integration failure"
    INTEGRATION_CONFLICT = "integration_conflict", "integration conflict"


class Severity(models.TextChoices):
    LOW = "low", "low"
    NORMAL = "normal", "normal"
    HIGH = "high", "high"
    CRITICAL = "critical", "critical"


class CaseState(models.TextChoices):
    OPEN = "open", "open"
    IN_PROGRESS = "in_progress", "in progress"
    RESOLVED = "resolved", "resolved"
    DISMISSED = "dismissed", "dismissed"


ACTIVE_STATES = (CaseState.OPEN, CaseState.IN_PROGRESS)
CLOSED_STATES = (CaseState.RESOLVED, CaseState.DISMISSED)


class AssignmentMode(models.TextChoices):
    QUEUE = "queue", "left in the team's queue for someone to take"
    ROUND_ROBIN = "round_robin", "round-robin among the team's members"
    FEWEST_OPEN = "fewest_open", "to the member with the fewest open cases"


class RoutingRule(TimeStampedModel):
    """A rule that sends a kind of case to a team, with its conditions, due times and escalation.

    Active rules of a kind are tried in ascending ``priority`` (then id); the
    first rule whose conditions all hold routes the case. A condition left
    empty always holds.
    """

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=32, choices=CaseKind.choices)
    priority = models.PositiveIntegerField(
        default=100, help_text="Rules are tried from the lowest number up; the first that matches routes the case."
    )
    is_active = models.BooleanField("active", default=True)
    min_order_value = models.DecimalField(
        max_digits=18,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Matches only cases whose order value is at least this amount, in the currency below.",
    )
    min_order_value_currency = models.CharField(
        max_length=3, blank=True, help_text="ISO 4217 code of the minimum order value; required with it."
    )
    customer = models.ForeignKey(
        "contracts.Customer",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="exception_routing_rules",
        help_text="Matches only this customer's cases.",
    )
    region = models.CharField(
        max_length=32, blank=True, help_text="Matches only cases in this region (compared without letter case)."
    )
    team = models.ForeignKey("auth.Group", on_delete=models.PROTECT, related_name="exception_routing_rules")
    blocking = models.BooleanField(
        default=True, help_text="A blocking case holds the object it concerns; otherwise it only warns."
    )
    assignment_mode = models.CharField(max_length=16, choices=AssignmentMode.choices, default=AssignmentMode.QUEUE)
    default_severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.NORMAL)
    due_minutes_low = models.PositiveIntegerField("due time for low severity (minutes)", default=3 * 24 * 60)
    due_minutes_normal = models.PositiveIntegerField("due time for normal severity (minutes)", default=24 * 60)
    due_minutes_high = models.PositiveIntegerField("due time for high severity (minutes)", default=4 * 60)
    due_minutes_critical = models.PositiveIntegerField("due time for critical severity (minutes)", default=60)
    escalation_group = models.ForeignKey(
        "auth.Group",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="exception_escalation_rules",
        help_text="Group told when a case is overdue; empty means the case's own team.",
    )
    escalation_delay_minutes = models.PositiveIntegerField(
        default=0, help_text="Minutes after the due time before the case escalates; 0 escalates as soon as it is due."
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["kind", "priority", "id"]
        indexes = [models.Index(fields=["kind", "is_active", "priority"], name="exc_rule_kind_prio_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(min_order_value__isnull=True) | ~models.Q(min_order_value_currency=""),
                name="exc_rule_min_value_has_currency",
            ),
            models.CheckConstraint(condition=models.Q(kind__in=CaseKind.values), name="exc_rule_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()} → {self.team.name if self.team_id else '?'})"

    def clean(self):
        super().clean()
        if self.min_order_value is not None and not self.min_order_value_currency:
            raise ValidationError({"min_order_value_currency": "Set the currency of the minimum order value."})
        if self.min_order_value_currency:
            try:
                self.min_order_value_currency = validate_currency(self.min_order_value_currency)
            except InvalidCurrency as error:
                raise ValidationError({"min_order_value_currency": str(error)}) from None

    def due_minutes_for(self, severity: str) -> int:
        """Return the minutes a case of this severity has before it is due."""
        return getattr(self, f"due_minutes_{severity}")


class ExceptionCase(ConcurrentTransitionMixin, TimeStampedModel):
    """Something that cannot go on by itself and waits for a person in the case's team.

    A case concerns one object through a generic relation, because every app
    can open cases and the exceptions app imports none of them. The same kind
    and ``cause_key`` on the same object is one case: when the cause comes
    back after the case was closed, the case is reopened.
    """

    kind = models.CharField(max_length=32, choices=CaseKind.choices)
    state = FSMField(max_length=16, choices=CaseState.choices, default=CaseState.OPEN, protected=True)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.NORMAL)
    summary = models.CharField(max_length=300)
    cause_key = models.CharField(
        max_length=200, help_text="Identifies the cause on the object, such as the line number and the check."
    )
    facts = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="What a person needs to decide; Decimal amounts are stored as strings.",
    )

    content_type = models.ForeignKey(
        "contenttypes.ContentType", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    object_id = models.CharField(max_length=64, blank=True)
    concerning = GenericForeignKey("content_type", "object_id")
    customer = models.ForeignKey(
        "contracts.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="exception_cases"
    )
    # Copies of the object's identifiers, so that the queue can search on
    # indexed prefixes without joining the tables of other apps.
    reference = models.CharField(max_length=64, blank=True, help_text="Order, quote or document number, or SKU.")
    po_number = models.CharField("PO number", max_length=64, blank=True)
    sku = models.CharField("SKU", max_length=64, blank=True)
    customer_account = models.CharField(max_length=32, blank=True)
    customer_name = models.CharField(max_length=200, blank=True)

    rule = models.ForeignKey(
        RoutingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases", editable=False
    )
    team = models.ForeignKey("auth.Group", on_delete=models.PROTECT, related_name="exception_cases")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_exception_cases",
    )
    blocking = models.BooleanField(default=True, help_text="Holds the object it concerns until closed.")
    due_at = models.DateTimeField()
    overdue = models.BooleanField(default=False)
    escalation_group = models.ForeignKey(
        "auth.Group", on_delete=models.PROTECT, related_name="escalated_exception_cases"
    )
    escalate_at = models.DateTimeField()
    escalation_level = models.PositiveSmallIntegerField(default=0)
    reopen_count = models.PositiveIntegerField(default=0)

    resolution_action = models.CharField(max_length=64, blank=True)
    resolution_note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="resolved_exception_cases",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["due_at", "id"]
        permissions = [
            ("take_exceptioncase", "Can take an exception case"),
            ("assign_exceptioncase", "Can assign an exception case to a colleague"),
            ("resolve_exceptioncase", "Can resolve an exception case"),
            ("dismiss_exceptioncase", "Can dismiss an exception case"),
        ]
        indexes = [
            models.Index(fields=["content_type", "object_id"], name="exc_case_object_idx"),
            models.Index(fields=["team", "state", "due_at"], name="exc_case_queue_idx"),
            models.Index(fields=["state", "due_at"], name="exc_case_state_due_idx"),
            # Serves the default queue (active cases, oldest due first) as an ordered scan.
            models.Index(
                fields=["due_at", "id"], name="exc_case_active_due_idx", condition=models.Q(state__in=ACTIVE_STATES)
            ),
            # Serves lists across all states (resolved and dismissed included) in due order.
            models.Index(fields=["due_at", "id"], name="exc_case_due_idx"),
            models.Index(fields=["assignee", "state"], name="exc_case_assignee_idx"),
            models.Index(fields=["customer", "state"], name="exc_case_customer_idx"),
            models.Index(
                fields=["escalate_at"],
                name="exc_case_to_escalate_idx",
                condition=models.Q(escalation_level=0, state__in=ACTIVE_STATES),
            ),
            models.Index(
                fields=["due_at"],
                name="exc_case_to_mark_overdue_idx",
                condition=models.Q(overdue=False, state__in=ACTIVE_STATES),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "content_type", "object_id", "cause_key"],
                condition=models.Q(content_type__isnull=False),
                name="exc_case_one_per_object_cause",
            ),
            # NULLs are distinct in a unique index, so cases about no object need their own.
            models.UniqueConstraint(
                fields=["kind", "cause_key"],
                condition=models.Q(content_type__isnull=True),
                name="exc_case_one_per_cause_without_object",
            ),
            models.CheckConstraint(condition=models.Q(kind__in=CaseKind.values), name="exc_case_kind_valid"),
            models.CheckConstraint(condition=models.Q(state__in=CaseState.values), name="exc_case_state_valid"),
            models.CheckConstraint(condition=models.Q(severity__in=Severity.values), name="exc_case_severity_valid"),
            models.CheckConstraint(
                condition=models.Q(content_type__isnull=True, object_id="")
                | models.Q(content_type__isnull=False) & ~models.Q(object_id=""),
                name="exc_case_object_complete",
            ),
        ]

    def __str__(self) -> str:
        label = self.reference or self.sku or (f"#{self.pk}" if self.pk else "new case")
        return f"{self.get_kind_display()}: {label}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    # Transitions change only this row's fields; the services check
    # permissions, lock the row, save and send mail.

    @transition(
        field=state, source=CaseState.OPEN, target=CaseState.IN_PROGRESS, permission="exceptions.take_exceptioncase"
    )
    def take(self, *, by) -> None:
        self.assignee = by

    @transition(
        field=state,
        source=[CaseState.OPEN, CaseState.IN_PROGRESS],
        target=None,
        permission="exceptions.assign_exceptioncase",
    )
    def assign(self, *, to) -> None:
        self.assignee = to

    @transition(
        field=state,
        source=[CaseState.OPEN, CaseState.IN_PROGRESS],
        target=CaseState.RESOLVED,
        permission="exceptions.resolve_exceptioncase",
    )
    def resolve(self, *, action: str, note: str, by, at) -> None:
        self.resolution_action = action
        self.resolution_note = note
        self.resolved_by = by
        self.resolved_at = at

    @transition(
        field=state,
        source=[CaseState.OPEN, CaseState.IN_PROGRESS],
        target=CaseState.DISMISSED,
        permission="exceptions.dismiss_exceptioncase",
    )
    def dismiss(self, *, reason: str, by, at) -> None:
        self.resolution_action = ""
        self.resolution_note = reason
        self.resolved_by = by
        self.resolved_at = at

    @transition(field=state, source=[CaseState.RESOLVED, CaseState.DISMISSED], target=CaseState.OPEN)
    def reopen(self) -> None:
        self.reopen_count += 1
        self.resolution_action = ""
        self.resolution_note = ""
        self.resolved_by = None
        self.resolved_at = None
        self.overdue = False
        self.escalation_level = 0


class CaseEscalation(models.Model):
    """One escalation of a case, unique per case, reopening round and level so that it happens once."""

    case = models.ForeignKey(ExceptionCase, on_delete=models.CASCADE, related_name="escalations")
    round = models.PositiveIntegerField(help_text="The case's reopen count when it escalated.")
    level = models.PositiveSmallIntegerField()
    group = models.ForeignKey("auth.Group", on_delete=models.PROTECT, related_name="+")
    escalated_at = models.DateTimeField()

    class Meta:
        ordering = ["case", "round", "level"]
        constraints = [
            models.UniqueConstraint(fields=["case", "round", "level"], name="exc_escalation_once_per_level"),
        ]

    def __str__(self) -> str:
        return f"case {self.case_id} level {self.level} to {self.group_id}"
