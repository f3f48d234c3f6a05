"""Smoke test of the production-like stack: a PunchOut round trip and orders through real worker processes.

Run from the repository root (``make smoke``; .ci/run runs it too):

    .venv/bin/python .ci/smoke.py

It recreates the PostgreSQL database ``backoffice_smoke`` on 127.0.0.1,
starts ``bin/prodlike start --demo`` (gunicorn, a Celery worker and beat on
Redis database 14), and then, over HTTP as a buyer's procurement system:

1. checks ``/healthz``;
2. opens a PunchOut session with the documented demo setup request, adds a
   product to the cart and returns it;
3. sends the OrderRequest for that cart and waits until the worker has sent
   the order's status document to a buyer server on 127.0.0.1;
4. finds the order's documents in the log by PO number, with request and
   response, and the order request's id in the worker's log lines;
5. points the connection's outbound URL at a closed port, sends a second
   order, and waits until the dashboard's figures show the failure.

Whatever happens, it stops the stack. It exits 0 when every check passed.
"""

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import types
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.cookiejar import CookieJar
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
RUN_DIR = REPOSITORY / "var" / "smoke"
PORT = int(os.environ.get("SMOKE_PORT", "8187"))
BASE_URL = f"http://127.0.0.1:{PORT}"
DATABASE_URL = "postgres://postgres@127.0.0.1:5432/backoffice_smoke"
BROKER_URL = "redis://127.0.0.1:6379/14"
# Seconds to wait for the worker to send a document or record a failure.
WORKER_WAIT_SECONDS = 60

ENVIRONMENT = {
    "PRODLIKE_PORT": str(PORT),
    "PRODLIKE_DIR": str(RUN_DIR),
    "DATABASE_URL": DATABASE_URL,
    "CELERY_BROKER_URL": BROKER_URL,
    # The worker sends order documents to the buyer server below; one quick retry keeps a failing run short.
    "ORDER_OUTBOX_RETRY_BASE_SECONDS": "5",
}


def main() -> int:
    os.environ.update(ENVIRONMENT)
    os.environ.pop("DJANGO_DEBUG", None)
    _fresh_database()
    _flush_broker()
    started = time.monotonic()
    try:
        _run(["bin/prodlike", "start", "--demo"])
        _setup_django()
        _smoke()
    except Exception:
        _print_logs()
        raise
    finally:
        _run(["bin/prodlike", "stop"])
    print(f"smoke: passed in {time.monotonic() - started:.0f}s")
    return 0


def _smoke() -> None:
    from apps.integrations.models import Channel, DocumentLog, Outcome
    from apps.integrations.selectors import connection_health
    from apps.orders.models import OutboundEndpoint
    from apps.punchout.models import BuyerConnection
    from apps.punchout.order_request import connection_source
    from tests.integrations.documents import order_request_from_cart, setup_request

    browser = _Browser()
    health = json.loads(browser.get("/healthz").body)
    _check(health == {"status": "ok", "database": "ok", "broker": "ok"}, f"/healthz returned {health}")

    connection = BuyerConnection.objects.get(protocol=BuyerConnection.Protocol.CXML, from_identity="AN01000000001")
    source = connection_source(connection)
    with _BuyerServer() as buyer:
        OutboundEndpoint.objects.update_or_create(source=source, defaults={"url": buyer.url, "is_active": True})

        # A PunchOut round trip as the buyer's user does it in a browser.
        setup = browser.post("/punchout/cxml/", setup_request(), content_type="text/xml")
        start_url = _between(setup.body, b"<URL>", b"</URL>").decode()
        catalog = browser.get(urllib.parse.urlsplit(start_url).path)
        base = catalog.url.split("/punchout/session/")[1].split("/")[0]
        base = f"/punchout/session/{base}/"
        sku = _between(catalog.body, b'<tr data-sku="', b'"').decode()
        browser.post(base + "cart/", urllib.parse.urlencode({"sku": sku, "quantity": "2"}).encode())
        returned = browser.post(base + "return/", b"")
        cart = _cart_document(returned.body)
        print(f"smoke: PunchOut session returned a cart with {sku}")

        # The purchase order that follows, and the status document the worker sends back.
        request_id = f"smoke-{uuid.uuid4().hex[:12]}"
        po_number = f"PO-SMOKE-{uuid.uuid4().hex[:6].upper()}"
        order = order_request_from_cart(cart, po_number=po_number, payload_id=f"{po_number}@smoke.test")
        answer = browser.post("/punchout/cxml/", order, content_type="text/xml", headers={"X-Request-ID": request_id})
        _check(b'<Status code="200"' in answer.body, f"the OrderRequest was not accepted:\n{answer.body[:2000]!r}")
        _check(answer.headers.get("X-Request-ID") == request_id, "the response did not return the X-Request-ID")
        _wait(lambda: buyer.received, f"the worker sent no document for {po_number} to the buyer server")
        _wait(
            lambda: DocumentLog.objects.filter(channel=Channel.ORDER_STATUS, po_number=po_number).exists(),
            "the outbound status document was not logged",
        )
        print(f"smoke: order {po_number} taken in; the worker sent {len(buyer.received)} document(s) to the buyer")

    # The order is found by its PO number with request and response, and the worker logged the request id.
    rows = DocumentLog.objects.filter(po_number=po_number)
    inbound = rows.get(channel=Channel.CXML)
    _check(inbound.document_type == "OrderRequest" and inbound.cxml_status == "200", f"inbound row: {inbound}")
    _check("<OrderRequestHeader" in inbound.request_text, "the OrderRequest body was not stored")
    _check('Status code="200"' in inbound.response_text, "the answer to the OrderRequest was not stored")
    _check(rows.get(channel=Channel.ORDER_STATUS).outcome == Outcome.SUCCEEDED, "the status document failed")
    _check("demo-shared-secret" not in inbound.request_text, "the SharedSecret was stored unmasked")
    worker_log = (RUN_DIR / "worker.log").read_text()
    _check(f'"request_id": "{request_id}"' in worker_log, "the worker's log lines lack the order request's id")

    # A failing outbound URL shows on the dashboard.
    OutboundEndpoint.objects.filter(source=source).update(url=f"http://127.0.0.1:{_closed_port()}/cxml")
    second = order_request_from_cart(cart, po_number=po_number + "-2", payload_id=f"{po_number}-2@smoke.test")
    browser.post("/punchout/cxml/", second, content_type="text/xml")

    def failing():
        row = next(row for row in connection_health(now=_now()) if row["connection"].pk == connection.pk)
        return row["failing"] and row["failures_hour"] >= 1

    _wait(failing, "the failed send to the closed port did not show on the dashboard")
    print("smoke: the failing outbound URL shows on the dashboard")


