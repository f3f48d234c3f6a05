"""Messy catalog files: each case imports what it can and reports the rest with line, column and reason."""

import datetime as dt
import json
from decimal import Decimal

import pytest

from apps.catalog.imports.errors import FileRejected
from apps.catalog.imports.service import ImportOptions, import_file, import_rows
from apps.catalog.models import ImportJob, ImportKind, Product, UnitOfMeasure
from tests.factories import ProductFactory, UnitOfMeasureFactory

HEADER = "sku,name,uom,list_price,currency,updated_at"


def _import(tmp_path, content: bytes, name="catalog.csv", **options):
    path = tmp_path / name
    path.write_bytes(content)
    return import_file(path, kind=ImportKind.CATALOG, source=ImportJob.Source.COMMAND, options=ImportOptions(**options))


def _report(job):
    return [(line.line, line.column, line.message) for line in job.row_errors.order_by("line", "id")]


@pytest.fixture
def units(db):
    UnitOfMeasureFactory(code="EA", name="each")


def test_import_plain_file_creates_products(tmp_path, units):
    content = f"{HEADER}\nA-1,Pen,EA,1.50,EUR,2026-03-01T08:00:00Z\nA-2,Pad,each,2.00,EUR,2026-03-01T08:00:00Z\n"

    job = _import(tmp_path, content.encode())

    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.created_count, job.updated_count, job.rejected_count) == (2, 0, 0)
    product = Product.objects.get(sku="A-2")
    assert product.list_price == Decimal("2.0000")
    assert product.unit.code == "EA"
    assert product.source_updated_at == dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)


def test_import_bom_semicolon_crlf_and_trailing_empty_columns(tmp_path, units):
    content = (
        "\ufeffsku;name;uom;list_price;currency;updated_at;;\r\n"
        "A-1;Pen;EA;1.50;EUR;2026-03-01T08:00:00Z;;\r\n"
        "A-2;Pad;EA;2.00;EUR;2026-03-01T08:00:00Z;;\r\n"
    )

    job = _import(tmp_path, content.encode("utf-8"))

    assert (job.created_count, job.rejected_count) == (2, 0)
    assert _report(job) == []
    assert Product.objects.get(sku="A-1").name == "Pen"


def test_import_tab_delimited(tmp_path, units):
    content = "sku\tname\tuom\tlist_price\tcurrency\tupdated_at\nA-1\tPen, blue\tEA\t1.50\tEUR\t2026-03-01\n"

    job = _import(tmp_path, content.encode())

    assert job.created_count == 1
    assert Product.objects.get(sku="A-1").name == "Pen, blue"


def test_import_quoted_line_break_keeps_line_numbers(tmp_path, units):
    content = (
        "sku,name,description,uom,list_price,currency,updated_at\n"
        'A-1,Pen,"First line\nsecond line",EA,1.50,EUR,2026-03-01\n'
        "A-2,Pad,,EA,abc,EUR,2026-03-01\n"
    )

    job = _import(tmp_path, content.encode())

    assert Product.objects.get(sku="A-1").description == "First line\nsecond line"
    assert _report(job) == [(4, "list_price", "list_price 'abc' is not a decimal number")]


def test_import_latin1_without_option_rejects_file_naming_line(tmp_path, units):
    content = f"{HEADER}\nA-1,Pen,EA,1.50,EUR,2026-03-01\nA-2,Stück,EA,2.00,EUR,2026-03-01\n".encode("latin-1")

    with pytest.raises(FileRejected) as raised:
        _import(tmp_path, content)

    assert raised.value.message.startswith("Line 3 is not valid UTF-8 (byte 0xFC at character 7).")
    assert "--encoding latin-1" in raised.value.message
    assert Product.objects.count() == 0
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.FAILED
    assert job.error == raised.value.message


def test_import_latin1_declared_reads_umlauts(tmp_path, units):
    content = f"{HEADER}\nA-2,Stück,EA,2.00,EUR,2026-03-01\n".encode("latin-1")

    job = _import(tmp_path, content, encoding="latin-1")

    assert job.created_count == 1
    assert Product.objects.get(sku="A-2").name == "Stück"


