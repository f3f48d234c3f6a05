"""``manage.py import_contracts PATH``: import contract headers from the CRM."""

from apps.catalog.imports.command import ImportCommand
from apps.catalog.models import ImportKind


class Command(ImportCommand):
    help = (
        "Import a contract file from the CRM (contract, customer, name, currency, valid_from, valid_to, status, "
        "updated_at); import the prices with import_contract_prices."
    )
    kind = ImportKind.CONTRACTS
