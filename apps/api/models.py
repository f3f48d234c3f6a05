"""Partners, their API keys and scopes, webhook subscriptions and the deliveries sent to them."""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from apps.core.models import TimeStampedModel


class Scope(models.TextChoices):
    CATALOG_READ = "catalog:read", "read products, prices and availability"
    ORDERS_READ = "orders:read", "read orders"
    ORDERS_WRITE = "orders:write", "place and cancel orders"
    QUOTES_READ = "quotes:read", "read quotes"
    QUOTES_WRITE = "quotes:write", "request, accept and decline quotes"
    ERP_WRITE = "erp:write", "push catalog and stock rows (the supplier's ERP)"
    CRM_WRITE = "crm:write", "push customers and contracts (the supplier's CRM)"


class WebhookEvent(models.TextChoices):
    ORDER_CONFIRMED = "order.confirmed", "order confirmed"
    ORDER_ON_HOLD = "order.on_hold", "order on hold"
    ORDER_CANCELLED = "order.cancelled", "order cancelled"
    ORDER_REJECTED = "order.rejected", "order rejected"
    ORDER_SHIPPED = "order.shipped", "order shipped (fully or in part)"
    ORDER_INVOICED = "order.invoiced", "order invoiced"
    ORDER_PAID = "order.paid", "order paid"
    QUOTE_SENT = "quote.sent", "quote sent"
    QUOTE_ACCEPTED = "quote.accepted", "quote accepted"
    QUOTE_DECLINED = "quote.declined", "quote declined"
    QUOTE_EXPIRED = "quote.expired", "quote expired"


# The scope a key needs to subscribe to each family of events: the events tell what the scope reads.
EVENT_SCOPES = {"order": Scope.ORDERS_READ, "quote": Scope.QUOTES_READ}


class Partner(TimeStampedModel):
    """A company that integrates through the REST API: a reseller, a marketplace, or the supplier's own ERP.

    A partner's keys read and order for the customers it is linked to, or for every customer when
    ``all_customers`` is set.
    """

    name = models.CharField(max_length=200, unique=True)
    customers = models.ManyToManyField(
        "contracts.Customer",
        blank=True,
        related_name="partners",
        help_text="The customers whose prices, orders and quotes this partner's keys see.",
    )
    all_customers = models.BooleanField(
        default=False,
        help_text="Sees every customer, also those created later (the supplier's own ERP and CRM).",
    )
    is_active = models.BooleanField("active", default=True, help_text="An inactive partner's keys are refused.")
    requests_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Requests per minute for all of this partner's keys together; empty uses API_PARTNER_RATE.",
    )
    notes = models.TextField(blank=True)

    history = HistoricalRecords(m2m_fields=[customers])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiKey(TimeStampedModel):
    """A partner's key: its keyed hash (never the key itself), scopes, expiry and revocation.

    ``key_hash`` is ``apps.core.secrets.hash_secret`` of the whole key, so a
    request's key is found by hashing it once. ``prefix`` is the key's first
    characters, which staff and partners use to tell keys apart.
    """

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="What the key is for, such as 'ERP production'.")
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=100, unique=True, editable=False)
    scopes = models.JSONField(default=list, help_text="Scopes such as catalog:read and orders:write.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: the key does not expire.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    # Written at most once per API_KEY_LAST_USED_INTERVAL_SECONDS, so reads do not turn into writes.
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    # last_used_at changes on use, which is not an edit worth a history row.
    history = HistoricalRecords(excluded_fields=["last_used_at"])

    class Meta:
        verbose_name = "API key"
        ordering = ["partner", "name", "id"]
        indexes = [models.Index(fields=["partner", "revoked_at"], name="apikey_partner_revoked_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class WebhookSubscription(TimeStampedModel):
    """A partner's request to receive events at a URL, signed with a secret derived from ``secret_nonce``.

    The signing secret is HMAC-SHA256 of the nonce under the server's
    webhook key (see ``apps.api.webhooks.signing_secret``), so the database
    alone does not hold it.
    """

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="webhook_subscriptions")
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="Event types such as order.shipped.")
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField("active", default=True)
    secret_nonce = models.CharField(max_length=64, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)
    created_by_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["partner", "id"]

    def __str__(self) -> str:
        return f"{self.partner} → {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "waiting to be sent"
    DELIVERED = "delivered", "delivered"
    FAILED = "failed", "failed after the last try"
    CANCELLED = "cancelled", "not sent: the subscription was disabled or deleted"


class WebhookDelivery(models.Model):
    """One event for one subscription: the body sent on every try, and the state of its delivery."""

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=64, unique=True, help_text="Sent as X-Webhook-Id; the same on every try.")
    event = models.CharField(max_length=40)
    body = models.TextField(help_text="The JSON body, built once when the event happened.")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="webhookdelivery_pending_idx", condition=models.Q(status="pending")
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=DeliveryStatus.values), name="webhookdelivery_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One try of a delivery: when, the HTTP status the receiver returned (if any), and the error."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    response_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhookattempt_delivery_number_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id} try {self.number}: {self.response_code or self.error[:40]}"