def test_import_utf8_file_declared_latin1_is_rejected(tmp_path, units):
    content = f"{HEADER}\nA-2,Stück,EA,2.00,EUR,2026-03-01\n".encode()

    with pytest.raises(FileRejected) as raised:
        _import(tmp_path, content, encoding="latin-1")

    assert raised.value.message == (
        "The file was declared latin-1, but its non-ASCII text (first on line 2) is valid UTF-8, "
        "so it was saved as UTF-8; rerun without --encoding."
    )


def test_import_decimal_comma_needs_option(tmp_path, units):
    content = b"sku;name;uom;list_price;currency;updated_at\nA-1;Pen;EA;1,50;EUR;2026-03-01\n"

    without = _import(tmp_path, content)
    with_option = _import(tmp_path, content, decimal_comma=True)

    assert _report(without) == [
        (
            2,
            "list_price",
            "list_price '1,50' contains a comma; write a decimal point, or import with the decimal comma option",
        ),
    ]
    assert with_option.created_count == 1
    assert Product.objects.get(sku="A-1").list_price == Decimal("1.5")


def test_import_duplicate_sku_rejects_later_row(tmp_path, units):
    content = f"{HEADER}\nA-1,First,EA,1.50,EUR,2026-03-01\nA-1,Second,EA,1.60,EUR,2026-03-01\n"

    job = _import(tmp_path, content.encode())

    assert (job.created_count, job.rejected_count) == (1, 1)
    assert _report(job) == [
        (
            3,
            "sku",
            "Duplicate of line 2 (A-1); the first row is used. Run with --last-wins to use the last one instead.",
        ),
    ]
    assert Product.objects.get(sku="A-1").name == "First"


def test_duplicate_sku_in_api_push_hint(units):
    common = {"sku": "A-1", "uom": "EA", "currency": "EUR", "updated_at": "2026-03-01"}
    rows = [{**common, "name": "First", "list_price": "1.50"}, {**common, "name": "Second", "list_price": "1.60"}]

    job = import_rows(ImportKind.CATALOG, rows, source=ImportJob.Source.API)

    [(line, column, message)] = _report(job)
    assert (line, column) == (2, "sku")
    assert message == (
        "Duplicate of line 1 (A-1); the first row is used. "
        "Send each key once per request; an API push always keeps the first row."
    )
    assert Product.objects.get(sku="A-1").name == "First"


def test_import_duplicate_sku_last_wins_with_option(tmp_path, units):
    content = f"{HEADER}\nA-1,First,EA,1.50,EUR,2026-03-01\nA-1,Second,EA,1.60,EUR,2026-03-01\n"

    job = _import(tmp_path, content.encode(), last_wins=True)

    assert (job.created_count, job.rejected_count) == (1, 0)
    assert _report(job) == [(3, "", "Also on line 2 (A-1); this later row wins.")]
    assert Product.objects.get(sku="A-1").name == "Second"


def test_import_bad_rows_reported_and_others_imported(tmp_path, units):
    content = (
        "sku,name,uom,list_price,currency,unspsc,updated_at\n"
        "A-1,Pen,EA,1.50,EUR,43211503,2026-03-01\n"
        "A-2,,EA,1.50,XXX,43211503,2026-03-01\n"
        "A-3,Pad,BOGUS,1.50,EUR,4321,yesterday\n"
        "A-4,Ink,EA,-1,EUR,,2026-03-01\n"
        "A-5,Cap,EA,1.50,EUR\n"
        "A-6,Box,EA,1.50,EUR,,2026-03-01,extra\n"
    )

    job = _import(tmp_path, content.encode())

    assert (job.created_count, job.rejected_count) == (1, 5)
    report = _report(job)
    assert report[0] == (3, "name", "name is required")
    assert report[1] == (
        3,
        "currency",
        "currency 'XXX' is not an ISO 4217 currency code; use a three-letter code such as EUR",
    )
    assert report[2] == (
        4,
        "updated_at",
        "updated_at 'yesterday' is not an ISO 8601 date and time, such as 2026-03-01T08:00:00Z",
    )
    assert report[3] == (
        4,
        "unspsc",
        "unspsc '4321' is not a UNSPSC code; it has exactly eight digits, such as 43211503",
    )
    assert report[4] == (5, "list_price", "list_price '-1' is below the minimum of 0")
    assert report[5] == (
        6,
        "",
        "The row has 5 values but the header names 7 columns; check for a missing value or a line break "
        "outside quotes.",
    )
    assert report[6] == (
        7,
        "",
        "The row has 8 values but the header names 7 columns; quote values that contain the delimiter.",
    )
    assert len(report) == 7
    assert list(Product.objects.values_list("sku", flat=True)) == ["A-1"]


