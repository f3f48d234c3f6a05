"""Row fingerprints: an unchanged catalog row is skipped unparsed, and every other change makes it parse again."""

import csv
import io
from decimal import Decimal

import pytest
from django.db import connection

from apps.catalog.imports import kinds
from apps.catalog.imports.kinds import CATALOG_COLUMNS
from apps.catalog.imports.service import ImportOptions, import_file, import_rows
from apps.catalog.models import CatalogReferenceVersion, Category, ImportJob, ImportKind, Product, UnitAlias
from tests.factories import UnitOfMeasureFactory

pytestmark = pytest.mark.postgres

HISTORY = Product.history.model


@pytest.fixture
def units(db):
    return {
        "EA": UnitOfMeasureFactory(code="EA", name="each"),
        "XBX": UnitOfMeasureFactory(code="XBX", name="box"),
        "XPK": UnitOfMeasureFactory(code="XPK", name="pack"),
    }


def _row(sku, **values):
    row = {
        "sku": sku,
        "name": f"Product {sku}",
        "description": "",
        "manufacturer": "Acme",
        "manufacturer_part_number": f"MPN-{sku}",
        "category_code": "TOOLS",
        "category_name": "Tools",
        "unspsc": "",
        "uom": "EA",
        "list_price": "10.00",
        "currency": "EUR",
        "lead_time_days": "3",
        "active": "true",
        "updated_at": "2026-03-01T00:00:00Z",
    }
    row.update(values)
    return row


def _write(path, rows, columns=CATALOG_COLUMNS):
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(text.getvalue())
    return path


def _import(path, **options):
    dry_run = options.pop("dry_run", False)
    return import_file(
        path, kind=ImportKind.CATALOG, source="command", options=ImportOptions(**options), dry_run=dry_run
    )


def _counts(job):
    return {
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "rejected": job.rejected_count,
    }


@pytest.fixture
def parsed_rows(monkeypatch):
    """Count the rows that go through the catalog cell parser."""
    calls = []
    real = kinds._parse_usual_catalog_row

    def counting(accepted_before, cells):
        calls.append(cells[0])
        return real(accepted_before, cells)

    monkeypatch.setattr(kinds, "_parse_usual_catalog_row", counting)
    return calls


def _fingerprints():
    with connection.cursor() as cursor:
        cursor.execute("SELECT sku, import_fingerprint FROM catalog_product ORDER BY sku")
        return {sku: bytes(value) if value is not None else None for sku, value in cursor.fetchall()}


def _row_versions():
    with connection.cursor() as cursor:
        cursor.execute("SELECT sku, xmin::text FROM catalog_product ORDER BY sku")
        return dict(cursor.fetchall())


def test_rerun_of_same_file_skips_every_row_unparsed(units, tmp_path, parsed_rows):
    path = _write(tmp_path / "catalog.csv", [_row("A-1"), _row("A-2"), _row("A-3")])
    first = _import(path)
    assert _counts(first) == {"created": 3, "updated": 0, "unchanged": 0, "rejected": 0}
    assert all(value is not None and len(value) == 16 for value in _fingerprints().values())
    versions = _row_versions()
    parsed_rows.clear()

    rerun = _import(path)

    assert _counts(rerun) == {"created": 0, "updated": 0, "unchanged": 3, "rejected": 0}
    assert (rerun.rows_read, rerun.status) == (3, ImportJob.Status.SUCCEEDED)
    assert parsed_rows == []
    assert _row_versions() == versions
    assert HISTORY.objects.count() == 3


def test_changed_row_parsed_and_written_while_others_skipped(units, tmp_path, parsed_rows):
    _import(_write(tmp_path / "night1.csv", [_row("A-1"), _row("A-2"), _row("A-3")]))
    before = _fingerprints()
    parsed_rows.clear()

    job = _import(_write(tmp_path / "night2.csv", [_row("A-1"), _row("A-2", list_price="11.00"), _row("A-3")]))

    assert _counts(job) == {"created": 0, "updated": 1, "unchanged": 2, "rejected": 0}
    assert parsed_rows == ["A-2"]
    after = _fingerprints()
    assert after["A-1"] == before["A-1"]
    assert after["A-3"] == before["A-3"]
    assert after["A-2"] not in (None, before["A-2"])
    assert Product.objects.get(sku="A-2").list_price == Decimal("11.0000")
    assert list(HISTORY.objects.filter(sku="A-2").values_list("history_type", flat=True).order_by("history_id")) == [
        "+",
        "~",
    ]


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda product: product.save(), id="model save"),
        pytest.param(lambda product: Product.objects.filter(pk=product.pk).update(name="Edited"), id="queryset update"),
    ],
)
def test_product_edit_clears_fingerprint(units, tmp_path, edit):
    path = _write(tmp_path / "catalog.csv", [_row("A-1")])
    _import(path)
    product = Product.objects.get(sku="A-1")
    product.name = "Edited"

    edit(product)

    assert _fingerprints()["A-1"] is None
    job = _import(path)
    assert _counts(job) == {"created": 0, "updated": 1, "unchanged": 0, "rejected": 0}
    assert Product.objects.get(sku="A-1").name == "Product A-1"
    assert _fingerprints()["A-1"] is not None


