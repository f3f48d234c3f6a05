"""The import service behind every way catalog, stock and contract-price data comes in.

``import_file`` reads a file (commands, admin uploads) and ``import_rows`` takes dict rows (API
pushes). Both run ``run_import_job``, which parses rows one at a time and collects them into
batches. Each batch is resolved, compared with the stored rows and written in one transaction,
together with its error-report lines and the job's counters. An error in a batch rolls back only that batch and
marks the job failed, so the catalog keeps every earlier batch and a rerun finishes the work.
"""

import copy
import datetime as dt
import functools
import gc
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.catalog.imports import anomalies, listeners
from apps.catalog.imports.errors import CatalogImportError, InvalidImportOptions
from apps.catalog.imports.fingerprints import RowFingerprints
from apps.catalog.imports.kinds import DEFAULTS, SPECS, KindSpec, ResolveCache, UnchangedRecord
from apps.catalog.imports.ownership import (
    foreign_fields,
    in_file_terms,
    keep_owned_values,
    open_conflict_cases,
    report_message,
)
from apps.catalog.imports.pipeline import BatchWriter, CommitOrder
from apps.catalog.imports.readers import (
    ReaderOptions,
    SourceRow,
    check_encoding,
    normalise_delimiter,
    normalise_encoding,
    read_file,
    rows_from_dicts,
)
from apps.catalog.imports.writers import StagedBatch, StagedCounts, write_orm, write_postgresql
from apps.catalog.models import HeldChange, ImportJob, ImportKind, ImportRowError, Product
from apps.contracts.changes import contracts_changed
from apps.contracts.models import Contract
from apps.integrations.models import BodyFormat, Channel, Direction, Outcome
from apps.integrations.ownership import System, row_owner
from apps.integrations.services import DocumentExchange, record_exchange

logger = logging.getLogger(__name__)

# Rows per transaction: large enough that per-batch queries are a small share of the time, small
# enough that a failed batch loses little work and a batch's rows fit in memory many times over.
DEFAULT_BATCH_SIZE = 5000
OPTION_NAMES = ("encoding", "delimiter", "format", "decimal_comma", "last_wins", "full_catalog", "batch_size")

ProgressCallback = Callable[[ImportJob], None]
# The systems that send import files and pushes; the back office changes its own data in the admin.
IMPORT_SENDERS = (System.ERP, System.CRM)


@dataclass(frozen=True)
class ImportOptions:
    """How to read and apply one import.

    ``decimal_comma``: numbers use a decimal comma (``12,50``). ``last_wins``: of rows with the same
    key, the last one is applied; otherwise later ones are rejected. ``full_catalog``: the file lists
    every product, so active products missing from it are proposed for deactivation.
    """

    encoding: str = "utf-8"
    delimiter: str | None = None
    format: str | None = None
    decimal_comma: bool = False
    last_wins: bool = False
    full_catalog: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "ImportOptions":
        """Build validated options from a dict such as ``ImportJob.options``; unknown names are an error."""
        values = dict(values or {})
        unknown = sorted(set(values) - set(OPTION_NAMES))
        if unknown:
            raise InvalidImportOptions(
                f"Unknown import options {', '.join(unknown)}; known: {', '.join(OPTION_NAMES)}."
            )
        options = cls(**values)
        normalise_encoding(options.encoding)
        normalise_delimiter(options.delimiter)
        if not isinstance(options.batch_size, int) or not 1 <= options.batch_size <= 100_000:
            raise InvalidImportOptions(f"Batch size {options.batch_size!r} must be a whole number from 1 to 100000.")
        return options

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in OPTION_NAMES}