def test_import_unknown_unit_reported_with_alias_hint(tmp_path, units):
    content = f"{HEADER}\nA-3,Pad,ZZQ,1.50,EUR,2026-03-01\n"

    job = _import(tmp_path, content.encode())

    assert _report(job) == [
        (
            2,
            "uom",
            "Unknown unit of measure 'ZZQ' in context erp: add a unit alias for ZZQ in the admin, or use a "
            "UN/CEFACT Recommendation 20 code such as EA, KGM or XBX.",
        )
    ]


def test_import_unknown_column_rejects_file(tmp_path, units):
    content = f"{HEADER},colour\nA-1,Pen,EA,1.50,EUR,2026-03-01,blue\n"

    with pytest.raises(FileRejected) as raised:
        _import(tmp_path, content.encode())

    assert raised.value.message.startswith("The header names unknown columns: colour. Expected columns: sku, name,")


def test_import_missing_required_column_rejects_file(tmp_path, units):
    content = "sku,name,uom,currency,updated_at\nA-1,Pen,EA,EUR,2026-03-01\n"

    with pytest.raises(FileRejected) as raised:
        _import(tmp_path, content.encode())

    assert raised.value.message == (
        "The header lacks the required columns list_price (read with delimiter ','); "
        "required: sku, name, uom, list_price, currency, updated_at."
    )


def test_import_json_lines(tmp_path, units):
    content = (
        '{"sku": "A-1", "name": "Pen", "uom": "EA", "list_price": 1.5, "currency": "EUR", "updated_at": "2026-03-01"}\n'
        "\n"
        '{"sku": "A-2", "name": "Pad", "uom": "EA", "list_price": "x", "currency": "EUR", "updated_at": "2026-03-01"}\n'
        "[1, 2]\n"
    )

    job = _import(tmp_path, content.encode(), name="catalog.jsonl")

    assert job.created_count == 1
    assert Product.objects.get(sku="A-1").list_price == Decimal("1.5")
    assert _report(job) == [
        (3, "list_price", "list_price 'x' is not a decimal number"),
        (4, "", "The row is a JSON list, not an object."),
    ]


