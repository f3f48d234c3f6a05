"""Writing import batches on other database connections while the caller reads the next batch.

Parsing rows is Python work and writing them is mostly PostgreSQL work, so on two or more cores the
two can overlap. The importing thread parses the next batch while ``BatchWriter`` threads, each on its
own connection, write earlier ones. Each batch is still one transaction. With several writer
threads, ``CommitOrder`` makes the batches commit in the order they were read, so the committed
batches are always the first ones of the file. At most one batch per writer thread waits in the
queue, so memory contains two batches per writer thread and the one being parsed.
"""

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection


class EarlierBatchFailed(Exception):
    """Raised in a batch's transaction, to roll it back, when a batch read before it failed."""


class BatchWriter:
    """Threads that run ``write(batches)``, where ``batches`` yields what ``submit`` is given.

    Each thread takes the next batch when it is free, so with one thread the batches are written in
    order. After an error in a thread the remaining batches are dropped unwritten, and ``submit`` and
    ``close`` raise that error in the caller's thread. Of several errors, the first one that is not
    ``EarlierBatchFailed`` is raised.
    """

    def __init__(self, write: Callable[[Iterator[Any]], None], *, threads: int = 1) -> None:
        self._write = write
        # One waiting batch per thread: when every thread waits for PostgreSQL at once, the reading
        # thread can still hand over the batch it has parsed and go on parsing the next one.
        self._queue: queue.Queue = queue.Queue(maxsize=threads)
        self._error: BaseException | None = None
        self._error_lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, name="catalog-import-writer", daemon=True) for _ in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def usable() -> bool:
        """Say whether batches may go to another connection: PostgreSQL, and no transaction open here.

        Inside a transaction (a test, an API request with ATOMIC_REQUESTS) a second connection would
        not see the rows this one has not committed, so batches are written in the caller's thread.
        """
        return connection.vendor == "postgresql" and not connection.in_atomic_block

    def submit(self, batch: Any) -> None:
        self._raise_error()
        self._queue.put(batch)

    def close(self, *, raise_error: bool = True) -> None:
        """Wait until every submitted batch is written; raise the threads' error, if any and ``raise_error``."""
        # One end mark per thread: each thread stops at the first one it takes.
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        if raise_error:
            self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _batches(self) -> Iterator[Any]:
        while (batch := self._queue.get()) is not None:
            yield batch

    def _run(self) -> None:
        try:
            self._write(self._batches())
        except BaseException as error:  # Handed to the caller's thread, which raises it.
            with self._error_lock:
                if self._error is None or isinstance(self._error, EarlierBatchFailed):
                    self._error = error
            # Drain the queue so that the caller's put() never blocks on a writer that stopped.
            while self._queue.get() is not None:
                pass
        finally:
            connection.close()


class CommitOrder:
    """Makes batches written at once by several threads commit in the order they were read.

    Batch ``n`` (counted from 0) calls ``begin(n)`` first in its transaction, ``wait_turn(n)`` right
    before it writes the job's counters, and ``committed(n)`` or ``failed(n)`` after its transaction
    ends. ``wait_turn`` waits for batch ``n - 1`` on a transaction-level advisory lock that batch
    holds, so that PostgreSQL knows of the wait and its deadlock detector can break a cycle with
    another session. Both raise ``EarlierBatchFailed`` once a batch before ``n`` has failed, and
    batches before the failed one still commit. ``job`` is the job whose counters the batches add
    to, one at a time.
    """

    def __init__(self, job: Any) -> None:
        self.job = job
        # Advisory lock keys: the job's id folded into 31 bits, and the batch number.
        # NOTE: another import whose job id has the same low 31 bits may wait for this one's batches.
        self._lock_class = job.pk % 2**31
        self._condition = threading.Condition()
        self._begun = 0
        self._committed = 0
        self._first_failed: int | None = None

    def begin(self, number: int) -> None:
        """Take batch ``number``'s advisory lock, after batch ``number - 1`` has taken its own."""
        with self._condition:
            self._condition.wait_for(lambda: self._begun >= number or self._failed_before(number))
            self._raise_if_failed_before(number)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [self._lock_class, number % 2**31])
        with self._condition:
            self._begun = number + 1
            self._condition.notify_all()

    def wait_turn(self, number: int) -> None:
        """Wait until batch ``number - 1`` has committed; raise ``EarlierBatchFailed`` if it did not."""
        if number > 0:
            previous = (number - 1) % 2**31
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", [self._lock_class, previous])
        with self._condition:
            self._condition.wait_for(lambda: self._committed >= number or self._failed_before(number))
            self._raise_if_failed_before(number)

    def committed(self, number: int) -> None:
        with self._condition:
            self._committed = number + 1
            self._condition.notify_all()

    def failed(self, number: int | None) -> None:
        """Record that batch ``number`` failed, or with None that a writer failed outside any batch."""
        with self._condition:
            number = -1 if number is None else number
            self._first_failed = number if self._first_failed is None else min(self._first_failed, number)
            self._condition.notify_all()

    def _failed_before(self, number: int) -> bool:
        return self._first_failed is not None and self._first_failed < number

    def _raise_if_failed_before(self, number: int) -> None:
        if self._failed_before(number):
            raise EarlierBatchFailed(f"Batch {number + 1} was rolled back because an earlier batch failed.")
