"""Tax classes of products, tax rates by ship-to country and region, and customers' exemption certificates."""

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from apps.core.models import TimeStampedModel

COUNTRY_VALIDATOR = RegexValidator(r"^[A-Z]{2}$", "Enter an ISO 3166-1 alpha-2 country code in capitals, such as NL.")


class TaxClass(TimeStampedModel):
    """A group of products taxed alike, such as standard, reduced or zero-rated.

    Products without a class are taxed in the default class.
    """

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    is_default = models.BooleanField(
        "default class", default=False, help_text="The class of every product that names none; one class at most."
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "tax classes"
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="taxclass_one_default",
                violation_error_message="Another tax class is already the default; clear it there first.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class TaxRate(TimeStampedModel):
    """The rate of one tax class in a ship-to country, or in one region of it, for a span of days.

    A rate with a region (a state or province code, as in the ship-to
    address) wins over the country's rate without a region.
    """

    country = models.CharField(
        max_length=2, validators=[COUNTRY_VALIDATOR], help_text="ISO 3166-1 alpha-2, such as NL."
    )
    region = models.CharField(
        max_length=32,
        blank=True,
        help_text="State or province code as in ship-to addresses, such as CA; empty for the whole country.",
    )
    tax_class = models.ForeignKey(TaxClass, on_delete=models.PROTECT, related_name="rates")
    rate_percent = models.DecimalField(
        max_digits=7,
        decimal_places=4,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Percent of the line amount, from 0 to 100, such as 21 or 7.25.",
    )
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True, help_text="Last day the rate applies; empty means open-ended.")
    name = models.CharField(max_length=100, blank=True, help_text="Such as VAT or sales tax; printed nowhere yet.")

    history = HistoricalRecords()

    class Meta:
        ordering = ["country", "region", "tax_class", "-valid_from"]
        indexes = [models.Index(fields=["country", "valid_from"], name="taxrate_country_from_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["country", "region", "tax_class", "valid_from"],
                name="taxrate_start_uniq",
                violation_error_message="A rate for this country, region and class already starts on this day.",
            ),
            models.CheckConstraint(
                condition=models.Q(rate_percent__gte=0, rate_percent__lte=100),
                name="taxrate_percent_0_to_100",
                violation_error_message="Rate percent must be from 0 to 100.",
            ),
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True) | models.Q(valid_to__gte=models.F("valid_from")),
                name="taxrate_valid_to_after_valid_from",
                violation_error_message="Valid to must be on or after valid from, or empty for an open-ended rate.",
            ),
        ]

    def __str__(self) -> str:
        place = f"{self.country}-{self.region}" if self.region else self.country
        return f"{place} {self.tax_class_id and self.tax_class.code}: {self.rate_percent.normalize():f}%"

    def clean(self):
        super().clean()
        self.country = (self.country or "").strip().upper()
        self.region = (self.region or "").strip().upper()
        if not self.tax_class_id or not self.valid_from:
            return
        clash = _overlapping(
            TaxRate.objects.filter(country=self.country, region=self.region, tax_class_id=self.tax_class_id),
            self,
            start="valid_from",
            end="valid_to",
        )
        if clash is not None:
            raise ValidationError(
                f"Rate {clash} already applies from {clash.valid_from} to {clash.valid_to or 'no end'}; "
                "end it the day before this one starts."
            )


class TaxExemption(TimeStampedModel):
    """A customer's tax exemption certificate: it exempts orders shipped where it applies, until it expires.

    A customer is exempt only while the CRM marks it tax-exempt and such a
    certificate covers the ship-to address on the day (see ``apps.tax.services``).
    """

    customer = models.ForeignKey("contracts.Customer", on_delete=models.CASCADE, related_name="tax_exemptions")
    certificate_number = models.CharField(max_length=64)
    country = models.CharField(
        max_length=2,
        blank=True,
        validators=[COUNTRY_VALIDATOR],
        help_text="Where the certificate applies (ISO 3166-1 alpha-2); empty for every country.",
    )
    region = models.CharField(
        max_length=32, blank=True, help_text="State or province code within the country; empty for the whole country."
    )
    valid_from = models.DateField()
    expires_on = models.DateField(help_text="Last day the certificate exempts; from the next day tax applies again.")
    note = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["customer", "-expires_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "certificate_number"],
                name="taxexemption_certificate_uniq",
                violation_error_message="This customer already has a certificate with this number.",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_on__gte=models.F("valid_from")),
                name="taxexemption_expires_after_start",
                violation_error_message="Expires on must be on or after valid from.",
            ),
            models.CheckConstraint(
                condition=~models.Q(country="", region__gt=""),
                name="taxexemption_region_needs_country",
                violation_error_message="A region needs its country; set the country or clear the region.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.certificate_number} (until {self.expires_on})"

    def clean(self):
        super().clean()
        self.country = (self.country or "").strip().upper()
        self.region = (self.region or "").strip().upper()

    def covers(self, *, country: str, region: str, on_date: dt.date) -> bool:
        """Return whether the certificate exempts a shipment to ``country``/``region`` on ``on_date``."""
        if not self.valid_from <= on_date <= self.expires_on:
            return False
        if self.country and self.country != country:
            return False
        return not self.region or self.region == region


def _overlapping(queryset, instance, *, start: str, end: str):
    """Return a row of ``queryset`` other than ``instance`` whose days overlap the instance's, or None."""
    open_or_later = models.Q(**{f"{end}__isnull": True}) | models.Q(**{f"{end}__gte": getattr(instance, start)})
    queryset = queryset.exclude(pk=instance.pk).filter(open_or_later)
    if getattr(instance, end) is not None:
        queryset = queryset.filter(**{f"{start}__lte": getattr(instance, end)})
    return queryset.first()
