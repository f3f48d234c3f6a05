"""Quotes and their lines, with the pricing waterfall stored per line, and the quote's event log."""

from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from simple_history.models import HistoricalRecords

from apps.core.models import TimeStampedModel


class QuoteStatus(models.TextChoices):
    DRAFT = "draft", "draft"
    PENDING_APPROVAL = "pending_approval", "pending approval"
    APPROVED = "approved", "approved"
    REJECTED = "rejected", "rejected"
    SENT = "sent", "sent"
    ACCEPTED = "accepted", "accepted"
    DECLINED = "declined", "declined"
    EXPIRED = "expired", "expired"
    CONVERTED = "converted", "converted to an order"


# States in which sales may change lines and prices; anything later is a new version.
EDITABLE_STATES = (QuoteStatus.DRAFT, QuoteStatus.APPROVED)


def _is_current_version(quote: "Quote") -> bool:
    """Condition: only the newest version of a quote moves on; older ones are kept as they were."""
    return quote.is_current_version


def _has_lines(quote: "Quote") -> bool:
    """Condition of submitting: a quote without lines offers nothing."""
    return quote.lines.exists()


def _within_validity(quote: "Quote") -> bool:
    """Condition of sending and accepting: the valid-until date has not passed (in UTC)."""
    from apps.contracts.selectors import today_utc

    return quote.valid_until >= today_utc()


