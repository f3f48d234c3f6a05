"""Django settings for the supplier back office, read from the environment.

The defaults run the embedded setup (SQLite in var/, Celery tasks run eagerly).
Production sets DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY, ALLOWED_HOSTS and
PUBLIC_BASE_URL; the README lists every variable.
"""

import datetime as dt
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_decimal, env_int, env_json, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DJANGO_DEBUG", default=False)


def _read_secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DJANGO_DEBUG is off; set it to a long random string "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    # A development key kept in the git-ignored var/ folder, so that sessions
    # and stored credential hashes survive a restart of the dev server.
    VAR_DIR.mkdir(exist_ok=True)
    key_file = VAR_DIR / "dev-secret-key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _read_secret_key()

# Key for the keyed hashes of buyer credentials (SharedSecret, OCI password).
# Kept apart from SECRET_KEY so that rotating the session key does not lock
# out every buyer connection; it falls back to SECRET_KEY when unset.
CREDENTIAL_HASH_KEY = env_str("CREDENTIAL_HASH_KEY", SECRET_KEY)

PUBLIC_BASE_URL = env_url("PUBLIC_BASE_URL", "http://127.0.0.1:8000" if DEBUG else None)
if PUBLIC_BASE_URL is None:
    raise ImproperlyConfigured(
        "PUBLIC_BASE_URL is required when DJANGO_DEBUG is off; set it to the absolute URL "
        "that buyers' procurement systems reach, such as https://b2b.example.com."
    )
_public = urlsplit(PUBLIC_BASE_URL)
# When the site is served under a path prefix (https://host/b2b), reverse()
# must put the prefix in front of every URL it builds.
FORCE_SCRIPT_NAME = _public.path or None

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
if _public.hostname and _public.hostname not in ALLOWED_HOSTS and "*" not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_public.hostname)
CSRF_TRUSTED_ORIGINS = [f"{_public.scheme}://{_public.netloc}"]

INSTALLED_APPS = [
    # Django's admin with the project's site (apps.core.admin_site): a second factor when required.
    "apps.core.admin_apps.BackOfficeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_fsm",
    "simple_history",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "apps.core",
    "apps.catalog",
    "apps.contracts",
    "apps.exceptions",
    "apps.quotes",
    "apps.orders",
    "apps.punchout",
    "apps.api",
    "apps.integrations",
    "apps.tax",
]

