"""Cursor pagination for the API's big lists: no COUNT(*), and pages that stay stable while rows are added."""

from rest_framework.exceptions import NotFound as DrfNotFound
from rest_framework.pagination import CursorPagination

from apps.api.errors import ApiError


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
