"""Cursor pagination for the API's big lists: no COUNT(*), and pages that stay stable while rows are added."""

import copy
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import QuerySet
from rest_framework.exceptions import NotFound as DrfNotFound
from rest_framework.pagination import CursorPagination

from apps.api.errors import ApiError
from apps.core.prepared import placeholder_text, prepared


class InvalidCursor(ApiError):
    code = "invalid_cursor"


class ApiCursorPagination(CursorPagination):
    page_size = 100
    max_page_size = 500
    page_size_query_param = "page_size"
    cursor_query_description = "The cursor of the page to read: take the whole 'next' or 'previous' link."
    page_size_query_description = "Rows per page, from 1 to 500 (default 100)."

    def __init__(self, ordering: str | tuple[str, ...]) -> None:
        self.ordering = ordering

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except DrfNotFound:
            raise InvalidCursor(
                "The cursor is invalid; follow the 'next' link of the previous page as it is, or start without one."
            ) from None


class PreparedRows:
    """A ``values()`` queryset for ``ApiCursorPagination`` to page through, run as SQL prepared once per shape.

    DRF's cursor pagination calls ``order_by()`` with the ordering,
    ``filter()`` with one ``<field>__gt`` or ``__lt`` lookup on the cursor's
    position, and slices the result once. The ordering, the lookup and the
    slice go into the prepared query's key, and the position, always a string
    in DRF's cursors, is a placeholder. ``build(**values)`` returns the
    queryset for those values, and ``key`` names what else shapes its SQL.
    """

    def __init__(
        self,
        key: Hashable,
        build: Callable[..., QuerySet],
        *,
        placeholders: Mapping[str, Any],
        values: Mapping[str, Any],
        using: str = DEFAULT_DB_ALIAS,
    ) -> None:
        self.key = key
        self.build = build
        self.placeholders = placeholders
        self.values = values
        self.using = using
        self.ordering: tuple[str, ...] = ()
        self.position_lookup: str | None = None
        self.position: str | None = None

    def order_by(self, *fields: str) -> "PreparedRows":
        rows = copy.copy(self)
        rows.ordering = fields
        return rows

    def filter(self, **lookups: str) -> "PreparedRows":
        if len(lookups) != 1 or self.position_lookup is not None:
            raise TypeError(f"PreparedRows takes one position lookup, not {sorted(lookups)}.")
        rows = copy.copy(self)
        [(rows.position_lookup, rows.position)] = lookups.items()
        return rows

    def __getitem__(self, item: slice) -> list[dict]:
        if not isinstance(item, slice) or item.step is not None:
            raise TypeError(f"PreparedRows can only be sliced without a step, not with {item!r}.")
        start, stop = item.start or 0, item.stop
        placeholders = dict(self.placeholders)
        values = dict(self.values)
        if self.position_lookup is not None:
            placeholders[_POSITION] = _POSITION_PLACEHOLDER
            values[_POSITION] = self.position

        def build_page(**arguments) -> QuerySet:
            position = arguments.pop(_POSITION, None)
            queryset = self.build(**arguments).order_by(*self.ordering)
            if self.position_lookup is not None:
                queryset = queryset.filter(**{self.position_lookup: position})
            return queryset[start:stop]

        key = (self.key, self.ordering, self.position_lookup, start, stop)
        return prepared(key, build_page, placeholders, self.using).run(values)


_POSITION = "cursor_position"
_POSITION_PLACEHOLDER = placeholder_text("cursor position")