MIDDLEWARE = [
    # First, so that every log line of the request, redirects included, carries its id.
    "apps.core.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before any view reads a parameter: PostgreSQL cannot compare or store text with NUL.
    "apps.core.middleware.RejectNulCharacterMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.core.middleware.StaffSessionExpiryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg prepares a statement on the server after it has run this many times on a connection;
    # 0 turns that off (for a pooler in transaction mode, which cannot keep prepared statements).
    # Only the server-binding cursors of apps/core/prepared.py use it: the ORM's own cursors put the
    # values into the SQL text, so every query of theirs is new to PostgreSQL.
    PREPARE_THRESHOLD = env_int("DATABASE_PREPARE_THRESHOLD", 5, minimum=0)
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = PREPARE_THRESHOLD or None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # The dev server is threaded; wait for a lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes checks every login for a lockout before Django's own backend
# checks the password; it needs the request, so authenticate() without one
# (the test client's login(), for example) raises.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Serve static files from the app folders in tests and development, where
# collectstatic has not run.
WHITENOISE_USE_FINDERS = DEBUG or env_bool("WHITENOISE_USE_FINDERS", False)

# Celery: with no broker configured, tasks run in the calling process. Eager apply_async still takes
# a producer from Celery's pool, so the broker is then kombu's in-process memory transport. Left
# unset, Celery builds an AMQP connection to localhost, and kombu logs "No hostname was supplied".
CELERY_TASK_ALWAYS_EAGER = env_str("CELERY_BROKER_URL") is None
CELERY_BROKER_URL = "memory://localhost/" if CELERY_TASK_ALWAYS_EAGER else env_str("CELERY_BROKER_URL")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One message at a time per worker process, so a late-acknowledged task is
# never held unstarted by a busy worker. Retry delays stay below half the
# visibility timeout, so Redis never redelivers a task that is only waiting.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 3600)}
CELERY_TIMEZONE = TIME_ZONE
# Workers log through LOGGING below (JSON outside debug, with the request id), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    # Mark exception cases overdue and escalate them; each case and level escalates once.
    "exceptions-escalate-overdue": {"task": "exceptions.escalate_overdue_cases", "schedule": 60.0},
    # Send outbox events whose task was lost between commit and enqueue.
    "orders-relay-outbox": {"task": "orders.relay_outbox_events", "schedule": 60.0},
    # Expire PunchOut sessions idle past PUNCHOUT_SESSION_IDLE_MINUTES, so that the
    # admin and the reports show them expired even when no page of them is opened again.
    "punchout-expire-idle-sessions": {"task": "punchout.expire_idle_sessions", "schedule": 300.0},
    # Delete document log rows past their retention period, in batches.
    "integrations-prune-document-log": {"task": "integrations.prune_document_log", "schedule": 3600.0},
    # Restart or fail import jobs whose worker was lost (no heartbeat for CATALOG_IMPORT_LOST_AFTER_SECONDS).
    "catalog-recover-lost-imports": {"task": "catalog.recover_lost_import_jobs", "schedule": 60.0},
    # Expire approved and sent quotes past their valid-until date; hourly, so a
    # quote expires within an hour after its last day ends (UTC).
    "quotes-expire-due": {"task": "quotes.expire_due_quotes", "schedule": 3600.0},
    # Open a case for each order the ERP has not acknowledged within ERP_ACKNOWLEDGE_TIMEOUT_MINUTES.
    "orders-flag-unacknowledged": {"task": "orders.flag_unacknowledged_orders", "schedule": 600.0},
    # Compare open orders with what the ERP last reported, once a night at ERP_RECONCILIATION_HOUR (UTC).
    "orders-reconcile-with-erp": {
        "task": "orders.reconcile_with_erp",
        "schedule": crontab(hour=env_int("ERP_RECONCILIATION_HOUR", 2, minimum=0), minute=30),
    },
}

# Document log of integration messages: days a row is kept, body size in bytes
# above which a body is stored compressed, largest body kept (the rest is
# cut), and rows deleted per pruning batch.
INTEGRATION_LOG_RETENTION_DAYS = env_int("INTEGRATION_LOG_RETENTION_DAYS", 90)
INTEGRATION_LOG_COMPRESS_BYTES = env_int("INTEGRATION_LOG_COMPRESS_BYTES", 16 * 1024, minimum=0)
INTEGRATION_LOG_MAX_BODY_BYTES = env_int("INTEGRATION_LOG_MAX_BODY_BYTES", 5 * 1024 * 1024)
INTEGRATION_LOG_PRUNE_BATCH_SIZE = env_int("INTEGRATION_LOG_PRUNE_BATCH_SIZE", 5000)

# Mail: team notifications and escalations. Development prints mails to the
# console; production sends them through the SMTP server configured here.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "backoffice@localhost")

# XML: the largest request body the cXML endpoint parses, in bytes.
XML_MAX_BYTES = env_int("XML_MAX_BYTES", 5 * 1024 * 1024)
# A cxml-base64 form field is a third larger than the document it carries,
# plus room for the other form fields.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(XML_MAX_BYTES * 4 // 3, 2_621_440) + 1024 * 1024

# Reverse proxies in front of the web processes that append the address they
# received a request from to X-Forwarded-For (0: none, REMOTE_ADDR is the
# client). Staff login lockouts read the client address through it, and the
# PunchOut and API counts below default to it. Production must set it, even
# to 0: the deploy check fails while it is unset.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0) if env_str("TRUSTED_PROXY_COUNT") else None

