"""Demo tax classes and rates: the standard and a reduced class in the Netherlands and Germany."""

import datetime as dt
from decimal import Decimal

from apps.core.demo.sync import SyncReport, sync_row
from apps.tax.models import TaxClass, TaxRate

RATES_FROM = dt.date(2020, 1, 1)

# (code, name, default)
TAX_CLASSES = [
    ("standard", "Standard rate", True),
    ("reduced", "Reduced rate", False),
]

# (country, class code, percent); every rate is valid from RATES_FROM with no end.
TAX_RATES = [
    ("NL", "standard", Decimal("21.0000")),
    ("NL", "reduced", Decimal("9.0000")),
    ("DE", "standard", Decimal("19.0000")),
    ("DE", "reduced", Decimal("7.0000")),
]

# Product families taxed in another class than the default. Paper is at the reduced rate here only
# so that the demo has orders with lines of two tax classes; no country's law is implied.
FAMILY_TAX_CLASSES = {"paper": "reduced"}


def seed_tax(*, report: SyncReport) -> dict[str, TaxClass]:
    """Create or update the demo tax classes and rates; return the classes by code."""
    classes = {
        code: sync_row(TaxClass, lookup={"code": code}, values={"name": name, "is_default": default}, report=report)
        for code, name, default in TAX_CLASSES
    }
    for country, code, percent in TAX_RATES:
        sync_row(
            TaxRate,
            lookup={"country": country, "region": "", "tax_class": classes[code], "valid_from": RATES_FROM},
            values={"rate_percent": percent, "valid_to": None, "name": "VAT"},
            report=report,
        )
    return classes
