"""Configurable products: option groups, options (products or price adders), the rules between them, and costs."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from apps.core.models import TimeStampedModel
from apps.core.money import InvalidCurrency, validate_currency

# Codes appear in stored configurations and in the API, so they are kept to
# letters, digits, dots, dashes and underscores.
CODE_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
    "Use letters, digits, dots, dashes and underscores, starting with a letter or digit, such as mem-32g.",
)


class ConfigurableProduct(TimeStampedModel):
    """A catalog product that is sold with options chosen from its option groups, under its rules."""

    product = models.OneToOneField("catalog.Product", on_delete=models.PROTECT, related_name="configuration")
    is_active = models.BooleanField("active", default=True)
    description = models.TextField(blank=True, help_text="Shown to sales people above the configuration editor.")

    history = HistoricalRecords()

    class Meta:
        ordering = ["product__sku"]

    def __str__(self) -> str:
        return str(self.product) if self.product_id else "new configurable product"


class OptionGroup(TimeStampedModel):
    """A set of options of which a configuration chooses between ``min_choices`` and ``max_choices``."""

    configurable = models.ForeignKey(ConfigurableProduct, on_delete=models.CASCADE, related_name="groups")
    code = models.CharField(max_length=32, validators=[CODE_VALIDATOR])
    name = models.CharField(max_length=120)
    position = models.PositiveSmallIntegerField(default=0, help_text="Groups are shown from the lowest number up.")
    min_choices = models.PositiveSmallIntegerField(
        default=0, help_text="Fewest different options to choose in this group; 0 makes the group optional."
    )
    max_choices = models.PositiveSmallIntegerField(
        null=True, blank=True, default=1, help_text="Most different options to choose; empty means no limit."
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["configurable", "position", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["configurable", "code"],
                name="optiongroup_configurable_code_uniq",
                violation_error_message="This product already has an option group with this code. Choose another.",
            ),
            models.CheckConstraint(
                condition=models.Q(max_choices__isnull=True) | models.Q(max_choices__gte=models.F("min_choices")),
                name="optiongroup_max_not_below_min",
                violation_error_message="Max choices must be at least min choices, or empty for no limit.",
            ),
            models.CheckConstraint(
                condition=models.Q(max_choices__isnull=True) | models.Q(max_choices__gt=0),
                name="optiongroup_max_positive",
                violation_error_message="Max choices must be 1 or more, or empty for no limit.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class ConfigurationOption(TimeStampedModel):
    """One choice in an option group: a catalog product priced by the pricing engine, or a fixed price adder.

    ``code`` is unique within the configurable product, because configurations
    and rules name options by code alone. ``max_quantity`` is how many of the
    option one configured unit may hold (such as 16 memory modules per server).
    """

    configurable = models.ForeignKey(
        ConfigurableProduct, on_delete=models.CASCADE, related_name="options", editable=False
    )
    group = models.ForeignKey(OptionGroup, on_delete=models.CASCADE, related_name="options")
    code = models.CharField(max_length=32, validators=[CODE_VALIDATOR])
    name = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField(default=0)
    product = models.ForeignKey(
        "catalog.Product",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="configuration_options",
        help_text="The product this option adds, priced for the customer like any product. Leave empty for an adder.",
    )
    price_adder = models.DecimalField(
        max_digits=18,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Fixed amount this option adds to the unit price, per option chosen. Leave empty for a product.",
    )
    currency = models.CharField(max_length=3, blank=True, help_text="ISO 4217 code of the price adder and its cost.")
    cost = models.DecimalField(
        max_digits=18,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Cost of a price-adder option, in its currency; a product option's cost is the product's cost.",
    )
    max_quantity = models.PositiveSmallIntegerField(
        default=1, help_text="How many of this option one configured unit may hold."
    )
    is_default = models.BooleanField("default", default=False, help_text="Chosen in a new configuration.")
    is_active = models.BooleanField("active", default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["group", "position", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["configurable", "code"],
                name="configoption_configurable_code_uniq",
                violation_error_message="This product already has an option with this code. Choose another.",
            ),
            models.CheckConstraint(
                condition=models.Q(product__isnull=False, price_adder__isnull=True)
                | models.Q(product__isnull=True, price_adder__isnull=False),
                name="configoption_product_xor_adder",
                violation_error_message="Set exactly one of product and price adder.",
            ),
            models.CheckConstraint(
                condition=models.Q(price_adder__isnull=True) | ~models.Q(currency=""),
                name="configoption_adder_has_currency",
                violation_error_message="A price adder needs its currency.",
            ),
            models.CheckConstraint(
                condition=models.Q(max_quantity__gt=0),
                name="configoption_max_quantity_positive",
                violation_error_message="Max quantity must be 1 or more.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self):
        super().clean()
        if self.currency:
            try:
                self.currency = validate_currency(self.currency)
            except InvalidCurrency as error:
                raise ValidationError({"currency": str(error)}) from None

    def save(self, *args, **kwargs):
        # The group decides the product; the copy lets one unique index cover codes across groups.
        self.configurable_id = self.group.configurable_id
        super().save(*args, **kwargs)


class RuleKind(models.TextChoices):
    REQUIRES = "requires", "requires"
    EXCLUDES = "excludes", "excludes"
    QUANTITY = "quantity", "quantity"


class ConfigurationRule(TimeStampedModel):
    """A rule between options of one configurable product.

    - requires: when ``option`` is chosen, ``target_option`` (or any option of
      ``target_group``) must be chosen too.
    - excludes: when ``option`` is chosen, ``target_option`` (or every option
      of ``target_group``) must not be.
    - quantity: when ``option`` (or any option of ``group``) is chosen, its
      quantity (or the group's total quantity) per configured unit must be a
      multiple of ``multiple_of`` and lie between ``min_quantity`` and
      ``max_quantity``. Memory modules in pairs is ``multiple_of=2``.
    """

    Kind = RuleKind

    configurable = models.ForeignKey(ConfigurableProduct, on_delete=models.CASCADE, related_name="rules")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    option = models.ForeignKey(
        ConfigurationOption, null=True, blank=True, on_delete=models.CASCADE, related_name="+", help_text="When chosen…"
    )
    group = models.ForeignKey(
        OptionGroup,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Quantity rules only: the group whose total quantity the rule limits.",
    )
    target_option = models.ForeignKey(
        ConfigurationOption, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    target_group = models.ForeignKey(OptionGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    multiple_of = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Such as 2 for pairs.")
    min_quantity = models.PositiveSmallIntegerField(null=True, blank=True)
    max_quantity = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.CharField(
        max_length=300, blank=True, help_text="Why the rule exists, shown with the error, such as 'Memory in pairs'."
    )
    is_active = models.BooleanField("active", default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["configurable", "kind", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=RuleKind.values), name="configrule_kind_valid"),
            models.CheckConstraint(
                condition=~models.Q(kind__in=["requires", "excludes"])
                | (
                    models.Q(option__isnull=False, group__isnull=True)
                    & (
                        models.Q(target_option__isnull=False, target_group__isnull=True)
                        | models.Q(target_option__isnull=True, target_group__isnull=False)
                    )
                ),
                name="configrule_relation_complete",
                violation_error_message=(
                    "A requires or excludes rule needs the option it starts from and exactly one target: "
                    "an option or a group."
                ),
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="quantity")
                | (
                    (
                        models.Q(option__isnull=False, group__isnull=True)
                        | models.Q(option__isnull=True, group__isnull=False)
                    )
                    & (
                        models.Q(multiple_of__isnull=False)
                        | models.Q(min_quantity__isnull=False)
                        | models.Q(max_quantity__isnull=False)
                    )
                ),
                name="configrule_quantity_complete",
                violation_error_message=(
                    "A quantity rule needs exactly one of option and group, and at least one of "
                    "multiple of, min quantity and max quantity."
                ),
            ),
            models.CheckConstraint(
                condition=models.Q(multiple_of__isnull=True) | models.Q(multiple_of__gt=0),
                name="configrule_multiple_positive",
                violation_error_message="Multiple of must be 1 or more.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} rule {self.pk or 'new'}"

    def clean(self):
        super().clean()
        errors = {}
        for name in ("option", "group", "target_option", "target_group"):
            related = getattr(self, name)
            if related is None or not self.configurable_id:
                continue
            owner = related.configurable_id
            if owner != self.configurable_id:
                errors[name] = f"{related} belongs to another configurable product; choose one of this product's."
        if self.min_quantity is not None and self.max_quantity is not None and self.min_quantity > self.max_quantity:
            errors["max_quantity"] = "Max quantity must be at least min quantity."
        if errors:
            raise ValidationError(errors)


class ProductCost(TimeStampedModel):
    """What one unit of a product costs the supplier in a currency; quote margins are computed from it."""

    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="costs")
    currency = models.CharField(max_length=3)
    unit_cost = models.DecimalField(max_digits=18, decimal_places=4, validators=[MinValueValidator(Decimal("0"))])

    history = HistoricalRecords()

    class Meta:
        ordering = ["product", "currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "currency"],
                name="productcost_product_currency_uniq",
                violation_error_message="This product already has a cost in this currency. Edit that cost instead.",
            ),
            models.CheckConstraint(
                condition=models.Q(unit_cost__gte=0),
                name="productcost_not_negative",
                violation_error_message="Unit cost must not be negative. Enter 0 or more.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.unit_cost} {self.currency}"

    def clean(self):
        super().clean()
        try:
            self.currency = validate_currency(self.currency)
        except InvalidCurrency as error:
            raise ValidationError({"currency": str(error)}) from None
