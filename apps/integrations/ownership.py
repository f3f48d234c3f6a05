"""Which system owns which data: the one map that the admin, the import service and docs/ownership.md read.

The ERP is the system of record for the product master, list prices, stock, shipments, invoices and
payment status. The CRM owns customers with their credit limits and payment terms, contracts and
contract prices. This back office owns quotes, PunchOut sessions, orders until the ERP acknowledges
them, exception cases, and the fields listed for it on the models the other systems own.

An update from a system that does not own a field changes nothing in that field. The import service
keeps the stored value, applies the row's other fields and opens an integration-conflict case that
shows the stored and the offered value. The admin shows fields owned by another system read-only,
naming the owner. Models are named by label (``"catalog.Product"``) so that this module imports no app.
"""

from dataclasses import dataclass

from django.db import models


class System(models.TextChoices):
    """A system that sends data to this back office, or the back office itself."""

    ERP = "erp", "the ERP"
    CRM = "crm", "the CRM"
    BACK_OFFICE = "back_office", "this back office"


# Fields every model keeps for itself: the row's id and its own change times, and the fingerprint of
# the catalog file row that a product was last read from, which only imports set. The sender's change
# time (source_updated_at) belongs to the system that owns the row.
BOOKKEEPING_FIELDS = ("id", "created_at", "updated_at", "import_fingerprint")


@dataclass(frozen=True)
class Ownership:
    """The owner of some fields of one model, or of the whole model when ``fields`` is empty.

    ``staff_group`` names the only staff group (besides superusers) that may change back-office
    fields in the admin; empty means every staff user with the change permission.
    """

    model: str
    owner: System
    fields: tuple[str, ...] = ()
    what: str = ""
    staff_group: str = ""


OWNERSHIP = (
    Ownership(
        "catalog.Product",
        System.ERP,
        (
            "sku",
            "name",
            "description",
            "manufacturer",
            "manufacturer_part_number",
            "category",
            "unspsc",
            "unit",
            "list_price",
            "currency",
            "lead_time_days",
            "is_active",
            "source_updated_at",
        ),
        what="the product master and list prices",
    ),
    Ownership(
        "catalog.Product",
        System.BACK_OFFICE,
        ("is_configurable", "attributes"),
        what="product configuration",
    ),
    Ownership("catalog.Product", System.BACK_OFFICE, ("tax_class",), what="the product's tax class"),
    Ownership("catalog.StockLevel", System.ERP, ("product", "warehouse", "on_hand", "as_of"), what="stock on hand"),
    Ownership("catalog.StockLevel", System.BACK_OFFICE, ("reserved",), what="stock reserved for orders here"),
    Ownership(
        "contracts.Customer",
        System.CRM,
        (
            "account_number",
            "name",
            "currency",
            "payment_terms",
            "credit_limit",
            "region",
            "tax_exempt",
            "source_updated_at",
        ),
        what="customers with their credit limits and payment terms",
    ),
    Ownership(
        "contracts.Customer",
        System.BACK_OFFICE,
        ("credit_hold",),
        what="credit holds, set by finance",
        staff_group="finance",
    ),
    Ownership("contracts.Customer", System.BACK_OFFICE, ("is_active",), what="whether buyers may use the account"),
    Ownership(
        "contracts.Customer",
        System.BACK_OFFICE,
        ("service_tier", "ship_to_country", "ship_to_region"),
        what="the service tier of the backorder queue and the default ship-to that taxes quotes",
    ),
    Ownership(
        "contracts.Contract",
        System.CRM,
        ("number", "customer", "name", "valid_from", "valid_to", "currency", "status", "source_updated_at"),
        what="contracts: customer, validity, currency and status",
    ),
    Ownership(
        "contracts.Contract",
        System.BACK_OFFICE,
        ("assortment", "categories", "products"),
        what="the assortment the contract shows in PunchOut and the API",
    ),
    Ownership(
        "contracts.ContractPrice",
        System.CRM,
        (
            "contract",
            "product",
            "min_quantity",
            "price",
            "discount_percent",
            "valid_from",
            "valid_to",
            "source_updated_at",
        ),
        what="contract prices and discounts",
    ),
    Ownership("quotes.Quote", System.BACK_OFFICE, what="quotes"),
    Ownership("punchout.PunchOutSession", System.BACK_OFFICE, what="PunchOut sessions"),
    Ownership(
        "orders.Order",
        System.BACK_OFFICE,
        what="orders until the ERP acknowledges them; the ERP then reports shipments, invoices and payments",
    ),
    Ownership("orders.Shipment", System.ERP, what="shipments"),
    Ownership("orders.Invoice", System.ERP, what="invoices and their payment status"),
    Ownership("orders.Payment", System.ERP, what="payments"),
    Ownership("orders.BackorderEntry", System.BACK_OFFICE, what="the backorder queue"),
    Ownership("tax.TaxClass", System.BACK_OFFICE, what="tax classes"),
    Ownership("tax.TaxRate", System.BACK_OFFICE, what="tax rates by ship-to country, region and class"),
    Ownership("tax.TaxExemption", System.BACK_OFFICE, what="customers' tax exemption certificates"),
    Ownership("exceptions.ExceptionCase", System.BACK_OFFICE, what="exception cases"),
)


