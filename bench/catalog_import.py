"""Time the catalog import on PostgreSQL against a bare COPY and django-import-export.

Run from the repository root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backoffice_bench_import DJANGO_DEBUG=1 \\
        .venv/bin/python -m bench.catalog_import

It creates the database when it is missing (on 127.0.0.1 or localhost only) and migrates it, writes
the files with ``bench.catalog_import_data`` into ``var/bench`` and empties the catalog tables. Each
phase then runs in its own Python process, so that its peak resident memory (``VmHWM``, which
includes Django and the interpreter) is its own, and so are its CPU times: the Python process's
(all threads) and those of the PostgreSQL backends it opened, read from ``/proc`` while it runs. The
phases are the first import, a rerun with nothing changed, a rerun with 10% of the prices changed,
the same file again after a change to the reference data (``reparsed``: the stored row fingerprints
no longer match, so every row is parsed and stores a new one, as on the night after a unit alias
changes), and the stock file for 3 warehouses. Then
come a bare ``COPY`` of the catalog file into an unindexed table of text columns, and
django-import-export (``use_bulk``) on the same rows into emptied tables. ``--skip-import-export``
leaves the last one out, because it takes minutes, and ``--skip-stock`` the stock file.

Each phase runs a PostgreSQL ``CHECKPOINT`` and waits for it before its clock starts, so that a
checkpoint started by an earlier phase's WAL or by ``checkpoint_timeout`` does not fall inside the
measurement. The phase then reports the checkpoints that ``pg_stat_bgwriter`` counted while it ran,
by cause, and the WAL written meanwhile (from ``pg_current_wal_lsn()``). Both figures are for the
whole server, so they include other sessions' work. The connection's role must be a superuser or a
member of ``pg_checkpoint``.
"""

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple

from bench.database import create_database_if_missing

DATABASE_URL_EXAMPLE = "postgres://postgres@127.0.0.1:5432/backoffice_bench_import"

PHASES = ("first", "unchanged", "changed", "reparsed", "stock", "copy", "import_export")
BENCH_DIR = Path(__file__).resolve().parent.parent / "var" / "bench"
# How long to wait for the checkpointer to count the checkpoint that CHECKPOINT has just finished.
# It reports its counts to the statistics after it wakes the waiting backend, within milliseconds.
CHECKPOINT_COUNT_WAIT_SECONDS = 2.0


def main() -> None:
    options = _parse_arguments()
    if options.phase:
        _run_phase(options)
        return

    create_database_if_missing(os.environ.get("DATABASE_URL", ""), example_url=DATABASE_URL_EXAMPLE)
    _setup_django()
    from django.core.management import call_command

    from bench import catalog_import_data as data

    call_command("migrate", verbosity=0, interactive=False)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data.write_catalog(BENCH_DIR / "catalog.csv", rows=options.rows)
    changed = data.write_changed_catalog(BENCH_DIR / "catalog-changed.csv", rows=options.rows, changed_share=0.10)
    data.write_stock(BENCH_DIR / "stock.csv", rows=options.rows)
    print(f"files written in {time.perf_counter() - started:.1f} s: {options.rows} products, {changed} changed")
    _empty_catalog(with_categories=True)

    results = {}
    for phase in PHASES:
        if (phase == "import_export" and options.skip_import_export) or (phase == "stock" and options.skip_stock):
            continue
        if phase == "import_export":
            _empty_catalog(with_categories=False)
        if phase == "reparsed":
            _outdate_fingerprints()
        results[phase] = _spawn(phase, options.rows)
        print(json.dumps({"phase": phase, **results[phase]}))
    _print_summary(results)


