"""Writers of one classified batch: the PostgreSQL COPY-and-upsert path and the ORM path for other databases.

Both write only the rows the batch classified as new or changed, both leave one simple-history row
per written row (``+`` for created, ``~`` for updated, with the actor and "import job N" as the
reason), and both must run inside the batch's transaction. The ORM path also applies held changes.
"""

import datetime as dt
from typing import Any

from django.db import connection

from apps.catalog.imports.kinds import KindSpec

HISTORY_OWN_COLUMNS = ("history_id", "history_date", "history_change_reason", "history_type", "history_user_id")


def write_postgresql(
    spec: KindSpec,
    rows: list[dict[str, Any]],
    *,
    now: dt.datetime,
    actor_id: int | None,
    reason: str,
) -> tuple[int, int]:
    """Upsert ``rows`` (complete records) through a staging table; return (created, updated).

    The upsert's own guard skips a row whose stored values already equal it, or whose stored change
    time is newer, so a row another import wrote since the batch was classified is left alone and
    not counted.
    """
    if not rows:
        return 0, 0
    model = spec.model
    table = model._meta.db_table
    quote = connection.ops.quote_name
    data_fields = _data_fields(spec)
    columns = [model._meta.get_field(name).column for name in data_fields]
    column_list = ", ".join(quote(column) for column in columns)

    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE catalog_import_stage ON COMMIT DROP AS "  # noqa: S608 - names come from model meta.
            f"SELECT {column_list} FROM {quote(table)} WITH NO DATA"
        )
        with cursor.copy(f"COPY catalog_import_stage ({column_list}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[name] for name in data_fields])

        created = updated = 0
        for target, stage_filter in spec.conflict_targets:
            sql, params = _upsert_sql(spec, columns, target, stage_filter, now=now, actor_id=actor_id, reason=reason)
            cursor.execute(sql, params)
            batch_created, batch_updated = cursor.fetchone()
            created += batch_created
            updated += batch_updated
        cursor.execute("DROP TABLE catalog_import_stage")
    return created, updated


def write_orm(
    spec: KindSpec,
    creates: list[dict[str, Any]],
    updates: list[tuple[int, dict[str, Any]]],
    *,
    now: dt.datetime,
    actor_id: int | None,
    reason: str,
) -> tuple[int, int]:
    """Create and update rows with the ORM's bulk methods and write their history rows; return (created, updated).

    ``updates`` pairs each stored row's primary key with its complete new values.
    """
    model = spec.model
    changed_fields = [*spec.compared_fields, *([spec.stamp_field] if spec.stamp_field else []), "updated_at"]

    new_objects = [model(**values) for values in creates]
    for instance in new_objects:
        instance.created_at = now
        instance.updated_at = now
    model.objects.bulk_create(new_objects, batch_size=500)

    updated_objects = []
    for pk, values in updates:
        instance = model(pk=pk, **{name: values[name] for name in changed_fields if name in values})
        instance.updated_at = now
        updated_objects.append(instance)
    if updated_objects:
        model.objects.bulk_update(updated_objects, fields=changed_fields, batch_size=500)

    created_ids = [instance.pk for instance in new_objects]
    updated_ids = [pk for pk, _ in updates]
    _write_history_orm(spec, created_ids, "+", now=now, actor_id=actor_id, reason=reason)
    _write_history_orm(spec, updated_ids, "~", now=now, actor_id=actor_id, reason=reason)
    return len(created_ids), len(updated_ids)


def _data_fields(spec: KindSpec) -> list[str]:
    names = [*spec.key_fields]
    names += [name for name in spec.compared_fields if name not in names]
    if spec.stamp_field:
        names.append(spec.stamp_field)
    return names


def _upsert_sql(
    spec: KindSpec,
    columns: list[str],
    target: str,
    stage_filter: str,
    *,
    now: dt.datetime,
    actor_id: int | None,
    reason: str,
) -> tuple[str, dict[str, Any]]:
    model = spec.model
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    history_table = quote(model.history.model._meta.db_table)
    key_columns = {model._meta.get_field(name).column for name in spec.key_fields}
    compared = [quote(model._meta.get_field(name).column) for name in spec.compared_fields]

    default_columns = [quote(model._meta.get_field(name).column) for name in spec.insert_defaults_sql]
    insert_columns = [*(quote(column) for column in columns), *default_columns, "created_at", "updated_at"]
    select_values = [f"s.{quote(column)}" for column in columns]
    select_values += [*spec.insert_defaults_sql.values(), "%(now)s", "%(now)s"]

    set_columns = [column for column in columns if column not in key_columns]
    assignments = [f"{quote(column)} = EXCLUDED.{quote(column)}" for column in set_columns]
    assignments.append("updated_at = EXCLUDED.updated_at")
    guard = f"({', '.join('t.' + name for name in compared)}) IS DISTINCT FROM "
    guard += f"({', '.join('EXCLUDED.' + name for name in compared)})"
    if spec.stamp_field:
        stamp = quote(model._meta.get_field(spec.stamp_field).column)
        guard += f" AND (t.{stamp} IS NULL OR t.{stamp} <= EXCLUDED.{stamp})"

    history_columns, history_values = _history_select(spec)
    sql = f"""
        WITH written AS (
            INSERT INTO {table} AS t ({", ".join(insert_columns)})
            SELECT {", ".join(select_values)} FROM catalog_import_stage s WHERE {stage_filter}
            ON CONFLICT {target} DO UPDATE SET {", ".join(assignments)}
            WHERE {guard}
            RETURNING t.*, (t.xmax = 0) AS inserted_now
        ), history AS (
            INSERT INTO {history_table} ({", ".join(history_columns)})
            SELECT {", ".join(history_values)} FROM written
        )
        SELECT count(*) FILTER (WHERE inserted_now), count(*) FILTER (WHERE NOT inserted_now) FROM written
    """  # noqa: S608 - every name comes from model meta and the values are parameters.
    return sql, {"now": now, "actor_id": actor_id, "reason": reason}


def _history_select(spec: KindSpec) -> tuple[list[str], list[str]]:
    """Return the historical table's columns and, for each, the value taken from the upsert's result."""
    quote = connection.ops.quote_name
    own_columns = {field.column for field in spec.model._meta.concrete_fields}
    columns, values = [], []
    for history_field in spec.model.history.model._meta.concrete_fields:
        column = history_field.column
        if column == "history_id":
            continue
        columns.append(quote(column))
        if column == "history_date":
            values.append("%(now)s")
        elif column == "history_change_reason":
            values.append("%(reason)s")
        elif column == "history_type":
            values.append("CASE WHEN inserted_now THEN '+' ELSE '~' END")
        elif column == "history_user_id":
            values.append("%(actor_id)s")
        elif column in own_columns:
            values.append(quote(column))
        else:
            raise RuntimeError(f"Historical column {column} has no source; the bulk history writer needs updating.")
    return columns, values


def _write_history_orm(
    spec: KindSpec, ids: list[int], history_type: str, *, now: dt.datetime, actor_id: int | None, reason: str
) -> None:
    if not ids:
        return
    model = spec.model
    history_model = model.history.model
    attnames = [field.attname for field in model._meta.concrete_fields]
    records = []
    for instance in model.objects.filter(pk__in=ids).order_by("pk"):
        values = {name: getattr(instance, name) for name in attnames}
        records.append(
            history_model(
                **values,
                history_date=now,
                history_type=history_type,
                history_user_id=actor_id,
                history_change_reason=reason,
            )
        )
    history_model.objects.bulk_create(records, batch_size=500)