# PunchOut: minutes the single-use StartPage URL works after the setup
# request, minutes of inactivity after which a shop session expires, and the
# failed logins per connection and client address allowed within the window
# before that address is locked out.
PUNCHOUT_START_PAGE_MINUTES = env_int("PUNCHOUT_START_PAGE_MINUTES", 5)
PUNCHOUT_SESSION_IDLE_MINUTES = env_int("PUNCHOUT_SESSION_IDLE_MINUTES", 120)
PUNCHOUT_LOGIN_MAX_FAILURES = env_int("PUNCHOUT_LOGIN_MAX_FAILURES", 10)
PUNCHOUT_LOGIN_WINDOW_SECONDS = env_int("PUNCHOUT_LOGIN_WINDOW_SECONDS", 300)
# Failed logins count per client address: the number of reverse proxies in
# front that append to X-Forwarded-For (0 reads REMOTE_ADDR). A count above
# the real number lets clients pick their own address.
PUNCHOUT_TRUSTED_PROXY_COUNT = env_int("PUNCHOUT_TRUSTED_PROXY_COUNT", TRUSTED_PROXY_COUNT or 0, minimum=0)

# Orders: the share a buyer's unit price may differ from the contract price
# before a price-mismatch case opens, how many minor units of the order's
# currency (cents in EUR) the buyer's tax may differ from ours before a
# tax-mismatch case opens, and the warehouses to try first per customer
# region (JSON, such as {"EU-WEST": ["RTM"]}). Tax rates are in the admin.
ORDER_PRICE_TOLERANCE_PERCENT = env_decimal("ORDER_PRICE_TOLERANCE_PERCENT", "0")
ORDER_TAX_TOLERANCE_MINOR_UNITS = env_int("ORDER_TAX_TOLERANCE_MINOR_UNITS", 1, minimum=0)
ORDER_REGION_WAREHOUSES = env_json("ORDER_REGION_WAREHOUSES", {})
# Order intakes that run at once on PostgreSQL, across all web processes; the others wait in arrival
# order (apps/orders/intake_slots.py). The default is the host's cores; 0 lets every request take its
# order in at once.
ORDER_INTAKE_MAX_CONCURRENT = env_int("ORDER_INTAKE_MAX_CONCURRENT", os.cpu_count() or 1, minimum=0)
# Quotes: days a new quote stays open for acceptance when the sales person sets no date.
QUOTE_VALIDITY_DAYS = env_int("QUOTE_VALIDITY_DAYS", 30)
# Outbound order documents: the module that sends each channel's events,
# attempts and retry delays (seconds), and the grace period before the relay
# picks up an event whose task was lost.
ORDER_OUTBOX_SENDERS = {"cxml": "apps.punchout.outbound"}
# Modules notified of every outbox event in its transaction, whatever the channel
# (the partner API turns them into webhook deliveries).
ORDER_EVENT_LISTENERS = ["apps.api.webhooks"]
# Modules notified of every quote event in its transaction (the partner API sends webhooks).
QUOTE_EVENT_LISTENERS = ["apps.api.webhooks"]
ORDER_OUTBOX_MAX_ATTEMPTS = env_int("ORDER_OUTBOX_MAX_ATTEMPTS", 6)
ORDER_OUTBOX_RETRY_BASE_SECONDS = env_int("ORDER_OUTBOX_RETRY_BASE_SECONDS", 10)
ORDER_OUTBOX_RETRY_MAX_SECONDS = env_int("ORDER_OUTBOX_RETRY_MAX_SECONDS", 900)
ORDER_OUTBOX_RELAY_GRACE_SECONDS = env_int("ORDER_OUTBOX_RELAY_GRACE_SECONDS", 60)
# ERP hand-off: minutes after its confirmation within which the ERP must acknowledge an order before a
# case opens (0 turns the check off), and the days a paid order stays in the nightly reconciliation.
ERP_ACKNOWLEDGE_TIMEOUT_MINUTES = env_int("ERP_ACKNOWLEDGE_TIMEOUT_MINUTES", 240, minimum=0)
ERP_RECONCILIATION_PAID_DAYS = env_int("ERP_RECONCILIATION_PAID_DAYS", 7, minimum=0)
CXML_OUTBOUND_TIMEOUT_SECONDS = env_int("CXML_OUTBOUND_TIMEOUT_SECONDS", 30)
# Our shared secret at each buyer's network, keyed "cxml-connection:<id>",
# as JSON from the environment: it must be sent in clear, so it never sits
# in the database.
CXML_OUTBOUND_SHARED_SECRETS = env_json("CXML_OUTBOUND_SHARED_SECRETS", {})

