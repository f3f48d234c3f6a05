"""Static catalog exports of a contract's assortment at contract prices: CIF 3.0 and CSV.

Buyers that load catalogs into their procurement system instead of punching out take one of these.
The rows are the contract's visible products, priced by the pricing engine for a quantity of one on
the export date. A product's price is therefore what an order of one would cost that day: the
contract price, the contract discount off list, or the list price. Products that cannot be priced (a list price
in another currency) are left out and counted.

CIF 3.0 (Ariba's Catalog Interchange Format) is a text file: header lines (``CIF_I_V3.0``,
``LOADMODE``, ``CURRENCY``, ``ITEMCOUNT``, ``FIELDNAMES`` …), ``DATA``, one comma-separated line per
item with values quoted where needed, then ``ENDOFDATA``.
"""

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass

from django.utils import timezone

from apps.catalog.errors import CatalogError
from apps.catalog.models import Product
from apps.contracts.models import Contract
from apps.contracts.pricing import price_lines
from apps.contracts.selectors import active_contract_for, today_utc, visible_products

# Products priced per call of the pricing engine; its queries are per call, not per line.
PRICING_CHUNK = 2000
CIF_FIELDNAMES = (
    "Supplier ID",
    "Supplier Part ID",
    "Manufacturer Part ID",
    "Item Description",
    "SPSC Code",
    "Unit Price",
    "Unit of Measure",
    "Lead Time",
    "Manufacturer Name",
    "Supplier URL",
    "Manufacturer URL",
    "Market Price",
    "Supplier Part Auxiliary ID",
    "Language",
    "Currency",
    "Short Name",
)
CSV_COLUMNS = (
    "sku",
    "name",
    "description",
    "manufacturer",
    "manufacturer_part_number",
    "unspsc",
    "uom",
    "list_price",
    "price",
    "price_source",
    "currency",
    "lead_time_days",
)


class ExportRejected(CatalogError):
    """The export cannot be made as asked: the contract is not in force on the date, or an input is missing."""

    code = "catalog_export_rejected"


@dataclass(frozen=True)
class ExportLine:
    product: Product
    price: object
    price_source: str
    currency: str


@dataclass
class ExportResult:
    content: str
    item_count: int
    unpriced_count: int


def contract_lines(*, contract: Contract, on_date: dt.date | None = None) -> tuple[list[ExportLine], int]:
    """Return the priced lines of the contract's assortment on ``on_date`` (today in UTC) and the unpriced count."""
    on_date = on_date or today_utc()
    in_force = active_contract_for(customer=contract.customer, on_date=on_date)
    if in_force is None or in_force.pk != contract.pk:
        raise ExportRejected(
            f"Contract {contract.number} is not the contract in force for {contract.customer.account_number} "
            f"on {on_date.isoformat()}; choose a date within its validity, or activate it."
        )
    product_ids = list(
        visible_products(customer=contract.customer, contract=contract).order_by("sku").values_list("pk", flat=True)
    )
    lines: list[ExportLine] = []
    unpriced = 0
    for start in range(0, len(product_ids), PRICING_CHUNK):
        chunk = product_ids[start : start + PRICING_CHUNK]
        result = price_lines(customer=contract.customer, lines=[(pk, 1) for pk in chunk], on_date=on_date)
        units = dict(Product.objects.filter(pk__in=chunk).values_list("pk", "unit__code"))
        for line in result.lines:
            if not line.priced:
                unpriced += 1
                continue
            line.product.unit_code = units[line.product.pk]
            lines.append(ExportLine(line.product, line.unit_price, str(line.source), line.currency))
    return lines, unpriced


def export_cif(
    *,
    contract: Contract,
    supplier_id: str,
    supplier_id_domain: str = "DUNS",
    on_date: dt.date | None = None,
    language: str = "en_US",
) -> ExportResult:
    """Write the contract's assortment as a CIF 3.0 catalog; raise ExportRejected for a missing supplier id."""
    if not supplier_id.strip():
        raise ExportRejected("A CIF catalog needs the supplier id the buyer knows you by, such as your DUNS number.")
    lines, unpriced = contract_lines(contract=contract, on_date=on_date)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = [
        "CIF_I_V3.0",
        "CHARSET: UTF-8",
        "LOADMODE: F",
        "CODEFORMAT: UNSPSC",
        f"CURRENCY: {contract.currency}",
        f"SUPPLIERID_DOMAIN: {supplier_id_domain}",
        f"ITEMCOUNT: {len(lines)}",
        f"TIMESTAMP: {timezone.now().astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}",
        "UNUOM: TRUE",
        f"COMMENTS: Contract {contract.number} for {contract.customer.account_number}",
        "FIELDNAMES: " + ", ".join(CIF_FIELDNAMES),
        "DATA",
    ]
    buffer.write("\n".join(header) + "\n")
    for line in lines:
        product = line.product
        writer.writerow(
            [
                supplier_id,
                product.sku,
                product.manufacturer_part_number,
                _one_line(product.description or product.name),
                product.unspsc,
                f"{line.price}",
                product.unit_code,
                product.lead_time_days,
                product.manufacturer,
                "",
                "",
                f"{product.list_price}" if product.currency == line.currency else "",
                "",
                language,
                line.currency,
                _one_line(product.name)[:50],
            ]
        )
    buffer.write("ENDOFDATA\n")
    return ExportResult(content=buffer.getvalue(), item_count=len(lines), unpriced_count=unpriced)


def export_csv(*, contract: Contract, on_date: dt.date | None = None) -> ExportResult:
    """Write the contract's assortment as CSV with the catalog file's column names plus the contract price."""
    lines, unpriced = contract_lines(contract=contract, on_date=on_date)
    return ExportResult(content="".join(_csv_lines(lines)), item_count=len(lines), unpriced_count=unpriced)


def _csv_lines(lines: list[ExportLine]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        product = line.product
        writer.writerow(
            [
                product.sku,
                product.name,
                product.description,
                product.manufacturer,
                product.manufacturer_part_number,
                product.unspsc,
                product.unit_code,
                product.list_price,
                line.price,
                line.price_source,
                line.currency,
                product.lead_time_days,
            ]
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _one_line(text: str) -> str:
    # CIF readers take one physical line per item, so line breaks inside a value become spaces.
    return " ".join(text.split())
