"""Orders and their lines, allocations, shipments, invoices and payments, the inbound documents and the outbox."""

from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from simple_history.models import HistoricalRecords

from apps.core.models import TimeStampedModel


class OrderStatus(models.TextChoices):
    RECEIVED = "received", "received"
    ON_HOLD = "on_hold", "on hold"
    CONFIRMED = "confirmed", "confirmed"
    ALLOCATED = "allocated", "allocated"
    PARTIALLY_SHIPPED = "partially_shipped", "partially shipped"
    SHIPPED = "shipped", "shipped"
    INVOICED = "invoiced", "invoiced"
    PAID = "paid", "paid"
    CANCELLED = "cancelled", "cancelled"
    REJECTED = "rejected", "rejected"


# States in which the buyer may still change or cancel the order, because nothing has left a warehouse.
CHANGEABLE_STATES = (OrderStatus.RECEIVED, OrderStatus.ON_HOLD, OrderStatus.CONFIRMED, OrderStatus.ALLOCATED)
# States whose value counts towards the customer's credit exposure until an invoice takes over.
OPEN_STATES = (
    OrderStatus.RECEIVED,
    OrderStatus.ON_HOLD,
    OrderStatus.CONFIRMED,
    OrderStatus.ALLOCATED,
    OrderStatus.PARTIALLY_SHIPPED,
    OrderStatus.SHIPPED,
)

# States in which an order's shipped lines may be invoiced.
INVOICEABLE_STATES = (OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED)


class Channel(models.TextChoices):
    CXML = "cxml", "cXML OrderRequest"
    OCI = "oci", "OCI cart"
    API = "api", "partner API"
    QUOTE = "quote", "accepted quote"
    STAFF = "staff", "staff"


def _no_blocking_case(order: "Order") -> bool:
    """Condition of ``confirm``: no open blocking exception case holds the order.

    A service that has just run this query under the order's row lock sets
    ``order.checked_unblocked`` to skip running it again for the same transition.
    """
    from apps.exceptions.selectors import has_blocking_open_cases

    if getattr(order, "checked_unblocked", False):
        return True
    return not has_blocking_open_cases(order)


def _is_not_test(order: "Order") -> bool:
    """Condition of ``allocate``: test orders never reach allocation or fulfilment."""
    return not order.is_test


