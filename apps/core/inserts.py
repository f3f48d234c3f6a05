"""INSERT and UPDATE statements built once per model and shape, for hot paths that write a few rows.

Django's ``save``, ``create`` and ``bulk_create`` build and compile their
SQL on each call. For the one-line orders of ``bench/orders_intake.py`` that
took more CPU time than running the statements. ``insert_rows`` and
``update_row`` keep the SQL text per model and shape, and only prepare the
values, with the same ``pre_save`` and ``get_db_prep_save`` steps Django
uses. Like ``bulk_create`` and ``QuerySet.update``, they send no signals,
so django-simple-history writes no row: callers write their history
themselves (``apps.core.history``).

On other databases than PostgreSQL, and for more than ``MAX_PLAIN_ROWS``
rows, they call ``bulk_create`` and ``save(update_fields=…)``.
"""

from functools import lru_cache

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model

# Up to this many rows one INSERT with plain parameters is used; more go through bulk_create.
MAX_PLAIN_ROWS = 20


def insert_rows(objects: list[Model], using: str = DEFAULT_DB_ALIAS) -> None:
    """Insert new instances of one model in one statement and set their primary keys, as ``bulk_create`` does.

    Foreign keys assigned as unsaved instances that were saved since are
    taken over, and ``auto_now`` fields are set. A value that is an
    expression (``F()``, a database default) makes it use ``bulk_create``.
    """
    if not objects:
        return
    model = type(objects[0])
    connection = connections[using]
    if connection.vendor != "postgresql" or len(objects) > MAX_PLAIN_ROWS or model._meta.parents:
        model.objects.using(using).bulk_create(objects)
        return

    fields = _insert_fields(model)
    params = []
    for instance in objects:
        if type(instance) is not model or instance.pk is not None:
            raise ValueError(f"insert_rows takes new {model.__name__} instances without a primary key.")
        instance._prepare_related_fields_for_save(operation_name="insert_rows")
        for field in fields:
            value = field.pre_save(instance, add=True)
            if hasattr(value, "resolve_expression"):
                model.objects.using(using).bulk_create(objects)
                return
            params.append(field.get_db_prep_save(value, connection))

    with connection.cursor() as cursor:
        cursor.execute(_insert_statement(model, len(objects), using), params)
        ids = [row[0] for row in cursor.fetchall()]
    for instance, pk in zip(objects, ids, strict=True):
        instance.pk = pk
        instance._state.adding = False
        instance._state.db = using


def update_row(instance: Model, field_names: tuple[str, ...], using: str = DEFAULT_DB_ALIAS) -> None:
    """Write these fields of a saved instance, as ``save(update_fields=…)`` does, without its signals.

    An ``auto_now`` field among them is set to now. Raises ValueError when no row has the instance's primary key.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        instance.save(using=using, update_fields=field_names)
        return
    model = type(instance)
    fields = [model._meta.get_field(name) for name in field_names]
    params = [field.get_db_prep_save(field.pre_save(instance, add=False), connection) for field in fields]
    params.append(model._meta.pk.get_db_prep_save(instance.pk, connection))
    with connection.cursor() as cursor:
        cursor.execute(_update_statement(model, field_names, using), params)
        if cursor.rowcount != 1:
            raise ValueError(f"No {model.__name__} row has the primary key {instance.pk!r}.")


@lru_cache(maxsize=64)
def _insert_fields(model) -> list:
    pk = model._meta.pk
    return [field for field in model._meta.concrete_fields if field is not pk and not field.generated]


@lru_cache(maxsize=4 * MAX_PLAIN_ROWS)
def _insert_statement(model, row_count: int, using: str) -> str:
    quote = connections[using].ops.quote_name
    fields = _insert_fields(model)
    values = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "  # noqa: S608 - names from _meta
        f"VALUES {', '.join([values] * row_count)} RETURNING {quote(model._meta.pk.column)}"
    )


@lru_cache(maxsize=64)
def _update_statement(model, field_names: tuple[str, ...], using: str) -> str:
    quote = connections[using].ops.quote_name
    columns = ", ".join(f"{quote(model._meta.get_field(name).column)} = %s" for name in field_names)
    return f"UPDATE {quote(model._meta.db_table)} SET {columns} WHERE {quote(model._meta.pk.column)} = %s"  # noqa: S608 - names from _meta