def _parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="products in the catalog file (default 100000)")
    parser.add_argument("--skip-import-export", action="store_true", help="do not run django-import-export")
    parser.add_argument("--skip-stock", action="store_true", help="do not import the stock file")
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.rows < 1000:
        parser.error("--rows must be at least 1000")
    return options


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _spawn(phase: str, rows: int) -> dict:
    command = [sys.executable, "-m", "bench.catalog_import", "--phase", phase, "--rows", str(rows)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603
    return json.loads(output.strip().splitlines()[-1])


def _run_phase(options: argparse.Namespace) -> None:
    _setup_django()
    from django.db import connection

    backends = BackendCpu()
    backends.watch_new_connections()
    connection.ensure_connection()
    baseline_kb = _peak_resident_kb()
    server_before = _checkpoint()
    started_at = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()[0]
    backends.start()
    python_before = _own_cpu_seconds()
    started = time.perf_counter()
    counts = PHASE_RUNNERS[options.phase](options.rows)
    seconds = time.perf_counter() - started
    python_cpu = _own_cpu_seconds() - python_before
    postgresql_cpu = backends.stop()
    server_after = _server_counts()
    peak_kb = _peak_resident_kb()
    print(
        json.dumps(
            {
                "seconds": round(seconds, 3),
                "python_cpu": round(python_cpu, 2),
                "postgresql_cpu": round(postgresql_cpu, 2),
                "load": [round(load_before, 1), round(os.getloadavg()[0], 1)],
                "peak_mb": round(peak_kb / 1024, 1),
                "baseline_mb": round(baseline_kb / 1024, 1),
                "started_at": started_at.isoformat(timespec="milliseconds"),
                "checkpoints_timed": server_after.checkpoints_timed - server_before.checkpoints_timed,
                "checkpoints_requested": server_after.checkpoints_requested - server_before.checkpoints_requested,
                "wal_mb": round((server_after.wal_bytes - server_before.wal_bytes) / 1e6, 1),
                **counts,
            }
        )
    )


class ServerCounts(NamedTuple):
    """Counters of the whole PostgreSQL server: checkpoints started, by cause, and the WAL position in bytes."""

    checkpoints_timed: int
    checkpoints_requested: int
    wal_bytes: int


def _server_counts() -> ServerCounts:
    from django.db import connection

    with connection.cursor() as cursor:
        # Drop the statistics snapshot this session may hold, so that the counts are current.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT checkpoints_timed, checkpoints_req, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint "
            "FROM pg_stat_bgwriter"
        )
        return ServerCounts(*cursor.fetchone())


def _checkpoint() -> ServerCounts:
    """Run ``CHECKPOINT``, which returns when the checkpoint is complete, and return the counts after it.

    The checkpointer counts the checkpoint in ``pg_stat_bgwriter`` only after it has woken this
    backend, so the counts are read until they include it. Otherwise it would show up as a
    checkpoint requested during the phase. After ``CHECKPOINT_COUNT_WAIT_SECONDS`` the counts are
    returned as they are, and the phase may then count this checkpoint.
    """
    from django.db import connection

    before = _server_counts()
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    deadline = time.monotonic() + CHECKPOINT_COUNT_WAIT_SECONDS
    while True:
        after = _server_counts()
        if after.checkpoints_requested > before.checkpoints_requested or time.monotonic() > deadline:
            return after
        time.sleep(0.01)


