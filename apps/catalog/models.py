"""Catalog master data: categories, units of measure, products, warehouses and stock."""

from decimal import Decimal

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from apps.core.models import TimeStampedModel

UNSPSC_VALIDATOR = RegexValidator(r"^\d{8}$", "A UNSPSC code has exactly eight digits, such as 43211503.")


class Category(TimeStampedModel):
    """A node in the product category tree; ``path`` lists the codes from the root."""

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    # "/ROOT/CHILD/" kept on save so that a subtree is one prefix query.
    path = models.CharField(max_length=1000, editable=False, db_index=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["path"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def save(self, *args, **kwargs):
        old_path = self.path
        self.path = (self.parent.path if self.parent else "/") + f"{self.code}/"
        super().save(*args, **kwargs)
        if old_path and old_path != self.path:
            # A moved or renamed node moves its whole subtree.
            for child in self.children.all():
                child.save()


class UnitOfMeasure(models.Model):
    """A UN/CEFACT unit code: Recommendation 20, or a Recommendation 21 package code with an X prefix."""

    class Status(models.TextChoices):
        IN_FORCE = "", "in force"
        DEPRECATED = "D", "deprecated"
        DELETED = "X", "deleted"

    class Source(models.TextChoices):
        REC20 = "rec20", "UN/CEFACT Recommendation 20"
        REC21 = "rec21", "UN/CEFACT Recommendation 21 (X-prefixed package code)"

    code = models.CharField(max_length=3, unique=True)
    name = models.CharField(max_length=200)
    symbol = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=1, choices=Status.choices, blank=True, default="")
    source = models.CharField(max_length=5, choices=Source.choices, default=Source.REC20)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "unit of measure"
        verbose_name_plural = "units of measure"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"


class UnitAlias(models.Model):
    """A spelling that a source system uses for a unit, such as ``PCE`` or ``Stück``.

    The same letters mean different units in different sources (``CA`` is
    case in X12 data and can in Rec 21), so an alias belongs to a context.
    ``alias`` is stored normalised (trimmed, upper-case, no trailing dot).
    """

    class Context(models.TextChoices):
        ANY = "any", "any source"
        ERP = "erp", "ERP and catalog files"
        CXML = "cxml", "cXML documents"
        OCI = "oci", "SAP OCI"
        X12 = "x12", "X12-style US data"

    alias = models.CharField(max_length=40)
    context = models.CharField(max_length=8, choices=Context.choices, default=Context.ANY)
    unit = models.ForeignKey(UnitOfMeasure, on_delete=models.CASCADE, related_name="aliases")

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "unit aliases"
        ordering = ["alias", "context"]
        constraints = [
            models.UniqueConstraint(fields=["alias", "context"], name="unitalias_alias_context_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.alias} → {self.unit.code} ({self.context})"


class Product(TimeStampedModel):
    """A sellable item. The ERP owns the master data and list price."""

    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    manufacturer = models.CharField(max_length=200, blank=True)
    manufacturer_part_number = models.CharField(max_length=100, blank=True)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT, related_name="products")
    unspsc = models.CharField("UNSPSC code", max_length=8, blank=True, validators=[UNSPSC_VALIDATOR])
    unit = models.ForeignKey(
        UnitOfMeasure, on_delete=models.PROTECT, related_name="products", verbose_name="unit of measure"
    )
    list_price = models.DecimalField(max_digits=18, decimal_places=4, validators=[MinValueValidator(Decimal("0"))])
    currency = models.CharField(max_length=3)
    lead_time_days = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField("active", default=True)
    is_configurable = models.BooleanField("configurable", default=False)
    attributes = models.JSONField(default=dict, blank=True)
    # The ERP's own change time of the last applied update; an older update is ignored.
    source_updated_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["sku"]
        indexes = [
            models.Index(fields=["category", "is_active"], name="product_cat_active_idx"),
            models.Index(fields=["updated_at"], name="product_updated_at_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(list_price__gte=0), name="product_list_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Warehouse(TimeStampedModel):
    """A stock location that orders are allocated and shipped from."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 code.")
    is_active = models.BooleanField("active", default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class StockLevel(TimeStampedModel):
    """The ERP's on-hand figure for one product in one warehouse, and what is reserved here."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="stock_levels")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="stock_levels")
    on_hand = models.DecimalField(max_digits=14, decimal_places=3, default=Decimal("0"))
    reserved = models.DecimalField(max_digits=14, decimal_places=3, default=Decimal("0"))
    as_of = models.DateTimeField(help_text="When the ERP counted the on-hand figure.")

    history = HistoricalRecords()

    class Meta:
        ordering = ["product", "warehouse"]
        constraints = [
            models.UniqueConstraint(fields=["product", "warehouse"], name="stocklevel_product_warehouse_uniq"),
            models.CheckConstraint(condition=models.Q(reserved__gte=0), name="stocklevel_reserved_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}@{self.warehouse_id}: {self.on_hand}"

    @property
    def available(self) -> Decimal:
        return max(self.on_hand - self.reserved, Decimal("0"))