def import_file(
    path_or_stream: str | Path | BinaryIO,
    *,
    kind: str,
    source: str,
    actor=None,
    options: ImportOptions | None = None,
    dry_run: bool = False,
    file_name: str = "",
    job: ImportJob | None = None,
    progress: ProgressCallback | None = None,
    sender: str | None = None,
    customer_scope: frozenset[int] | None = None,
) -> ImportJob:
    """Import a CSV or JSON Lines file and return its finished job.

    Pass ``job`` to run a job created earlier (an admin upload); otherwise one is created. ``sender``
    is the system the file comes from (``System``); by default the owner of the kind's rows.
    ``customer_scope`` limits the customers whose rows may change (None: all). Raises FileRejected
    or InvalidImportOptions (after marking the job failed) when the file cannot be read.
    """
    options = options or ImportOptions()
    if isinstance(path_or_stream, str | Path):
        file_name = file_name or Path(path_or_stream).name
        with open(path_or_stream, "rb") as stream:
            return import_file(
                stream,
                kind=kind,
                source=source,
                actor=actor,
                options=options,
                dry_run=dry_run,
                file_name=file_name,
                job=job,
                progress=progress,
                sender=sender,
                customer_scope=customer_scope,
            )

    stream = path_or_stream
    job = job or _create_job(
        kind=kind, source=source, sender=sender, actor=actor, options=options, dry_run=dry_run, name=file_name
    )
    spec = _spec(kind)
    start = stream.tell()
    stream.seek(0, 2)
    job.progress_total = stream.tell() - start
    stream.seek(start)
    # The cell parsers accept decimal points only.
    cell_parser = None if options.decimal_comma else spec.cell_parser
    fingerprints = RowFingerprints() if cell_parser is not None and spec.fingerprint_field else None
    if fingerprints is not None:
        cell_parser = functools.partial(cell_parser, fingerprints=fingerprints)

    def rows() -> Iterator[SourceRow]:
        encoding = normalise_encoding(options.encoding)
        check_encoding(stream, encoding)
        reader_options = ReaderOptions(
            encoding=encoding, delimiter=normalise_delimiter(options.delimiter), format=options.format
        )
        yield from read_file(
            stream,
            options=reader_options,
            columns=spec.columns,
            required=spec.required,
            file_name=file_name,
            cell_parser=cell_parser,
        )

    return run_import_job(
        job,
        rows(),
        options=options,
        actor=actor,
        position=lambda: stream.tell() - start,
        progress=progress,
        customer_scope=customer_scope,
        fingerprints=fingerprints,
    )


def import_rows(
    kind: str,
    rows: Iterable[dict[str, Any]],
    *,
    source: str = ImportJob.Source.API,
    actor=None,
    options: ImportOptions | None = None,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
    sender: str | None = None,
    customer_scope: frozenset[int] | None = None,
) -> ImportJob:
    """Import rows given as dicts with the file's column names (API pushes); row N is reported as line N.

    ``sender`` and ``customer_scope`` are as for ``import_file``.
    """
    options = options or ImportOptions()
    spec = _spec(kind)
    rows = rows if isinstance(rows, list | tuple) else list(rows)
    job = _create_job(kind=kind, source=source, sender=sender, actor=actor, options=options, dry_run=dry_run, name="")
    job.progress_total = len(rows)
    return run_import_job(
        job,
        rows_from_dicts(rows, columns=spec.columns),
        options=options,
        actor=actor,
        progress=progress,
        customer_scope=customer_scope,
    )


def run_import_job(
    job: ImportJob,
    rows: Iterator[SourceRow],
    *,
    options: ImportOptions,
    actor=None,
    position: Callable[[], int] | None = None,
    progress: ProgressCallback | None = None,
    customer_scope: frozenset[int] | None = None,
    fingerprints: RowFingerprints | None = None,
) -> ImportJob:
    """Run an import job over ``rows``, batch by batch; return the job, succeeded or failed.

    ``fingerprints`` are those that the rows' reader uses; the run declines them where it cannot
    store them (see ``_Run.fingerprints_usable``). Expected errors (a rejected file, bad options)
    mark the job failed and are raised again, and so is any other error, after the job records it.
    """
    run = _Run(
        job=job,
        spec=_spec(job.kind),
        options=options,
        actor=actor,
        position=position,
        progress=progress,
        fingerprints=fingerprints,
    )
    run.cache.customer_scope = customer_scope
    job.status = ImportJob.Status.RUNNING
    job.started_at = job.heartbeat_at = timezone.now()
    job.attempts += 1
    job.save(update_fields=["status", "started_at", "heartbeat_at", "attempts", "progress_total"])
    run.next_heartbeat = time.monotonic() + heartbeat_interval()
    logger.info("Import job started", extra={"job_id": job.pk, "kind": job.kind, "dry_run": job.dry_run})
    started = time.monotonic()
    try:
        with _fewer_garbage_collections():
            run.consume(rows)
        if options.full_catalog and job.kind == ImportKind.CATALOG:
            run.hold_missing_products()
    except CatalogImportError as error:
        import_job_fail(job, error.message)
        logger.warning("Import job rejected", extra={"job_id": job.pk, "error": error.message})
        raise
    except Exception as error:
        import_job_fail(job, f"The import failed in batch {job.batches_committed + 1}: {error!r}")
        logger.exception("Import job failed", extra={"job_id": job.pk})
        raise
    finally:
        # Close the readers while their file is still open, not when the generator is collected.
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    _finish(job, ImportJob.Status.SUCCEEDED, "")
    logger.info(
        "Import job finished",
        extra={"job_id": job.pk, "seconds": round(time.monotonic() - started, 3), "rows": job.rows_read},
    )
    return job


# Rows read between two checks of the heartbeat clock. A thousand rows take a few milliseconds to
# parse, and a check per row of a 100,000-row file adds up.
_ROWS_PER_HEARTBEAT_CHECK = 1000
# Rows that a fingerprint skips are not part of a batch. A batch is also handed over once this many
# batch sizes of rows have been read since the last (checked with the heartbeat), so that the
# counts and the progress move on through a long stretch of unchanged rows.
_BATCH_SIZES_READ_PER_BATCH = 10

