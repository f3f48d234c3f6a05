"""What the Chromium tests share: the browser, the demo data, a framing procurement system and the admin login.

The fixtures are registered in tests/conftest.py, so that the browser tests
and the security tests' CSP checks use the same ones.
"""

import html
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DEMO_PASSWORD = "demo-pass-2026"
# Milliseconds to wait for a page or a post; generous for a loaded CI machine.
TIMEOUT_MS = 20_000


def launch_chromium():
    """Yield Debian's Chromium through Playwright, headless; skip without it unless REQUIRE_SERVICES=1."""
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"{CHROMIUM} is missing (REQUIRE_SERVICES=1 forbids skipping)")
        pytest.skip(f"needs Chromium at {CHROMIUM}")
    # Playwright's sync API runs an event loop in this thread, and Django refuses
    # ORM calls from a thread with a running loop unless this is set.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def log_in_to_admin(browser, live_server_url: str, username: str, *, password: str = DEMO_PASSWORD):
    """Open a fresh browser context, sign ``username`` in to the admin and return (context, page)."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{live_server_url}/admin/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.get_by_role("button", name="Log in").click()
    # Only a signed-in page has the user tools; the login page has #content too.
    page.locator("#user-tools").wait_for()
    return context, page


class _ProcurementSystem(BaseHTTPRequestHandler):
    """Frames ``server.start_url`` at GET /frame and records each POST, as a buyer's procurement system would."""

    def do_GET(self):
        frame = f'<iframe id="shop" src="{html.escape(self.server.start_url)}" width="1200" height="900"></iframe>'
        self._answer(f"<!DOCTYPE html><title>Procurement</title>{frame}".encode())

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.server.posts.append(
            {"path": self.path, "content_type": self.headers.get("Content-Type"), "body": self.rfile.read(length)}
        )
        self._answer(b'<!DOCTYPE html><title>Received</title><h1 id="received">Cart received</h1>')

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


def run_procurement_system():
    """Yield a procurement system on a free port of 127.0.0.1 with ``posts`` and a settable ``start_url``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ProcurementSystem)
    server.posts = []
    server.start_url = ""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