class Quote(ConcurrentTransitionMixin, TimeStampedModel):
    """One version of a quote to a customer. Revisions share ``number`` and count ``version`` up.

    Only the newest version (``is_current_version``) can change; older ones are
    kept as they were. Every amount is in ``currency``, rounded with
    ``round_money``. The prices were locked on ``price_date`` and only change
    when a sales person refreshes them.
    """

    number = models.CharField(max_length=32, editable=False)
    version = models.PositiveSmallIntegerField(default=1, editable=False)
    is_current_version = models.BooleanField(default=True, editable=False)
    previous_version = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="next_version", editable=False
    )
    customer = models.ForeignKey("contracts.Customer", on_delete=models.PROTECT, related_name="quotes")
    contract = models.ForeignKey(
        "contracts.Contract",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="quotes",
        help_text="The contract whose prices the quote starts from; empty means list prices.",
    )
    sales_person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="quotes")
    crm_opportunity = models.CharField(
        "CRM opportunity", max_length=64, blank=True, help_text="The opportunity's id in the CRM."
    )
    currency = models.CharField(max_length=3)
    valid_until = models.DateField(help_text="Last day the customer can accept the quote.")
    price_date = models.DateField(help_text="The day whose catalog and contract prices the quote holds.")
    contact_name = models.CharField(max_length=200, blank=True)
    contact_email = models.EmailField(blank=True, help_text="Where the quote is sent.")
    notes = models.TextField(blank=True, help_text="Printed on the quote.")
    terms = models.TextField(blank=True, help_text="Terms and conditions printed on the quote.")
    status = FSMField(max_length=20, choices=QuoteStatus.choices, default=QuoteStatus.DRAFT, protected=True)
    status_reason = models.CharField(max_length=300, blank=True, help_text="Why the quote last changed status.")
    customer_po_number = models.CharField(
        "customer's PO number", max_length=64, blank=True, help_text="Given with the acceptance; used by the order."
    )

    gross_total = models.DecimalField(
        max_digits=18, decimal_places=4, default=Decimal("0"), help_text="Before manual discounts."
    )
    discount_total = models.DecimalField(max_digits=18, decimal_places=4, default=Decimal("0"))
    total = models.DecimalField(max_digits=18, decimal_places=4, default=Decimal("0"), help_text="Excluding tax.")
    tax_total = models.DecimalField(
        max_digits=18,
        decimal_places=4,
        default=Decimal("0"),
        help_text="Tax of the lines at the customer's default ship-to on the price date.",
    )
    cost_total = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True, help_text="Empty when a line's cost is unknown."
    )
    margin = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    margin_percent = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)

    submitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    answered_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the customer accepted or declined."
    )
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="quotes", editable=False
    )
    prices_out_of_date_since = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When a contract change made the locked prices differ from today's; a price refresh clears it.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("submit_quote", "Can submit a quote for approval"),
            ("approve_quote", "Can approve or reject a quote"),
            ("send_quote", "Can send a quote to the customer"),
            ("record_quote_answer", "Can record a customer's acceptance or decline"),
            ("revise_quote", "Can revise a rejected or expired quote"),
            ("convert_quote", "Can convert an accepted quote to an order"),
        ]
        indexes = [
            models.Index(fields=["status", "valid_until"], name="quote_status_valid_idx"),
            models.Index(fields=["sales_person", "status"], name="quote_sales_status_idx"),
            models.Index(fields=["customer", "status"], name="quote_customer_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["number", "version"], name="quote_number_version_uniq"),
            models.UniqueConstraint(
                fields=["number"], condition=models.Q(is_current_version=True), name="quote_one_current_version"
            ),
            models.CheckConstraint(condition=models.Q(status__in=QuoteStatus.values), name="quote_status_valid"),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="quote_version_positive"),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        """The number with the version suffix, such as QT-261204-9F3A61C2-V2."""
        return f"{self.number}-V{self.version}"

    @property
    def discount_percent(self) -> Decimal | None:
        """The manual discounts as a percent of the total before them, unrounded; None for an empty quote."""
        if not self.gross_total:
            return None
        return self.discount_total * Decimal(100) / self.gross_total

    @property
    def is_editable(self) -> bool:
        return self.is_current_version and self.status in EDITABLE_STATES

    # Transitions change only this row's fields; the services check
    # permissions and approvers, lock, save, and write the events.

    @transition(
        field=status,
        source=QuoteStatus.DRAFT,
        target=QuoteStatus.PENDING_APPROVAL,
        conditions=[_is_current_version, _has_lines],
        permission="quotes.submit_quote",
        custom={"label": "Submit"},
    )
    def submit(self) -> None:
        pass

    @transition(
        field=status,
        source=QuoteStatus.DRAFT,
        target=QuoteStatus.APPROVED,
        conditions=[_is_current_version, _has_lines],
        permission="quotes.submit_quote",
        custom={"admin": False},
    )
    def approve_without_rules(self) -> None:
        pass

    @transition(field=status, source=QuoteStatus.APPROVED, target=QuoteStatus.PENDING_APPROVAL, custom={"admin": False})
    def require_approval(self) -> None:
        pass

    @transition(
        field=status,
        source=QuoteStatus.PENDING_APPROVAL,
        target=QuoteStatus.APPROVED,
        permission="quotes.approve_quote",
        custom={"label": "Approve"},
    )
    def approve(self) -> None:
        pass

    @transition(
        field=status,
        source=QuoteStatus.PENDING_APPROVAL,
        target=QuoteStatus.REJECTED,
        permission="quotes.approve_quote",
        custom={"label": "Reject", "reason": True},
    )
    def reject(self) -> None:
        pass

    @transition(
        field=status,
        source=QuoteStatus.APPROVED,
        target=QuoteStatus.SENT,
        conditions=[_is_current_version, _within_validity],
        permission="quotes.send_quote",
        custom={"label": "Send"},
    )
    def send(self) -> None:
        pass

    @transition(
        field=status,
        source=QuoteStatus.SENT,
        target=QuoteStatus.ACCEPTED,
        conditions=[_within_validity],
        permission="quotes.record_quote_answer",
        custom={"label": "Mark accepted"},
    )
    def accept(self) -> None:
        pass

    @transition(
        field=status,
        source=QuoteStatus.SENT,
        target=QuoteStatus.DECLINED,
        permission="quotes.record_quote_answer",
        custom={"label": "Mark declined", "reason": True},
    )
    def decline(self) -> None:
        pass

    @transition(
        field=status,
        source=[QuoteStatus.APPROVED, QuoteStatus.SENT],
        target=QuoteStatus.EXPIRED,
        custom={"admin": False},
    )
    def expire(self) -> None:
        pass

    @transition(
        field=status,
        source=[QuoteStatus.REJECTED, QuoteStatus.EXPIRED],
        target=None,
        conditions=[_is_current_version],
        permission="quotes.revise_quote",
        custom={"label": "Revise"},
    )
    def revise(self) -> None:
        """Retire this version; the service creates the next one as a draft. The state stays as it was."""
        self.is_current_version = False

    @transition(
        field=status,
        source=QuoteStatus.ACCEPTED,
        target=QuoteStatus.CONVERTED,
        permission="quotes.convert_quote",
        custom={"label": "Convert to order"},
    )
    def convert(self) -> None:
        pass


class QuoteLine(TimeStampedModel):
    """One line of a quote with its configuration and the pricing waterfall, per unit unless named a total.

    ``list_price`` is the base product's. ``contract_price`` is what the
    pricing engine returned for the customer, and ``price_source`` names the
    rule it used. Adding ``adders`` (the configuration's options per unit) and
    taking off ``discount_amount`` (the manual ``discount_percent`` of the two,
    rounded) gives ``net_price``. ``line_total``
    is ``net_price`` times the quantity, rounded. ``margin`` is the line total
    less ``cost_total``; both are empty when a cost is unknown.
    """

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(help_text="Order of the line on the quote, from 1.")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="quote_lines")
    sku = models.CharField("SKU", max_length=64)
    description = models.TextField(blank=True)
    quantity = models.DecimalField(max_digits=14, decimal_places=3)
    configuration = models.JSONField(
        default=dict, blank=True, help_text='Option code to quantity per unit, such as {"mem-32g": 4}.'
    )
    configuration_detail = models.JSONField(
        default=list,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="Each chosen option with its unit price, source and cost, as priced.",
    )

    list_price = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True, help_text="Empty when listed in another currency."
    )
    contract_price = models.DecimalField(max_digits=18, decimal_places=4)
    price_source = models.CharField(max_length=32)
    adders = models.DecimalField("configuration adders", max_digits=18, decimal_places=4, default=Decimal("0"))
    discount_percent = models.DecimalField(
        "manual discount (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    discount_amount = models.DecimalField("manual discount", max_digits=18, decimal_places=4, default=Decimal("0"))
    net_price = models.DecimalField(max_digits=18, decimal_places=4)
    line_total = models.DecimalField(max_digits=18, decimal_places=4)
    unit_cost = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    cost_total = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    margin = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    margin_percent = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["quote", "position"]
        constraints = [
            models.UniqueConstraint(fields=["quote", "position"], name="quoteline_quote_position_uniq"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="quoteline_quantity_positive"),
            models.CheckConstraint(
                condition=models.Q(discount_percent__gte=0, discount_percent__lte=100),
                name="quoteline_discount_0_to_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quote_id}/{self.position}: {self.sku} x {self.quantity}"

    @property
    def gross_price(self) -> Decimal:
        """The unit price before the manual discount: the contract price plus the configuration adders."""
        return self.contract_price + self.adders


class QuoteEvent(models.Model):
    """A business change of a quote (``quote.submitted``, ``quote.sent``…), written in the same transaction.

    The API turns these rows into webhooks; the quotes app only writes them.
    """

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="events")
    event = models.CharField(max_length=40)
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["event", "created_at"], name="quoteevent_event_created_idx")]

    def __str__(self) -> str:
        return f"{self.event} for quote {self.quote_id}"
