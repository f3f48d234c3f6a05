"""Writing import batches on a second database connection while the caller reads the next batch.

Parsing rows is Python work and writing them is mostly PostgreSQL work, so on two or more cores the
two can overlap. The importing thread parses batch N+1 while a ``BatchWriter`` thread, on its own
connection, writes batch N. The writer takes batches in order, one at a time,
and each batch is still one transaction. At most one batch waits in the queue, so memory holds
three batches at most: the one being written, the one waiting and the one being parsed.
"""

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection


class BatchWriter:
    """A thread that runs ``write(batches)``, where ``batches`` yields what ``submit`` is given, in order.

    After an error in the thread the remaining batches are dropped unwritten, and ``submit`` and
    ``close`` raise that error in the caller's thread.
    """

    def __init__(self, write: Callable[[Iterator[Any]], None]) -> None:
        self._write = write
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="catalog-import-writer", daemon=True)
        self._thread.start()

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
        """Wait until every submitted batch is written; raise the thread's error, if any and ``raise_error``."""
        self._queue.put(None)
        self._thread.join()
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
            self._error = error
            # Drain the queue so that the caller's put() never blocks on a writer that stopped.
            while self._queue.get() is not None:
                pass
        finally:
            connection.close()
