"""Deploy checks for the settings the project's defences rely on; `manage.py check --deploy` runs them.

Each check names the setting, what is wrong with it and the value to use.
They run only with --deploy, because development settings (DEBUG, no proxy
count) are allowed to be weaker.
"""

from django.conf import settings
from django.core.checks import Error, Tags, register
from lxml import etree

# The lxml release from which external (parameter) entities stay unresolved
# in every parser path (lxml 6.1.3 changelog).
MIN_LXML_VERSION = (6, 1, 3)
# What apps.core.xml must pass to every XMLParser; any other value reopens XXE or entity expansion.
REQUIRED_XML_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
}
AXES_BACKENDS = ("axes.backends.AxesStandaloneBackend", "axes.backends.AxesBackend")
CLIENT_ADDRESS_CALLABLE = "apps.core.clients.staff_login_address"
ALLOW_ANY = "rest_framework.permissions.AllowAny"
# Cache backends that keep entries inside one process; the partner API's request counters need a shared cache.
PROCESS_LOCAL_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register(Tags.security, deploy=True)
def check_api_denies_by_default(app_configs, **kwargs) -> list[Error]:
    classes = list(getattr(settings, "REST_FRAMEWORK", {}).get("DEFAULT_PERMISSION_CLASSES") or [])
    if not classes:
        return [
            Error(
                "REST_FRAMEWORK['DEFAULT_PERMISSION_CLASSES'] is not set, so DRF lets anyone call a view "
                "that sets no permission of its own.",
                hint="Set it to ['rest_framework.permissions.IsAuthenticated'] or a stricter class.",
                id="core.E001",
            )
        ]
    if ALLOW_ANY in classes:
        return [
            Error(
                "REST_FRAMEWORK['DEFAULT_PERMISSION_CLASSES'] contains AllowAny, so API views are open by default.",
                hint="Remove AllowAny; put it on the few views that must be public instead.",
                id="core.E001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_proxy_count_set(app_configs, **kwargs) -> list[Error]:
    if settings.DEBUG or getattr(settings, "TRUSTED_PROXY_COUNT", None) is not None:
        return []
    return [
        Error(
            "TRUSTED_PROXY_COUNT is not set, so login lockouts cannot tell whether X-Forwarded-For is "
            "written by our proxies or by the client.",
            hint="Set the environment variable TRUSTED_PROXY_COUNT to the number of reverse proxies that "
            "append to X-Forwarded-For (0 when clients connect directly).",
            id="core.E002",
        )
    ]


@register(Tags.security, deploy=True)
def check_cache_shared(app_configs, **kwargs) -> list[Error]:
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if settings.DEBUG or backend not in PROCESS_LOCAL_CACHES:
        return []
    return [
        Error(
            f"The default cache is {backend}, so each web process counts partner API requests on its own "
            "and a partner gets its rate limit once per process.",
            hint="Set the environment variable CACHE_URL to a Redis URL that every web process shares.",
            id="core.E007",
        )
    ]


@register(Tags.security, deploy=True)
def check_xml_parser_hardened(app_configs, **kwargs) -> list[Error]:
    from apps.core import xml

    errors = []
    for option, required in REQUIRED_XML_OPTIONS.items():
        actual = xml._PARSER_OPTIONS.get(option)
        if actual is not required:
            errors.append(
                Error(
                    f"apps.core.xml parses with {option}={actual!r}; it must be {required!r}, or XML requests "
                    "can expand entities, load external files or exhaust memory.",
                    hint=f"Set {option}={required!r} in apps.core.xml._PARSER_OPTIONS.",
                    id="core.E003",
                )
            )
    if etree.LXML_VERSION[:3] < MIN_LXML_VERSION:
        errors.append(
            Error(
                f"lxml {etree.__version__} resolves external parameter entities in some parser paths.",
                hint="Install lxml 6.1.3 or newer (requirements/base.txt pins it).",
                id="core.E003",
            )
        )
    return errors


@register(Tags.security, deploy=True)
def check_staff_login_lockout(app_configs, **kwargs) -> list[Error]:
    errors = []
    if "axes" not in settings.INSTALLED_APPS:
        errors.append(_axes_error("'axes' is not in INSTALLED_APPS.", "Add 'axes' to INSTALLED_APPS."))
    if "axes.middleware.AxesMiddleware" not in settings.MIDDLEWARE:
        errors.append(
            _axes_error(
                "axes.middleware.AxesMiddleware is not in MIDDLEWARE, so a locked-out login gets no 429.",
                "Add it as the last entry of MIDDLEWARE.",
            )
        )
    backends = list(settings.AUTHENTICATION_BACKENDS)
    if not backends or backends[0] not in AXES_BACKENDS:
        errors.append(
            _axes_error(
                "The first AUTHENTICATION_BACKENDS entry is not a django-axes backend, so a locked-out "
                "user can still log in.",
                "Put 'axes.backends.AxesStandaloneBackend' first.",
            )
        )
    if not getattr(settings, "AXES_ENABLED", True):
        errors.append(_axes_error("AXES_ENABLED is off.", "Remove AXES_ENABLED or set it to True."))
    if getattr(settings, "AXES_LOCKOUT_PARAMETERS", None) != [["username", "ip_address"]]:
        errors.append(
            _axes_error(
                f"AXES_LOCKOUT_PARAMETERS is {getattr(settings, 'AXES_LOCKOUT_PARAMETERS', None)!r}; locking by "
                "address alone locks out an office behind one address, and by user name alone lets anyone "
                "lock out a colleague.",
                "Set it to [['username', 'ip_address']].",
            )
        )
    if not getattr(settings, "AXES_COOLOFF_TIME", None):
        errors.append(
            _axes_error(
                "AXES_COOLOFF_TIME is not set, so a lockout lasts until someone resets it by hand.",
                "Set STAFF_LOGIN_COOLOFF_MINUTES, or AXES_COOLOFF_TIME to a timedelta.",
            )
        )
    if getattr(settings, "AXES_CLIENT_IP_CALLABLE", None) != CLIENT_ADDRESS_CALLABLE:
        errors.append(
            _axes_error(
                "AXES_CLIENT_IP_CALLABLE is not the project's client address reader, so lockouts may read a "
                "client-chosen X-Forwarded-For.",
                f"Set it to {CLIENT_ADDRESS_CALLABLE!r}.",
            )
        )
    return errors


@register(Tags.security, deploy=True)
def check_content_security_policy(app_configs, **kwargs) -> list[Error]:
    if "csp.middleware.CSPMiddleware" not in settings.MIDDLEWARE:
        return [
            Error(
                "csp.middleware.CSPMiddleware is not in MIDDLEWARE, so pages are sent without a "
                "Content-Security-Policy.",
                hint="Add it after SecurityMiddleware.",
                id="core.E005",
            )
        ]
    directives = (getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}).get("DIRECTIVES") or {}
    errors = []
    if list(directives.get("frame-ancestors") or []) != ["'none'"]:
        errors.append(
            Error(
                f"The CSP frame-ancestors default is {directives.get('frame-ancestors')!r}, so other sites "
                "may frame the admin and the API.",
                hint="Set CONTENT_SECURITY_POLICY['DIRECTIVES']['frame-ancestors'] to [NONE]; the shop sets "
                "its own list per buyer connection.",
                id="core.E005",
            )
        )
    for directive in ("default-src", "script-src", "style-src", "object-src", "base-uri"):
        sources = list(directives.get(directive) or [])
        weak = [source for source in sources if source in {"'unsafe-inline'", "'unsafe-eval'", "*"}]
        if not sources or weak:
            errors.append(
                Error(
                    f"The CSP {directive} directive is {sources!r}; it must be set and must not allow "
                    "'unsafe-inline', 'unsafe-eval' or *.",
                    hint="Serve scripts and styles as static files, or mark an inline one with a nonce.",
                    id="core.E005",
                )
            )
    return errors


@register(Tags.security, deploy=True)
def check_cookie_prefixes(app_configs, **kwargs) -> list[Error]:
    errors = []
    for setting in ("SESSION_COOKIE_NAME", "CSRF_COOKIE_NAME"):
        name = getattr(settings, setting)
        if not name.startswith("__Host-"):
            errors.append(
                Error(
                    f"{setting} is {name!r}; without the __Host- prefix a sibling subdomain can set or "
                    "shadow the cookie.",
                    hint=f"Set {setting} to '__Host-{name}' and keep the cookie Secure, on path / and without a "
                    "domain.",
                    id="core.E006",
                )
            )
    return errors


def _axes_error(message: str, hint: str) -> Error:
    return Error(message, hint=hint, id="core.E004")
