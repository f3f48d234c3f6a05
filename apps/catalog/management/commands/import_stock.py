"""``manage.py import_stock PATH``: import on-hand stock by warehouse."""

from apps.catalog.imports.command import ImportCommand
from apps.catalog.models import ImportKind


class Command(ImportCommand):
    help = "Import a stock file (sku, warehouse, on_hand, as_of) as CSV or JSON Lines."
    kind = ImportKind.STOCK
