"""Expected errors of the catalog app, each with a stable ``code`` for API clients and logs."""


class CatalogError(Exception):
    """Base of the catalog app's errors; ``message`` is written for people, ``code`` for programs."""

    code = "catalog_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownUnit(CatalogError):
    """A unit of measure spelling that is neither an alias in the given context nor a usable UN/CEFACT code.

    ``raw`` is the value as received, ``context`` the alias context it was looked up in, and
    ``suggested_code`` the in-force code to use instead when one is known (``XBX`` for the deleted ``BX``).
    """

    code = "unknown_unit"

    def __init__(self, message: str, *, raw: str, context: str, suggested_code: str = "") -> None:
        super().__init__(message)
        self.raw = raw
        self.context = context
        self.suggested_code = suggested_code