def test_api_push_clears_fingerprint_of_changed_product(units, tmp_path):
    path = _write(tmp_path / "catalog.csv", [_row("A-1")])
    _import(path)

    pushed = import_rows(ImportKind.CATALOG, [_row("A-1", list_price="12.00", updated_at="2026-03-02T00:00:00Z")])

    assert pushed.updated_count == 1
    assert _fingerprints()["A-1"] is None
    # The file is older than the push, so its row is stale now, not unchanged.
    rerun = _import(path)
    assert (rerun.stale_count, rerun.unchanged_count) == (1, 0)
    assert Product.objects.get(sku="A-1").list_price == Decimal("12.0000")


def test_last_wins_import_clears_fingerprint(units, tmp_path):
    original = _write(tmp_path / "night1.csv", [_row("A-1")])
    _import(original)

    changed = _write(tmp_path / "night2.csv", [_row("A-1", name="Renamed"), _row("A-1", name="Renamed again")])
    job = _import(changed, last_wins=True)

    assert job.updated_count == 1
    assert _fingerprints()["A-1"] is None
    assert _counts(_import(original))["updated"] == 1
    assert Product.objects.get(sku="A-1").name == "Product A-1"


def test_unit_alias_change_makes_rows_resolve_again(units, tmp_path):
    alias = UnitAlias.objects.create(alias="CARTON", context=UnitAlias.Context.ERP, unit=units["XBX"])
    path = _write(tmp_path / "catalog.csv", [_row("A-1", uom="CARTON"), _row("A-2")])
    _import(path)
    version = CatalogReferenceVersion.objects.get().number

    alias.unit = units["XPK"]
    alias.save()

    assert CatalogReferenceVersion.objects.get().number == version + 1
    job = _import(path)
    assert _counts(job) == {"created": 0, "updated": 1, "unchanged": 1, "rejected": 0}
    assert Product.objects.get(sku="A-1").unit == units["XPK"]
    # The next night the rows are skipped again.
    assert _counts(_import(path))["unchanged"] == 2


def test_category_code_change_makes_rows_resolve_again(units, tmp_path, parsed_rows):
    path = _write(tmp_path / "catalog.csv", [_row("A-1")])
    _import(path)
    tools = Category.objects.get(code="TOOLS")

    tools.code = "HAND-TOOLS"
    tools.save()
    parsed_rows.clear()

    job = _import(path)
    assert parsed_rows == ["A-1"]
    assert job.updated_count == 1
    assert Product.objects.get(sku="A-1").category.code == "TOOLS"


def test_category_name_change_and_new_categories_keep_fingerprints(units, tmp_path, parsed_rows):
    path = _write(tmp_path / "catalog.csv", [_row("A-1")])
    _import(path)
    version = CatalogReferenceVersion.objects.get().number
    tools = Category.objects.get(code="TOOLS")
    tools.name = "Hand tools"
    tools.save()
    Category.objects.create(code="PAINT", name="Paint")
    parsed_rows.clear()

    job = _import(path)

    assert CatalogReferenceVersion.objects.get().number == version
    assert (job.unchanged_count, parsed_rows) == (1, [])


def test_unchanged_product_without_fingerprint_gets_one_without_history(units, tmp_path):
    import_rows(ImportKind.CATALOG, [_row("A-1")])
    assert _fingerprints()["A-1"] is None
    updated_at = Product.objects.get(sku="A-1").updated_at

    path = _write(tmp_path / "catalog.csv", [_row("A-1")])
    job = _import(path)

    assert _counts(job) == {"created": 0, "updated": 0, "unchanged": 1, "rejected": 0}
    assert _fingerprints()["A-1"] is not None
    assert Product.objects.get(sku="A-1").updated_at == updated_at
    assert HISTORY.objects.count() == 1
    versions = _row_versions()
    assert _counts(_import(path))["unchanged"] == 1
    assert _row_versions() == versions


