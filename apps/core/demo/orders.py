"""Demo orders that open one exception case of each kind, a held catalog change and an integration failure.

Every order goes through ``order_intake`` as a partner API document whose
idempotency key is its PO number, so a second run replays the first result
and writes nothing. The catalog anomaly comes from a catalog import with a
price jump, and the integration failure from ``case_open``. Each of those two
is skipped when the demo made it before, even if a person has closed it since.

Buyer prices are sent only on the price-mismatch order, so that the other
orders take our contract price and open only the case they are meant to show.
"""

from dataclasses import dataclass

from apps.catalog.imports.service import import_rows
from apps.catalog.models import HeldChange, ImportKind, Product
from apps.contracts.models import Customer
from apps.core.demo.sync import SyncReport
from apps.exceptions.models import CaseKind, ExceptionCase
from apps.exceptions.services import case_open
from apps.orders.inputs import LineInput, OrderInput
from apps.orders.models import Channel, DocumentOperation, InboundDocument, Order
from apps.orders.services import order_intake

DEMO_SOURCE = "seed_demo"


@dataclass(frozen=True)
class DemoLine:
    """One order line: our SKU, the quantity, and optionally the buyer's unit and unit price as text."""

    sku: str
    quantity: str
    unit: str = ""
    unit_price: str | None = None


@dataclass(frozen=True)
class DemoOrder:
    """A demo purchase order; ``document_id`` defaults to the PO number."""

    po_number: str
    customer: str
    lines: tuple[DemoLine, ...]
    tax: str | None = None
    document_id: str = ""

    @property
    def idempotency_key(self) -> str:
        return self.document_id or self.po_number


# Stock, prices and credit limits are those of the demo catalog and contracts.
DEMO_ORDERS = (
    # Our ACME contract price of NB-0001 is 790.38, so 760.00 is a price mismatch and nothing else.
    # NOTE: with ORDER_PRICE_TOLERANCE_PERCENT at 4 or more, this order opens no case and is allocated.
    DemoOrder("DEMO-PO-1001", "ACME-001", (DemoLine("NB-0001", "2", "EA", "760.00"),)),
    # No product has SKU NB-9999.
    DemoOrder("DEMO-PO-1002", "ACME-001", (DemoLine("NB-9999", "1", "EA"),)),
    # MON-0002 is sold each (EA), not by the kilogram.
    DemoOrder("DEMO-PO-1003", "ACME-001", (DemoLine("MON-0002", "10", "KGM"),)),
    # MON-0001 has 12 in stock.
    DemoOrder("DEMO-PO-1004", "ACME-001", (DemoLine("MON-0001", "50", "EA"),)),
    # 40 switches at GLOBEX's quantity-break price exceed its credit limit of 120,000 EUR.
    DemoOrder("DEMO-PO-1005", "GLOBEX-002", (DemoLine("SW-0001", "40", "EA"),)),
    # The buyer states 212.47 tax, where the demo's 21% Dutch rate at ACME's default ship-to gives 234.82.
    DemoOrder("DEMO-PO-1006", "ACME-001", (DemoLine("DSK-0001", "1", "EA"),), tax="212.47"),
    # A clean order, then the same PO number again with another quantity, which opens a duplicate-order case.
    DemoOrder("DEMO-PO-1007", "ACME-001", (DemoLine("MS-0001", "5", "EA"),)),
    DemoOrder(
        "DEMO-PO-1007",
        "ACME-001",
        (DemoLine("MS-0001", "8", "EA"),),
        document_id="DEMO-PO-1007-RESENT",
    ),
)

# A list price more than 30% above the demo price of CHR-0001 (593.66), which the import holds for review.
ANOMALY_SKU = "CHR-0001"
ANOMALY_LIST_PRICE = "890.00"
ANOMALY_SOURCE_UPDATED_AT = "2026-01-05T06:00:00Z"

INTEGRATION_FAILURE_CAUSE = "demo:erp-stock-feed"


def seed_orders(*, customers: dict[str, Customer], report: SyncReport) -> dict[str, Order]:
    """Take in the demo orders, hold a catalog price jump and open an integration failure; return orders by PO."""
    orders = {}
    counts = report.for_model(InboundDocument)
    for demo in DEMO_ORDERS:
        result = order_intake(request=_order_input(demo, customers[demo.customer]), actor=None)
        if result.replayed:
            counts.unchanged += 1
        else:
            counts.created += 1
        if result.order is not None:
            orders.setdefault(demo.po_number, result.order)
    _seed_catalog_anomaly(report=report)
    _seed_integration_failure(report=report)
    return orders


def _order_input(demo: DemoOrder, customer: Customer) -> OrderInput:
    lines = tuple(
        LineInput(
            line_number=str(number),
            sku=line.sku,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=line.unit_price,
            description=f"Demo line {number} of {demo.po_number}",
        )
        for number, line in enumerate(demo.lines, start=1)
    )
    return OrderInput(
        channel=Channel.API,
        source=DEMO_SOURCE,
        customer=customer,
        document_id=demo.idempotency_key,
        operation=DocumentOperation.NEW,
        po_number=demo.po_number,
        lines=lines,
        currency="EUR",
        tax=demo.tax,
        comments="Demo order made by seed_demo.",
    )


def _seed_catalog_anomaly(*, report: SyncReport) -> None:
    counts = report.for_model(HeldChange)
    if HeldChange.objects.filter(sku=ANOMALY_SKU, reason=HeldChange.Reason.PRICE_JUMP).exists():
        counts.unchanged += 1
        return
    product = Product.objects.select_related("unit").get(sku=ANOMALY_SKU)
    row = {
        "sku": product.sku,
        "name": product.name,
        "uom": product.unit.code,
        "list_price": ANOMALY_LIST_PRICE,
        "currency": product.currency,
        "updated_at": ANOMALY_SOURCE_UPDATED_AT,
    }
    job = import_rows(ImportKind.CATALOG, [row])
    if job.flagged_count != 1:
        raise RuntimeError(
            f"The demo price jump of {ANOMALY_SKU} to {ANOMALY_LIST_PRICE} was not held (import job {job.pk}); "
            "check CATALOG_PRICE_CHANGE_THRESHOLD."
        )
    counts.created += 1


def _seed_integration_failure(*, report: SyncReport) -> None:
    counts = report.for_model(ExceptionCase)
    if ExceptionCase.objects.filter(
        kind=CaseKind.INTEGRATION_FAILURE, content_type=None, cause_key=INTEGRATION_FAILURE_CAUSE
    ).exists():
        counts.unchanged += 1
        return
    case_open(
        kind=CaseKind.INTEGRATION_FAILURE,
        facts={"endpoint": "ERP stock feed", "status": 503, "attempts": 6},
        summary="The ERP stock feed answered 503 Service Unavailable six times; stock levels are from yesterday",
        cause_key=INTEGRATION_FAILURE_CAUSE,
        reference="ERP stock feed",
    )
    counts.created += 1