def test_import_dry_run_changes_nothing(tmp_path, units):
    ProductFactory(sku="A-1", list_price=Decimal("1.50"), source_updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    content = f"{HEADER}\nA-1,Pen,EA,1.60,EUR,2026-03-01\nA-2,Pad,EA,2.00,EUR,2026-03-01\nA-3,Ink,EA,x,EUR,2026-03-01\n"

    job = _import_dry(tmp_path, content.encode())

    assert (job.created_count, job.updated_count, job.rejected_count, job.dry_run) == (1, 1, 1, True)
    assert list(Product.objects.values_list("sku", "list_price")) == [("A-1", Decimal("1.5000"))]


def _import_dry(tmp_path, content):
    path = tmp_path / "dry.csv"
    path.write_bytes(content)
    return import_file(path, kind=ImportKind.CATALOG, source=ImportJob.Source.COMMAND, dry_run=True)


# Files with every catalog column: their usual rows are parsed from the CSV values without a dict per row.
ALL_COLUMNS = (
    "sku,name,description,manufacturer,manufacturer_part_number,category_code,category_name,"
    "unspsc,uom,list_price,currency,lead_time_days,active,updated_at"
)
ALL_COLUMNS_ROWS = (
    " A-1 , Pen ,Blue ink,Acme,MPN-1,PENS,Pens,43211503,EA,1.5,eur,,yes,2026-03-01T08:00:00Z\n"
    "A-2,Pad,,,,,,,each,2,EUR,14,0,2026-03-01\n"
)


def _reordered(header: str, rows: str) -> str:
    """Return the CSV with its columns in reverse order."""
    lines = [header, *rows.splitlines()]
    return "\n".join(",".join(reversed(line.split(","))) for line in lines) + "\n"


@pytest.mark.parametrize("order", ["catalog order", "reversed"])
def test_import_all_columns_any_order(tmp_path, units, order):
    content = f"{ALL_COLUMNS}\n{ALL_COLUMNS_ROWS}"
    if order == "reversed":
        content = _reordered(ALL_COLUMNS, ALL_COLUMNS_ROWS)

    job = _import(tmp_path, content.encode())

    assert (job.created_count, job.rejected_count) == (2, 0)
    pen = Product.objects.get(sku="A-1")
    assert (pen.name, pen.description, pen.manufacturer, pen.manufacturer_part_number) == (
        "Pen",
        "Blue ink",
        "Acme",
        "MPN-1",
    )
    assert (pen.category.code, pen.category.name, pen.unspsc) == ("PENS", "Pens", "43211503")
    assert (pen.unit.code, pen.list_price, pen.currency) == ("EA", Decimal("1.5000"), "EUR")
    assert (pen.lead_time_days, pen.is_active) == (0, True)
    assert pen.source_updated_at == dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)
    pad = Product.objects.get(sku="A-2")
    assert (pad.category, pad.unspsc, pad.unit.code) == (None, "", "EA")
    assert (pad.lead_time_days, pad.is_active) == (14, False)
    assert pad.source_updated_at == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def test_import_all_columns_unusual_rows_fully_checked(tmp_path, units):
    content = (
        f"{ALL_COLUMNS}\n"
        "A-1,Pen,,,,,,,EA,1.50,EUR,,,2026-03-01\n"
        "A-2,Pad,,,,,,,EA,1.5.0,EUR,,,2026-03-01\n"
        "A-3,Ink,,,,,,,EA,1.50,EUR,,maybe,2026-03-01\n"
        "A 4,Cap,,,,,,,EA,1.50,EUR,,,2026-03-01\n"
    )

    job = _import(tmp_path, content.encode())

    assert (job.created_count, job.rejected_count) == (1, 3)
    assert _report(job) == [
        (3, "list_price", "list_price '1.5.0' is not a decimal number"),
        (4, "active", "active 'maybe' is not a yes/no value; use true or false (or 1 or 0)"),
        (5, "sku", "sku 'A 4' contains white space"),
    ]


def test_import_all_columns_full_catalog_counts_listed_skus(tmp_path, units):
    unit_each = UnitOfMeasure.objects.get(code="EA")
    ProductFactory(sku="A-1", unit=unit_each, list_price=Decimal("1.50"))
    ProductFactory(sku="GONE", unit=unit_each)
    rows = "".join(f" A-{n} ,Item,,,,,,,EA,1.50,EUR,,,2026-03-01\n" for n in range(1, 21))

    job = _import(tmp_path, f"{ALL_COLUMNS}\n{rows}".encode(), full_catalog=True)

    assert (job.created_count, job.updated_count, job.flagged_count) == (19, 1, 1)
    held_changes = [(change.sku, change.reason) for change in job.held_changes.all()]
    assert held_changes == [("GONE", "missing")]


def test_catalog_cell_parser_any_column_order():
    from apps.catalog.imports.kinds import CATALOG_COLUMNS, catalog_cell_parser, parse_catalog_row
    from apps.catalog.imports.readers import SourceRow

    values = dict(zip(CATALOG_COLUMNS, ALL_COLUMNS_ROWS.splitlines()[0].split(","), strict=True))
    names = list(reversed(CATALOG_COLUMNS))

    record = catalog_cell_parser(names)([values[name] for name in names])

    assert record == parse_catalog_row(SourceRow(2, values), False)[0]
    assert (record["sku"], record["currency"], record["category_code"]) == ("A-1", "EUR", "PENS")
    assert catalog_cell_parser(HEADER.split(",")) is None


