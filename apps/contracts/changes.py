"""Listeners told when contracts or their prices change, so that the apps that hold prices react at once.

The contracts app sits below quotes in the import order, so it cannot flag quotes itself. An app that
keeps prices taken from contracts registers a listener in its ``AppConfig.ready``; the import service
(and any other writer of contracts) calls ``contracts_changed`` inside the transaction that changed
them, so a listener's writes commit or roll back with the change.
"""

from collections.abc import Callable, Iterable

ContractListener = Callable[..., None]

_listeners: list[ContractListener] = []


def register_contract_listener(listener: ContractListener) -> None:
    """Add a listener once; it is called as ``listener(contract_ids=..., reason=..., actor=...)``."""
    if listener not in _listeners:
        _listeners.append(listener)


def unregister_contract_listener(listener: ContractListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def contracts_changed(*, contract_ids: Iterable[int], reason: str, actor=None) -> None:
    """Call every registered listener with the ids of the contracts whose terms or prices changed."""
    ids = frozenset(contract_ids)
    if not ids:
        return
    for listener in list(_listeners):
        listener(contract_ids=ids, reason=reason, actor=actor)
