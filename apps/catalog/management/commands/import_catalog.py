"""``manage.py import_catalog PATH``: import products and list prices from the ERP's catalog file."""

from apps.catalog.imports.command import ImportCommand
from apps.catalog.models import ImportKind


class Command(ImportCommand):
    help = "Import a catalog file (CSV or JSON Lines) of products and list prices."
    kind = ImportKind.CATALOG

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--full",
            action="store_true",
            help="The file lists every product: active products missing from it are held for deactivation.",
        )

    def extra_options(self, options) -> dict:
        return {"full_catalog": options["full"]}
