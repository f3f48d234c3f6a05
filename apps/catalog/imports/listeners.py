"""Listeners that take part in the transaction of each written import batch, registered by the apps above catalog.

The orders app registers one for stock, so that stock arriving from the ERP
allocates the backorder queue in the batch's own transaction. Catalog cannot
import orders, so the listener is registered from ``OrdersConfig.ready``.
"""

from collections.abc import Callable, Iterable
from typing import Protocol


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


def finish_batch(listeners: Iterable[BatchListener], records: Iterable[dict]) -> None:
    """Tell each started listener which products the batch wrote."""
    product_ids = {record["product_id"] for record in records if record.get("product_id") is not None}
    for listener in listeners:
        listener.written(product_ids)
