"""Demo data for a first look at the back office: tax, catalog, contracts, staff, connections, partners and orders.

Like the URL configuration, the demo seeding sits above every app and so
imports from all of them; no app imports it.
"""

from django.db import transaction

from apps.core.demo.catalog import seed_catalog
from apps.core.demo.connections import seed_connections
from apps.core.demo.contracts import seed_customers
from apps.core.demo.orders import seed_orders
from apps.core.demo.partners import seed_partners
from apps.core.demo.quotes import seed_quotes
from apps.core.demo.sync import SyncReport
from apps.core.demo.tax import seed_tax
from apps.core.demo.users import seed_users


def seed_demo_data() -> SyncReport:
    """Create the demo data, or bring it back to its demo values; a second run writes nothing.

    Raises LookupError when the units of measure or staff groups that the
    data migrations load are missing.
    """
    report = SyncReport()
    with transaction.atomic(durable=True):
        tax_classes = seed_tax(report=report)
        products = seed_catalog(report=report, tax_classes=tax_classes)
        customers = seed_customers(products=products, report=report)
        acme = customers["ACME-001"]
        seed_connections(customer=acme, contract=acme.contracts.get(number="ACME-2026"), report=report)
        seed_users(report=report)
        seed_partners(customers=customers, report=report)
        seed_orders(customers=customers, report=report)
        seed_quotes(products=products, customers=customers, report=report)
    return report
