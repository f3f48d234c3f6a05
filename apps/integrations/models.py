"""The document log: one row for every integration message in or out, with its response and its masked body."""

import zlib

from django.db import models
from django.utils import timezone


class Direction(models.TextChoices):
    INBOUND = "in", "inbound"
    OUTBOUND = "out", "outbound"


class Channel(models.TextChoices):
    CXML = "cxml", "cXML request"
    OCI = "oci", "SAP OCI"
    CART_RETURN = "cart_return", "PunchOut cart return"
    ORDER_STATUS = "order_status", "order status document"
    CATALOG_IMPORT = "catalog_import", "catalog import"
    API = "api", "partner API"
    WEBHOOK = "webhook", "webhook delivery"


class Outcome(models.TextChoices):
    SUCCEEDED = "ok", "succeeded"
    FAILED = "failed", "failed"


class BodyFormat(models.TextChoices):
    XML = "xml", "XML"
    JSON = "json", "JSON"
    FORM = "form", "form fields"
    HTML = "html", "HTML"
    TEXT = "text", "text"


class DocumentLog(models.Model):
    """One integration message and what came of it: who sent it, which document, the response, timings and bodies.

    Bodies are stored with their secrets masked. A body above
    ``INTEGRATION_LOG_COMPRESS_BYTES`` is kept zlib-compressed in the ``*_gz``
    field and its text field stays empty. The references to orders, jobs and
    connections are nullable and set to NULL when the object is deleted, so
    the log outlives them until the retention period ends. Partner and quote
    are generic references because their models belong to apps that the log
    must not depend on.
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    document_type = models.CharField(max_length=64, help_text="Such as PunchOutSetupRequest or ConfirmationRequest.")
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    payload_id = models.CharField(
        "payloadID or idempotency key", max_length=250, blank=True, help_text="The document's own id, when it has one."
    )
    po_number = models.CharField("PO number", max_length=64, blank=True)
    order_number = models.CharField(max_length=32, blank=True)
    connection = models.ForeignKey(
        "punchout.BuyerConnection", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    partner_type = models.ForeignKey(
        "contenttypes.ContentType", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    partner_id = models.PositiveBigIntegerField(null=True, blank=True)
    partner_name = models.CharField(max_length=200, blank=True)
    customer = models.ForeignKey(
        "contracts.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    outbox_event = models.ForeignKey(
        "orders.OutboxEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    import_job = models.ForeignKey(
        "catalog.ImportJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    related_type = models.ForeignKey(
        "contenttypes.ContentType",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Another object the document concerns, such as a quote.",
    )
    related_id = models.PositiveBigIntegerField(null=True, blank=True)
    url = models.CharField(
        "URL", max_length=500, blank=True, help_text="Our path for inbound, the target for outbound."
    )
    http_status = models.PositiveSmallIntegerField("HTTP status", null=True, blank=True)
    cxml_status = models.CharField("cXML status", max_length=16, blank=True)
    message = models.CharField(max_length=500, blank=True, help_text="The status text or the error.")
    attempts = models.PositiveSmallIntegerField(default=1)
    duration_ms = models.PositiveIntegerField("duration (ms)", null=True, blank=True)
    request_id = models.CharField("request id", max_length=64, blank=True)
    request_format = models.CharField(max_length=4, choices=BodyFormat.choices, blank=True)
    request_body = models.TextField(blank=True)
    request_body_gz = models.BinaryField(null=True, blank=True, editable=False)
    response_format = models.CharField(max_length=4, choices=BodyFormat.choices, blank=True)
    response_body = models.TextField(blank=True)
    response_body_gz = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "integration document"
        permissions = [("resend_documentlog", "Can send an outbound document again")]
        indexes = [
            models.Index(fields=["channel", "-created_at"], name="doclog_channel_created_idx"),
            models.Index(fields=["connection", "outcome", "-created_at"], name="doclog_conn_outcome_idx"),
            models.Index(
                fields=["partner_type", "partner_id", "outcome", "-created_at"], name="doclog_partner_outcome_idx"
            ),
            models.Index(fields=["payload_id"], name="doclog_payload_id_idx"),
            models.Index(fields=["po_number"], name="doclog_po_number_idx"),
            models.Index(fields=["order_number"], name="doclog_order_number_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(direction__in=Direction.values), name="doclog_direction_valid"),
            models.CheckConstraint(condition=models.Q(channel__in=Channel.values), name="doclog_channel_valid"),
            models.CheckConstraint(condition=models.Q(outcome__in=Outcome.values), name="doclog_outcome_valid"),
        ]

    def __str__(self) -> str:
        reference = self.payload_id or self.po_number or self.order_number or f"#{self.pk}"
        return f"{self.get_direction_display()} {self.document_type} {reference}"

    @property
    def request_text(self) -> str:
        """The stored request body as text, decompressed when it was kept compressed."""
        return _stored_text(self.request_body, self.request_body_gz)

    @property
    def response_text(self) -> str:
        """The stored response body as text, decompressed when it was kept compressed."""
        return _stored_text(self.response_body, self.response_body_gz)

    @property
    def is_resendable(self) -> bool:
        """Whether this row is an outbound order document whose outbox event can be sent again."""
        return self.direction == Direction.OUTBOUND and self.outbox_event_id is not None


def _stored_text(text: str, compressed: bytes | memoryview | None) -> str:
    if compressed is None:
        return text
    return zlib.decompress(bytes(compressed)).decode("utf-8", errors="replace")
