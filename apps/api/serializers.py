"""Input serializers that check the shape of request bodies, and output serializers that document responses.

Responses are built as plain dicts (see ``selectors``). The output
serializers here describe them in the OpenAPI document, and the schema
tests check that the two agree. Business rules stay in the services: these
check types, lengths and formats only.
"""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.api.models import WebhookEvent
from apps.orders.inputs import InvalidNumber, parse_quantity
from apps.orders.models import LineStatus, OrderStatus
from apps.quotes.models import QuoteStatus

_DECIMAL_PATTERN = r"^\d+(\.\d+)?$"
MAX_PRICE_LINES = 1000
MAX_ORDER_LINES = 1000


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "pattern": _DECIMAL_PATTERN, "example": "2.5"},
            {"type": "number", "minimum": 0, "example": 2.5},
        ]
    }
)
class DecimalTextField(serializers.Field):
    """A number written as a JSON string or number in plain decimal notation, passed on as text or Decimal.

    Strict reading (signs, exponents, decimal places) is left to the service that uses the value.
    """

    default_error_messages = {
        "invalid": 'Send a number in decimal notation, as a JSON string such as "2.50" or a JSON number.',
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | Decimal):
            self.fail("invalid")
        if isinstance(data, str) and len(data) > 40:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return str(value)


