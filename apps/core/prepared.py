"""Querysets compiled to SQL once per connection and run again with other parameter values.

Django builds and compiles a queryset's SQL each time it is evaluated. For
the partner API's product page that cost more CPU time than running the
queries (docs/benchmarks.md). ``prepared()`` compiles a queryset once,
built with placeholder values, notes which parameters are placeholders,
and later runs the same SQL with other values in their places. The rows
get the same converters, and become the same model instances, dicts or
tuples, as the queryset would return.

This is only correct when the SQL's text does not depend on the values.
So each value must have exactly the type of its placeholder, because a
``None`` could turn ``=`` into ``IS NULL``. A placeholder may not be
rewritten by a lookup either: one found inside another parameter (as
``icontains`` wraps its value in ``%``) raises ``ImproperlyConfigured``.
Callers key their prepared queries on everything else that shapes the SQL.

Queries are prepared on PostgreSQL only. Other databases, such as the
SQLite of the default test settings, adapt dates and decimals to text
before they reach the parameters, so there ``prepared()`` builds and runs
the queryset with the values on each call.
"""

import datetime as dt
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.models.query import ModelIterable, ValuesIterable, ValuesListIterable, get_related_populators
from django.db.transaction import TransactionManagementError

# Prepared queries live on the connection object, so that each thread's
# connection has its own and converters get the connection they belong to.
_CACHE_ATTRIBUTE = "_prepared_queries"
# Maximum list length that ``run_for_list`` prepares a query for; longer lists build the queryset on each call.
MAX_PREPARED_LIST = 20
# Bound on the prepared queries kept per connection. Keys combine few shapes,
# so this is only reached when a caller puts values into its keys by mistake.
MAX_PREPARED_PER_CONNECTION = 256

QueryBuilder = Callable[..., QuerySet]

# Placeholder values that no row has. A query is compiled with them and never run with them.
PLACEHOLDER_ID = -7_301_915_559
PLACEHOLDER_DATE = dt.date(1, 2, 3)


def placeholder_text(name: str) -> str:
    """Return a placeholder string that no column contains, marked with control characters around ``name``."""
    return f"\x1f{name}\x1f"


class PreparedQuery:
    """The SQL of one queryset of instances, ``values()`` or ``values_list()``, with its placeholders' positions."""

    def __init__(self, queryset: QuerySet, placeholders: Mapping[str, Any]) -> None:
        iterable = queryset._iterable_class
        if iterable not in (ModelIterable, ValuesIterable, ValuesListIterable):
            raise ImproperlyConfigured(f"Querysets of {iterable.__name__} cannot be prepared.")
        if queryset._known_related_objects or queryset._prefetch_related_lookups:
            raise ImproperlyConfigured("Querysets of a related manager or with prefetch_related cannot be prepared.")
        query = queryset.query
        self.using = queryset.db
        compiler = query.get_compiler(self.using)
        self.sql, params = compiler.as_sql()
        self.locks_rows = query.select_for_update
        self.placeholder_types = {name: type(value) for name, value in placeholders.items()}

        fields = [column[0] for column in compiler.select[0 : compiler.col_count]]
        if compiler.has_composite_fields(fields):
            raise ImproperlyConfigured("Querysets that select composite primary keys cannot be prepared.")
        # Position in the row: (converters, expression), as Django's compiler applies them.
        self.converters = compiler.get_converters(fields)
        self.iterable = iterable
        if iterable is ModelIterable:
            self._prepare_instances(compiler)
        elif iterable is ValuesIterable:
            self.names = list(query.selected or [*query.extra_select, *query.values_select, *query.annotation_select])

        self.parameters: list[tuple[str | None, Any]] = [_parameter_slot(param, placeholders) for param in params]
        missing = set(placeholders) - {name for name, _ in self.parameters if name is not None}
        if missing:
            raise ImproperlyConfigured(
                f"Placeholders {sorted(missing)} are not parameters of the compiled SQL; "
                "prepare only values that the queryset passes to the database unchanged."
            )

    def run(self, values: Mapping[str, Any]) -> list:
        """Run the SQL with ``values`` in the placeholders' places; return what the queryset would, as a list."""
        for name, expected_type in self.placeholder_types.items():
            if type(values[name]) is not expected_type:
                raise TypeError(
                    f"Value {values[name]!r} for placeholder {name!r} is not a {expected_type.__name__}; "
                    "prepare another query for values of another type."
                )
        params = [values[name] if name is not None else constant for name, constant in self.parameters]
        connection = connections[self.using]
        if self.locks_rows and connection.get_autocommit():
            # Django raises this when it compiles a select_for_update() queryset, but this SQL is compiled once.
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        with _server_binding_cursor(connection) as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        if self.converters:
            rows = [self._convert(row, connection) for row in rows]
        if self.iterable is ModelIterable:
            return [self._instance(row) for row in rows]
        if self.iterable is ValuesIterable:
            names = self.names
            return [dict(zip(names, row, strict=True)) for row in rows]
        return [tuple(row) for row in rows]

    def _prepare_instances(self, compiler) -> None:
        # The same steps as Django's ModelIterable, done once.
        klass_info = compiler.klass_info
        select_fields = klass_info["select_fields"]
        self.model = klass_info["model"]
        self.model_columns = slice(select_fields[0], select_fields[-1] + 1)
        self.init_list = [column[0].target.attname for column in compiler.select[self.model_columns]]
        self.related_populators = get_related_populators(klass_info, compiler.select, self.using)
        self.annotation_columns = dict(compiler.annotation_col_map or {})

    def _instance(self, row):
        instance = self.model.from_db(self.using, self.init_list, row[self.model_columns])
        for populator in self.related_populators:
            populator.populate(row, instance)
        for name, position in self.annotation_columns.items():
            setattr(instance, name, row[position])
        return instance

    def _convert(self, row, connection) -> list:
        row = list(row)
        for position, (converters, expression) in self.converters.items():
            value = row[position]
            for converter in converters:
                value = converter(value, expression, connection)
            row[position] = value
        return row


