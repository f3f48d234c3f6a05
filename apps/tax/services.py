"""The one tax computation of quotes, orders and invoices.

Rules:

1. The ship-to address decides: its country (ISO 3166-1 alpha-2) and region
   (the state or province code as the address gives it). An order without a
   ship-to country uses the customer's default ship-to (``ship_to_country``
   and ``ship_to_region``); a quote always uses the customer's default.
2. Each line is taxed at the rate of its product's tax class, or of the
   default class when the product names none or the line has no product. A
   rate for the ship-to region wins over the country's rate without a region.
   Only rates valid on the tax date count.
3. Each line's tax is ``round_money(amount * rate / 100)``, so one rounding
   per line, half up to the currency's minor unit; the total is their sum.
4. A customer is exempt when the CRM marks it tax-exempt and one of its
   exemption certificates covers the ship-to country and region on the tax
   date. The flag without a current certificate exempts nothing: an expired
   certificate or a missing one means tax is charged.
5. A country with no rate at all on the date is outside the tax table, and
   its lines are taxed at zero. A country that has rates, but none for a
   line's class, is a gap in the table: the line is taxed at zero and comes
   back in ``TaxResult.missing`` so that the caller can flag it.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from django.db.models import Q

from apps.core.money import round_money
from apps.tax.models import TaxClass, TaxExemption, TaxRate

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class ShipTo:
    """The ship-to place that decides tax: a country code and an optional region code."""

    country: str
    region: str = ""

    @classmethod
    def of(cls, country: object, region: object = "") -> "ShipTo":
        return cls(country=str(country or "").strip().upper(), region=str(region or "").strip().upper())

    def __str__(self) -> str:
        if not self.country:
            return "an unknown country"
        return f"{self.country}-{self.region}" if self.region else self.country


@dataclass(frozen=True)
class TaxableLine:
    """A line to tax: the caller's key for it, its product's tax class id (None: default) and its net amount."""

    key: object
    tax_class_id: int | None
    amount: Decimal


@dataclass(frozen=True)
class LineTax:
    key: object
    amount: Decimal
    tax: Decimal
    rate_percent: Decimal | None
    tax_class: str
    exempt: bool = False
    missing_rate: bool = False


@dataclass(frozen=True)
class TaxResult:
    ship_to: ShipTo
    lines: tuple[LineTax, ...]
    total: Decimal
    exemption: str = ""

    @property
    def missing(self) -> tuple[LineTax, ...]:
        """The lines whose class has no rate in a country that has rates."""
        return tuple(line for line in self.lines if line.missing_rate)


def customer_ship_to(customer) -> ShipTo:
    """Return the customer's default ship-to country and region."""
    return ShipTo.of(customer.ship_to_country, customer.ship_to_region)


def order_ship_to(order) -> ShipTo:
    """Return the order's ship-to country and state; the customer's default when the order names no country."""
    address = order.ship_to or {}
    if str(address.get("country_code") or "").strip():
        return ShipTo.of(address.get("country_code"), address.get("state"))
    return customer_ship_to(order.customer)


def compute_tax(
    *, customer, ship_to: ShipTo, lines: Sequence[TaxableLine], currency: str, on_date: dt.date
) -> TaxResult:
    """Tax each line by the module's rules; return the lines' tax and their sum in ``currency``."""
    exemption = _current_exemption(customer, ship_to, on_date)
    rates = _rates(ship_to, on_date) if ship_to.country and exemption is None else []
    by_class: dict[int, TaxRate] = {}
    default_rate: TaxRate | None = None
    # Region rates come last, so that they replace the country's rate of the same class.
    for rate in sorted(rates, key=lambda rate: bool(rate.region)):
        by_class[rate.tax_class_id] = rate
        if rate.tax_class.is_default:
            default_rate = rate

    taxed = []
    for line in lines:
        amount = round_money(line.amount, currency)
        rate = None
        if exemption is None and rates:
            rate = by_class.get(line.tax_class_id) if line.tax_class_id is not None else default_rate
        # A line without a rate in a country that has rates is a gap in the table (rule 5).
        missing = rate is None and exemption is None and bool(rates)
        if rate is not None:
            tax_class = rate.tax_class.code
        elif missing:
            tax_class = str(line.tax_class_id or "")
        else:
            tax_class = ""
        taxed.append(
            LineTax(
                key=line.key,
                amount=amount,
                tax=round_money(amount * rate.rate_percent / _HUNDRED if rate else _ZERO, currency),
                rate_percent=rate.rate_percent if rate else None,
                tax_class=tax_class,
                exempt=exemption is not None,
                missing_rate=missing,
            )
        )
    taxed = _name_missing_classes(taxed)
    total = sum((line.tax for line in taxed), round_money(_ZERO, currency))
    return TaxResult(
        ship_to=ship_to,
        lines=tuple(taxed),
        total=total,
        exemption=exemption.certificate_number if exemption is not None else "",
    )


def _rates(ship_to: ShipTo, on_date: dt.date) -> list[TaxRate]:
    """Return the country's rates valid on the day, with and without the ship-to region, in one query."""
    regions = Q(region="") | Q(region=ship_to.region) if ship_to.region else Q(region="")
    return list(
        TaxRate.objects.filter(regions, country=ship_to.country, valid_from__lte=on_date)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on_date))
        .select_related("tax_class")
    )


def _current_exemption(customer, ship_to: ShipTo, on_date: dt.date) -> TaxExemption | None:
    """Return the certificate that exempts the customer here and today, or None; see rule 4."""
    if customer is None or not customer.tax_exempt:
        return None
    certificates = TaxExemption.objects.filter(
        customer=customer, valid_from__lte=on_date, expires_on__gte=on_date
    ).order_by("-expires_on", "pk")
    return next(
        (cert for cert in certificates if cert.covers(country=ship_to.country, region=ship_to.region, on_date=on_date)),
        None,
    )


def _name_missing_classes(taxed: list[LineTax]) -> list[LineTax]:
    """Put the class code on lines without a rate; only a result with such lines costs these two queries."""
    if not any(line.missing_rate for line in taxed):
        return taxed
    codes = dict(TaxClass.objects.values_list("pk", "code"))
    default = TaxClass.objects.filter(is_default=True).values_list("code", flat=True).first() or "default (none set)"
    return [
        replace(line, tax_class=codes.get(int(line.tax_class), line.tax_class) if line.tax_class else default)
        if line.missing_rate
        else line
        for line in taxed
    ]