# Catalog imports: the share a list price may move before the change is held
# for review, and the share of active products a full-catalog file may lack
# before it counts as cut short. Uploaded files wait for a worker in a folder
# that every worker must be able to read.
CATALOG_PRICE_CHANGE_THRESHOLD = env_decimal("CATALOG_PRICE_CHANGE_THRESHOLD", "0.30")
CATALOG_MISSING_SHARE_LIMIT = env_decimal("CATALOG_MISSING_SHARE_LIMIT", "0.10")
CATALOG_IMPORT_UPLOAD_DIR = env_str("CATALOG_IMPORT_UPLOAD_DIR", str(VAR_DIR / "imports"))
# A source time (an import row's updated_at or as_of) later than now plus
# IMPORT_SOURCE_TIME_MAX_AHEAD_SECONDS is rejected: stored, it would make every later update of
# the row count as stale. The ERP's shipment, invoice and payment dates are held to the same limit.
# A day covers skewed clocks and local times sent without their offset.
IMPORT_SOURCE_TIME_MAX_AHEAD_SECONDS = env_int("IMPORT_SOURCE_TIME_MAX_AHEAD_SECONDS", 86_400)
# A running import job stores a heartbeat every CATALOG_IMPORT_HEARTBEAT_SECONDS. Beat's sweep
# counts a job without one for CATALOG_IMPORT_LOST_AFTER_SECONDS as lost with its worker: an
# admin upload run fewer than CATALOG_IMPORT_MAX_ATTEMPTS times is restarted from its first
# row, any other job is marked failed. The limit must stay well above the longest batch.
CATALOG_IMPORT_HEARTBEAT_SECONDS = env_int("CATALOG_IMPORT_HEARTBEAT_SECONDS", 30)
CATALOG_IMPORT_LOST_AFTER_SECONDS = env_int("CATALOG_IMPORT_LOST_AFTER_SECONDS", 600)
CATALOG_IMPORT_MAX_ATTEMPTS = env_int("CATALOG_IMPORT_MAX_ATTEMPTS", 2)
# Threads (each with its own database connection) that write a catalog import's batches at once
# on PostgreSQL. Two let the backends of two batches run on two cores; 1 writes one batch at a time.
CATALOG_IMPORT_WRITER_THREADS = env_int("CATALOG_IMPORT_WRITER_THREADS", 2)
CATALOG_CIF_SUPPLIER_ID = env_str("CATALOG_CIF_SUPPLIER_ID", "")
CATALOG_CIF_SUPPLIER_ID_DOMAIN = env_str("CATALOG_CIF_SUPPLIER_ID_DOMAIN", "DUNS")

