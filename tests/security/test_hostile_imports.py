"""Hostile import files: every reader and row kind reports a bad file or row, and never fails unexpectedly.

A file either succeeds with each bad row counted and reported (line, column,
reason), or is rejected as a whole with a CatalogImportError. Any other
exception is a bug.
"""

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.catalog.imports.errors import CatalogImportError
from apps.catalog.imports.kinds import SPECS
from apps.catalog.imports.service import ImportOptions, import_file, import_rows
from apps.catalog.models import ImportJob, ImportKind
from tests.factories import ContractFactory, ProductFactory, UnitOfMeasureFactory, WarehouseFactory
from tests.security.fuzzing import NASTY_VALUES

KINDS = [ImportKind.CATALOG, ImportKind.STOCK, ImportKind.CONTRACT_PRICES]
# Values that look right to each column, so that rows get past the first checks.
PLAUSIBLE = {
    "sku": ["FZ-1", "FZ-2", "fz-1", "FZ-1 "],
    "currency": ["EUR", "USD", "eur", "XXX"],
    "uom": ["EA", "PCE", "each", "KGM", "ZZZ"],
    "warehouse": ["RTM", "rtm", "NOPE"],
    "contract": ["C-FUZZ", "C-NONE"],
    "active": ["true", "false", "1", "0", "yes", "maybe"],
    "list_price": ["12.50", "0", "-1", "1e3", "12,50", "999999999999999.99"],
    "price": ["9.99", "", "-0.01"],
    "discount_percent": ["10", "", "100.001", "-5"],
    "on_hand": ["5", "-5", "2.5", "1e2"],
    "min_quantity": ["1", "0", "10.5"],
    "as_of": ["2026-01-01T00:00:00Z", "2026-02-30", "yesterday"],
    "updated_at": ["2026-01-01T00:00:00+00:00", "2026-01-01", "1.5"],
    "valid_from": ["2026-01-01", "2027-01-01", "01/01/2026"],
    "valid_to": ["", "2025-01-01", "2026-12-31"],
}

cell = st.one_of(st.sampled_from(NASTY_VALUES), st.text(max_size=20))


def _value(column: str):
    return st.one_of(st.sampled_from(PLAUSIBLE.get(column, ["x"])), cell)


@st.composite
def csv_files(draw, kind: str):
    """Draw a CSV file for ``kind``: its columns in any order, a foreign column now and then, odd quoting."""
    spec = SPECS[kind]
    columns = draw(st.permutations(list(spec.columns)))
    columns = columns[: draw(st.integers(min_value=len(spec.required), max_value=len(columns)))]
    if draw(st.booleans()):
        columns.append(draw(st.sampled_from(["extra", "", "sku", "SKU", "price"])))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    rows = draw(st.lists(st.fixed_dictionaries({column: _value(column) for column in columns}), min_size=0, max_size=8))
    lines = [delimiter.join(columns)]
    for row in rows:
        values = [_quote(row.get(column, ""), delimiter) for column in columns]
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            values = values[: draw(st.integers(min_value=0, max_value=len(values)))]
        lines.append(delimiter.join(values))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(lines)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    return text.encode(encoding, errors="replace")


def _quote(value: str, delimiter: str) -> str:
    if any(character in value for character in (delimiter, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


@pytest.fixture
def reference_data(db):
    UnitOfMeasureFactory(code="EA")
    WarehouseFactory(code="RTM")
    ProductFactory(sku="FZ-1")
    ContractFactory(number="C-FUZZ")


def _import(data: bytes, kind: str, **options) -> ImportJob | None:
    try:
        job = import_file(
            io.BytesIO(data), kind=kind, source=ImportJob.Source.COMMAND, options=ImportOptions(**options)
        )
    except CatalogImportError as error:
        assert error.message
        return None
    assert job.status == ImportJob.Status.SUCCEEDED
    return job


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_csv_import_reports_bad_rows(reference_data, kind, data):
    job = _import(data.draw(csv_files(kind)), kind, decimal_comma=data.draw(st.booleans()))
    if job is not None:
        # Every row read ends in exactly one of these counts.
        counted = job.created_count + job.updated_count + job.unchanged_count + job.stale_count + job.rejected_count
        assert counted == job.rows_read


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.binary(max_size=400), file_format=st.sampled_from([None, "csv", "jsonl"]))
def test_any_bytes_are_read_or_rejected(reference_data, kind, data, file_format):
    _import(data, kind, format=file_format)


@pytest.mark.parametrize("kind", KINDS)
@given(
    lines=st.lists(
        st.one_of(
            st.dictionaries(st.sampled_from(["sku", "warehouse", "on_hand", "as_of", "price", "x"]), cell),
            st.dictionaries(st.text(max_size=5), st.one_of(st.none(), st.integers(), st.floats(), cell)),
            st.lists(st.integers(), max_size=3),
            st.just("not an object"),
        ),
        max_size=6,
    )
)
def test_jsonl_import_reports_bad_lines(reference_data, kind, lines):
    data = "\n".join(json.dumps(line) for line in lines).encode()
    _import(data, kind, format="jsonl")


@pytest.mark.parametrize("kind", KINDS)
@given(
    rows=st.lists(
        st.dictionaries(
            st.sampled_from([*SPECS[ImportKind.CATALOG].columns, "warehouse", "on_hand", "contract", "x"]),
            st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.booleans(), cell, st.lists(cell)),
        ),
        max_size=6,
    )
)
def test_pushed_rows_are_reported(reference_data, kind, rows):
    # The API's ERP pushes hand decoded JSON values to import_rows.
    try:
        job = import_rows(kind, rows, options=ImportOptions())
    except CatalogImportError as error:
        assert error.message
    else:
        assert job.status == ImportJob.Status.SUCCEEDED


def test_nul_byte_in_csv_rejects_file(reference_data):
    # Regression: on PostgreSQL a NUL in a field raised DataError from the database, an unexpected failure.
    with pytest.raises(CatalogImportError, match="Line 2 contains a NUL byte"):
        import_file(
            io.BytesIO(b"sku,warehouse,on_hand,as_of\nFZ-\x001,RTM,5,2026-01-01T00:00:00Z\n"),
            kind=ImportKind.STOCK,
            source=ImportJob.Source.COMMAND,
        )


def test_nul_character_in_json_value_is_reported(reference_data):
    job = import_rows(ImportKind.STOCK, [{"sku": "FZ-\x001", "warehouse": "RTM", "on_hand": "5", "as_of": ""}])

    assert job.status == ImportJob.Status.SUCCEEDED
    assert job.rejected_count == 1
