"""Querysets compiled to SQL once per connection and run again with other parameter values.

Django builds and compiles a queryset's SQL each time it is evaluated. For
the partner API's product page that cost more CPU time than running the
query (docs/benchmarks.md). A ``PreparedQuery`` compiles a ``values()`` or
``values_list()`` queryset once, built with placeholder values, notes which
parameters are placeholders, and later runs the same SQL with other values
in their places, applying the same converters to the rows as Django would.

This is only correct when the SQL's text does not depend on the values.
So each value must have exactly the type of its placeholder, because a
``None`` could turn ``=`` into ``IS NULL``. A placeholder may not be
rewritten by a lookup either: one found inside another parameter (as
``icontains`` wraps its value in ``%``) raises ``ImproperlyConfigured``.
Callers key their prepared queries on everything else that shapes the SQL.
"""

from collections.abc import Callable, Hashable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import ValuesIterable, ValuesListIterable

# Prepared queries live on the connection object, so that each thread's
# connection has its own and converters get the connection they belong to.
_CACHE_ATTRIBUTE = "_prepared_queries"
# Bound on the prepared queries kept per connection. Keys combine few shapes,
# so this is only reached when a caller puts values into its keys by mistake.
MAX_PREPARED_PER_CONNECTION = 256


class PreparedQuery:
    """The SQL of one ``values()`` or ``values_list()`` queryset, with the positions of its placeholders."""

    def __init__(self, queryset: QuerySet, placeholders: Mapping[str, Any]) -> None:
        iterable = queryset._iterable_class
        if iterable is not ValuesIterable and iterable is not ValuesListIterable:
            raise ImproperlyConfigured(
                f"Only values() and values_list() querysets can be prepared, not {iterable.__name__} ones."
            )
        query = queryset.query
        self.using = queryset.db
        compiler = query.get_compiler(self.using)
        self.sql, params = compiler.as_sql()
        self.placeholder_types = {name: type(value) for name, value in placeholders.items()}

        if iterable is ValuesIterable:
            names = (
                list(query.selected)
                if query.selected
                else [
                    *query.extra_select,
                    *query.values_select,
                    *query.annotation_select,
                ]
            )
            self.names: list[str] | None = names
        else:
            self.names = None
        fields = [column[0] for column in compiler.select[0 : compiler.col_count]]
        if compiler.has_composite_fields(fields):
            raise ImproperlyConfigured("Querysets that select composite primary keys cannot be prepared.")
        # Position in the row: (converters, expression), as Django's compiler applies them.
        self.converters = compiler.get_converters(fields)

        self.parameters: list[tuple[str | None, Any]] = [_parameter_slot(param, placeholders) for param in params]
        missing = set(placeholders) - {name for name, _ in self.parameters if name is not None}
        if missing:
            raise ImproperlyConfigured(
                f"Placeholders {sorted(missing)} are not parameters of the compiled SQL; "
                "prepare only values that the queryset passes to the database unchanged."
            )

    def run(self, values: Mapping[str, Any]) -> list:
        """Run the SQL with ``values`` in the placeholders' places; return dicts or tuples as the queryset would."""
        for name, expected_type in self.placeholder_types.items():
            if type(values[name]) is not expected_type:
                raise TypeError(
                    f"Value {values[name]!r} for placeholder {name!r} is not a {expected_type.__name__}; "
                    "prepare another query for values of another type."
                )
        params = [values[name] if name is not None else constant for name, constant in self.parameters]
        connection = connections[self.using]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        if self.converters:
            rows = [self._convert(row, connection) for row in rows]
        if self.names is None:
            return [tuple(row) for row in rows]
        names = self.names
        return [dict(zip(names, row, strict=True)) for row in rows]

    def _convert(self, row, connection) -> list:
        row = list(row)
        for position, (converters, expression) in self.converters.items():
            value = row[position]
            for converter in converters:
                value = converter(value, expression, connection)
            row[position] = value
        return row


def prepared(
    key: Hashable, build: Callable[[], QuerySet], placeholders: Mapping[str, Any], using: str
) -> PreparedQuery:
    """Return the prepared query cached under ``key`` on the connection, preparing ``build()`` on the first call.

    ``build`` returns the queryset with the ``placeholders`` values in it, and
    ``key`` names everything that shapes its SQL apart from those values.
    """
    connection = connections[using]
    cache = connection.__dict__.get(_CACHE_ATTRIBUTE)
    if cache is None:
        cache = connection.__dict__[_CACHE_ATTRIBUTE] = {}
    query = cache.get(key)
    if query is None:
        if len(cache) >= MAX_PREPARED_PER_CONNECTION:
            cache.clear()
        query = cache[key] = PreparedQuery(build(), placeholders)
    return query


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