class QuantityField(DecimalTextField):
    """A quantity above 0 with at most 3 decimals, checked here because pricing reads it as given."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return parse_quantity(value)
        except InvalidNumber as error:
            raise serializers.ValidationError(f"The quantity {error}.") from None


class PriceLineInput(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = QuantityField(required=False, default=Decimal(1))


class PriceRequestInput(serializers.Serializer):
    customer = serializers.CharField(
        max_length=32, required=False, help_text="Account number; needed when the key serves several customers."
    )
    on_date = serializers.DateField(required=False, help_text="The pricing day; today in UTC by default.")
    lines = PriceLineInput(many=True, allow_empty=False, max_length=MAX_PRICE_LINES)


class ShipToInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    street = serializers.CharField(max_length=300, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    country = serializers.CharField(max_length=2, required=False, allow_blank=True, help_text="ISO 3166-1 alpha-2.")
    address_id = serializers.CharField(max_length=64, required=False, allow_blank=True)


class OrderLineInput(serializers.Serializer):
    line_number = serializers.CharField(max_length=32, required=False, allow_blank=True)
    sku = serializers.CharField(max_length=64)
    quantity = DecimalTextField()
    unit = serializers.CharField(max_length=40, required=False, allow_blank=True)
    unit_price = DecimalTextField(required=False, help_text="The price the partner expects; a difference opens a case.")
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)


class OrderInput(serializers.Serializer):
    customer = serializers.CharField(
        max_length=32, required=False, help_text="Account number; needed when the key serves several customers."
    )
    po_number = serializers.CharField(max_length=64)
    lines = OrderLineInput(many=True, allow_empty=False, max_length=MAX_ORDER_LINES)
    ship_to = ShipToInput(required=False)
    requested_delivery_date = serializers.DateField(required=False)
    comments = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class CancelInput(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)


class PushInput(serializers.Serializer):
    rows = serializers.ListField(child=serializers.DictField(), allow_empty=False)
    dry_run = serializers.BooleanField(default=False, help_text="Check and count the rows without writing them.")


class CatalogRowDoc(serializers.Serializer):
    """One catalog row with the columns of the catalog CSV file."""

    sku = serializers.CharField()
    name = serializers.CharField(required=False)
    description = serializers.CharField(required=False)
    manufacturer = serializers.CharField(required=False)
    manufacturer_part_number = serializers.CharField(required=False)
    category_code = serializers.CharField(required=False)
    category_name = serializers.CharField(required=False)
    unspsc = serializers.CharField(required=False)
    uom = serializers.CharField(required=False)
    list_price = DecimalTextField(required=False)
    currency = serializers.CharField(required=False)
    lead_time_days = serializers.IntegerField(required=False)
    active = serializers.BooleanField(required=False)
    updated_at = serializers.DateTimeField(required=False)


class CatalogPushInput(serializers.Serializer):
    rows = CatalogRowDoc(many=True)
    dry_run = serializers.BooleanField(default=False)


class StockRowDoc(serializers.Serializer):
    sku = serializers.CharField()
    warehouse = serializers.CharField()
    on_hand = DecimalTextField()
    as_of = serializers.DateTimeField()


class StockPushInput(serializers.Serializer):
    rows = StockRowDoc(many=True)
    dry_run = serializers.BooleanField(default=False)


class WebhookInput(serializers.Serializer):
    url = serializers.URLField(max_length=500)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices), allow_empty=False, max_length=20
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


# Output (documentation) -------------------------------------------------------------------------


class ErrorDoc(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="For invalid input: each field's path, such as lines.0.quantity, with its messages.",
    )
    reasons = serializers.ListField(child=serializers.CharField(), required=False)


class WarehouseStockDoc(serializers.Serializer):
    warehouse = serializers.CharField()
    name = serializers.CharField()
    on_hand = serializers.CharField()
    available = serializers.CharField()
    as_of = serializers.DateTimeField()


class ProductDoc(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    manufacturer = serializers.CharField()
    manufacturer_part_number = serializers.CharField()
    category = serializers.CharField(allow_null=True)
    unspsc = serializers.CharField()
    unit = serializers.CharField()
    lead_time_days = serializers.IntegerField()
    configurable = serializers.BooleanField()
    currency = serializers.CharField()
    list_price = serializers.CharField(allow_null=True, help_text="Null when listed in another currency.")
    price = serializers.CharField(allow_null=True, help_text="The customer's unit price for one unit.")
    price_source = serializers.ChoiceField(
        choices=["list_price", "contract_price", "contract_discount", "quantity_break"], allow_null=True
    )
    unpriced_reason = serializers.CharField(allow_null=True)
    available = serializers.CharField(help_text="Units available over all active warehouses.")
    updated_at = serializers.DateTimeField()


class ProductDetailDoc(ProductDoc):
    warehouses = WarehouseStockDoc(many=True)


class ProductPageDoc(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ProductDoc(many=True)


class PricedLineDoc(serializers.Serializer):
    sku = serializers.CharField()
    quantity = serializers.CharField()
    unit_price = serializers.CharField(allow_null=True)
    line_total = serializers.CharField(allow_null=True)
    price_source = serializers.CharField(allow_null=True)
    reason_code = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True)


class PriceResultDoc(serializers.Serializer):
    customer = serializers.CharField()
    contract = serializers.CharField(allow_null=True)
    on_date = serializers.DateField()
    currency = serializers.CharField()
    total = serializers.CharField()
    lines = PricedLineDoc(many=True)


class AvailabilityDoc(serializers.Serializer):
    sku = serializers.CharField()
    available = serializers.CharField()
    warehouses = WarehouseStockDoc(many=True)


class AvailabilityResultDoc(serializers.Serializer):
    results = AvailabilityDoc(many=True)
    not_found = serializers.ListField(child=serializers.CharField())


class OrderSummaryDoc(serializers.Serializer):
    number = serializers.CharField()
    customer = serializers.CharField()
    po_number = serializers.CharField()
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    status_reason = serializers.CharField()
    channel = serializers.CharField()
    currency = serializers.CharField()
    subtotal = serializers.CharField()
    tax_total = serializers.CharField()
    total = serializers.CharField()
    requested_delivery_date = serializers.DateField(allow_null=True)
    erp_reference = serializers.CharField(help_text="The ERP's number of the order; empty until it acknowledges it.")
    erp_acknowledged_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class OrderPageDoc(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = OrderSummaryDoc(many=True)


class OrderLineDoc(serializers.Serializer):
    line_number = serializers.CharField()
    sku = serializers.CharField()
    description = serializers.CharField()
    quantity = serializers.CharField()
    unit = serializers.CharField()
    status = serializers.ChoiceField(choices=LineStatus.choices)
    unit_price = serializers.CharField(allow_null=True)
    buyer_unit_price = serializers.CharField(allow_null=True)
    price_source = serializers.CharField()
    quantity_allocated = serializers.CharField()
    quantity_shipped = serializers.CharField()
    quantity_invoiced = serializers.CharField()


class ShipmentLineDoc(serializers.Serializer):
    line_number = serializers.CharField()
    quantity = serializers.CharField()


class ShipmentDoc(serializers.Serializer):
    shipment_id = serializers.CharField()
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    shipped_at = serializers.DateTimeField()
    expected_delivery_at = serializers.DateTimeField(allow_null=True)
    lines = ShipmentLineDoc(many=True)


class InvoiceDoc(serializers.Serializer):
    number = serializers.CharField()
    invoice_date = serializers.DateTimeField()
    currency = serializers.CharField()
    subtotal = serializers.CharField()
    tax = serializers.CharField()
    total = serializers.CharField()
    due_date = serializers.DateField()
    paid_amount = serializers.CharField()
    paid_at = serializers.DateTimeField(allow_null=True)


class OrderDetailDoc(OrderSummaryDoc):
    ship_to = serializers.DictField()
    rejection_reasons = serializers.ListField(child=serializers.CharField())
    lines = OrderLineDoc(many=True)
    shipments = ShipmentDoc(many=True)
    invoices = InvoiceDoc(many=True)


class OrderRejectedDoc(ErrorDoc):
    order = serializers.CharField(allow_null=True, required=False, help_text="Number of the rejected order kept.")


# ERP messages about orders -----------------------------------------------------------------------


class ErpAcknowledgementInput(serializers.Serializer):
    erp_reference = serializers.CharField(max_length=64, help_text="The ERP's own number of the order.")
    total = DecimalTextField(required=False, help_text="The order total the ERP computed, for the reconciliation.")


class ErpQuantityLineInput(serializers.Serializer):
    line_number = serializers.CharField(max_length=32, help_text="The buyer's line number, as the order shows it.")
    quantity = QuantityField()


class ShipmentReportInput(serializers.Serializer):
    shipment_id = serializers.CharField(max_length=64, help_text="The ERP's id of the shipment; unique per order.")
    lines = ErpQuantityLineInput(many=True, allow_empty=False, max_length=MAX_ORDER_LINES)
    carrier = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    carrier_scac = serializers.CharField(
        max_length=4, required=False, allow_blank=True, default="", help_text="The carrier's SCAC code."
    )
    tracking_number = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    shipped_at = serializers.DateTimeField(required=False, help_text="When the goods left; now when left out.")
    expected_delivery_at = serializers.DateTimeField(required=False)


class InvoiceReportInput(serializers.Serializer):
    invoice_number = serializers.CharField(max_length=64, help_text="The ERP's invoice number; unique.")
    lines = ErpQuantityLineInput(many=True, allow_empty=False, max_length=MAX_ORDER_LINES)
    tax = DecimalTextField(help_text="The invoice's tax amount.")
    total = DecimalTextField(help_text="Must equal the lines at the order's prices plus the tax.")
    due_date = serializers.DateField()
    invoice_date = serializers.DateTimeField(required=False, help_text="Now when left out.")


class PaymentReportInput(serializers.Serializer):
    payment_id = serializers.CharField(max_length=64, help_text="The ERP's id of the payment; unique.")
    amount = DecimalTextField()
    paid_on = serializers.DateField(required=False, help_text="The payment's date; today when left out.")


class ErpAcknowledgementDoc(serializers.Serializer):
    order = serializers.CharField()
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    erp_reference = serializers.CharField()
    erp_acknowledged_at = serializers.DateTimeField()


class ShipmentReportDoc(serializers.Serializer):
    order = serializers.CharField()
    status = serializers.ChoiceField(choices=OrderStatus.choices, help_text="The order's status after the shipment.")
    shipment_id = serializers.CharField()
    shipped_at = serializers.DateTimeField()
    lines = ShipmentLineDoc(many=True)


class InvoiceReportDoc(serializers.Serializer):
    invoice_number = serializers.CharField()
    order = serializers.CharField()
    status = serializers.ChoiceField(choices=OrderStatus.choices, help_text="The order's status after the invoice.")
    currency = serializers.CharField()
    subtotal = serializers.CharField()
    tax = serializers.CharField()
    total = serializers.CharField()
    due_date = serializers.DateField()
    invoice_date = serializers.DateTimeField()


class PaidOrderDoc(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=OrderStatus.choices)


class PaymentReportDoc(serializers.Serializer):
    payment_id = serializers.CharField()
    invoice_number = serializers.CharField()
    amount = serializers.CharField()
    currency = serializers.CharField()
    paid_on = serializers.DateField()
    invoice_paid_amount = serializers.CharField()
    invoice_open_amount = serializers.CharField()
    orders = PaidOrderDoc(many=True)


class ImportRowErrorDoc(serializers.Serializer):
    line = serializers.IntegerField(help_text="Position of the row in 'rows', from 1.")
    column = serializers.CharField()
    value = serializers.CharField()
    message = serializers.CharField()
    level = serializers.ChoiceField(choices=["rejected", "notice"])


class PushResultDoc(serializers.Serializer):
    job = serializers.IntegerField()
    status = serializers.CharField()
    dry_run = serializers.BooleanField()
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    stale = serializers.IntegerField(help_text="Rows older than the stored data, which changed nothing.")
    rejected = serializers.IntegerField()
    flagged = serializers.IntegerField(help_text="Rows held for review by staff.")
    errors = ImportRowErrorDoc(many=True)


CRM_CHANGE_TIME_HELP = "The CRM's change time; an older row than the stored one is stale."


class CustomerRowDoc(serializers.Serializer):
    """One customer from the CRM; the account number identifies it."""

    account = serializers.CharField(help_text="The customer's account number, such as ACME-001.")
    name = serializers.CharField()
    currency = serializers.CharField(help_text="ISO 4217 code.")
    payment_terms = serializers.CharField(required=False, help_text="Such as NET30.")
    credit_limit = DecimalTextField(required=False)
    region = serializers.CharField(required=False)
    tax_exempt = serializers.BooleanField(required=False)
    updated_at = serializers.DateTimeField(help_text=CRM_CHANGE_TIME_HELP)


class CustomerPushInput(serializers.Serializer):
    rows = CustomerRowDoc(many=True)
    dry_run = serializers.BooleanField(default=False)


class ContractRowDoc(serializers.Serializer):
    """One contract header from the CRM; the contract number identifies it."""

    contract = serializers.CharField(help_text="The contract number.")
    customer = serializers.CharField(help_text="The customer's account number.")
    name = serializers.CharField(required=False)
    currency = serializers.CharField(help_text="ISO 4217 code of the contract's prices.")
    valid_from = serializers.DateField()
    valid_to = serializers.DateField(required=False, allow_null=True, help_text="Empty or null: open-ended.")
    status = serializers.ChoiceField(choices=["draft", "active", "suspended", "terminated"])
    updated_at = serializers.DateTimeField(help_text=CRM_CHANGE_TIME_HELP)


class ContractPriceRowDoc(serializers.Serializer):
    """One contract price with the columns of the contract-price CSV file."""

    contract = serializers.CharField()
    sku = serializers.CharField()
    min_quantity = DecimalTextField(required=False)
    price = DecimalTextField(required=False, help_text="Give exactly one of price and discount_percent.")
    discount_percent = DecimalTextField(required=False)
    valid_from = serializers.DateField(required=False, allow_null=True)
    valid_to = serializers.DateField(required=False, allow_null=True)
    updated_at = serializers.DateTimeField(required=False)


class ContractPushInput(serializers.Serializer):
    contracts = serializers.ListField(
        child=serializers.DictField(), required=False, default=list, help_text="Contract headers, applied first."
    )
    prices = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    dry_run = serializers.BooleanField(default=False, help_text="Check and count the rows without writing them.")

    def validate(self, attrs):
        if not attrs["contracts"] and not attrs["prices"]:
            raise serializers.ValidationError({"contracts": "Send at least one contract header or price row."})
        return attrs


class ContractPushInputDoc(serializers.Serializer):
    contracts = ContractRowDoc(many=True, required=False)
    prices = ContractPriceRowDoc(many=True, required=False)
    dry_run = serializers.BooleanField(default=False)


class ContractPushResultDoc(serializers.Serializer):
    contracts = PushResultDoc(allow_null=True, help_text="The contract headers' import job; null when none were sent.")
    prices = PushResultDoc(allow_null=True, help_text="The price rows' import job; null when none were sent.")


class WebhookDoc(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEvent.choices))
    description = serializers.CharField()
    active = serializers.BooleanField()
    disabled_reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class WebhookCreatedDoc(WebhookDoc):
    secret = serializers.CharField(help_text="The signing secret; shown only in this response.")


class WebhookListDoc(serializers.Serializer):
    results = WebhookDoc(many=True)


# Quotes -----------------------------------------------------------------------------------------


class QuoteLineInput(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = QuantityField()
    configuration = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=10_000),
        required=False,
        help_text='For a configurable product: option code to quantity, such as {"RAM-32": 1}.',
    )


class QuoteRequestInput(serializers.Serializer):
    customer = serializers.CharField(
        max_length=32, required=False, help_text="Account number; needed when the key serves several customers."
    )
    lines = QuoteLineInput(many=True, allow_empty=False, max_length=MAX_ORDER_LINES)
    contact_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    contact_email = serializers.EmailField(required=False, allow_blank=True)
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    crm_opportunity = serializers.CharField(max_length=64, required=False, allow_blank=True)


class QuoteAcceptInput(serializers.Serializer):
    po_number = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="The customer's PO number for the order."
    )
    create_order = serializers.BooleanField(
        required=False,
        default=True,
        help_text="true (the default) turns the quote into an order at once. false keeps it accepted for a "
        "buyer who orders through a procurement system: it loads into the PunchOut cart, and the purchase "
        "order that follows is matched to it.",
    )


class QuoteDeclineInput(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)


class QuoteSummaryDoc(serializers.Serializer):
    number = serializers.CharField()
    version = serializers.IntegerField()
    customer = serializers.CharField()
    status = serializers.ChoiceField(choices=QuoteStatus.choices)
    status_reason = serializers.CharField()
    currency = serializers.CharField()
    gross_total = serializers.CharField()
    discount_total = serializers.CharField()
    total = serializers.CharField(help_text="Excluding tax.")
    valid_until = serializers.DateField()
    customer_po_number = serializers.CharField()
    order = serializers.CharField(allow_null=True, help_text="Number of the order the quote became, once accepted.")
    prices_out_of_date_since = serializers.DateTimeField(
        allow_null=True,
        help_text=(
            "When a change of the customer's contract made the quote's prices differ from today's contract prices; "
            "null while they match. The quote keeps its prices until sales refresh them. Such a quote can still "
            "be accepted, and its order takes the quoted prices."
        ),
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class QuoteLineDoc(serializers.Serializer):
    position = serializers.IntegerField()
    sku = serializers.CharField()
    description = serializers.CharField()
    quantity = serializers.CharField()
    configuration = serializers.DictField(child=serializers.IntegerField())
    list_price = serializers.CharField(allow_null=True)
    net_price = serializers.CharField()
    line_total = serializers.CharField()


class QuoteDetailDoc(QuoteSummaryDoc):
    sent_at = serializers.DateTimeField(allow_null=True)
    answered_at = serializers.DateTimeField(allow_null=True)
    lines = QuoteLineDoc(many=True)


class QuotePageDoc(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = QuoteSummaryDoc(many=True)