def test_cell_parser_rechecks_late_source_times(settings):
    from apps.catalog.imports.kinds import CATALOG_COLUMNS, catalog_cell_parser

    settings.IMPORT_SOURCE_TIME_MAX_AHEAD_SECONDS = 3600
    parse_cells = catalog_cell_parser(list(CATALOG_COLUMNS))
    cells = dict(zip(CATALOG_COLUMNS, ALL_COLUMNS_ROWS.splitlines()[1].split(","), strict=True))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3600 + 600)
    cells["updated_at"] = later.isoformat()

    # Past the limit the parser was made with, the row goes to the full checks.
    assert parse_cells(list(cells.values())) is None
    # The limit is read again for such a time, so a raised limit lets the same row through.
    settings.IMPORT_SOURCE_TIME_MAX_AHEAD_SECONDS = 7200
    record = parse_cells(list(cells.values()))
    assert record is not None
    assert record["source_updated_at"] == later


def test_encoding_check_numbers_lines_across_blocks(tmp_path, units, monkeypatch):
    from apps.catalog.imports import readers

    # Blocks of a few lines, so that the file has ASCII blocks before and after the bad line.
    monkeypatch.setattr(readers, "_CHECK_BLOCK_BYTES", 100)
    lines = [f"A-{number},Pen {number},EA,1.50,EUR,2026-03-01" for number in range(1, 40)]
    lines[29] = "A-30,Stück,EA,2.00,EUR,2026-03-01"
    content = "\n".join([HEADER, *lines]) + "\n"

    with pytest.raises(FileRejected) as latin1_read_as_utf8:
        _import(tmp_path, content.encode("latin-1"))
    job = _import(tmp_path, content.encode("latin-1"), encoding="latin-1")
    with pytest.raises(FileRejected) as nul_byte:
        _import(tmp_path, content.replace("Pen 35", "Pen\x0035").encode("latin-1"), encoding="latin-1")

    assert latin1_read_as_utf8.value.message.startswith("Line 31 is not valid UTF-8 (byte 0xFC at character 8).")
    assert job.created_count == 39
    assert Product.objects.get(sku="A-30").name == "Stück"
    assert nul_byte.value.message.startswith("Line 36 contains a NUL byte (0x00)")


@pytest.mark.parametrize("header", [HEADER, ALL_COLUMNS], ids=["some columns", "all columns"])
def test_import_rejects_updated_at_far_ahead(tmp_path, units, header, settings):
    settings.IMPORT_SOURCE_TIME_MAX_AHEAD_SECONDS = 3600
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    columns = header.split(",")

    def row(sku, updated_at):
        values = {"sku": sku, "name": "Pen", "uom": "EA", "list_price": "1.50", "currency": "EUR"}
        values["updated_at"] = updated_at
        return ",".join(values.get(column, "") for column in columns)

    content = f"{header}\n{row('A-1', soon)}\n{row('A-2', '2062-12-05T11:00:00Z')}\n"

    job = _import(tmp_path, content.encode())

    assert (job.created_count, job.rejected_count) == (1, 1)
    assert _report(job) == [
        (
            3,
            "updated_at",
            "updated_at '2062-12-05T11:00:00Z' is more than 3600 seconds in the future; "
            "send the time the source changed the row, with its UTC offset",
        )
    ]
    assert not Product.objects.filter(sku="A-2").exists()


def test_import_rejects_price_in_exponent_notation(tmp_path, units):
    content = f"{HEADER}\nA-1,Pen,EA,1e2,EUR,2026-03-01T08:00:00Z\n"

    job = _import(tmp_path, content.encode())

    assert job.rejected_count == 1
    assert _report(job) == [
        (
            2,
            "list_price",
            "list_price '1e2' is in exponent notation; write it as a plain decimal number, such as 1250.50",
        )
    ]


def test_import_json_lines_unusual_unknown_keys(tmp_path, units):
    good = {
        "sku": "A-1",
        "name": "Pen",
        "uom": "EA",
        "list_price": "1.5",
        "currency": "EUR",
        "updated_at": "2026-03-01",
    }
    long_key = "k" * 100
    content = "\n".join(json.dumps(row) for row in (good, {"\x00": "1"}, {long_key: "1"})) + "\n"

    job = _import(tmp_path, content.encode(), name="catalog.jsonl")

    assert (job.created_count, job.rejected_count) == (1, 2)
    report = _report(job)
    assert report[0][:2] == (2, "")
    assert report[0][2].startswith("Unknown key '\\x00'; expected keys: sku, name,")
    assert report[1][:2] == (3, "k" * 60)
    assert report[1][2].startswith(f"Unknown key {'k' * 60!r}; expected keys:")
