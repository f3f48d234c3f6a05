"""Demo PunchOut buyer connections for ACME-001: one cXML, one SAP OCI."""

from django.utils import timezone

from apps.catalog.models import UnitOfMeasure
from apps.contracts.models import Contract, Customer
from apps.core.demo.sync import SyncReport, sync_row
from apps.core.secrets import hash_secret, verify_secret
from apps.punchout.models import BuyerConnection, BuyerUnit

# The documented demo credentials. Only seed_demo stores them, and only as keyed hashes.
DEMO_SHARED_SECRET = "demo-shared-secret"  # noqa: S105 -- documented demo value.
DEMO_OCI_USERNAME = "acme-oci"
DEMO_OCI_PASSWORD = "demo-oci-secret"  # noqa: S105 -- documented demo value.
# A procurement system simulated on this machine may take the cart back, on any port.
DEMO_RETURN_HOSTS = "localhost\n127.0.0.1"


def seed_connections(*, customer: Customer, contract: Contract, report: SyncReport) -> None:
    """Create or update the demo cXML and OCI connections, re-hashing a secret only when its hash does not match."""
    lookup = {
        "protocol": BuyerConnection.Protocol.CXML,
        "sender_domain": "NetworkID",
        "sender_identity": "AN01000000001",
    }
    existing = BuyerConnection.objects.filter(**lookup).first()
    values = {
        "name": f"{customer.name} (cXML)",
        "customer": customer,
        "contract": contract,
        "from_domain": "NetworkID",
        "from_identity": "AN01000000001",
        "to_domain": "DUNS",
        "to_identity": "987654321",
        "allowed_return_hosts": DEMO_RETURN_HOSTS,
        "cart_field": BuyerConnection.CartField.CXML_URLENCODED,
        "is_active": True,
    }
    if existing is None or not verify_secret(DEMO_SHARED_SECRET, existing.shared_secret_hash):
        values |= {"shared_secret_hash": hash_secret(DEMO_SHARED_SECRET), "shared_secret_set_at": timezone.now()}
    sync_row(BuyerConnection, lookup=lookup, values=values, report=report, existing=existing, known=True)

    lookup = {"protocol": BuyerConnection.Protocol.OCI, "oci_username": DEMO_OCI_USERNAME}
    existing = BuyerConnection.objects.filter(**lookup).first()
    values = {
        "name": f"{customer.name} (SAP OCI)",
        "customer": customer,
        "contract": contract,
        "allowed_return_hosts": DEMO_RETURN_HOSTS,
        "is_active": True,
    }
    if existing is None or not verify_secret(DEMO_OCI_PASSWORD, existing.oci_password_hash):
        values |= {"oci_password_hash": hash_secret(DEMO_OCI_PASSWORD), "oci_password_set_at": timezone.now()}
    oci_connection = sync_row(
        BuyerConnection, lookup=lookup, values=values, report=report, existing=existing, known=True
    )

    # SAP takes ISO unit codes, which have no Recommendation 21 package codes, so the demo's boxes
    # (XBX) go to SAP as BX, the Recommendation 20 code for box before XBX replaced it.
    box = UnitOfMeasure.objects.filter(code="XBX").first()
    if box is not None:
        sync_row(
            BuyerUnit, lookup={"connection": oci_connection, "unit": box}, values={"buyer_code": "BX"}, report=report
        )
