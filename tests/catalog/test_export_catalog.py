"""Catalog exports of a contract's assortment: CIF 3.0 read back field by field, and CSV."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from apps.catalog.exports import ExportRejected, export_cif, export_csv
from apps.contracts.models import Contract
from tests.factories import CategoryFactory, ContractFactory, ContractPriceFactory, ProductFactory, UnitOfMeasureFactory

ON_DATE = dt.date(2026, 6, 1)


def read_cif(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Parse a CIF 3.0 file: the header entries and the items by field name; checks the frame lines."""
    lines = text.split("\n")
    assert lines[0] == "CIF_I_V3.0"
    data_at = lines.index("DATA")
    header = dict(line.split(": ", 1) for line in lines[1:data_at])
    end_at = lines.index("ENDOFDATA")
    assert lines[end_at + 1 :] == [""]
    names = header["FIELDNAMES"].split(", ")
    items = [dict(zip(names, row, strict=True)) for row in csv.reader(lines[data_at + 1 : end_at])]
    return header, items


@pytest.fixture
def contract(db):
    each = UnitOfMeasureFactory(code="EA", name="each")
    office = CategoryFactory(code="OFFICE")
    tools = CategoryFactory(code="TOOLS")
    pen = ProductFactory(
        sku="PEN-1",
        name="Pen, blue",
        description="Gel pen\nblue ink",
        category=office,
        unit=each,
        list_price=Decimal("2.00"),
        manufacturer="Acme",
        manufacturer_part_number="AC-1",
        unspsc="44121704",
        lead_time_days=3,
    )
    ProductFactory(sku="PAD-1", name="Pad", category=office, unit=each, list_price=Decimal("5.00"))
    ProductFactory(sku="DRILL-1", name="Drill", category=tools, unit=each, list_price=Decimal("90.00"))
    ProductFactory(sku="OLD-1", name="Old", category=office, unit=each, is_active=False)
    contract = ContractFactory(
        number="K-100", assortment=Contract.Assortment.SELECTED, customer__account_number="ACME-9"
    )
    contract.categories.add(office)
    ContractPriceFactory(contract=contract, product=pen, price=Decimal("1.50"))
    ContractPriceFactory(
        contract=contract, product=ProductFactory(sku="PAD-X", category=tools, unit=each), price=Decimal("1")
    )
    return contract


def test_cif_export_read_back(contract):
    result = export_cif(contract=contract, supplier_id="987654321", on_date=ON_DATE)

    header, items = read_cif(result.content)
    assert header["LOADMODE"] == "F"
    assert header["CURRENCY"] == "EUR"
    assert header["SUPPLIERID_DOMAIN"] == "DUNS"
    assert header["ITEMCOUNT"] == "2"
    assert [item["Supplier Part ID"] for item in items] == ["PAD-1", "PEN-1"]
    pen = items[1]
    assert pen == {
        "Supplier ID": "987654321",
        "Supplier Part ID": "PEN-1",
        "Manufacturer Part ID": "AC-1",
        "Item Description": "Gel pen blue ink",
        "SPSC Code": "44121704",
        "Unit Price": "1.5000",
        "Unit of Measure": "EA",
        "Lead Time": "3",
        "Manufacturer Name": "Acme",
        "Supplier URL": "",
        "Manufacturer URL": "",
        "Market Price": "2.0000",
        "Supplier Part Auxiliary ID": "",
        "Language": "en_US",
        "Currency": "EUR",
        "Short Name": "Pen, blue",
    }
    assert items[0]["Unit Price"] == "5.0000"
    assert (result.item_count, result.unpriced_count) == (2, 0)


def test_cif_export_needs_contract_in_force(contract):
    with pytest.raises(ExportRejected) as raised:
        export_cif(contract=contract, supplier_id="987654321", on_date=dt.date(2027, 6, 1))

    assert raised.value.message == (
        "Contract K-100 is not the contract in force for ACME-9 on 2027-06-01; "
        "choose a date within its validity, or activate it."
    )


def test_csv_export_lists_contract_prices(contract):
    result = export_csv(contract=contract, on_date=ON_DATE)

    rows = list(csv.DictReader(io.StringIO(result.content)))
    assert [(row["sku"], row["price"], row["price_source"]) for row in rows] == [
        ("PAD-1", "5.0000", "list_price"),
        ("PEN-1", "1.5000", "contract_price"),
    ]


def test_export_command_writes_cif_file(contract, tmp_path):
    path = tmp_path / "acme.cif"

    call_command(
        "export_catalog",
        "K-100",
        "--supplier-id",
        "987654321",
        "--date",
        "2026-06-01",
        "-o",
        str(path),
        stderr=io.StringIO(),
    )

    header, items = read_cif(path.read_text())
    assert header["ITEMCOUNT"] == "2"
    assert len(items) == 2
