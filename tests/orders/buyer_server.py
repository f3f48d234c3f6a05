"""A buyer's procurement system on 127.0.0.1 for the outbound tests: it records requests and responds with cXML."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from apps.core.xml import parse_xml

ANSWER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<cXML payloadID="answer-{n}@buyer.test" timestamp="2026-01-01T00:00:00+00:00">'
    '<Response><Status code="{code}" text="{text}">{message}</Status></Response></cXML>'
)


class BuyerServer:
    """Respond to each POST with the next (HTTP status, cXML code or None) of ``answers``, then with the last one.

    ``hold`` makes the first request wait until ``release()`` (to kill a worker mid-send).
    """

    def __init__(self, answers=((200, "200"),), *, hold: bool = False) -> None:
        self.answers = list(answers)
        self.received: list[bytes] = []
        self.hold = threading.Event() if hold else None
        self.first_arrived = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.received.append(body)
                number = len(server.received)
                server.first_arrived.set()
                if server.hold is not None and number == 1:
                    server.hold.wait(timeout=60)
                    return
                http_status, code = server.answers[min(number - 1, len(server.answers) - 1)]
                payload = (
                    b"" if code is None else ANSWER.format(n=number, code=code, text="answer", message="").encode()
                )
                self.send_response(http_status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cxml"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "BuyerServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.hold is not None:
            self.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def release(self) -> None:
        self.hold.set()

    def wait_for(self, count: int, *, timeout: float) -> None:
        """Wait until ``count`` documents have arrived; raise TimeoutError naming what came when they do not."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.received)} of {count} documents arrived: {self.payload_names()}")
            time.sleep(0.05)

    def payload_ids(self) -> list[str]:
        return [parse_xml(body).get("payloadID") for body in self.received]

    def payload_names(self) -> list[str]:
        names = []
        for body in self.received:
            request = parse_xml(body).find("Request")
            names.append(next(iter(request)).tag)
        return names
