"""``manage.py import_contract_prices PATH``: import contract prices and discounts."""

from apps.catalog.imports.command import ImportCommand
from apps.catalog.models import ImportKind


class Command(ImportCommand):
    help = "Import a contract-price file (contract, sku, min_quantity, price or discount_percent, validity)."
    kind = ImportKind.CONTRACT_PRICES
