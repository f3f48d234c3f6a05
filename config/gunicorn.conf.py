"""gunicorn settings of the web process, from the environment: ``gunicorn -c config/gunicorn.conf.py config.wsgi``.

The access log is one JSON object per request with the request id that the
application returns in X-Request-ID. It records the path without the query
string, because an OCI login by GET carries the buyer's PASSWORD there.
"""

import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = int(raw)
    if value < 1:
        raise ValueError(f"{name}={raw!r} must be a whole number of 1 or more.")
    return value


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# WEB_CONCURRENCY processes of GUNICORN_THREADS threads each: sync workers by default, gthread when threads > 1.
# Sync workers serve one request at a time and take the next from the listen queue in arrival order, so under
# load every request waits about as long as the others. Threads of one process take turns on its GIL, which
# made order intake slower and its latencies spread wider (docs/benchmarks.md). Requests that mostly wait on
# PostgreSQL commits, such as ERP messages, go faster with threads. Two processes per core keep a core busy
# while a request waits on PostgreSQL or Redis. Each process and thread keeps its own database connection.
workers = _int("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1))
threads = _int("GUNICORN_THREADS", 1)
# Seconds a worker may spend on one request before it is restarted; the slowest requests are admin uploads.
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# Restart each worker after this many requests (with jitter) so that slow memory growth cannot build up.
max_requests = _int("GUNICORN_MAX_REQUESTS", 5000)
max_requests_jitter = max_requests // 10
# The reverse proxy's address, trusted for X-Forwarded-* headers; 127.0.0.1 when it runs on the same host.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = (
    '{"time": "%(t)s", "logger": "gunicorn.access", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", '
    '"status": %(s)s, "bytes": "%(B)s", "duration_ms": %(M)s, "request_id": "%({x-request-id}o)s"}'
)
# gunicorn's control socket (gunicornc) only when a path is given, so that several gunicorn instances on one
# host (web, benchmarks, smoke tests) do not take over each other's default socket in $HOME/.gunicorn.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket
