"""``manage.py import_customers PATH``: import customers from the CRM."""

from apps.catalog.imports.command import ImportCommand
from apps.catalog.models import ImportKind


class Command(ImportCommand):
    help = (
        "Import a customer file from the CRM (account, name, currency, payment_terms, credit_limit, region, "
        "tax_exempt, updated_at)."
    )
    kind = ImportKind.CUSTOMERS