class _QuerySetRunner:
    """The stand-in for PreparedQuery on databases where queries are not prepared: it builds the queryset per call."""

    def __init__(self, build: QueryBuilder) -> None:
        self.build = build

    def run(self, values: Mapping[str, Any]) -> list:
        return list(self.build(**values))


def prepared(
    key: Hashable, build: QueryBuilder, placeholders: Mapping[str, Any], using: str = DEFAULT_DB_ALIAS
) -> PreparedQuery | _QuerySetRunner:
    """Return the query cached under ``key`` on the connection, preparing ``build(**placeholders)`` on first use.

    ``build`` returns the queryset for keyword values, and ``key`` names
    everything that shapes its SQL apart from those values. Call ``run()``
    with the values on the result.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return _QuerySetRunner(build)
    cache = connection.__dict__.get(_CACHE_ATTRIBUTE)
    if cache is None:
        cache = connection.__dict__[_CACHE_ATTRIBUTE] = {}
    query = cache.get(key)
    if query is None:
        if len(cache) >= MAX_PREPARED_PER_CONNECTION:
            cache.clear()
        query = cache[key] = PreparedQuery(build(**placeholders), placeholders)
    return query


def run_for_list(
    key: Hashable,
    build: Callable[[list], QuerySet],
    items: list,
    placeholder: Callable[[int], Any],
    using: str = DEFAULT_DB_ALIAS,
) -> list:
    """Run ``build(items)``, whose SQL has one parameter per item (as ``__in`` has), prepared per list length.

    ``placeholder(index)`` returns a distinct placeholder value of the items'
    type for each position, such as ``PLACEHOLDER_ID + index``. The items
    must be distinct, because ``__in`` drops repeated values, and of the
    placeholders' type. Lists longer than ``MAX_PREPARED_LIST`` are built
    and run as a queryset on each call, and an empty list returns no rows
    without a query, as an empty ``__in`` does.
    """
    if not items:
        return []
    if len(items) > MAX_PREPARED_LIST:
        return list(build(items))
    names = [f"item{index}" for index in range(len(items))]

    def build_named(**values) -> QuerySet:
        return build([values[name] for name in names])

    placeholders = {name: placeholder(index) for index, name in enumerate(names)}
    query = prepared((key, len(items)), build_named, placeholders, using)
    return query.run(dict(zip(names, items, strict=True)))


def _parameter_slot(param: Any, placeholders: Mapping[str, Any]) -> tuple[str | None, Any]:
    """Return (placeholder name, None) when ``param`` is a placeholder's value, else (None, param)."""
    for name, value in placeholders.items():
        if type(param) is type(value) and param == value:
            return name, None
        if isinstance(param, str) and isinstance(value, str) and value in param:
            raise ImproperlyConfigured(
                f"Placeholder {name!r} is rewritten into the parameter {param!r} by a lookup; "
                "build that part of the query per request instead of preparing it."
            )
    return None, param


def _server_binding_cursor(connection):
    """Open a cursor that sends its parameters apart from the SQL, so that PostgreSQL can reuse a plan.

    Django's psycopg cursors put the values into the SQL text on the client, so PostgreSQL parses and
    plans every run again. A prepared query runs the same SQL with other values. With server-side
    binding, psycopg prepares it on the server once it has run ``prepare_threshold`` times on a
    connection (DATABASE_PREPARE_THRESHOLD), and later runs skip parsing and planning. The cursor goes through
    Django's wrapper, so execute wrappers and error translation stay as they are. While queries are
    logged (DEBUG, or a test that captures them) it is Django's usual cursor instead, because Django
    logs no SQL text for a run of a prepared statement.
    """
    if connection.vendor != "postgresql" or connection.queries_logged:
        return connection.cursor()
    from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, ServerBindingCursor
    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg.pq import Format

    connection.ensure_connection()
    raw = ServerBindingCursor(connection.connection)
    # As Django's create_cursor does: a time zone that differs from the connection's gets its own loader.
    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    if connection.timezone != loader.timezone:
        register_tzloader(connection.timezone, raw)
    return connection.make_cursor(raw)
