"""Imports of several batches on PostgreSQL, written by other connections while the next batch is read.

These tests commit (``transaction=True``): the batch writer runs only outside a transaction, because a
second connection cannot see rows the test's own transaction has not committed.
"""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from apps.catalog.imports import pipeline, service, writers
from apps.catalog.imports.service import ImportOptions, import_file
from apps.catalog.models import ImportJob, ImportKind, Product
from tests.factories import ProductFactory, UnitOfMeasureFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HEADER = "sku,name,uom,list_price,currency,updated_at"
MAR = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@pytest.fixture
def each():
    return UnitOfMeasureFactory(code="EA", name="each")


@pytest.fixture
def writer_threads(monkeypatch):
    """Record the threads that write batches, so that a test can check that the writer ran."""
    names = []
    real = pipeline.BatchWriter._run

    def run(self):
        names.append(threading.current_thread().name)
        real(self)

    monkeypatch.setattr(pipeline.BatchWriter, "_run", run)
    return names


def _write(tmp_path, lines, name="catalog.csv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def _first_staged_line(stage):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(line) FROM {stage.table}")  # noqa: S608 - the name comes from the stage.
        return cursor.fetchone()[0]


def _import(path, **options):
    return import_file(path, kind=ImportKind.CATALOG, source="command", options=ImportOptions(**options))


def test_writer_thread_writes_changes_only(each, tmp_path, writer_threads):
    ProductFactory(sku="A-00", name="Newer", list_price=Decimal("10"), unit=each, source_updated_at=MAR)
    first = [f"A-{n:02d},Item {n},EA,10.00,EUR,2026-03-01" for n in range(1, 12)]
    _import(_write(tmp_path, first), batch_size=4)
    history = Product.history.model.objects

    lines = [
        "A-00,Older,EA,10.00,EUR,2026-02-01",
        *first[:5],
        "A-06,Item 6,EA,10.50,EUR,2026-03-02",
        "A-13,Item 13,EA,abc,EUR,2026-03-02",
        *first[6:],
        "A-12,Item 12,EA,3.00,EUR,2026-03-02",
        "A-14,Item 14,XX-NONE,3.00,EUR,2026-03-02",
    ]
    job = _import(_write(tmp_path, lines, "again.csv"), batch_size=4)

    # Two writer threads for each of the two imports.
    assert writer_threads == ["catalog-import-writer"] * 4
    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.rows_read, job.created_count, job.updated_count, job.rejected_count) == (15, 1, 1, 2)
    assert (job.unchanged_count, job.stale_count, job.batches_committed) == (10, 1, 4)
    assert Product.objects.get(sku="A-00").name == "Newer"
    assert Product.objects.get(sku="A-06").list_price == Decimal("10.5000")
    changes = history.filter(history_change_reason=f"import job {job.pk}").order_by("sku")
    assert [(h.sku, h.history_type) for h in changes] == [("A-06", "~"), ("A-12", "+")]
    # One row for the factory's product, 11 for the first import and 2 for this one.
    assert history.count() == 1 + 11 + 2
    # The price is rejected while reading, the unit by the writer thread.
    report = [(error.line, error.column) for error in job.row_errors.order_by("line")]
    assert report == [(9, "list_price"), (16, "uom")]


def test_writer_failure_keeps_earlier_batches(each, tmp_path, monkeypatch):
    path = _write(tmp_path, [f"C-{n:02d},Item {n},EA,10.00,EUR,2026-03-01" for n in range(25)])
    real = writers.write_postgresql

    def failing_on_third(stage, **kwargs):
        result = real(stage, **kwargs)
        # The third batch starts at line 22 (the header is line 1).
        if _first_staged_line(stage) == 22:
            raise RuntimeError("database went away")
        return result

    monkeypatch.setattr(service, "write_postgresql", failing_on_third)

    with pytest.raises(RuntimeError):
        _import(path, batch_size=10)

    failed = ImportJob.objects.get()
    assert failed.status == ImportJob.Status.FAILED
    assert failed.error == "The import failed in batch 3: RuntimeError('database went away')"
    assert (failed.created_count, failed.batches_committed, failed.rows_read) == (20, 2, 20)
    assert Product.objects.count() == 20

    monkeypatch.setattr(service, "write_postgresql", real)
    rerun = _import(path, batch_size=10)

    assert rerun.status == ImportJob.Status.SUCCEEDED
    assert (rerun.created_count, rerun.unchanged_count) == (5, 20)
    assert Product.objects.count() == 25


def test_writer_failure_stops_reading(each, tmp_path, monkeypatch, writer_threads):
    path = _write(tmp_path, [f"D-{n:03d},Item {n},EA,10.00,EUR,2026-03-01" for n in range(200)])

    def failing(*args, **kwargs):
        raise RuntimeError("disk full")

    read = []
    real_read_file = service.read_file

    def counting_read_file(*args, **kwargs):
        for row in real_read_file(*args, **kwargs):
            read.append(row.line)
            yield row

    monkeypatch.setattr(service, "write_postgresql", failing)
    monkeypatch.setattr(service, "read_file", counting_read_file)

    with pytest.raises(RuntimeError, match="disk full"):
        _import(path, batch_size=10)

    failed = ImportJob.objects.get()
    assert (failed.status, failed.batches_committed, failed.rows_read) == (ImportJob.Status.FAILED, 0, 0)
    assert writer_threads == ["catalog-import-writer"] * 2
    # The reading side is at most two batches ahead of the writer, and stops at the first batch it
    # hands over after the error, so it reads a few batches of the 20, never the whole file.
    assert len(read) <= 60
    assert Product.objects.count() == 0