# Staff logins (django-axes): after STAFF_LOGIN_MAX_FAILURES failed logins of
# one user name from one client address, that pair is locked out for
# STAFF_LOGIN_COOLOFF_MINUTES. Locking the pair, not the address, means one
# person guessing cannot lock out a whole office behind one address, and a
# guesser cannot lock a colleague out from elsewhere. The address is read
# through TRUSTED_PROXY_COUNT. `manage.py axes_reset_username NAME` unlocks.
AXES_FAILURE_LIMIT = env_int("STAFF_LOGIN_MAX_FAILURES", 5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("STAFF_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "apps.core.clients.staff_login_address"
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
# Staff sessions end after this many minutes without a request, and
# SESSION_COOKIE_AGE seconds after login whatever the activity.
STAFF_SESSION_IDLE_MINUTES = env_int("STAFF_SESSION_IDLE_MINUTES", 30)
# Require a TOTP code (django-otp) at the admin login; README: "Two-factor login".
ADMIN_REQUIRE_OTP = env_bool("ADMIN_REQUIRE_OTP", False)
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Supplier back office")

# Reverse proxy: set to 1 when a proxy in front sets X-Forwarded-Proto.
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = False

# Security. Production runs behind HTTPS; development and tests do not.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # The preload directive only takes effect once the domain is submitted to
    # the browsers' preload list; set SECURE_HSTS_PRELOAD=0 for a domain whose
    # subdomains cannot all serve HTTPS.
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # The __Host- prefix makes browsers accept the cookies only with Secure,
    # Path=/ and no Domain, so a sibling subdomain cannot set or shadow them.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"

# Content-Security-Policy (django-csp) for every HTML page: scripts, styles
# and images only from our own origin, no plugins, no <base>, forms posting
# only to us, and no framing. The PunchOut shop replaces frame-ancestors with
# its buyer connection's hosts, and its cart return page adds the buyer's
# return URL to form-action (apps/punchout/views/shop.py). A page that needs
# an inline script uses {{ request.csp_nonce }} on it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        # data: for the SVG icons that the admin and the Swagger UI draw inline.
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.api.throttling.PartnerRateThrottle",
        "apps.api.throttling.ClientAddressRateThrottle",
    ],
    "EXCEPTION_HANDLER": "apps.api.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Supplier back office partner API",
    "DESCRIPTION": "Contract prices, availability, orders, quotes, ERP pushes and webhooks. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "apps.orders.models.OrderStatus",
        "LineStatusEnum": "apps.orders.models.LineStatus",
        "WebhookEventEnum": "apps.api.models.WebhookEvent",
        "QuoteStatusEnum": "apps.quotes.models.QuoteStatus",
    },
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Cache: Redis when CACHE_URL is set (production, so that every web process
# shares the API rate-limit counters), else memory local to each process.
CACHE_URL = env_str("CACHE_URL")
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Partner API: requests per minute for all keys of one partner together
# (a partner's own figure overrides it) and per client address for requests
# without a valid key, the reverse proxies in front that append to
# X-Forwarded-For, how often a key's last-used time is written (seconds),
# and the most rows one ERP push may carry.
API_PARTNER_REQUESTS_PER_MINUTE = env_int("API_PARTNER_REQUESTS_PER_MINUTE", 600)
API_ANONYMOUS_REQUESTS_PER_MINUTE = env_int("API_ANONYMOUS_REQUESTS_PER_MINUTE", 60)
API_TRUSTED_PROXY_COUNT = env_int("API_TRUSTED_PROXY_COUNT", PUNCHOUT_TRUSTED_PROXY_COUNT, minimum=0)
API_KEY_LAST_USED_INTERVAL_SECONDS = env_int("API_KEY_LAST_USED_INTERVAL_SECONDS", 300)
API_PUSH_MAX_ROWS = env_int("API_PUSH_MAX_ROWS", 10_000)
# The user that quotes requested through the API are assigned to, for review
# and approval before they are sent; requests fail with 503 while it is missing.
API_QUOTE_SALES_PERSON = env_str("API_QUOTE_SALES_PERSON", "sales")
# Webhooks: sends per delivery, the first retry delay (doubling up to the
# maximum, seconds), the timeout of one send, and whether targets on this
# machine or a private network are allowed (development and tests only: in
# production a partner's URL must never reach the internal network).
API_WEBHOOK_MAX_ATTEMPTS = env_int("API_WEBHOOK_MAX_ATTEMPTS", 6)
API_WEBHOOK_RETRY_BASE_SECONDS = env_int("API_WEBHOOK_RETRY_BASE_SECONDS", 10)
API_WEBHOOK_RETRY_MAX_SECONDS = env_int("API_WEBHOOK_RETRY_MAX_SECONDS", 900)
API_WEBHOOK_TIMEOUT_SECONDS = env_int("API_WEBHOOK_TIMEOUT_SECONDS", 10)
API_WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("API_WEBHOOK_ALLOW_PRIVATE_TARGETS", DEBUG)
# Key of the webhook signing secrets, which are derived from it and a random
# value per subscription; it falls back to CREDENTIAL_HASH_KEY when unset.
API_WEBHOOK_SIGNING_KEY = env_str("API_WEBHOOK_SIGNING_KEY", CREDENTIAL_HASH_KEY)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
# JSON lines outside debug, for log collectors; plain text in debug, for people reading a terminal.
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is not a log format; use json or plain.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "apps.core.log_context.ContextFilter"}},
    "formatters": {
        "plain": {"()": "apps.core.json_logging.TextFormatter"},
        "json": {"()": "apps.core.json_logging.JSONFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
