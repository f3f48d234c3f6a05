"""Management command that loads the demo data."""

from django.core.management.base import BaseCommand, CommandError

from apps.core.demo import seed_demo_data
from apps.core.demo.connections import DEMO_OCI_USERNAME
from apps.core.demo.users import DEMO_PASSWORD


class Command(BaseCommand):
    help = (
        "Create the demo catalog, customers ACME-001, GLOBEX-002 and INITECH-003 with their contracts, "
        "the staff users, the demo PunchOut connections and partner API keys, and demo orders DEMO-PO-1001 "
        "to 1007 with an open exception case of each kind, the configurable server SRV-CFG-2U with approval "
        "rules and a draft quote for ACME-001. Running it again changes nothing."
    )

    def handle(self, *args, **options):
        try:
            report = seed_demo_data()
        except LookupError as error:
            raise CommandError(str(error)) from error

        for label, counts in report.counts.items():
            self.stdout.write(f"  {label}: {counts}")
        if report.changed:
            self.stdout.write(self.style.SUCCESS("Demo data is in place."))
        else:
            self.stdout.write(self.style.SUCCESS("Demo data was already in place; nothing changed."))
        self.stdout.write(
            f"Logins (password {DEMO_PASSWORD}): admin, sales, sales-manager, finance. "
            f"cXML: NetworkID/AN01000000001 with SharedSecret demo-shared-secret; OCI: USERNAME {DEMO_OCI_USERNAME}. "
            "API keys: demo-partner-key-acme, demo-partner-key-globex, demo-erp-key."
        )
