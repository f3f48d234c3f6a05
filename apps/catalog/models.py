"""Catalog master data: categories, units of measure, products, warehouses and stock."""

from decimal import Decimal

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from apps.core.historical_records import HistoricalRecordsWithPartialUserIndex
from apps.core.models import TimeStampedModel
from apps.integrations.ownership import System

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

    # Unique through product_sku_uniq in Meta. unique=True would add a second, varchar_pattern_ops
    # index on PostgreSQL for LIKE 'prefix%' queries, which no query of the project makes, and every
    # new product of a catalog import would be written to it.
    sku = models.CharField("SKU", max_length=64)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    manufacturer = models.CharField(max_length=200, blank=True)
    manufacturer_part_number = models.CharField(max_length=100, blank=True)
    # No index of its own: product_cat_active_idx starts with the category and serves its lookups.
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="products", db_index=False
    )
    unspsc = models.CharField("UNSPSC code", max_length=8, blank=True, validators=[UNSPSC_VALIDATOR])
    # No index: nothing looks products up by unit except the checks when a unit is deleted, which
    # UN/CEFACT units rarely are, and a catalog import would write the index for every new product.
    unit = models.ForeignKey(
        UnitOfMeasure,
        on_delete=models.PROTECT,
        related_name="products",
        verbose_name="unit of measure",
        db_index=False,
    )
    list_price = models.DecimalField(max_digits=18, decimal_places=4, validators=[MinValueValidator(Decimal("0"))])
    currency = models.CharField(max_length=3)
    lead_time_days = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField("active", default=True)
    is_configurable = models.BooleanField("configurable", default=False)
    # Indexed by product_tax_class_idx, only where it is set (see Meta.indexes).
    tax_class = models.ForeignKey(
        "tax.TaxClass",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="products",
        help_text="Empty: the default tax class.",
        db_index=False,
    )
    attributes = models.JSONField(default=dict, blank=True)
    # The ERP's own change time of the last applied update; an older update is ignored.
    source_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A digest of the catalog file row that the product's values came from, so that the next import
    # skips that row unparsed when its text is the same (apps/catalog/imports/fingerprints.py).
    # On PostgreSQL a trigger clears it on every update that does not set it, whatever makes the change.
    import_fingerprint = models.BinaryField(null=True, editable=False)

    # The history is read product by product (id), its few rows sorted by date. No query looks it up
    # by date across products, SKU, category, unit or tax class, and a catalog import would write
    # each of those indexes for every changed row. The user is indexed only where a row names one,
    # because imports from the ERP's feed name none. The fingerprint is import bookkeeping.
    history = HistoricalRecordsWithPartialUserIndex(
        no_db_index=["sku", "category", "unit", "tax_class"],
        excluded_fields=["import_fingerprint"],
        date_index=False,
    )

    class Meta:
        ordering = ["sku"]
        indexes = [
            models.Index(fields=["category", "is_active"], name="product_cat_active_idx"),
            models.Index(fields=["updated_at"], name="product_updated_at_idx"),
            # Most products have no tax class, and a catalog import creates them without one. Every
            # lookup by tax class (the admin's filter, the checks when a tax class is deleted)
            # compares it with a value, which implies that it is set, so this index serves them all.
            models.Index(
                fields=["tax_class"], condition=models.Q(tax_class__isnull=False), name="product_tax_class_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["sku"], name="product_sku_uniq"),
            models.CheckConstraint(
                condition=models.Q(list_price__gte=0),
                name="product_list_price_not_negative",
                violation_error_message="List price must not be negative. Enter 0 or more.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"

    def save(self, *args, **kwargs):
        # Only the catalog import's own SQL stores a fingerprint. An instance read before an import
        # changed the row still contains the fingerprint that it read. Writing that one back would pass
        # the trigger's check, because it differs from the stored one, and vouch for values it lacks.
        self.import_fingerprint = None
        super().save(*args, **kwargs)


class CatalogReferenceVersion(models.Model):
    """A counter of changes to the reference data that reading a catalog row depends on; one row.

    PostgreSQL triggers (migration 0011) add one to it in the transaction of every change to a unit
    alias, to a unit's code or status, and to a category's code. Each of those can make the same
    row text resolve to another unit or category. Catalog row fingerprints include the number, so
    that rows read before such a change are parsed again by the next import.
    """

    number = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "catalog reference data version"

    def __str__(self) -> str:
        return f"catalog reference data version {self.number}"


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
            models.UniqueConstraint(
                fields=["product", "warehouse"],
                name="stocklevel_product_warehouse_uniq",
                violation_error_message=(
                    "This product already has a stock level in this warehouse. Edit that stock level instead."
                ),
            ),
            models.CheckConstraint(
                condition=models.Q(reserved__gte=0),
                name="stocklevel_reserved_not_negative",
                violation_error_message="Reserved must not be negative. Enter 0 or more.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}@{self.warehouse_id}: {self.on_hand}"

    @property
    def available(self) -> Decimal:
        return max(self.on_hand - self.reserved, Decimal("0"))


def import_upload_storage() -> FileSystemStorage:
    """Return the storage of uploaded import files: ``CATALOG_IMPORT_UPLOAD_DIR``, or ``var/imports``.

    The Celery worker reads the file from here, so in production this folder must be shared with the workers.
    """
    location = getattr(settings, "CATALOG_IMPORT_UPLOAD_DIR", None) or settings.VAR_DIR / "imports"
    return FileSystemStorage(location=location)


class ImportKind(models.TextChoices):
    CATALOG = "catalog", "catalog (products and list prices)"
    STOCK = "stock", "stock levels"
    CONTRACT_PRICES = "contract_prices", "contract prices"
    CUSTOMERS = "customers", "customers"
    CONTRACTS = "contracts", "contracts"


class ImportJob(models.Model):
    """One run of the import service: who started it, from where, its options, progress, counts and timings."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    class Source(models.TextChoices):
        COMMAND = "command", "management command"
        ADMIN = "admin", "admin upload"
        API = "api", "API push"

    kind = models.CharField(max_length=16, choices=ImportKind.choices)
    source = models.CharField(max_length=8, choices=Source.choices)
    sender = models.CharField(
        max_length=12,
        choices=System.choices,
        blank=True,
        help_text="The system the rows come from; a field it does not own is kept and opens a conflict case.",
    )
    file_name = models.CharField(max_length=255, blank=True, help_text="The file's name as uploaded or given.")
    # The uploaded file kept for the Celery task to read; empty for commands and API pushes.
    upload = models.FileField(upload_to="%Y/%m/", storage=import_upload_storage, blank=True)
    options = models.JSONField(default=dict, blank=True)
    dry_run = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True, help_text="Why the job failed, when it did.")
    progress_done = models.BigIntegerField(default=0, help_text="Bytes (files) or rows (pushes) read so far.")
    progress_total = models.BigIntegerField(null=True, blank=True, help_text="Bytes or rows in all; empty if unknown.")
    rows_read = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField("created", default=0)
    updated_count = models.PositiveIntegerField("updated", default=0)
    unchanged_count = models.PositiveIntegerField("unchanged", default=0)
    stale_count = models.PositiveIntegerField("skipped as stale", default=0)
    rejected_count = models.PositiveIntegerField("rejected", default=0)
    flagged_count = models.PositiveIntegerField("flagged", default=0)
    batches_committed = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Runs started; more than one when the job was restarted after its worker was lost."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="When the process running the job last reported that it is still working."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "status"], name="importjob_kind_status_idx")]

    def __str__(self) -> str:
        return f"import job {self.pk} ({self.kind})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def progress_percent(self) -> int | None:
        if not self.progress_total:
            return None
        return min(100, int(self.progress_done * 100 / self.progress_total))


class ImportRowError(models.Model):
    """One line of a job's error report: a rejected row, or a notice about a row that was still imported."""

    class Level(models.TextChoices):
        REJECTED = "rejected", "rejected"
        NOTICE = "notice", "notice"

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField(help_text="Line in the file where the row starts, or the row's position.")
    column = models.CharField(max_length=64, blank=True)
    value = models.TextField(blank=True)
    message = models.TextField()
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.REJECTED)

    class Meta:
        ordering = ["job", "line", "id"]

    def __str__(self) -> str:
        return f"line {self.line} {self.column}: {self.message}"


class HeldChange(models.Model):
    """A change from an import that waits for a person because it looks wrong.

    ``payload`` is the validated row as the import would have written it. Applying the held
    change writes it (unless the product changed later); rejecting it drops it.
    """

    class Reason(models.TextChoices):
        PRICE_JUMP = "price_jump", "list price moves more than the allowed share"
        ZERO_PRICE = "zero_price", "list price of zero"
        MISSING_FROM_FULL_CATALOG = "missing", "product missing from a full-catalog file"
        UNIT_CHANGE_WITH_OPEN_ORDERS = "unit_change", "unit change on a product with open orders"

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        APPLIED = "applied", "applied"
        REJECTED = "rejected", "rejected"
        SUPERSEDED = "superseded", "superseded by a later held change"

    job = models.ForeignKey(ImportJob, on_delete=models.PROTECT, related_name="held_changes")
    case = models.ForeignKey(
        "exceptions.ExceptionCase", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    sku = models.CharField("SKU", max_length=64)
    line = models.PositiveIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=12, choices=Reason.choices)
    payload = models.JSONField(help_text="The validated row, as the import would write it.")
    current = models.JSONField(default=dict, blank=True, help_text="The stored values the change would replace.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["sku", "status"], name="heldchange_sku_status_idx")]

    def __str__(self) -> str:
        return f"{self.sku}: {self.get_reason_display()} ({self.status})"
