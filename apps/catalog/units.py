"""Resolution of the unit spellings that files, documents and carts send to UN/CEFACT units of measure.

A spelling is normalised and then looked up in three places. The first is an alias in the caller's
context, the second an alias for any context, and the last the code itself, which must be an in-force
Recommendation 20 code or an X-prefixed Recommendation 21 package code. Codes that UN/CEFACT flags
as deleted or deprecated are accepted only through an alias, because their meaning depends on the
sender (``CA`` is a can in Rec 20 and a case in X12 data). The error for such a code names the code
to use where one is known.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from apps.catalog.errors import UnknownUnit
from apps.catalog.models import UnitAlias, UnitOfMeasure

# Words shorter than this are left alone, since the short forms ending in S are codes (PCS, KGS, CS).
_MIN_PLURAL_WORD_LENGTH = 4
# Plurals made with "es": BOXES, INCHES, SASHES, GLASSES. Other words just lose the S (CASES, PIECES).
_ES_PLURAL_ENDINGS = ("XES", "CHES", "SHES", "SSES")
_WHITESPACE = re.compile(r"\s+")

_STATUS_WORDS = {
    UnitOfMeasure.Status.DEPRECATED: "deprecated",
    UnitOfMeasure.Status.DELETED: "deleted",
}


@dataclass(frozen=True)
class UnitMatches:
    """The outcome of resolving many spellings: ``units`` for those that resolved, ``errors`` for the rest.

    Both are keyed by the raw value as the caller passed it.
    """

    units: dict[str, UnitOfMeasure]
    errors: dict[str, UnknownUnit]


def normalise_unit_spelling(raw: str) -> str:
    """Return ``raw`` trimmed, upper-cased, without trailing dots and with a word's plural S removed.

    Only words (letters only, four or more of them) lose a plural ending, so ``PIECES`` becomes
    ``PIECE`` and ``BOXES`` becomes ``BOX``, while the codes ``PCS`` and ``CS`` stay as they are.
    Words ending in a double S (``GROSS``) keep it.
    """
    text = "" if raw is None else _WHITESPACE.sub(" ", str(raw).strip()).upper().rstrip(".").rstrip()
    is_plural_word = (
        len(text) >= _MIN_PLURAL_WORD_LENGTH and text.isalpha() and text.endswith("S") and not text.endswith("SS")
    )
    if not is_plural_word:
        return text
    if text.endswith(_ES_PLURAL_ENDINGS):
        return text[:-2]
    return text[:-1]


def resolve_unit(raw: str, *, context: str = UnitAlias.Context.ERP) -> UnitOfMeasure:
    """Return the unit of measure that ``raw`` stands for in ``context``; raise ``UnknownUnit`` if none.

    Runs at most two queries.
    """
    matches = match_units([raw], context=context)
    if raw in matches.errors:
        raise matches.errors[raw]
    return matches.units[raw]


def resolve_units(raws: Iterable[str], *, context: str = UnitAlias.Context.ERP) -> dict[str, UnitOfMeasure]:
    """Return each distinct raw spelling mapped to its unit of measure, in at most two queries.

    Raises the ``UnknownUnit`` of the first spelling, in input order, that does not resolve. Callers
    that must carry on past bad values, such as a file import, use ``match_units`` instead.
    """
    matches = match_units(raws, context=context)
    for error in matches.errors.values():
        raise error
    return matches.units


def match_units(raws: Iterable[str], *, context: str = UnitAlias.Context.ERP) -> UnitMatches:
    """Resolve every spelling in ``raws`` in at most two queries, keeping an error for each that fails."""
    if context not in UnitAlias.Context.values:
        raise ValueError(f"Unknown unit alias context {context!r}; use one of {', '.join(UnitAlias.Context.values)}.")

    keys = {raw: normalise_unit_spelling(raw) for raw in raws}
    lookup_keys = {key for key in keys.values() if key}

    aliases_by_key = _aliases_by_key(lookup_keys)
    resolved = {}
    for key in lookup_keys:
        unit = _pick_alias_unit(aliases_by_key.get(key, {}), context=context)
        if unit is not None:
            resolved[key] = unit

    # Deleted two-letter Rec 20 codes are looked up with their X-prefixed Rec 21 twin for the error hint.
    unresolved = lookup_keys - resolved.keys()
    code_lookups = unresolved | {f"X{key}" for key in unresolved if len(key) == 2}
    units_by_code = (
        {unit.code: unit for unit in UnitOfMeasure.objects.filter(code__in=code_lookups)} if unresolved else {}
    )
    for key in unresolved:
        unit = units_by_code.get(key)
        if unit is not None and unit.status == UnitOfMeasure.Status.IN_FORCE:
            resolved[key] = unit

    units = {}
    errors = {}
    for raw, key in keys.items():
        if key in resolved:
            units[raw] = resolved[key]
        else:
            errors[raw] = _unknown_unit_error(
                raw,
                key=key,
                context=context,
                unit=units_by_code.get(key),
                twin=units_by_code.get(f"X{key}"),
                other_contexts=aliases_by_key.get(key, {}),
            )
    return UnitMatches(units=units, errors=errors)


def _aliases_by_key(keys: set[str]) -> dict[str, dict[str, UnitOfMeasure]]:
    """Return, for each key that has aliases, its unit by alias context (every context, for error hints)."""
    if not keys:
        return {}
    found: dict[str, dict[str, UnitOfMeasure]] = {}
    for alias in UnitAlias.objects.filter(alias__in=keys).select_related("unit"):
        found.setdefault(alias.alias, {})[alias.context] = alias.unit
    return found


def _pick_alias_unit(units_by_context: dict[str, UnitOfMeasure], *, context: str) -> UnitOfMeasure | None:
    if context in units_by_context:
        return units_by_context[context]
    return units_by_context.get(UnitAlias.Context.ANY)


def _unknown_unit_error(
    raw: str,
    *,
    key: str,
    context: str,
    unit: UnitOfMeasure | None,
    twin: UnitOfMeasure | None,
    other_contexts: dict[str, UnitOfMeasure],
) -> UnknownUnit:
    if not key:
        return UnknownUnit(
            "The unit of measure is empty; give a UN/CEFACT Recommendation 20 code such as EA or KGM.",
            raw=raw,
            context=context,
        )

    suggested = ""
    if unit is not None:
        # The code exists but is flagged deleted or deprecated, so it is not taken without an alias.
        status_word = _STATUS_WORDS.get(unit.status, unit.status)
        message = (
            f"Unit of measure {raw!r} is the code {unit.code} ({unit.name}), which UN/CEFACT flags as {status_word}, "
            "so it is accepted only through a unit alias: "
        )
        if twin is not None and twin.status == UnitOfMeasure.Status.IN_FORCE:
            suggested = twin.code
            message += f"use {twin.code} ({twin.name}) instead, or add a unit alias for {key} in context {context}."
        else:
            message += f"add a unit alias for {key} in context {context} in the admin, or use an in-force code."
    else:
        message = (
            f"Unknown unit of measure {raw!r} in context {context}: add a unit alias for {key} in the admin, "
            "or use a UN/CEFACT Recommendation 20 code such as EA, KGM or XBX."
        )

    if other_contexts:
        meanings = ", ".join(f"{other} means {other_unit.code}" for other, other_unit in sorted(other_contexts.items()))
        message += f" In other contexts {key} has aliases: {meanings}."
    return UnknownUnit(message, raw=raw, context=context, suggested_code=suggested)
