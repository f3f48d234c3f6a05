"""Field ownership in imports: a sender's values for fields it does not own are kept out and reported.

The owners come from ``apps.integrations.ownership``. For a stored row, each field the sender does
not own keeps its stored value, the row's other fields still apply, and a value that differs from
the stored one becomes a ``Conflict``: a notice in the job's report and an integration-conflict case
that shows both values. A new row may only come from the system that owns the model's rows, because
a row created without its owner's fields would hold made-up values.
"""

import hashlib
import logging
from dataclasses import dataclass, replace
from typing import Any

from apps.catalog.imports.kinds import KindSpec, Problems
from apps.contracts.models import Contract, ContractPrice, Customer
from apps.exceptions.models import CaseKind
from apps.exceptions.services import case_open
from apps.integrations.ownership import System, owner_of, row_owner

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Conflict:
    """One field of one row that the sender offered but does not own, with the stored value it left alone."""

    line: int
    model_pk: int
    key: str
    field: str
    owner: System
    stored: Any
    offered: Any


def foreign_fields(spec: KindSpec, sender: System) -> dict[str, System]:
    """Return the record fields of a kind that ``sender`` does not own, mapped to their owners."""
    label = spec.model._meta.label
    names = [*spec.compared_fields, *([spec.stamp_field] if spec.stamp_field else [])]
    owners = {name: owner_of(label, _field_name(spec, name)) for name in names}
    return {name: owner for name, owner in owners.items() if owner != sender}


def keep_owned_values(
    spec: KindSpec,
    sender: System,
    foreign: dict[str, System],
    valid: list[tuple[Any, dict[str, Any]]],
    stored: dict[tuple, dict[str, Any]],
) -> tuple[dict[int, Problems], list[Conflict]]:
    """Put the stored value back into every foreign field of the records; return rejected rows and conflicts.

    ``stored`` maps each key tuple to the stored row's values by field name (with ``pk``). A record
    of a new row is kept whole when the sender owns the model's rows, because no stored value
    exists to protect, and is rejected otherwise. The records are changed in place.
    """
    creator = row_owner(spec.model._meta.label)
    rejected: dict[int, Problems] = {}
    conflicts: list[Conflict] = []
    for index, (row, record) in enumerate(valid):
        key = tuple(record[name] for name in spec.key_fields)
        old = stored.get(key)
        shown = "/".join(str(part) for part in key)
        if old is None:
            if sender != creator:
                message = (
                    f"{spec.model._meta.verbose_name.capitalize()} {shown} does not exist, and only "
                    f"{creator.label} creates it; {sender.label} may only update fields it owns"
                )
                rejected[index] = [(spec.columns[0], shown, message)]
                continue
            continue
        for name, owner in foreign.items():
            if name not in record:
                continue
            offered = record[name]
            record[name] = old[name]
            if offered != old[name] and name != spec.stamp_field:
                conflicts.append(Conflict(row.line, old["pk"], shown, name, owner, old[name], offered))
    return rejected, conflicts


def in_file_terms(spec: KindSpec, conflicts: list[Conflict]) -> list[Conflict]:
    """Return the conflicts with each field named as the file's column and each reference shown as the file has it.

    A category id becomes its code and a customer id its account number, read in one query per
    related model, so that the report and the case show the values the sender wrote.
    """
    if not conflicts or not spec.file_columns:
        return conflicts
    related_fields = {model_field.attname: model_field for model_field in spec.model._meta.concrete_fields}
    file_values: dict[str, dict[Any, Any]] = {}
    for name, (_, attribute) in spec.file_columns.items():
        ids = {value for c in conflicts if c.field == name for value in (c.stored, c.offered) if value is not None}
        if attribute is None or not ids:
            continue
        related = related_fields[name].related_model._base_manager
        file_values[name] = dict(related.filter(pk__in=ids).values_list("pk", attribute))
    result = []
    for conflict in conflicts:
        if conflict.field not in spec.file_columns:
            result.append(conflict)
            continue
        column, _ = spec.file_columns[conflict.field]
        values = file_values.get(conflict.field, {})
        result.append(
            replace(
                conflict,
                field=column,
                stored=values.get(conflict.stored, conflict.stored),
                offered=values.get(conflict.offered, conflict.offered),
            )
        )
    return result


def report_message(conflict: Conflict, sender: System) -> str:
    return (
        f"{conflict.field} is owned by {conflict.owner.label}, so {sender.label}'s value {_text(conflict.offered)} "
        f"was not applied and the stored value {_text(conflict.stored)} was kept; an integration-conflict case "
        "shows both"
    )


def open_conflict_cases(*, spec: KindSpec, sender: System, job_id: int, conflicts: list[Conflict], actor) -> None:
    """Open (or find) an integration-conflict case per conflicting field, in the caller's transaction.

    A case is keyed by the field, the sender and the offered value, so a replayed message finds the
    case it opened before and a different offered value opens its own case.
    """
    model = spec.model
    customers = _customers_of(spec, conflicts)
    for conflict in conflicts:
        digest = hashlib.sha256(_text(conflict.offered).encode()).hexdigest()[:16]
        field_name = _field_name(spec, conflict.field)
        case = case_open(
            kind=CaseKind.INTEGRATION_CONFLICT,
            concerning=model(pk=conflict.model_pk),
            customer=customers.get(conflict.model_pk),
            facts={
                "field": field_name,
                "owner": conflict.owner.label,
                "sender": sender.label,
                "stored_value": _text(conflict.stored),
                "offered_value": _text(conflict.offered),
                "import_job": job_id,
                "line": conflict.line,
            },
            summary=(
                f"{sender.label.capitalize()} sent {field_name} of {model._meta.verbose_name} {conflict.key}, "
                f"which {conflict.owner.label} owns; the stored value was kept"
            )[:300],
            cause_key=f"ownership:{sender}:{field_name}:{digest}",
            reference=conflict.key[:64],
            sku=conflict.key[:64] if model._meta.label == "catalog.Product" else "",
            actor=actor,
        )
        logger.info(
            "Ownership conflict",
            extra={"case_id": case.pk, "job_id": job_id, "field": field_name, "sender": str(sender)},
        )


def _field_name(spec: KindSpec, name: str) -> str:
    """Return the model field name of a record field (``unit`` for ``unit_id``)."""
    for model_field in spec.model._meta.concrete_fields:
        if model_field.attname == name:
            return model_field.name
    return name


def _customers_of(spec: KindSpec, conflicts: list[Conflict]) -> dict[int, Any]:
    """Return the customer each conflicting row belongs to, for routing the case; other kinds have none."""
    ids = {conflict.model_pk for conflict in conflicts}
    label = spec.model._meta.label
    if label == "contracts.Customer":
        return Customer.objects.in_bulk(ids)
    if label == "contracts.Contract":
        return {row.pk: row.customer for row in Contract.objects.filter(pk__in=ids).select_related("customer")}
    if label == "contracts.ContractPrice":
        rows = ContractPrice.objects.filter(pk__in=ids).select_related("contract__customer")
        return {row.pk: row.contract.customer for row in rows}
    return {}


def _text(value: Any) -> str:
    if value is None:
        return "empty"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return f"{value}"