class Order(ConcurrentTransitionMixin, TimeStampedModel):
    """A customer's purchase order as this system takes it in, from any channel.

    ``source`` is the channel's opaque key of the sender (for cXML the buyer
    connection, such as ``cxml-connection:7``), so that documents about the
    order go back the way it came without this app knowing the protocol.
    """

    number = models.CharField(max_length=32, unique=True)
    customer = models.ForeignKey("contracts.Customer", on_delete=models.PROTECT, related_name="orders")
    contract = models.ForeignKey(
        "contracts.Contract", null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    source = models.CharField(max_length=100, blank=True, help_text="The channel's key of the sender.")
    status = FSMField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.RECEIVED, protected=True)
    is_test = models.BooleanField(
        "test order", default=False, help_text="Sent in test mode; never allocated, shipped or invoiced."
    )

    po_number = models.CharField("PO number", max_length=64)
    payload_id = models.CharField(
        "payloadID", max_length=250, blank=True, help_text="Of the document that created or last changed the order."
    )
    order_date = models.DateTimeField(null=True, blank=True)
    requested_delivery_date = models.DateField(null=True, blank=True)
    ship_to = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    bill_to = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    contact = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    extrinsics = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    comments = models.TextField(blank=True)

    currency = models.CharField(max_length=3)
    subtotal = models.DecimalField(max_digits=18, decimal_places=4, default=Decimal("0"))
    tax_total = models.DecimalField(max_digits=18, decimal_places=4, default=Decimal("0"))
    total = models.DecimalField(max_digits=18, decimal_places=4, default=Decimal("0"))
    buyer_total = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True, help_text="The total the buyer's document states."
    )
    buyer_tax = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True, help_text="The tax the buyer computed."
    )

    warehouse = models.ForeignKey(
        "catalog.Warehouse",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
        help_text="The one warehouse that ships the order; empty when allocation split it.",
    )
    erp_reference = models.CharField("ERP reference", max_length=64, blank=True)
    erp_acknowledged_at = models.DateTimeField(
        "ERP acknowledged at", null=True, blank=True, help_text="When the ERP acknowledged the order."
    )
    rejection_reasons = models.JSONField(default=list, blank=True)
    cart_differences = models.JSONField(
        default=list,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="How the order differs from the PunchOut cart it follows: added, removed or changed lines, ship-to.",
    )
    status_reason = models.CharField(max_length=300, blank=True, help_text="Why the order last changed status.")

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("hold_order", "Can put an order on hold"),
            ("confirm_order", "Can confirm an order"),
            ("allocate_order", "Can allocate an order"),
            ("ship_order", "Can record an order's shipment"),
            ("invoice_order", "Can record an order's invoice"),
            ("mark_order_paid", "Can mark an order paid"),
            ("cancel_order", "Can cancel an order"),
            ("reject_order", "Can reject an order"),
            ("revise_order", "Can reopen an order for a buyer's change"),
        ]
        indexes = [
            models.Index(fields=["customer", "status"], name="order_customer_status_idx"),
            models.Index(fields=["status", "created_at"], name="order_status_created_idx"),
            models.Index(fields=["po_number"], name="order_po_number_idx"),
            models.Index(
                fields=["status", "created_at"],
                name="order_erp_unacknowledged_idx",
                condition=models.Q(erp_acknowledged_at__isnull=True),
            ),
        ]
        constraints = [
            # A PO number makes one order per customer; a rejected document does not use it up.
            models.UniqueConstraint(
                fields=["customer", "po_number", "is_test"],
                condition=~models.Q(status="rejected"),
                name="order_customer_po_uniq",
            ),
            models.CheckConstraint(condition=models.Q(status__in=OrderStatus.values), name="order_status_valid"),
            models.CheckConstraint(condition=models.Q(channel__in=Channel.values), name="order_channel_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.number} (PO {self.po_number})"

    # Transitions change only this row's fields; services check permissions,
    # lock, save, record the reason and write the outbox event.

    @transition(
        field=status,
        source=[OrderStatus.RECEIVED, OrderStatus.ON_HOLD, OrderStatus.CONFIRMED],
        target=OrderStatus.ON_HOLD,
        permission="orders.hold_order",
        custom={"label": "Hold"},
    )
    def hold(self) -> None:
        pass

    @transition(
        field=status,
        source=[OrderStatus.RECEIVED, OrderStatus.ON_HOLD],
        target=OrderStatus.CONFIRMED,
        conditions=[_no_blocking_case],
        permission="orders.confirm_order",
        custom={"label": "Confirm"},
    )
    def confirm(self) -> None:
        pass

    @transition(
        field=status,
        source=OrderStatus.CONFIRMED,
        target=OrderStatus.ALLOCATED,
        conditions=[_is_not_test],
        permission="orders.allocate_order",
        custom={"label": "Allocate stock"},
    )
    def allocate(self) -> None:
        pass

    @transition(
        field=status,
        source=[OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED],
        target=OrderStatus.PARTIALLY_SHIPPED,
        permission="orders.ship_order",
        custom={"admin": False},
    )
    def ship_partially(self) -> None:
        pass

    @transition(
        field=status,
        source=[OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED],
        target=OrderStatus.SHIPPED,
        permission="orders.ship_order",
        custom={"admin": False},
    )
    def ship(self) -> None:
        pass

    @transition(
        field=status,
        source=OrderStatus.SHIPPED,
        target=OrderStatus.INVOICED,
        permission="orders.invoice_order",
        custom={"admin": False},
    )
    def invoice(self) -> None:
        pass

    @transition(
        field=status,
        source=OrderStatus.INVOICED,
        target=OrderStatus.PAID,
        permission="orders.mark_order_paid",
        custom={"label": "Mark paid"},
    )
    def mark_paid(self) -> None:
        pass

    @transition(
        field=status,
        source=list(CHANGEABLE_STATES),
        target=OrderStatus.CANCELLED,
        permission="orders.cancel_order",
        custom={"label": "Cancel"},
    )
    def cancel(self) -> None:
        pass

    @transition(
        field=status,
        source=OrderStatus.RECEIVED,
        target=OrderStatus.REJECTED,
        permission="orders.reject_order",
        custom={"label": "Reject"},
    )
    def reject(self) -> None:
        pass

    @transition(
        field=status,
        source=list(CHANGEABLE_STATES),
        target=OrderStatus.RECEIVED,
        permission="orders.revise_order",
        custom={"admin": False},
    )
    def revise(self) -> None:
        pass


class LineStatus(models.TextChoices):
    OPEN = "open", "open"
    BACKORDERED = "backordered", "backordered"
    CANCELLED = "cancelled", "cancelled"


class OrderLine(TimeStampedModel):
    """One line of an order: the product, or the SKU and description as received when the SKU is unknown."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(help_text="Order of the line in the document, from 1.")
    line_number = models.CharField(max_length=32, help_text="The line number as the buyer sent it.")
    product = models.ForeignKey(
        "catalog.Product", null=True, blank=True, on_delete=models.PROTECT, related_name="order_lines"
    )
    sku = models.CharField("SKU as received", max_length=64)
    supplier_part_auxiliary_id = models.CharField(max_length=250, blank=True)
    description = models.TextField(blank=True)
    quantity = models.DecimalField(
        max_digits=14, decimal_places=3, help_text="In the line's unit: the product's once a conversion applied."
    )
    unit_text = models.CharField("unit as received", max_length=40, blank=True)
    unit = models.ForeignKey(
        "catalog.UnitOfMeasure", null=True, blank=True, on_delete=models.PROTECT, related_name="order_lines"
    )
    currency = models.CharField(max_length=3)
    buyer_unit_price = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    contract_unit_price = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True, help_text="Our price at intake."
    )
    price_source = models.CharField(max_length=32, blank=True)
    unit_price = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True, help_text="The agreed unit price the order uses."
    )
    buyer_tax = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    # A line ordered in a unit convertible to the product's keeps what the buyer sent in these
    # three fields; quantity, unit and buyer_unit_price then hold the converted values.
    ordered_quantity = models.DecimalField(
        max_digits=14, decimal_places=3, null=True, blank=True, help_text="The quantity as the buyer sent it."
    )
    ordered_unit_price = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True, help_text="The buyer's price per unit it sent."
    )
    unit_factor = models.DecimalField(
        max_digits=24,
        decimal_places=12,
        null=True,
        blank=True,
        help_text="Product units per unit the buyer sent; empty when the buyer used the product's unit.",
    )
    requested_delivery_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=LineStatus.choices, default=LineStatus.OPEN)
    quantity_allocated = models.DecimalField(max_digits=14, decimal_places=3, default=Decimal("0"))
    quantity_shipped = models.DecimalField(max_digits=14, decimal_places=3, default=Decimal("0"))
    quantity_invoiced = models.DecimalField(max_digits=14, decimal_places=3, default=Decimal("0"))
    classification = models.JSONField(default=dict, blank=True)
    extrinsics = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    comments = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="orderline_order_position_uniq"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="orderline_quantity_positive"),
            models.CheckConstraint(
                condition=models.Q(quantity_allocated__gte=0, quantity_shipped__gte=0, quantity_invoiced__gte=0),
                name="orderline_progress_not_negative",
            ),
            models.CheckConstraint(condition=models.Q(status__in=LineStatus.values), name="orderline_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}/{self.line_number}: {self.sku} x {self.quantity}"

    @property
    def is_active(self) -> bool:
        return self.status != LineStatus.CANCELLED

    @property
    def conversion(self) -> str:
        """The unit conversion applied to the line, such as "24 EA = 2 XBX"; empty when none applied."""
        if self.unit_factor is None or self.ordered_quantity is None:
            return ""
        unit = self.unit.code if self.unit_id else "?"
        return f"{self.ordered_quantity.normalize():f} {self.unit_text} = {self.quantity.normalize():f} {unit}"


class LineAllocation(TimeStampedModel):
    """Stock of one warehouse reserved for one order line; a split order has several per line or order."""

    line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="allocations")
    warehouse = models.ForeignKey("catalog.Warehouse", on_delete=models.PROTECT, related_name="line_allocations")
    stock_level = models.ForeignKey("catalog.StockLevel", on_delete=models.PROTECT, related_name="line_allocations")
    quantity = models.DecimalField(max_digits=14, decimal_places=3)

    history = HistoricalRecords()

    class Meta:
        ordering = ["line", "warehouse"]
        constraints = [
            models.UniqueConstraint(fields=["line", "warehouse"], name="lineallocation_line_warehouse_uniq"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="lineallocation_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.line_id}@{self.warehouse_id}: {self.quantity}"


class Shipment(TimeStampedModel):
    """A shipment of (part of) an order, reported by the ERP under its own ``shipment_id``."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="shipments")
    shipment_id = models.CharField(max_length=64)
    carrier = models.CharField(max_length=100, blank=True)
    carrier_scac = models.CharField("carrier SCAC", max_length=4, blank=True)
    tracking_number = models.CharField(max_length=100, blank=True)
    shipped_at = models.DateTimeField()
    expected_delivery_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "shipped_at"]
        constraints = [
            models.UniqueConstraint(fields=["order", "shipment_id"], name="shipment_order_id_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id} ({self.order_id})"


class ShipmentLine(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="shipment_lines")
    quantity = models.DecimalField(max_digits=14, decimal_places=3)

    class Meta:
        ordering = ["shipment", "order_line"]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="shipmentline_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id}/{self.order_line_id}: {self.quantity}"


class Invoice(TimeStampedModel):
    """An invoice reported by the ERP under its own number; its lines may bill several orders of one customer.

    ``orders`` lists the orders whose lines the invoice bills; it is written
    together with the lines. ``paid_amount`` is the sum of the invoice's
    payments, recomputed whenever one is recorded.
    """

    number = models.CharField(max_length=64, unique=True)
    customer = models.ForeignKey("contracts.Customer", on_delete=models.PROTECT, related_name="invoices")
    orders = models.ManyToManyField(Order, related_name="invoices")
    invoice_date = models.DateTimeField()
    currency = models.CharField(max_length=3)
    subtotal = models.DecimalField(max_digits=18, decimal_places=4)
    tax = models.DecimalField(max_digits=18, decimal_places=4)
    total = models.DecimalField(max_digits=18, decimal_places=4)
    due_date = models.DateField()
    paid_amount = models.DecimalField(
        max_digits=18, decimal_places=4, default=Decimal("0"), help_text="The sum of the invoice's payments."
    )
    paid_at = models.DateTimeField(null=True, blank=True, help_text="When the payments first covered the total.")

    history = HistoricalRecords()

    class Meta:
        ordering = ["-invoice_date"]
        indexes = [models.Index(fields=["customer", "currency"], name="invoice_customer_currency_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total=models.F("subtotal") + models.F("tax")), name="invoice_total_adds_up"
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_paid(self) -> bool:
        return self.paid_amount >= self.total

    @property
    def open_amount(self) -> Decimal:
        """The amount still to be paid; never below zero when the payments exceed the total."""
        return max(self.total - self.paid_amount, Decimal(0))


class InvoiceLine(models.Model):
    """A quantity of one order line billed by an invoice, at the line's agreed unit price."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="invoice_lines")
    quantity = models.DecimalField(max_digits=14, decimal_places=3)
    unit_price = models.DecimalField(max_digits=18, decimal_places=4)
    amount = models.DecimalField(max_digits=18, decimal_places=4)

    class Meta:
        ordering = ["invoice", "id"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "order_line"], name="invoiceline_invoice_line_uniq"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="invoiceline_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id}/{self.order_line_id}: {self.quantity}"


class Payment(TimeStampedModel):
    """A payment of an invoice reported by the ERP, unique per the ERP's ``payment_id``.

    The unique id makes a repeated report of the same payment find its row
    instead of counting the amount again.
    """

    payment_id = models.CharField("payment ID", max_length=64, unique=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(max_digits=18, decimal_places=4)
    currency = models.CharField(max_length=3)
    paid_on = models.DateField()

    history = HistoricalRecords()

    class Meta:
        ordering = ["invoice", "paid_on", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.payment_id}: {self.amount} {self.currency} on {self.invoice_id}"


class DocumentOperation(models.TextChoices):
    NEW = "new", "new order"
    UPDATE = "update", "change of an order"
    DELETE = "delete", "cancellation of an order"


class InboundDocument(TimeStampedModel):
    """A document that requested an order change, stored as received, with the response it got.

    One row per (source, document id): the document id is a cXML payloadID or
    an API idempotency key, so a resent document finds its row and gets the
    same response again.
    """

    source = models.CharField(max_length=100)
    document_id = models.CharField(max_length=250)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    operation = models.CharField(max_length=8, choices=DocumentOperation.choices)
    customer = models.ForeignKey("contracts.Customer", on_delete=models.PROTECT, related_name="order_documents")
    po_number = models.CharField("PO number", max_length=64, blank=True)
    refers_to = models.CharField(max_length=250, blank=True, help_text="The earlier document an update refers to.")
    body = models.TextField(blank=True, help_text="The document as received.")
    content_hash = models.CharField(max_length=64, blank=True)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="documents")
    result_code = models.CharField(max_length=40, blank=True)
    result_message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "document_id"], name="inbounddoc_source_id_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.document_id} ({self.source})"


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "waiting to be sent"
    DELIVERED = "delivered", "delivered"
    AWAITING_STATUS = "awaiting_status", "accepted; waiting for the buyer's status update"
    REJECTED = "rejected", "rejected by the buyer"
    FAILED = "failed", "failed after the last try"
    SKIPPED = "skipped", "not sent: no channel sends this event"


class OutboxEvent(TimeStampedModel):
    """A business change to tell the buyer about, written in the transaction that made the change.

    The channel that the order came from turns the event into a document,
    stores it in ``document`` with its ``document_id`` the first time, and
    sends those same bytes on every later try, so a receiver that gets the
    event twice gets one document id.
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="outbox_events")
    event = models.CharField(max_length=40, help_text="Such as order.confirmed or order.shipped.")
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    document_id = models.CharField(max_length=250, blank=True, help_text="payloadID of the built document.")
    document = models.TextField(blank=True)
    response_code = models.CharField(max_length=16, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="outbox_pending_idx", condition=models.Q(status="pending")),
            models.Index(fields=["document_id"], name="outbox_document_id_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=OutboxStatus.values), name="outbox_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.event} for order {self.order_id} ({self.status})"


class OutboundEndpoint(TimeStampedModel):
    """The destination of documents about orders from one source: the buyer system's URL for cXML documents."""

    source = models.CharField(max_length=100, unique=True, help_text="Such as cxml-connection:7.")
    url = models.URLField(max_length=500)
    is_active = models.BooleanField("active", default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["source"]

    def __str__(self) -> str:
        return f"{self.source} → {self.url}"


class ErpMessageKind(models.TextChoices):
    ACKNOWLEDGEMENT = "acknowledgement", "order acknowledgement"
    SHIPMENT = "shipment", "shipment"
    INVOICE = "invoice", "invoice"
    PAYMENT = "payment", "payment"


class ErpMessage(models.Model):
    """A message the ERP sent and this system applied, kept so that a replay returns the first result.

    ``message_key`` is the ERP's own id of the message: the order number for an
    acknowledgement, ``<order number>/<shipment_id>`` for a shipment, the
    invoice number, or the payment id. ``body_hash`` is SHA-256 of the
    message's canonical JSON, so the same id with another body is detected.
    A refused message is not kept, so a corrected message with the same id is applied.
    """

    kind = models.CharField(max_length=16, choices=ErpMessageKind.choices)
    message_key = models.CharField(max_length=200)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="erp_messages")
    body = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    body_hash = models.CharField(max_length=64)
    result = models.JSONField(default=dict, encoder=DjangoJSONEncoder, help_text="The response to the first message.")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "ERP message"
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "message_key"], name="erpmessage_kind_key_uniq"),
            models.CheckConstraint(condition=models.Q(kind__in=ErpMessageKind.values), name="erpmessage_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.message_key}"


class ErpOrderReport(TimeStampedModel):
    """The ERP's last report about one order, gathered from its acknowledgement, shipments, invoices and payments.

    The nightly reconciliation compares the order with this record. Amounts
    and quantities are kept as the decimal text the ERP sent: ``shipped`` maps
    line numbers to quantities, ``invoices`` maps invoice numbers to their
    total, tax and line quantities, and ``payments`` maps payment ids to the
    invoice and amount.
    """

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="erp_report")
    erp_reference = models.CharField("ERP reference", max_length=64, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    order_total = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True, help_text="The order total the ERP stated, if any."
    )
    shipped = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    invoices = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    payments = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    last_message_kind = models.CharField(max_length=16, choices=ErpMessageKind.choices, blank=True)
    last_message_key = models.CharField(max_length=200, blank=True)
    last_reported_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "ERP order report"
        ordering = ["-last_reported_at", "-id"]

    def __str__(self) -> str:
        return f"ERP report of order {self.order_id}"


class ReconciliationRun(models.Model):
    """One run of the nightly comparison of open orders with what the ERP last reported."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    orders_compared = models.PositiveIntegerField(default=0)
    disagreements = models.PositiveIntegerField(default=0, help_text="Disagreements found, new or already known.")
    cases_opened = models.PositiveIntegerField(default=0, help_text="Exception cases opened for new disagreements.")
    error = models.TextField(blank=True, help_text="Why the run stopped early; empty when it finished.")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Reconciliation of {self.started_at:%Y-%m-%d %H:%M}"


class BackorderStatus(models.TextChoices):
    WAITING = "waiting", "waiting for stock"
    ALLOCATED = "allocated", "allocated"
    WITHDRAWN = "withdrawn", "withdrawn"


class BackorderEntry(TimeStampedModel):
    """A confirmed order waiting for stock in the backorder queue.

    The queue is served by the customer's service tier, then by the order's
    age (``Order.created_at``, then id). An entry leaves the queue as
    allocated, or as withdrawn when the order is no longer confirmed.
    """

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="backorder")
    status = models.CharField(max_length=12, choices=BackorderStatus.choices, default=BackorderStatus.WAITING)
    queued_at = models.DateTimeField(help_text="When the order last entered the queue.")
    shortages = models.JSONField(
        default=list,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="The products short when the order last tried to allocate: product id, needed, available.",
    )
    checked_at = models.DateTimeField(null=True, blank=True, help_text="When stock arrival last tried the order.")
    finished_at = models.DateTimeField(null=True, blank=True, help_text="When the order left the queue.")
    status_reason = models.CharField(max_length=300, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["queued_at", "id"]
        verbose_name_plural = "backorder queue"
        indexes = [
            models.Index(fields=["order"], name="backorder_waiting_idx", condition=models.Q(status="waiting")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=BackorderStatus.values), name="backorderentry_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"backorder of order {self.order_id} ({self.status})"