def owner_of(model_label: str, field_name: str) -> System:
    """Return the system that owns a field; a field the map does not name belongs to this back office."""
    return _FIELD_OWNERS.get((model_label, field_name)) or _MODEL_OWNERS.get(model_label) or System.BACK_OFFICE


def fields_owned_by(model_label: str, owner: System) -> tuple[str, ...]:
    """Return the fields of a model that ``owner`` owns field by field, in the map's order."""
    return tuple(
        name for entry in OWNERSHIP if entry.model == model_label and entry.owner == owner for name in entry.fields
    )


def externally_owned_fields(model_label: str) -> dict[str, System]:
    """Return each field of a model that the ERP or the CRM owns, mapped to its owner."""
    return {
        name: entry.owner
        for entry in OWNERSHIP
        if entry.model == model_label and entry.owner != System.BACK_OFFICE
        for name in entry.fields
    }


def row_owner(model_label: str) -> System:
    """Return the system that creates rows of a model: the owner of most of its fields, or of the whole model."""
    if model_label in _MODEL_OWNERS:
        return _MODEL_OWNERS[model_label]
    counts: dict[System, int] = {}
    for entry in OWNERSHIP:
        if entry.model == model_label:
            counts[entry.owner] = counts.get(entry.owner, 0) + len(entry.fields)
    return max(counts, key=counts.get) if counts else System.BACK_OFFICE


def staff_group_for(model_label: str, field_name: str) -> str:
    """Return the only staff group that may change a back-office field in the admin, or "" for any."""
    for entry in OWNERSHIP:
        if entry.model == model_label and field_name in entry.fields:
            return entry.staff_group
    return ""


def locked_note(model_label: str, field_name: str) -> str:
    """Return the admin help text of a locked field: its owner, or the staff group that sets it."""
    owner = owner_of(model_label, field_name)
    if owner != System.BACK_OFFICE:
        return f"Owned by {owner.label}: its next update overwrites this value."
    group = staff_group_for(model_label, field_name)
    return f"Set by {group}." if group else ""


def ownership_table_markdown() -> str:
    """Return the map as the Markdown table that docs/ownership.md contains."""
    lines = ["| model | owner | fields | what |", "| --- | --- | --- | --- |"]
    for entry in OWNERSHIP:
        fields = ", ".join(f"`{name}`" for name in entry.fields) if entry.fields else "all"
        what = entry.what + (f" (in the admin: {entry.staff_group} only)" if entry.staff_group else "")
        lines.append(f"| `{entry.model}` | {entry.owner.label} | {fields} | {what} |")
    return "\n".join(lines) + "\n"


def _field_owners() -> dict[tuple[str, str], System]:
    owners: dict[tuple[str, str], System] = {}
    for entry in OWNERSHIP:
        for name in entry.fields:
            if (entry.model, name) in owners:
                raise ValueError(f"{entry.model}.{name} has two owners in OWNERSHIP; give it one.")
            owners[(entry.model, name)] = entry.owner
    return owners


_FIELD_OWNERS = _field_owners()
_MODEL_OWNERS = {entry.model: entry.owner for entry in OWNERSHIP if not entry.fields}
