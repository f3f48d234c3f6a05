"""Resolution actions per kind of case, registered by the app that owns the concerned object.

An app registers its actions in its ``AppConfig.ready()``. The admin offers
the actions registered for a case's kind and shows ``describe(case)`` before
the user confirms. ``case_resolve`` then runs ``perform(case, actor, note)``
inside the transaction that resolves the case. ``perform`` raises
``apps.exceptions.errors.ResolutionFailed`` for an expected refusal, which
rolls the whole resolution back and is shown to the user.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

from apps.exceptions.errors import UnknownResolutionAction
from apps.exceptions.models import CaseKind


@dataclass(frozen=True)
class ResolutionAction:
    """A way to resolve a kind of case: what the user picks, what it will do, and the code that does it."""

    kind: str
    name: str
    label: str
    describe: Callable[..., str]
    perform: Callable[..., None]


_actions: dict[str, dict[str, ResolutionAction]] = {}
_close_handlers: dict[str, list[Callable[..., None]]] = {}
_current_facts: dict[str, Callable[..., dict]] = {}


def register_resolution(
    kind: str,
    name: str,
    label: str,
    *,
    describe: Callable[..., str],
    perform: Callable[..., None],
) -> ResolutionAction:
    """Register a resolution action for a kind; a second action of the same name for the kind is an error."""
    if kind not in CaseKind.values:
        raise ImproperlyConfigured(f"Cannot register resolution {name!r}: {kind!r} is not a case kind.")
    if not name or len(name) > 64:
        raise ImproperlyConfigured(f"Resolution name {name!r} must have 1 to 64 characters.")
    if not callable(describe) or not callable(perform):
        raise ImproperlyConfigured(f"Resolution {kind}/{name} needs callable describe and perform.")
    actions = _actions.setdefault(kind, {})
    if name in actions:
        raise ImproperlyConfigured(f"Resolution {name!r} is already registered for {kind!r}.")
    action = ResolutionAction(kind=kind, name=name, label=label, describe=describe, perform=perform)
    actions[name] = action
    return action


def unregister_resolution(kind: str, name: str) -> None:
    """Remove a registered action; tests use it to clean up their own actions."""
    _actions.get(kind, {}).pop(name, None)


def resolutions_for(kind: str) -> list[ResolutionAction]:
    """Return the actions registered for a kind, in registration order."""
    return list(_actions.get(kind, {}).values())


def get_resolution(kind: str, name: str) -> ResolutionAction:
    """Return the named action of a kind, or raise UnknownResolutionAction naming what is available."""
    action = _actions.get(kind, {}).get(name)
    if action is None:
        available = ", ".join(sorted(_actions.get(kind, {}))) or "none"
        raise UnknownResolutionAction(
            f"Resolution {name!r} is not registered for {CaseKind(kind).label} cases; available: {available}."
        )
    return action


def register_close_handler(model_label: str, handler: Callable[..., None]) -> None:
    """Call ``handler(case, actor)`` whenever a case about a ``model_label`` object is resolved or dismissed.

    The handler runs in the closing transaction, after the case is saved, so
    that the owning app can move the object on once no blocking case holds it.
    """
    if "." not in model_label:
        raise ImproperlyConfigured(f"Model label {model_label!r} must look like 'app_label.ModelName'.")
    if not callable(handler):
        raise ImproperlyConfigured(f"Close handler for {model_label!r} must be callable.")
    _close_handlers.setdefault(model_label.lower(), []).append(handler)


def unregister_close_handler(model_label: str, handler: Callable[..., None]) -> None:
    """Remove a close handler; tests use it to clean up their own handlers."""
    handlers = _close_handlers.get(model_label.lower(), [])
    if handler in handlers:
        handlers.remove(handler)


def close_handlers_for(model_label: str) -> list[Callable[..., None]]:
    """Return the close handlers registered for a model label such as ``orders.order``."""
    return list(_close_handlers.get(model_label.lower(), []))


def register_current_facts(kind: str, provider: Callable[..., dict]) -> None:
    """Have the case page show ``provider(case)``: figures read now, next to the facts stored at opening."""
    if not callable(provider):
        raise ImproperlyConfigured(f"Current facts provider for {kind!r} must be callable.")
    _current_facts[str(kind)] = provider


def current_facts_for(case) -> dict:
    """Return the figures the provider of the case's kind reads now; empty when no provider is registered."""
    provider = _current_facts.get(case.kind)
    return provider(case) if provider is not None else {}


def _describe_acknowledge(case) -> str:
    return "Closes the case with your note; nothing else changes. Fix the cause in the other system first."


def _perform_acknowledge(case, actor, note) -> None:
    """Do nothing beyond the resolution itself, which records the note and the user."""


def register_builtin_resolutions() -> None:
    """Register the actions that need no other app: acknowledging integration failures and conflicts."""
    for kind in (CaseKind.INTEGRATION_FAILURE, CaseKind.INTEGRATION_CONFLICT):
        if "acknowledge" not in _actions.get(kind, {}):
            register_resolution(
                kind,
                "acknowledge",
                "Acknowledge (fixed elsewhere)",
                describe=_describe_acknowledge,
                perform=_perform_acknowledge,
            )
