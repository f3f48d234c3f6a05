"""Row locks that another database connection holds, for tests of what waits for them and what does not."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def lock_held_elsewhere(take_lock: Callable[[], None]) -> Iterator[None]:
    """Run ``take_lock`` in a transaction on another thread's connection, and keep it open for the block.

    The transaction ends and the thread's connection closes when the block exits. Only tests with
    ``django_db(transaction=True)`` see the other connection's rows.
    """
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                take_lock()
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=30), "The other connection did not take its lock within 30 seconds."
        yield
    finally:
        release.set()
        holder.join(timeout=30)