def test_export_time_stamps_cause_no_writes(units, tmp_path):
    # A sender that stamps every row with the time of the export: the text changes every night.
    _import(_write(tmp_path / "night1.csv", [_row("A-1", updated_at="2026-03-01T00:00:00Z")]))
    before = _fingerprints()["A-1"]
    versions = _row_versions()

    job = _import(_write(tmp_path / "night2.csv", [_row("A-1", updated_at="2026-03-02T00:00:00Z")]))

    assert _counts(job) == {"created": 0, "updated": 0, "unchanged": 1, "rejected": 0}
    assert _row_versions() == versions
    assert _fingerprints()["A-1"] == before


def test_other_column_order_parses_again(units, tmp_path, parsed_rows):
    _import(_write(tmp_path / "night1.csv", [_row("A-1")]))
    before = _fingerprints()["A-1"]
    parsed_rows.clear()

    job = _import(_write(tmp_path / "night2.csv", [_row("A-1")], columns=tuple(reversed(CATALOG_COLUMNS))))

    assert (job.unchanged_count, job.updated_count, parsed_rows) == (1, 0, ["A-1"])
    assert _fingerprints()["A-1"] not in (None, before)
    assert HISTORY.objects.count() == 1


def test_skipped_row_counts_for_duplicates(units, tmp_path):
    path = _write(tmp_path / "night1.csv", [_row("A-1"), _row("A-2")])
    _import(path)

    job = _import(
        _write(tmp_path / "night2.csv", [_row("A-1"), _row("A-2"), _row("A-1", name="Again")]), full_catalog=True
    )

    assert _counts(job) == {"created": 0, "updated": 0, "unchanged": 2, "rejected": 1}
    assert job.flagged_count == 0
    error = job.row_errors.get()
    assert (error.line, error.message.split(";")[0]) == (4, "Duplicate of line 2 (A-1)")
    assert Product.objects.get(sku="A-1").name == "Product A-1"


def test_dry_run_counts_skipped_rows_and_stores_nothing(units, tmp_path):
    path = _write(tmp_path / "catalog.csv", [_row("A-1"), _row("A-2")])
    _import(path)
    before = _fingerprints()

    job = _import(_write(tmp_path / "night2.csv", [_row("A-1"), _row("A-2", name="New")]), dry_run=True)

    assert _counts(job) == {"created": 0, "updated": 1, "unchanged": 1, "rejected": 0}
    assert _fingerprints() == before
    assert Product.objects.get(sku="A-2").name == "Product A-2"


def test_long_run_of_skipped_rows_commits_in_batches(units, tmp_path):
    path = _write(tmp_path / "catalog.csv", [_row(f"A-{number:04d}") for number in range(2500)])
    _import(path, batch_size=50)

    job = _import(path, batch_size=50)

    assert (job.unchanged_count, job.rows_read) == (2500, 2500)
    # Ten batch sizes are 500 rows, and the reader checks every 1,000 rows: 999, 1,000 and 501 rows.
    assert job.batches_committed == 3


def test_trigger_keeps_fingerprint_update_sets(units):
    product = Product.objects.create(sku="A-1", name="A", unit=units["EA"], list_price=1, currency="EUR")

    Product.objects.filter(pk=product.pk).update(import_fingerprint=b"x" * 16)
    assert _fingerprints()["A-1"] == b"x" * 16
    Product.objects.filter(pk=product.pk).update(import_fingerprint=b"y" * 16, name="B")
    assert _fingerprints()["A-1"] == b"y" * 16
    Product.objects.filter(pk=product.pk).update(list_price=2)
    assert _fingerprints()["A-1"] is None


def test_missing_version_row_created_with_new_number(units, tmp_path, parsed_rows, caplog):
    path = _write(tmp_path / "catalog.csv", [_row("A-1")])
    _import(path)
    CatalogReferenceVersion.objects.all().delete()
    parsed_rows.clear()

    job = _import(path)

    assert (job.unchanged_count, parsed_rows) == (1, ["A-1"])
    assert "reference data version row was missing" in caplog.text
    assert CatalogReferenceVersion.objects.get(pk=1).number != 0
    parsed_rows.clear()
    assert _counts(_import(path))["unchanged"] == 1
    assert parsed_rows == []
