"""Listeners and row checks of import batches, registered by the apps above catalog.

The orders app registers a listener for stock, so that stock arriving from
the ERP allocates the backorder queue in the batch's own transaction. It
also registers a row check for customers, so that a currency change cannot
drop open orders out of the credit exposure. Catalog cannot import orders,
so both are registered from ``OrdersConfig.ready``.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol


class BatchListener(Protocol):
    """One batch's part of a listener: ``written`` runs after the batch's rows are written, in its transaction."""

    def written(self, product_ids: set[int]) -> None: ...


# Per import kind: factories called before a batch is written, so that a listener can take its row locks first.
_listeners: dict[str, list[Callable[[], BatchListener]]] = {}


def register_batch_listener(kind: str, factory: Callable[[], BatchListener]) -> None:
    """Call ``factory()`` before each written batch of ``kind`` and its ``written`` after the rows are written."""
    if factory not in _listeners.setdefault(str(kind), []):
        _listeners[str(kind)].append(factory)


def unregister_batch_listener(kind: str, factory: Callable[[], BatchListener]) -> None:
    """Remove a listener; tests use it to clean up their own."""
    factories = _listeners.get(str(kind), [])
    if factory in factories:
        factories.remove(factory)


def has_listeners(kind: str) -> bool:
    return bool(_listeners.get(str(kind)))


def start_batch(kind: str) -> list[BatchListener]:
    """Start each listener of ``kind`` for one batch, inside the batch's transaction and before its writes."""
    return [factory() for factory in _listeners.get(str(kind), [])]


def finish_batch(listeners: list[BatchListener], records: Iterable[dict]) -> None:
    """Tell each started listener which products the batch wrote."""
    if not listeners:
        # Most batches have none, and collecting the ids costs a pass over every record.
        return
    product_ids = {record["product_id"] for record in records if record.get("product_id") is not None}
    for listener in listeners:
        listener.written(product_ids)


# A row check gets a batch's parsed (row, record) pairs and returns the rejected ones by index,
# each with its (column, value, message) problems.
RowCheck = Callable[[Sequence[tuple[Any, dict]]], dict[int, list[tuple[str, str, str]]]]
_row_checks: dict[str, list[RowCheck]] = {}


def register_row_check(kind: str, check: RowCheck) -> None:
    """Run ``check`` on each batch of ``kind`` after its references are resolved, before it is written."""
    if check not in _row_checks.setdefault(str(kind), []):
        _row_checks[str(kind)].append(check)


def has_row_checks(kind: str) -> bool:
    return bool(_row_checks.get(str(kind)))


def check_rows(kind: str, batch: Sequence[tuple[Any, dict]]) -> dict[int, list[tuple[str, str, str]]]:
    """Return the problems that the registered checks of ``kind`` find in the batch, by row index."""
    problems: dict[int, list[tuple[str, str, str]]] = {}
    for check in _row_checks.get(str(kind), []):
        for index, row_problems in check(batch).items():
            problems.setdefault(index, []).extend(row_problems)
    return problems