def test_later_batch_rolled_back_after_earlier_failure(each, tmp_path, monkeypatch, writer_threads):
    path = _write(tmp_path, [f"E-{n:02d},Item {n},EA,10.00,EUR,2026-03-01" for n in range(50)])
    real = writers.write_postgresql
    fourth_written = threading.Event()

    def failing_on_third_after_fourth(stage, **kwargs):
        first_line = _first_staged_line(stage)
        # Batches of 10 rows start at lines 2, 12, 22, 32 and 42.
        if first_line == 22:
            assert fourth_written.wait(timeout=30)
            raise RuntimeError("disk full")
        result = real(stage, **kwargs)
        if first_line == 32:
            fourth_written.set()
        return result

    monkeypatch.setattr(service, "write_postgresql", failing_on_third_after_fourth)

    with pytest.raises(RuntimeError, match="disk full"):
        _import(path, batch_size=10)

    failed = ImportJob.objects.get()
    assert writer_threads == ["catalog-import-writer"] * 2
    assert failed.error == "The import failed in batch 3: RuntimeError('disk full')"
    assert (failed.batches_committed, failed.rows_read, failed.created_count) == (2, 20, 20)
    # The fourth batch was written before the third failed, and rolled back with it.
    assert sorted(Product.objects.values_list("sku", flat=True)) == [f"E-{n:02d}" for n in range(20)]


def test_parallel_batches_counted_once_each(each, tmp_path, writer_threads):
    path = _write(tmp_path, [f"F-{n:03d},Item {n},EA,10.00,EUR,2026-03-01" for n in range(101)])

    job = _import(path, batch_size=7)
    rerun = _import(path, batch_size=7)

    assert writer_threads == ["catalog-import-writer"] * 4
    assert (job.status, job.rows_read, job.created_count, job.batches_committed) == ("succeeded", 101, 101, 15)
    assert (rerun.rows_read, rerun.unchanged_count, rerun.created_count) == (101, 101, 0)
    assert Product.objects.count() == 101
    assert Product.history.model.objects.filter(history_type="+").count() == 101


def test_last_wins_import_uses_one_writer(each, tmp_path, writer_threads):
    lines = [f"G-{n:02d},Item {n},EA,10.00,EUR,2026-03-01" for n in range(12)]
    lines.append("G-01,Item 1 again,EA,11.00,EUR,2026-03-01")

    job = _import(_write(tmp_path, lines), batch_size=4, last_wins=True)

    assert writer_threads == ["catalog-import-writer"]
    assert (job.created_count, job.rows_read) == (12, 13)
    assert Product.objects.get(sku="G-01").list_price == Decimal("11.0000")


def test_writer_queue_depth_per_thread():
    # given two writer threads that hold their first batch until released
    release = threading.Event()
    batches_taken = []

    def write(batches):
        for batch in batches:
            batches_taken.append(batch)
            release.wait(10)

    writer = pipeline.BatchWriter(write, threads=2)

    # when four batches are submitted: two are being written and two wait in the queue
    first_four = threading.Thread(target=lambda: [writer.submit(number) for number in range(1, 5)])
    first_four.start()
    first_four.join(5)
    fifth = threading.Thread(target=writer.submit, args=(5,))
    fifth.start()
    fifth.join(0.5)

    # then only the fifth waits for a free place
    assert not first_four.is_alive()
    assert fifth.is_alive()
    release.set()
    fifth.join(5)
    writer.close()
    assert sorted(batches_taken) == [1, 2, 3, 4, 5]


def test_writer_threads_store_fingerprints(each, tmp_path, writer_threads):
    from apps.catalog.imports.kinds import CATALOG_COLUMNS

    def lines(changed=()):
        rows = []
        for n in range(60):
            price = "11.00" if n in changed else "10.00"
            rows.append(f"H-{n:02d},Item {n},,Acme,MPN-{n},,,,EA,{price},EUR,3,true,2026-03-01T00:00:00Z")
        return rows

    header = ",".join(CATALOG_COLUMNS)
    path = tmp_path / "catalog.csv"
    path.write_text("\n".join([header, *lines()]) + "\n")
    first = _import(path, batch_size=7)
    path.write_text("\n".join([header, *lines(changed=set(range(0, 60, 3)))]) + "\n")

    changed = _import(path, batch_size=7)
    rerun = _import(path, batch_size=7)

    # The first import's batches go to two writer threads, and so do the changed import's.
    assert writer_threads == ["catalog-import-writer"] * 4
    assert (first.created_count, first.batches_committed) == (60, 9)
    assert (changed.updated_count, changed.unchanged_count) == (20, 40)
    assert (rerun.unchanged_count, rerun.updated_count, rerun.rows_read) == (60, 0, 60)
    assert not Product.objects.filter(import_fingerprint__isnull=True).exists()
    assert Product.objects.get(sku="H-42").list_price == Decimal("11.0000")
    assert Product.objects.get(sku="H-40").list_price == Decimal("10.0000")
