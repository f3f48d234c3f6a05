"""Buyer organisations, their contracts and the contract prices the pricing engine reads."""

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from apps.core.models import TimeStampedModel
from apps.core.money import format_amount


class ServiceTier(models.IntegerChoices):
    """The priority of a customer's backordered orders for stock that arrives: tier 1 first."""

    PLATINUM = 1, "platinum"
    GOLD = 2, "gold"
    STANDARD = 3, "standard"


class Customer(TimeStampedModel):
    """A buyer organisation. The CRM owns these fields."""

    account_number = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)
    payment_terms = models.CharField(max_length=32, blank=True, help_text="Such as NET30.")
    credit_limit = models.DecimalField(
        max_digits=18, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))]
    )
    credit_hold = models.BooleanField(default=False)
    tax_exempt = models.BooleanField(default=False)
    region = models.CharField(max_length=32, blank=True)
    ship_to_country = models.CharField(
        "default ship-to country",
        max_length=2,
        blank=True,
        help_text="ISO 3166-1 alpha-2 code, such as NL; taxes quotes, and orders whose ship-to names no country.",
    )
    ship_to_region = models.CharField(
        "default ship-to region",
        max_length=32,
        blank=True,
        help_text="State or province code within the default ship-to country, such as CA; may be empty.",
    )
    service_tier = models.PositiveSmallIntegerField(
        choices=ServiceTier.choices,
        default=ServiceTier.STANDARD,
        help_text="Backordered orders get arriving stock by tier (platinum first), then oldest first.",
    )
    is_active = models.BooleanField("active", default=True)
    source_updated_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["account_number"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ship_to_country="") | models.Q(ship_to_country__regex=r"^[A-Z]{2}$"),
                name="customer_ship_to_country_code",
                violation_error_message="Default ship-to country must be a two-letter code in capitals, such as NL.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_number} {self.name}"


