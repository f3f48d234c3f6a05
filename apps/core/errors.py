"""The base class of the expected errors that every app raises and every entry point reports."""


class DomainError(Exception):
    """An expected failure with a stable machine-readable ``code`` and a ``message`` written for people.

    Subclasses set ``code`` as a class attribute. An instance may pass ``code=`` to report a more
    specific code from the same family (for example ``XMLRejected(..., code="too_deep")``).
    """

    code: str = "domain_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message
