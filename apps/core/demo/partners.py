"""Demo partners of the REST API with their documented keys: ACME's and Globex's resellers, and the ERP."""

from apps.api.keys import PREFIX_LENGTH
from apps.api.models import ApiKey, Partner, Scope
from apps.contracts.models import Customer
from apps.core.demo.sync import CHANGE_REASON, SyncReport, sync_row
from apps.core.secrets import hash_secret, verify_secret

# The scopes a reseller or marketplace gets. erp:write and crm:write are kept for the supplier's own
# ERP and CRM: with them a customer's partner could ship and invoice its own orders or raise its
# own credit limit.
PARTNER_SCOPES = [scope for scope in Scope.values if scope not in {Scope.ERP_WRITE, Scope.CRM_WRITE}]

# The documented demo keys. Only seed_demo stores them, and only as keyed hashes.
DEMO_KEYS = {
    "demo-partner-key-acme": ("Acme procurement portal", ["ACME-001"], PARTNER_SCOPES),
    "demo-partner-key-globex": ("Globex marketplace", ["GLOBEX-002"], PARTNER_SCOPES),
    "demo-erp-key": (
        "Supplier ERP and CRM",
        None,
        [Scope.ERP_WRITE, Scope.CRM_WRITE, Scope.CATALOG_READ, Scope.ORDERS_READ],
    ),
}
DEMO_KEY_NAME = "demo key"


def seed_partners(*, customers: dict[str, Customer], report: SyncReport) -> None:
    """Create or update the demo partners and their keys; a key is re-hashed only when its hash does not match."""
    for raw_key, (name, accounts, scopes) in DEMO_KEYS.items():
        partner = sync_row(
            Partner,
            lookup={"name": name},
            values={"all_customers": accounts is None, "is_active": True, "requests_per_minute": None},
            report=report,
        )
        if accounts is not None:
            wanted = {customers[account].pk for account in accounts}
            if set(partner.customers.values_list("pk", flat=True)) != wanted:
                partner._change_reason = CHANGE_REASON
                partner.customers.set(wanted)

        lookup = {"partner": partner, "name": DEMO_KEY_NAME}
        existing = ApiKey.objects.filter(**lookup).first()
        values = {
            "prefix": raw_key[:PREFIX_LENGTH],
            "scopes": sorted(str(scope) for scope in scopes),
            "expires_at": None,
            "revoked_at": None,
            "revoked_by": None,
        }
        if existing is None or not verify_secret(raw_key, existing.key_hash):
            values["key_hash"] = hash_secret(raw_key)
        sync_row(ApiKey, lookup=lookup, values=values, report=report, existing=existing, known=True)
