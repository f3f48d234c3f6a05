"""Expected errors of the exceptions app, each with a stable ``code`` for API clients and logs."""


class ExceptionsError(Exception):
    """Base of the exceptions app's errors; ``message`` is written for people, ``code`` for programs."""

    code = "exceptions_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidCaseInput(ExceptionsError):
    """A case was opened with a value the model cannot store: an unknown kind or severity, facts not a dict."""

    code = "invalid_case_input"


class CaseActionNotPermitted(ExceptionsError):
    """The actor lacks the permission for the action, or is not in the case's team."""

    code = "case_action_not_permitted"


class CaseStateConflict(ExceptionsError):
    """The case's state does not allow the action, or another user changed it first."""

    code = "case_state_conflict"


class AssigneeNotInTeam(ExceptionsError):
    """A case can only be assigned to an active member of its team."""

    code = "assignee_not_in_team"


class UnknownResolutionAction(ExceptionsError):
    """No resolution action of that name is registered for the case's kind."""

    code = "unknown_resolution_action"


class ResolutionFailed(ExceptionsError):
    """A registered resolution action raised an expected error; the case stays as it was."""

    code = "resolution_failed"


class DismissReasonMissing(ExceptionsError):
    """A case is dismissed only with a reason, which the history keeps."""

    code = "dismiss_reason_missing"