# The threshold of the youngest garbage-collector generation while imports run, and how many run.
IMPORT_GC_THRESHOLD = 50_000
_gc_lock = threading.Lock()
_gc_state = {"imports": 0, "thresholds": gc.get_threshold()}


@contextmanager
def _fewer_garbage_collections() -> Iterator[None]:
    """Collect the youngest generation less often while an import runs, and restore the thresholds after.

    Each row allocates several short-lived tuples, lists and dicts, so with the default threshold
    of 700 the collector runs thousands of times per 100,000 rows. On the catalog benchmark that
    took about a fifth of the Python CPU time, and with 50,000 it takes almost none. The setting
    is process-wide, so the first of several overlapping imports raises it and the last restores it.
    """
    with _gc_lock:
        if _gc_state["imports"] == 0:
            _gc_state["thresholds"] = gc.get_threshold()
            first, *older = _gc_state["thresholds"]
            gc.set_threshold(max(first, IMPORT_GC_THRESHOLD), *older)
        _gc_state["imports"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_state["imports"] -= 1
            if _gc_state["imports"] == 0:
                gc.set_threshold(*_gc_state["thresholds"])


@dataclass
class _Batch:
    """Parsed rows handed to the writer with the counts and report lines gathered while reading them."""

    items: list[tuple[SourceRow, dict[str, Any]]]
    report: list[ImportRowError]
    rows_read: int
    rejected: int
    position: int
    # Rows skipped unparsed because their fingerprint is stored.
    unchanged: int = 0
    # The batch's place in the import, counted from 0.
    number: int = 0


@dataclass
class _Run:
    """One import: the reading side (``consume``) and the writing side (``write_batch``).

    On PostgreSQL, outside a transaction, batches after the first full one are written by
    ``BatchWriter`` threads on their own connections while this thread parses the next batch. The
    reading side then keeps its counts in the ``_Batch`` it hands over, and only the writing side
    changes the job, so that a failed batch rolls back its own counts and nothing else. Where a
    kind allows it (``KindSpec.parallel_batches``), several threads write batches at once. Each
    then counts into its own copy of the job and adds its batch's counts to ``job`` in the order
    that ``CommitOrder`` keeps.
    """

    job: ImportJob
    spec: KindSpec
    options: ImportOptions
    actor: Any
    position: Callable[[], int] | None
    progress: ProgressCallback | None
    fingerprints: RowFingerprints | None = None
    cache: ResolveCache = field(default_factory=ResolveCache)
    first_lines: dict[Hashable, int] = field(default_factory=dict)
    seen_skus: set[str] = field(default_factory=set)
    batch: list[tuple[SourceRow, dict[str, Any]] | None] = field(default_factory=list)
    batch_positions: dict[Hashable, int] = field(default_factory=dict)
    report: list[ImportRowError] = field(default_factory=list)
    rows_read: int = 0
    rejected: int = 0
    unchanged: int = 0
    threshold: Any = None
    writer: BatchWriter | None = None
    stage: StagedBatch | None = None
    next_heartbeat: float = 0.0
    batches_read: int = 0
    order: CommitOrder | None = None
    # Held while a batch's references are resolved by one of several writer threads.
    resolve_lock: threading.Lock = field(default_factory=threading.Lock)

    def beat_if_due(self) -> None:
        """Store the job's heartbeat when the interval has passed, so that beat's sweep counts the worker as alive.

        Committed batches store it too (``write_batch``); this covers long stretches of rejected rows
        and a writer thread that is still busy with an earlier batch.
        """
        now = time.monotonic()
        if now < self.next_heartbeat:
            return
        self.next_heartbeat = now + heartbeat_interval()
        self.job.heartbeat_at = timezone.now()
        ImportJob.objects.filter(pk=self.job.pk).update(heartbeat_at=self.job.heartbeat_at)

    def __post_init__(self) -> None:
        self.sender = System(self.job.sender or row_owner(self.spec.model._meta.label))
        self.foreign = foreign_fields(self.spec, self.sender)
        if self.fingerprints is not None and not self.fingerprints_usable():
            self.fingerprints.decline()

    def fingerprints_usable(self) -> bool:
        """Return whether this import may skip rows by fingerprint and store the fingerprints of the rows it reads.

        Only the PostgreSQL path stores them. A skipped row is counted unchanged, which is right only
        when every row that reaches the product is written as read. Three cases break that. With
        last-wins, a later duplicate can win. A sender that does not own every field has those values
        replaced with the stored ones, and the conflicts are reported at each import. Listeners and
        row checks of other apps expect to see each row.
        """
        kind = self.spec.kind
        return (
            connection.vendor == "postgresql"
            and self.spec.staged
            and not self.options.last_wins
            and not self.foreign
            and not listeners.has_listeners(kind)
            and not listeners.has_row_checks(kind)
        )

    def _new_stage(self) -> StagedBatch:
        fingerprinted = self.fingerprints is not None and self.fingerprints.active
        return StagedBatch(self.spec, DEFAULTS[self.spec.kind], fingerprinted=fingerprinted)

    def consume(self, rows: Iterator[SourceRow]) -> None:
        self.threshold = anomalies.price_change_threshold()
        parse_row = self.spec.parse
        file_key = self.spec.file_key
        decimal_comma = self.options.decimal_comma
        track_skus = self.options.full_catalog
        batch_size = self.options.batch_size
        # Rows of a batch are found again by key only to replace them with a later duplicate.
        track_positions = self.options.last_wins
        batch, positions, first_lines = self.batch, self.batch_positions, self.first_lines
        rows_per_batch_read = batch_size * _BATCH_SIZES_READ_PER_BATCH
        rows_to_next_beat_check = _ROWS_PER_HEARTBEAT_CHECK
        finished = False
        try:
            for row in rows:
                rows_to_next_beat_check -= 1
                if not rows_to_next_beat_check:
                    rows_to_next_beat_check = _ROWS_PER_HEARTBEAT_CHECK
                    self.beat_if_due()
                    if self.rows_read >= rows_per_batch_read:
                        self.flush(more=True)
                        batch, positions = self.batch, self.batch_positions
                self.rows_read += 1
                record = row.record
                if track_skus:
                    self.seen_skus.add(record["sku"] if record is not None else row.values.get("sku", "").strip())
                if record is None:
                    if row.problem:
                        self._reject(row.line, [(row.problem_column, "", row.problem)])
                        continue
                    record, problems = parse_row(row, decimal_comma)
                    if problems:
                        self._reject(row.line, problems)
                        continue
                key = file_key(record)
                if key in first_lines:
                    if self._is_rejected_duplicate(row, key):
                        continue
                else:
                    first_lines[key] = row.line
                    if track_positions:
                        positions[key] = len(batch)
                if record.__class__ is UnchangedRecord:
                    self.unchanged += 1
                    continue
                batch.append((row, record))
                if len(batch) >= batch_size:
                    self.flush(more=True)
                    batch, positions = self.batch, self.batch_positions
            self.flush()
            finished = True
        finally:
            if self.writer is not None:
                writer, self.writer = self.writer, None
                # An error raised here already is the one to report; the writer's would hide it.
                writer.close(raise_error=finished)
        if self.stage is not None:
            stage, self.stage = self.stage, None
            stage.drop()

    def _duplicate_hint(self) -> str:
        """Return what the sender of a rejected duplicate can do, in the terms of its channel."""
        if self.job.source == ImportJob.Source.COMMAND:
            return "Run with --last-wins to use the last one instead."
        if self.job.source == ImportJob.Source.ADMIN:
            return 'Tick "Last wins" on the upload form to use the last one instead.'
        return "Send each key once per request; an API push always keeps the first row."

    def _is_rejected_duplicate(self, row: SourceRow, key: Hashable) -> bool:
        """Report a row whose key an earlier row had; return True when it is rejected, False when it wins."""
        first_line = self.first_lines[key]
        parts = key if isinstance(key, tuple) else (key,)
        shown = "/".join(str(part) for part in parts if part is not None)
        if not self.options.last_wins:
            message = f"Duplicate of line {first_line} ({shown}); the first row is used. {self._duplicate_hint()}"
            self._reject(row.line, [(self.spec.columns[0], shown, message)])
            return True
        self._notice(row.line, shown, f"Also on line {first_line} ({shown}); this later row wins.")
        earlier = self.batch_positions.get(key)
        if earlier is not None and earlier < len(self.batch) and self.batch[earlier] is not None:
            self.batch[earlier] = None
        self.first_lines[key] = row.line
        self.batch_positions[key] = len(self.batch)
        return False

    def flush(self, *, more: bool = False) -> None:
        """Hand the rows read since the last flush to the writer; ``more`` says that more rows follow."""
        items = [item for item in self.batch if item is not None]
        self.batch = []
        self.batch_positions = {}
        if not items and not self.report and not self.rows_read:
            return
        batch = _Batch(
            items=items,
            report=self.report,
            rows_read=self.rows_read,
            rejected=self.rejected,
            position=self.position() if self.position is not None else -1,
            number=self.batches_read,
            unchanged=self.unchanged,
        )
        self.batches_read += 1
        self.report = []
        self.rows_read = self.rejected = self.unchanged = 0
        if self.writer is None and more and self.spec.staged and BatchWriter.usable():
            threads = self._writer_threads()
            if threads > 1:
                self.order = CommitOrder(self.job)
            self.writer = BatchWriter(self._write_in_thread, threads=threads)
        if self.writer is not None:
            self.writer.submit(batch)
        else:
            if items and self.stage is None and self.spec.staged and connection.vendor == "postgresql":
                self.stage = self._new_stage()
                self.stage.prepare()
            self.write_batch(batch, self.stage)

    def _writer_threads(self) -> int:
        """Return how many threads write this import's batches (setting CATALOG_IMPORT_WRITER_THREADS).

        One thread keeps the batches in file order, which a last-wins import needs for a key that
        comes again in a later batch, and which batch listeners need for the locks they take.
        """
        if not self.spec.parallel_batches or self.options.last_wins or listeners.has_listeners(self.spec.kind):
            return 1
        return max(1, int(getattr(settings, "CATALOG_IMPORT_WRITER_THREADS", 2)))

    def _write_in_thread(self, batches: Iterator[_Batch]) -> None:
        # With several threads, each counts into its own copy of the job (see the class docstring).
        writer = self
        if self.order is not None:
            writer = copy.copy(self)
            writer.job = copy.copy(self.job)
        number = None
        try:
            stage = self._new_stage()
            stage.prepare()
            for batch in batches:
                number = batch.number
                writer.write_batch(batch, stage)
                number = None
            stage.drop()
        except BaseException:
            if self.order is not None:
                self.order.failed(number)
            raise

    def write_batch(self, batch: _Batch, stage: "StagedBatch | None") -> None:
        """Write one batch, its report lines and the job's counts in one transaction."""
        job = self.job
        order = self.order
        counts_before = [getattr(job, name) for name in BATCH_COUNTER_FIELDS]
        valid = None
        if order is not None:
            # Resolved before the transaction and one batch at a time, so that a category this batch
            # creates is committed before a batch on another connection refers to it.
            with self.resolve_lock:
                valid = self._resolve(batch)
        with transaction.atomic():
            if order is not None:
                order.begin(batch.number)
            job.rows_read += batch.rows_read
            job.rejected_count += batch.rejected
            job.unchanged_count += batch.unchanged
            written_before = job.created_count + job.updated_count
            # Listeners take their locks before the batch's own (see apps/catalog/imports/listeners.py).
            started = listeners.start_batch(self.spec.kind) if not job.dry_run and batch.items else []
            self._apply(batch, self._resolve(batch) if valid is None else valid, stage)
            listeners.finish_batch(started, (record for _, record in batch.items))
            if not job.dry_run and job.created_count + job.updated_count > written_before:
                self._announce_contract_changes(batch)
            ImportRowError.objects.bulk_create(batch.report, batch_size=1000)
            counted = job
            if order is not None:
                order.wait_turn(batch.number)
                counted = order.job
                for name, before in zip(BATCH_COUNTER_FIELDS, counts_before, strict=True):
                    setattr(counted, name, getattr(counted, name) + getattr(job, name) - before)
            counted.batches_committed += 1
            counted.progress_done = batch.position if batch.position >= 0 else counted.rows_read
            counted.heartbeat_at = timezone.now()
            counted.save()
        if order is not None:
            order.committed(batch.number)
        if self.progress is not None:
            self.progress(counted)

    def _resolve(self, batch: _Batch) -> list[tuple[SourceRow, dict[str, Any]]]:
        """Resolve the batch's references; return its rows without those rejected, whose report lines it adds."""
        if not batch.items:
            return []
        job = self.job
        problems = self.spec.resolve(batch.items, self.cache, job.dry_run)
        for index, row_problems in listeners.check_rows(self.spec.kind, batch.items).items():
            # A row that resolving rejected keeps only that reason, which may not name other customers.
            problems.setdefault(index, row_problems)
        for index, row_problems in problems.items():
            job.rejected_count += 1
            batch.report.extend(self._report_lines(batch.items[index][0].line, row_problems))
        return [item for index, item in enumerate(batch.items) if index not in problems] if problems else batch.items

    def _apply(self, batch: _Batch, valid: list[tuple[SourceRow, dict[str, Any]]], stage: "StagedBatch | None") -> None:
        spec = self.spec
        job = self.job
        if valid and self.foreign:
            valid = self._keep_owned_values(batch, valid)
        if not valid:
            return
        if stage is not None:
            self._apply_postgresql(valid, stage)
            return

        stored = _fetch_stored(spec, [record for _, record in valid])
        creates, updates, held = self._classify(valid, stored)
        job.flagged_count += len(held)
        if job.dry_run:
            job.created_count += len(creates)
            job.updated_count += len(updates)
            return
        created, updated = write_orm(
            spec,
            [values for _, values in creates],
            [(pk, values) for _, pk, values in updates],
            now=timezone.now(),
            actor_id=getattr(self.actor, "pk", None),
            reason=f"import job {job.pk}",
        )
        job.created_count += created
        job.updated_count += updated
        self._hold(held)

    def _keep_owned_values(self, batch: _Batch, valid):
        """Keep the stored values of the fields the sender does not own; report conflicts and open their cases."""
        spec = self.spec
        names = stored_layout(spec)
        stored = {}
        for key, row in _fetch_stored(spec, [record for _, record in valid]).items():
            values = dict(zip(names, row, strict=True))
            if spec.stamp_field:
                values[spec.stamp_field] = from_microseconds(values[spec.stamp_field])
            stored[key] = values
        rejected, conflicts = keep_owned_values(spec, self.sender, self.foreign, valid, stored)
        conflicts = in_file_terms(spec, conflicts)
        for index, row_problems in rejected.items():
            self.job.rejected_count += 1
            batch.report.extend(self._report_lines(valid[index][0].line, row_problems))
        for conflict in conflicts:
            batch.report.append(
                ImportRowError(
                    job=self.job,
                    line=conflict.line,
                    column=conflict.field,
                    value=str(conflict.offered),
                    message=report_message(conflict, self.sender),
                    level=ImportRowError.Level.NOTICE,
                )
            )
        if conflicts and not self.job.dry_run:
            open_conflict_cases(
                spec=spec, sender=self.sender, job_id=self.job.pk, conflicts=conflicts, actor=self.actor
            )
        return [item for index, item in enumerate(valid) if index not in rejected] if rejected else valid

    def _announce_contract_changes(self, batch: _Batch) -> None:
        """Tell the contract listeners which contracts this batch changed, inside the batch's transaction."""
        kind = self.spec.kind
        if kind == ImportKind.CONTRACT_PRICES:
            ids = {record["contract_id"] for _, record in batch.items if record.get("contract_id")}
        elif kind == ImportKind.CONTRACTS:
            numbers = [record["number"] for _, record in batch.items]
            ids = set(Contract.objects.filter(number__in=numbers).values_list("pk", flat=True))
        else:
            return
        if ids:
            contracts_changed(contract_ids=ids, reason=f"import job {self.job.pk}", actor=self.actor)

    def _apply_postgresql(self, valid: list[tuple[SourceRow, dict[str, Any]]], stage: StagedBatch) -> None:
        """Compare and write in SQL; only rows that may be anomalies are classified in Python."""
        job = self.job
        stage.load(valid)
        options: dict[str, Any] = {}
        if self.spec.kind == ImportKind.CATALOG:
            options = {"held_back": anomalies.CANDIDATES_SQL, "params": {"threshold": self.threshold}}
        if not job.dry_run:
            options.update(now=timezone.now(), actor_id=getattr(self.actor, "pk", None), reason=f"import job {job.pk}")
            counts = write_postgresql(stage, **options)
        else:
            counts = stage.count(**options)
        self._add_counts(counts)
        if not counts.held_back:
            return

        # Rows that may be anomalies: the Python rules decide, and the rows they let through are written.
        lines = set(counts.held_back)
        subset = [item for item in valid if item[0].line in lines]
        creates, updates, held = self._classify(subset, _fetch_stored(self.spec, [record for _, record in subset]))
        job.flagged_count += len(held)
        passed = [row.line for row, _ in creates] + [row.line for row, _, _ in updates]
        if job.dry_run:
            job.created_count += len(creates)
            job.updated_count += len(updates)
            return
        if passed:
            options.update(held_back=None, only=passed)
            self._add_counts(write_postgresql(stage, **options))
        self._hold(held)

    def _add_counts(self, counts: StagedCounts) -> None:
        self.job.created_count += counts.created
        self.job.updated_count += counts.updated
        self.job.stale_count += counts.stale
        self.job.unchanged_count += counts.unchanged

    def _hold(self, held) -> None:
        for row, reason_code, values, old in held:
            anomalies.hold_change(
                job=self.job,
                reason=reason_code,
                sku=values["sku"],
                line=row.line,
                payload=values,
                stored=old,
                actor=self.actor,
            )

    def _classify(self, valid, stored):
        spec = self.spec
        key_fields = spec.key_fields
        compared = spec.compared_fields
        stamp_field = spec.stamp_field
        names = stored_layout(spec)
        first_compared = 1 + len(key_fields)
        after_compared = first_compared + len(compared)
        defaults = DEFAULTS[spec.kind]
        check_anomalies = spec.kind == ImportKind.CATALOG
        open_order_ids = (
            anomalies.products_with_open_orders({old[0] for old in stored.values()}) if check_anomalies else set()
        )
        creates, updates, held = [], [], []
        for row, record in valid:
            key = tuple([record[name] for name in key_fields])
            old = stored.get(key)
            if old is None:
                values = {**defaults, **record}
                # The row's fingerprint is not product data: a held change stores these values as JSON.
                values.pop(spec.fingerprint_field, None)
                old_values = None
            else:
                old_stamp = old[after_compared] if stamp_field else None
                # A row without a change time (an optional column left out) is never stale.
                new_stamp = record.get(stamp_field) if stamp_field else None
                if old_stamp is not None and new_stamp is not None and to_microseconds(new_stamp) < old_stamp:
                    self.job.stale_count += 1
                    continue
                old_compared = old[first_compared:after_compared]
                new_compared = tuple(
                    [record.get(name, old_value) for name, old_value in zip(compared, old_compared, strict=True)]
                )
                if new_compared == old_compared:
                    self.job.unchanged_count += 1
                    continue
                values = dict(zip(compared, new_compared, strict=True))
                values.update(zip(key_fields, key, strict=True))
                if stamp_field:
                    values[stamp_field] = new_stamp if new_stamp is not None else from_microseconds(old_stamp)
                old_values = dict(zip(names, old, strict=True))
                if stamp_field:
                    old_values[stamp_field] = from_microseconds(old_stamp)
            if check_anomalies:
                reason_code = anomalies.detect_anomaly(
                    values, old_values, threshold=self.threshold, open_order_ids=open_order_ids
                )
                if reason_code is not None:
                    held.append((row, reason_code, values, old_values))
                    continue
            if old is None:
                creates.append((row, values))
            else:
                updates.append((row, old[0], values))
        return creates, updates, held

    def hold_missing_products(self) -> None:
        """Propose deactivating active products that a full-catalog file did not list."""
        active = dict(Product.objects.filter(is_active=True).values_list("sku", "id"))
        missing = sorted(set(active) - self.seen_skus)
        if not missing:
            return
        limit = anomalies.missing_share_limit()
        if len(missing) > len(active) * limit:
            message = (
                f"The full-catalog file lacks {len(missing)} of {len(active)} active products, more than "
                f"{limit:.0%}; it looks cut short, so no product was proposed for deactivation. "
                "Check the export and import the complete file."
            )
            self._notice(0, "", message)
            self.flush()
            return
        if self.job.dry_run:
            self.job.flagged_count += len(missing)
            self.job.save(update_fields=["flagged_count"])
            return
        for start in range(0, len(missing), self.options.batch_size):
            with transaction.atomic():
                for sku in missing[start : start + self.options.batch_size]:
                    anomalies.hold_change(
                        job=self.job,
                        reason=HeldChange.Reason.MISSING_FROM_FULL_CATALOG,
                        sku=sku,
                        line=None,
                        payload={"sku": sku, "is_active": False},
                        stored={"pk": active[sku], "sku": sku, "is_active": True},
                        actor=self.actor,
                    )
                    self.job.flagged_count += 1
                self.job.save(update_fields=["flagged_count"])
            self.beat_if_due()

    def _reject(self, line: int, problems: list[tuple[str, str, str]]) -> None:
        """Count a row rejected while reading and keep its report lines for the next batch."""
        self.rejected += 1
        self.report.extend(self._report_lines(line, problems))

    def _report_lines(self, line: int, problems: list[tuple[str, str, str]]) -> list[ImportRowError]:
        return [
            ImportRowError(job=self.job, line=line, column=column, value=value, message=message)
            for column, value, message in problems
        ]

    def _notice(self, line: int, value: str, message: str) -> None:
        self.report.append(
            ImportRowError(job=self.job, line=line, value=value, message=message, level=ImportRowError.Level.NOTICE)
        )


def _fetch_stored(spec: KindSpec, records: list[dict[str, Any]]) -> dict[tuple, tuple]:
    """Return the stored rows matching the records' keys in one query, keyed by the key tuple.

    Each row is a tuple laid out as ``stored_layout(spec)``: the primary key, the key fields, the
    compared fields and the change time.
    """
    if not records:
        return {}
    names = stored_layout(spec)
    key_length = len(spec.key_fields)
    if connection.vendor == "postgresql" and spec.key_array_types:
        rows = _fetch_stored_postgresql(spec, records, names)
    else:
        query = Q()
        for name in spec.key_fields:
            wanted = {record[name] for record in records}
            condition = Q(**{f"{name}__in": wanted - {None}})
            if None in wanted:
                condition |= Q(**{f"{name}__isnull": True})
            query &= condition
        rows = spec.model.objects.filter(query).order_by().values_list(*names)
        if spec.stamp_field:
            rows = [(*row[:-1], to_microseconds(row[-1])) for row in rows]
    return {row[1 : 1 + key_length]: row for row in rows}


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def to_microseconds(value: dt.datetime | None) -> int | None:
    """Return an aware time as whole microseconds since 1970 UTC, the form stored change times are compared in."""
    return None if value is None else (value - _EPOCH) // _MICROSECOND


def from_microseconds(value: int | None) -> dt.datetime | None:
    return None if value is None else _EPOCH + value * _MICROSECOND


def stored_layout(spec: KindSpec) -> list[str]:
    return ["pk", *spec.key_fields, *spec.compared_fields] + ([spec.stamp_field] if spec.stamp_field else [])


def _fetch_stored_postgresql(spec: KindSpec, records: list[dict[str, Any]], names: list[str]) -> list[tuple]:
    meta = spec.model._meta
    quote = connection.ops.quote_name
    selected = [quote(meta.pk.column if name == "pk" else meta.get_field(name).column) for name in names]
    if spec.stamp_field:
        # Whole microseconds as a bigint load far faster than timestamps and compare exactly.
        selected[-1] = f"(extract(epoch FROM {selected[-1]}) * 1000000)::bigint"
    columns = ", ".join(selected)
    key_columns = ", ".join(quote(meta.get_field(name).column) for name in spec.key_fields)
    arrays = ", ".join(f"%s::{array_type}" for array_type in spec.key_array_types)
    sql = (
        f"SELECT {columns} FROM {quote(meta.db_table)} "  # noqa: S608 - names come from model meta.
        f"WHERE ({key_columns}) IN (SELECT * FROM unnest({arrays}))"
    )
    keys = {tuple(record[name] for name in spec.key_fields) for record in records}
    params = [list(values) for values in zip(*keys, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def heartbeat_interval() -> int:
    """Return the seconds between heartbeats of a running job (setting CATALOG_IMPORT_HEARTBEAT_SECONDS)."""
    return int(getattr(settings, "CATALOG_IMPORT_HEARTBEAT_SECONDS", 30))


def _create_job(*, kind, source, sender, actor, options: ImportOptions, dry_run: bool, name: str) -> ImportJob:
    spec = _spec(kind)
    if source not in ImportJob.Source.values:
        raise InvalidImportOptions(f"Import source {source!r} is unknown; use one of {', '.join(ImportJob.Source)}.")
    sender = sender or row_owner(spec.model._meta.label)
    if sender not in IMPORT_SENDERS:
        raise InvalidImportOptions(f"Import sender {str(sender)!r} is unknown; use one of {', '.join(IMPORT_SENDERS)}.")
    return ImportJob.objects.create(
        kind=kind,
        source=source,
        sender=sender,
        file_name=name[:255],
        options=options.as_dict(),
        dry_run=dry_run,
        created_by=actor if getattr(actor, "pk", None) else None,
    )


def _spec(kind: str) -> KindSpec:
    if kind not in SPECS:
        raise InvalidImportOptions(f"Import kind {kind!r} is unknown; use one of {', '.join(SPECS)}.")
    return SPECS[kind]


def _finish(job: ImportJob, status: str, error: str) -> None:
    job.status = status
    job.error = error
    job.finished_at = timezone.now()
    if job.progress_total and status == ImportJob.Status.SUCCEEDED:
        job.progress_done = job.progress_total
    job.save(
        update_fields=[
            "status",
            "error",
            "finished_at",
            "progress_done",
            "rows_read",
            "rejected_count",
            "flagged_count",
            "stale_count",
            "unchanged_count",
            "created_count",
            "updated_count",
        ]
    )
    log_import_job(job)


def log_import_job(job: ImportJob) -> None:
    """Write the finished job to the integration document log, with its counts as the body."""
    duration = job.duration_seconds
    record_exchange(
        DocumentExchange(
            direction=Direction.INBOUND,
            channel=Channel.CATALOG_IMPORT,
            document_type=f"{job.kind} import ({job.source})",
            import_job_id=job.pk,
            outcome=Outcome.SUCCEEDED if job.status == ImportJob.Status.SUCCEEDED else Outcome.FAILED,
            message=job.error,
            url=job.file_name,
            duration_ms=None if duration is None else int(duration * 1000),
            request_format=BodyFormat.JSON,
            request_body={
                "kind": job.kind,
                "source": job.source,
                "sender": job.sender,
                "file_name": job.file_name,
                "dry_run": job.dry_run,
                "status": job.status,
                "rows_read": job.rows_read,
                "created": job.created_count,
                "updated": job.updated_count,
                "unchanged": job.unchanged_count,
                "stale": job.stale_count,
                "rejected": job.rejected_count,
                "flagged": job.flagged_count,
                "error": job.error,
            },
        )
    )


# The job's counts of rows that each committed batch adds to.
BATCH_COUNTER_FIELDS = (
    "rows_read",
    "created_count",
    "updated_count",
    "unchanged_count",
    "stale_count",
    "rejected_count",
    "flagged_count",
)
# The job fields that committed batches add to.
RUN_COUNTER_FIELDS = (*BATCH_COUNTER_FIELDS, "batches_committed", "progress_done")


def import_job_fail(job: ImportJob, error: str) -> None:
    """Mark the job failed with ``error``, keeping the counters of its committed batches, and log it."""
    # The counters in memory include the batch that was rolled back; keep those of the committed batches.
    job.refresh_from_db(fields=RUN_COUNTER_FIELDS)
    _finish(job, ImportJob.Status.FAILED, error)