def _peak_resident_kb() -> int:
    """Return this process's peak resident memory in KiB, from ``VmHWM`` in ``/proc/self/status``.

    Not ``ru_maxrss``: Linux carries that figure over an exec, so a phase process would report
    the benchmark process's memory whenever that was larger than its own.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("/proc/self/status has no VmHWM line; the benchmark needs Linux.")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class BackendCpu:
    """The CPU time that this process's PostgreSQL backends spend between ``start`` and ``stop``.

    Each new connection reports its backend's process id, and a thread reads the user and system
    time of those processes from ``/proc/<pid>/stat`` every 20 ms. The benchmark runs PostgreSQL on
    the same machine, so the files are there. A backend that exits between two reads loses at most
    20 ms of CPU time from the figure.
    """

    INTERVAL_SECONDS = 0.02

    def __init__(self) -> None:
        self._pids: list[int] = []
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._started = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="backend-cpu", daemon=True)
        self._ticks = os.sysconf("SC_CLK_TCK")

    def watch_new_connections(self) -> None:
        from django.db.backends.signals import connection_created

        connection_created.connect(self._register, weak=False)

    def start(self) -> None:
        self._started = True
        for pid in list(self._pids):
            self._read(pid)
        self._thread.start()

    def stop(self) -> float:
        self._stopping.set()
        self._thread.join()
        for pid in list(self._pids):
            self._read(pid)
        return sum(self._last[pid] - self._first.get(pid, 0.0) for pid in self._last)

    def _register(self, sender, connection, **kwargs) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        self._pids.append(pid)
        if self._started:
            # A backend opened during the phase counts from zero.
            self._first.setdefault(pid, 0.0)
        self._read(pid)

    def _read(self, pid: int) -> None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            return
        # utime and stime are fields 14 and 15 of proc(5), and the split starts at field 3.
        seconds = (int(fields[11]) + int(fields[12])) / self._ticks
        self._first.setdefault(pid, seconds)
        self._last[pid] = seconds

    def _poll(self) -> None:
        while not self._stopping.wait(self.INTERVAL_SECONDS):
            for pid in list(self._pids):
                self._read(pid)


def _import(kind: str, name: str) -> dict:
    from apps.catalog.imports.service import import_file

    job = import_file(BENCH_DIR / name, kind=kind, source="command")
    return {
        "rows": job.rows_read,
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "stale": job.stale_count,
        "rejected": job.rejected_count,
        "flagged": job.flagged_count,
        "status": job.status,
    }


def _phase_stock(rows: int) -> dict:
    from apps.catalog.models import Warehouse
    from bench.catalog_import_data import WAREHOUSES

    for code in WAREHOUSES:
        Warehouse.objects.get_or_create(code=code, defaults={"name": code.title()})
    return _import("stock", "stock.csv")


def _phase_copy(rows: int) -> dict:
    from django.db import connection

    from apps.catalog.imports.kinds import CATALOG_COLUMNS

    columns = ", ".join(f"{name} text" for name in CATALOG_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_bare_copy")
        cursor.execute(f"CREATE UNLOGGED TABLE bench_bare_copy ({columns})")
    started = time.perf_counter()
    with (
        connection.cursor() as cursor,
        cursor.copy("COPY bench_bare_copy FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        open(BENCH_DIR / "catalog.csv", "rb") as handle,
    ):
        while chunk := handle.read(1 << 20):
            copy.write(chunk)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_bare_copy")
        copied = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_bare_copy")
    return {"rows": copied, "copy_seconds": round(seconds, 3)}


def _phase_import_export(rows: int) -> dict:
    import tablib
    from import_export import fields, resources, widgets

    from apps.catalog.imports.kinds import PRODUCT_FEED_FIELDS
    from apps.catalog.models import Category, Product, UnitOfMeasure

    class ProductResource(resources.ModelResource):
        unit = fields.Field(attribute="unit", column_name="uom", widget=widgets.ForeignKeyWidget(UnitOfMeasure, "code"))
        category = fields.Field(
            attribute="category", column_name="category_code", widget=widgets.ForeignKeyWidget(Category, "code")
        )
        is_active = fields.Field(attribute="is_active", column_name="active", widget=widgets.BooleanWidget())
        source_updated_at = fields.Field(
            attribute="source_updated_at", column_name="updated_at", widget=widgets.DateTimeWidget("%Y-%m-%dT%H:%M:%SZ")
        )

        class Meta:
            model = Product
            import_id_fields = ("sku",)
            fields = (*PRODUCT_FEED_FIELDS, "source_updated_at")
            use_bulk = True
            batch_size = 1000
            skip_diff = True

    with open(BENCH_DIR / "catalog.csv", encoding="utf-8") as handle:
        dataset = tablib.Dataset().load(handle.read(), format="csv")
    started = time.perf_counter()
    result = ProductResource().import_data(dataset, raise_errors=True)
    seconds = time.perf_counter() - started
    return {
        "rows": len(dataset),
        "created": Product.objects.count(),
        "errors": result.has_errors(),
        "import_seconds": round(seconds, 3),
    }


PHASE_RUNNERS = {
    "first": lambda rows: _import("catalog", "catalog.csv"),
    "unchanged": lambda rows: _import("catalog", "catalog.csv"),
    "changed": lambda rows: _import("catalog", "catalog-changed.csv"),
    "reparsed": lambda rows: _import("catalog", "catalog-changed.csv"),
    "stock": _phase_stock,
    "copy": _phase_copy,
    "import_export": _phase_import_export,
}


def _outdate_fingerprints() -> None:
    """Count a change to the reference data, as the triggers do when a unit alias changes."""
    from django.db.models import F

    from apps.catalog.models import CatalogReferenceVersion

    CatalogReferenceVersion.objects.filter(pk=1).update(number=F("number") + 1)


def _empty_catalog(*, with_categories: bool) -> None:
    from django.db import connection

    tables = [
        "catalog_stocklevel",
        "catalog_historicalstocklevel",
        "catalog_heldchange",
        "catalog_importrowerror",
        "catalog_importjob",
        "catalog_product",
        "catalog_historicalproduct",
    ]
    if with_categories:
        tables += ["catalog_category", "catalog_historicalcategory"]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")


def _print_summary(results: dict) -> None:
    print("each phase ran a CHECKPOINT and waited for it before its clock started")
    for phase, result in results.items():
        if "python_cpu" in result:
            print(
                f"{phase}: {result['seconds']:.2f} s, CPU {result['python_cpu']:.2f} s Python + "
                f"{result['postgresql_cpu']:.2f} s PostgreSQL, load {result['load'][0]} to {result['load'][1]}, "
                f"WAL {result['wal_mb']} MB, checkpoints counted during it: "
                f"{result['checkpoints_timed']} timed, {result['checkpoints_requested']} requested"
            )
    copy_seconds = results["copy"]["copy_seconds"]
    first = results["first"]["seconds"]
    print(f"first import {first:.2f} s = {first / copy_seconds:.1f} x bare COPY ({copy_seconds:.2f} s)")
    if "import_export" in results:
        other = results["import_export"]["import_seconds"]
        print(f"django-import-export {other:.1f} s = {other / first:.1f} x the first import")


if __name__ == "__main__":
    main()