class Contract(TimeStampedModel):
    """The agreement that sets a customer's prices and the products it may buy."""

    class Status(models.TextChoices):
        DRAFT = "draft", "draft"
        ACTIVE = "active", "active"
        SUSPENDED = "suspended", "suspended"
        TERMINATED = "terminated", "terminated"

    class Assortment(models.TextChoices):
        ALL = "all", "all products"
        SELECTED = "selected", "chosen categories and products"

    customer = models.ForeignKey("contracts.Customer", on_delete=models.PROTECT, related_name="contracts")
    number = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200, blank=True)
    valid_from = models.DateField()
    valid_to = models.DateField(
        null=True, blank=True, help_text="Last day the contract applies; empty means open-ended."
    )
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    assortment = models.CharField(max_length=8, choices=Assortment.choices, default=Assortment.ALL)
    categories = models.ManyToManyField(
        "catalog.Category",
        blank=True,
        related_name="contracts",
        help_text="With chosen assortment: these categories and everything below them.",
    )
    products = models.ManyToManyField(
        "catalog.Product",
        blank=True,
        related_name="contracts",
        help_text="With chosen assortment: these products, whatever their category.",
    )
    source_updated_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = HistoricalRecords(m2m_fields=[categories, products])

    class Meta:
        ordering = ["customer", "-valid_from"]
        indexes = [
            models.Index(fields=["customer", "status", "valid_from"], name="contract_cust_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True) | models.Q(valid_to__gte=models.F("valid_from")),
                name="contract_valid_to_after_valid_from",
                violation_error_message=(
                    "Valid to must be on or after valid from. Correct one of the dates, "
                    "or leave valid to empty for an open-ended contract."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.customer.account_number})" if self.customer_id else self.number

    def clean(self):
        super().clean()
        if self.status != self.Status.ACTIVE or not self.customer_id or not self.valid_from:
            return
        overlapping = Contract.objects.filter(customer_id=self.customer_id, status=self.Status.ACTIVE).exclude(
            pk=self.pk
        )
        overlapping = overlapping.filter(models.Q(valid_to__isnull=True) | models.Q(valid_to__gte=self.valid_from))
        if self.valid_to:
            overlapping = overlapping.filter(valid_from__lte=self.valid_to)
        clash = overlapping.first()
        if clash:
            raise ValidationError(
                f"Contract {clash.number} is already active for this customer in these dates; "
                "end it before this one starts, or suspend it."
            )


class ContractPrice(TimeStampedModel):
    """A contract's price for one product: a fixed price or a discount off list, from a minimum quantity."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="prices")
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="contract_prices")
    min_quantity = models.DecimalField(
        max_digits=14,
        decimal_places=3,
        default=Decimal("1"),
        help_text="The price applies from this quantity on (a quantity break when above 1).",
    )
    price = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))]
    )
    discount_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="Percent off the list price, from 0 to 100.",
    )
    valid_from = models.DateField(null=True, blank=True, help_text="Empty: from the contract's start.")
    valid_to = models.DateField(null=True, blank=True, help_text="Last day; empty: until the contract ends.")
    # The ERP's change time of the last imported row that gave one (the optional updated_at column of
    # the contract-price file); an imported row older than this is skipped as stale.
    source_updated_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["contract", "product", "min_quantity"]
        indexes = [
            models.Index(fields=["contract", "product"], name="cprice_contract_product_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(price__isnull=False, discount_percent__isnull=True)
                    | models.Q(price__isnull=True, discount_percent__isnull=False)
                ),
                name="contractprice_price_xor_discount",
                violation_error_message="Set exactly one of price and discount percent.",
            ),
            models.CheckConstraint(
                condition=models.Q(min_quantity__gt=0),
                name="contractprice_min_quantity_positive",
                violation_error_message=(
                    "Min quantity must be greater than 0. Enter the quantity from which this price applies, such as 1."
                ),
            ),
            models.CheckConstraint(
                condition=models.Q(price__isnull=True) | models.Q(price__gte=0),
                name="contractprice_price_not_negative",
                violation_error_message="Price must not be negative. Enter 0 or more.",
            ),
            models.CheckConstraint(
                condition=models.Q(discount_percent__isnull=True)
                | models.Q(discount_percent__gte=0, discount_percent__lte=100),
                name="contractprice_discount_0_to_100",
                violation_error_message="Discount percent must be from 0 to 100.",
            ),
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True)
                | models.Q(valid_from__isnull=True)
                | models.Q(valid_to__gte=models.F("valid_from")),
                name="contractprice_valid_to_after_valid_from",
                violation_error_message=(
                    "Valid to must be on or after valid from. Correct one of the dates, "
                    "or leave valid to empty so the price applies until the contract ends."
                ),
            ),
            models.UniqueConstraint(
                fields=["contract", "product", "min_quantity", "valid_from"],
                name="contractprice_tier_uniq",
                violation_error_message=(
                    "This contract already prices this product from this min quantity and valid from date. "
                    "Edit that price, or change the min quantity or valid from."
                ),
            ),
            # NULLs are distinct in a unique index, so the open-start tier needs its own.
            models.UniqueConstraint(
                fields=["contract", "product", "min_quantity"],
                condition=models.Q(valid_from__isnull=True),
                name="contractprice_open_tier_uniq",
                violation_error_message=(
                    "This contract already prices this product from this min quantity with an empty valid from. "
                    "Edit that price, or change the min quantity or set a valid from date."
                ),
            ),
        ]

    def __str__(self) -> str:
        """Label the price by contract number and SKU when both are loaded, by their ids otherwise.

        Reading an unloaded relation here would cost two queries per label on every list of prices,
        so the admin loads both relations with the price (``select_related``).
        """
        contract = self._state.fields_cache.get("contract")
        product = self._state.fields_cache.get("product")
        contract_label = contract.number if contract is not None else f"contract {self.contract_id}"
        product_label = product.sku if product is not None else f"product {self.product_id}"
        if self.price is not None:
            currency = contract.currency if contract is not None else ""
            value = f"{format_amount(self.price, currency)} {currency}".rstrip()
        elif self.discount_percent is not None:
            value = f"{_format_number(self.discount_percent)}% off list price"
        else:
            value = "no price set"
        return f"{contract_label} · {product_label} from {_format_number(self.min_quantity)}: {value}"

    def clean(self):
        super().clean()
        try:
            contract = self.contract
        except Contract.DoesNotExist:
            return
        errors = {}
        for name in ("valid_from", "valid_to"):
            day = getattr(self, name)
            if day is not None and contract.valid_from is not None and not _contract_covers(contract, day):
                errors[name] = (
                    f"{self._meta.get_field(name).verbose_name.capitalize()} {day.isoformat()} is outside "
                    f"contract {contract.number}'s validity, {_validity_label(contract)}. Choose a date "
                    "within the contract's validity, or leave it empty to follow the contract's dates."
                )
        if errors:
            raise ValidationError(errors)


def _contract_covers(contract: Contract, day: dt.date) -> bool:
    return contract.valid_from <= day and (contract.valid_to is None or day <= contract.valid_to)


def _validity_label(contract: Contract) -> str:
    if contract.valid_to is None:
        return f"{contract.valid_from.isoformat()} with no end"
    return f"{contract.valid_from.isoformat()} to {contract.valid_to.isoformat()}"


def _format_number(value: Decimal | None) -> str:
    """Format a quantity or percent without trailing zeros and without exponent notation."""
    if value is None:
        return ""
    return f"{value.normalize():f}"
