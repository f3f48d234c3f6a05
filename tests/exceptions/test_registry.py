import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.exceptions.errors import UnknownResolutionAction
from apps.exceptions.registry import get_resolution, register_resolution, resolutions_for


def test_builtin_acknowledge_for_integration_kinds():
    # then
    assert [action.name for action in resolutions_for("integration_failure")] == ["acknowledge"]
    assert [action.name for action in resolutions_for("integration_conflict")] == ["acknowledge"]
    # Acknowledging is for integration kinds only; the orders app registers credit actions of its own.
    assert "acknowledge" not in [action.name for action in resolutions_for("credit")]


def test_register_rejects_unknown_kind():
    # when
    with pytest.raises(ImproperlyConfigured) as error:
        register_resolution("weather", "wait", "Wait", describe=str, perform=print)

    # then
    assert str(error.value) == "Cannot register resolution 'wait': 'weather' is not a case kind."


def test_register_rejects_duplicate_name():
    # when
    with pytest.raises(ImproperlyConfigured) as error:
        register_resolution("integration_failure", "acknowledge", "Again", describe=str, perform=print)

    # then
    assert str(error.value) == "Resolution 'acknowledge' is already registered for 'integration_failure'."


def test_get_unknown_resolution_names_available_ones():
    # when
    with pytest.raises(UnknownResolutionAction) as error:
        get_resolution("integration_conflict", "retry")

    # then
    assert error.value.message == (
        "Resolution 'retry' is not registered for integration conflict cases; available: acknowledge."
    )
