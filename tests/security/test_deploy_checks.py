"""The deploy checks fail when a setting that a defence relies on is missing or weakened."""

import datetime as dt

import pytest
from csp.constants import NONE, SELF
from django.core.checks import run_checks

from apps.core import checks, xml


def _deploy_error_ids() -> list[str]:
    messages = run_checks(include_deployment_checks=True)
    return sorted({message.id for message in messages if message.id.startswith("core.")})


@pytest.fixture
def production(settings):
    # What the deployment guide sets; every test below weakens one thing.
    settings.DEBUG = False
    settings.TRUSTED_PROXY_COUNT = 1
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/0"}
    }
    return settings


def test_production_settings_pass(production):
    assert _deploy_error_ids() == []


def test_checks_run_only_with_deploy(production):
    production.TRUSTED_PROXY_COUNT = None
    assert [message.id for message in run_checks() if message.id.startswith("core.")] == []


@pytest.mark.parametrize(
    "permissions",
    [
        [],
        ["rest_framework.permissions.AllowAny"],
        ["rest_framework.permissions.IsAuthenticated", "rest_framework.permissions.AllowAny"],
    ],
)
def test_api_default_permission_must_deny(production, permissions):
    production.REST_FRAMEWORK = {**production.REST_FRAMEWORK, "DEFAULT_PERMISSION_CLASSES": permissions}
    assert _deploy_error_ids() == ["core.E001"]


def test_api_default_permission_missing(production):
    production.REST_FRAMEWORK = {
        key: value for key, value in production.REST_FRAMEWORK.items() if key != "DEFAULT_PERMISSION_CLASSES"
    }
    assert _deploy_error_ids() == ["core.E001"]


def test_proxy_count_required_in_production(production):
    production.TRUSTED_PROXY_COUNT = None
    assert _deploy_error_ids() == ["core.E002"]


@pytest.mark.parametrize("backend", checks.PROCESS_LOCAL_CACHES)
def test_cache_local_to_process_rejected(production, backend):
    production.CACHES = {"default": {"BACKEND": backend}}
    assert _deploy_error_ids() == ["core.E007"]


def test_proxy_count_zero_is_accepted(production):
    production.TRUSTED_PROXY_COUNT = 0
    assert _deploy_error_ids() == []


def test_proxy_count_not_required_in_debug(production):
    production.DEBUG = True
    production.TRUSTED_PROXY_COUNT = None
    assert "core.E002" not in _deploy_error_ids()


@pytest.mark.parametrize(
    ("option", "weak_value"),
    [("resolve_entities", True), ("no_network", False), ("load_dtd", True), ("huge_tree", True)],
)
def test_xml_parser_options_must_stay_hardened(production, monkeypatch, option, weak_value):
    monkeypatch.setitem(xml._PARSER_OPTIONS, option, weak_value)
    errors = checks.check_xml_parser_hardened(None)
    assert [error.id for error in errors] == ["core.E003"]
    assert option in errors[0].msg


def test_old_lxml_is_rejected(production, monkeypatch):
    monkeypatch.setattr(checks.etree, "LXML_VERSION", (5, 4, 0, 0))
    assert [error.id for error in checks.check_xml_parser_hardened(None)] == ["core.E003"]


@pytest.mark.parametrize(
    "weaken",
    [
        lambda s: setattr(s, "MIDDLEWARE", [m for m in s.MIDDLEWARE if m != "axes.middleware.AxesMiddleware"]),
        lambda s: setattr(s, "AUTHENTICATION_BACKENDS", ["django.contrib.auth.backends.ModelBackend"]),
        lambda s: setattr(s, "AXES_LOCKOUT_PARAMETERS", ["ip_address"]),
        lambda s: setattr(s, "AXES_LOCKOUT_PARAMETERS", ["username", "ip_address"]),
        lambda s: setattr(s, "AXES_COOLOFF_TIME", None),
        lambda s: setattr(s, "AXES_CLIENT_IP_CALLABLE", None),
        lambda s: setattr(s, "AXES_ENABLED", False),
    ],
    ids=["middleware", "backend", "address-only", "either-one", "no-cool-off", "ip-reader", "disabled"],
)
def test_staff_lockout_must_stay_configured(production, weaken):
    weaken(production)
    assert [error.id for error in checks.check_staff_login_lockout(None)] == ["core.E004"]


def test_staff_lockout_needs_axes_app(production, monkeypatch):
    # Set without the setting_changed signal: the settings fixture would reload the app registry.
    from django.conf import settings as live_settings

    monkeypatch.setattr(live_settings, "INSTALLED_APPS", [app for app in live_settings.INSTALLED_APPS if app != "axes"])
    assert [error.id for error in checks.check_staff_login_lockout(None)] == ["core.E004"]


def test_staff_lockout_accepts_cool_off_timedelta(production):
    production.AXES_COOLOFF_TIME = dt.timedelta(minutes=1)
    assert checks.check_staff_login_lockout(None) == []


def test_csp_middleware_required(production):
    production.MIDDLEWARE = [m for m in production.MIDDLEWARE if m != "csp.middleware.CSPMiddleware"]
    assert _deploy_error_ids() == ["core.E005"]


@pytest.mark.parametrize(
    ("directive", "sources"),
    [
        ("frame-ancestors", [SELF]),
        ("frame-ancestors", []),
        ("script-src", [SELF, "'unsafe-inline'"]),
        ("script-src", [SELF, "'unsafe-eval'"]),
        ("style-src", ["*"]),
        ("default-src", []),
        ("object-src", []),
    ],
)
def test_csp_directives_must_stay_strict(production, directive, sources):
    policy = production.CONTENT_SECURITY_POLICY
    production.CONTENT_SECURITY_POLICY = {**policy, "DIRECTIVES": {**policy["DIRECTIVES"], directive: sources}}
    errors = checks.check_content_security_policy(None)
    assert [error.id for error in errors] == ["core.E005"]
    assert directive in errors[0].msg


def test_csp_default_stays_none_for_frames(production):
    assert production.CONTENT_SECURITY_POLICY["DIRECTIVES"]["frame-ancestors"] == [NONE]


@pytest.mark.parametrize("setting", ["SESSION_COOKIE_NAME", "CSRF_COOKIE_NAME"])
def test_cookie_names_need_host_prefix(production, setting):
    setattr(production, setting, "plain")
    errors = checks.check_cookie_prefixes(None)
    assert [error.id for error in errors] == ["core.E006"]
    assert setting in errors[0].msg
