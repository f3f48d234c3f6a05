"""``manage.py export_catalog CONTRACT``: write a contract's assortment at contract prices as CIF 3.0 or CSV."""

import datetime as dt

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.catalog.errors import CatalogError
from apps.catalog.exports import export_cif, export_csv
from apps.contracts.models import Contract


class Command(BaseCommand):
    help = "Export a contract's assortment at contract prices as a CIF 3.0 catalog or a CSV file."

    def add_arguments(self, parser):
        parser.add_argument("contract", help="Contract number.")
        parser.add_argument("--format", choices=["cif", "csv"], default="cif", help="Output format (default cif).")
        parser.add_argument("--output", "-o", default="-", help="File to write; '-' (default) writes to stdout.")
        parser.add_argument("--date", default=None, help="Pricing date, YYYY-MM-DD (default today in UTC).")
        parser.add_argument(
            "--supplier-id",
            default=None,
            help="Your id at the buyer, for CIF (default: the CATALOG_CIF_SUPPLIER_ID setting).",
        )
        parser.add_argument("--supplier-id-domain", default=None, help="Domain of the supplier id (default DUNS).")

    def handle(self, *args, **options):
        contract = Contract.objects.select_related("customer").filter(number=options["contract"]).first()
        if contract is None:
            raise CommandError(f"Contract {options['contract']!r} does not exist.")
        on_date = None
        if options["date"]:
            try:
                on_date = dt.date.fromisoformat(options["date"])
            except ValueError:
                raise CommandError(f"Date {options['date']!r} is not a date in the form YYYY-MM-DD.") from None
        try:
            if options["format"] == "csv":
                result = export_csv(contract=contract, on_date=on_date)
            else:
                result = export_cif(
                    contract=contract,
                    on_date=on_date,
                    supplier_id=options["supplier_id"] or getattr(settings, "CATALOG_CIF_SUPPLIER_ID", ""),
                    supplier_id_domain=options["supplier_id_domain"]
                    or getattr(settings, "CATALOG_CIF_SUPPLIER_ID_DOMAIN", "DUNS"),
                )
        except CatalogError as error:
            raise CommandError(error.message) from None

        if options["output"] == "-":
            self.stdout.write(result.content, ending="")
        else:
            with open(options["output"], "w", encoding="utf-8", newline="") as handle:
                handle.write(result.content)
        self.stderr.write(f"{result.item_count} items exported, {result.unpriced_count} left out as unpriced.")