class _Browser:
    """An HTTP client with cookies that does not follow redirects of POSTs silently away from the shop."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, path: str):
        return self._open(urllib.request.Request(BASE_URL + path))  # noqa: S310 - http on 127.0.0.1

    def post(self, path: str, body: bytes, *, content_type: str = "application/x-www-form-urlencoded", headers=None):
        request = urllib.request.Request(  # noqa: S310 - http on 127.0.0.1
            BASE_URL + path, data=body, headers={"Content-Type": content_type, **(headers or {})}, method="POST"
        )
        return self._open(request)

    def _open(self, request):
        try:
            with self.opener.open(request, timeout=30) as response:
                return types.SimpleNamespace(
                    status=response.status, url=response.url, headers=response.headers, body=response.read()
                )
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{request.get_method()} {request.full_url} returned HTTP {error.code}") from None


class _BuyerServer:
    """A buyer's procurement system on 127.0.0.1 that accepts every cXML document with status 200."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                server.received.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                answer = b'<?xml version="1.0"?><cXML payloadID="a@buyer" timestamp="2026-01-01T00:00:00+00:00">'
                answer += b'<Response><Status code="200" text="OK"/></Response></cXML>'
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cxml"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _cart_document(page: bytes) -> bytes:
    from tests.punchout.support import return_form

    name, value = return_form(types.SimpleNamespace(content=page))["fields"][0]
    _check(name == "cxml-urlencoded", f"the demo connection returned the cart in {name}, not cxml-urlencoded")
    return value.encode("utf-8")


def _fresh_database() -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier("backoffice_smoke"))
        )
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("backoffice_smoke")))


def _flush_broker() -> None:
    import redis

    redis.Redis.from_url(BROKER_URL, socket_connect_timeout=5).flushdb()


def _setup_django() -> None:
    sys.path.insert(0, str(REPOSITORY))
    os.environ["SECRET_KEY"] = (RUN_DIR / "secret-key").read_text().strip()
    os.environ.setdefault("PUBLIC_BASE_URL", BASE_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["SECURE_SSL_REDIRECT"] = "0"
    os.environ.setdefault("TRUSTED_PROXY_COUNT", "0")
    import django

    django.setup()


def _run(command: list[str]) -> None:
    subprocess.run(command, cwd=REPOSITORY, check=True)  # noqa: S603 - the repository's own script


def _wait(condition, message: str) -> None:
    deadline = time.monotonic() + WORKER_WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"{message} within {WORKER_WAIT_SECONDS}s.")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _between(text: bytes, start: bytes, end: bytes) -> bytes:
    _check(start in text, f"{start!r} not found in the page:\n{text[:2000]!r}")
    return text.split(start, 1)[1].split(end, 1)[0]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _now():
    from django.utils import timezone

    return timezone.now()


def _print_logs() -> None:
    for name in ("web", "worker", "beat"):
        path = RUN_DIR / f"{name}.log"
        if path.exists():
            lines = path.read_text(errors="replace").splitlines()[-40:]
            print(f"--- last lines of {path}", *lines, sep="\n", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
