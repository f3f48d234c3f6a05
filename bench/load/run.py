"""Load test of the production-like stack: PunchOut round trips, orders and API reads, bounded in time.

Run from the repository root (requirements/bench.txt installs locust):

    .venv/bin/python -m bench.load.run --minutes 10 --users 20

It recreates the PostgreSQL database ``backoffice_load`` on 127.0.0.1, starts
``bin/prodlike start --demo`` on port 8195 with Redis database 13 (gunicorn,
a Celery worker and beat), points the demo buyer's status documents at a
buyer server on 127.0.0.1, and runs locust headless against 127.0.0.1 only
(bench/load/locustfile.py). Every 5 seconds it samples the resident memory
of the web processes (gunicorn master and workers) and of the worker
processes (Celery main process and pool). At the end it prints, as Markdown:
requests, failures and p50/p99 per endpoint; whether every accepted order
exists exactly once and every status document was delivered; and each
process group's memory at one minute and at the end. It exits 1 when a
request failed, an order was lost or doubled, or memory grew by more than 10%
after the first minute.
"""

import argparse
import csv
import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent.parent
RUN_DIR = REPOSITORY / "var" / "load"
PORT = 8195
BASE_URL = f"http://127.0.0.1:{PORT}"
DATABASE_NAME = "backoffice_load"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE_NAME}"
BROKER_URL = "redis://127.0.0.1:6379/13"
SAMPLE_SECONDS = 5
# Memory may grow by this share between the first minute and the end.
MEMORY_GROWTH_LIMIT = 0.10
# Seconds to wait after the load for the worker to send the last status documents.
DRAIN_SECONDS = 120

ENVIRONMENT = {
    "PRODLIKE_PORT": str(PORT),
    "PRODLIKE_DIR": str(RUN_DIR),
    "DATABASE_URL": DATABASE_URL,
    "CELERY_BROKER_URL": BROKER_URL,
    # The partner API's rate limit would answer most of the load with 429; the limit is not what is measured.
    "API_PARTNER_REQUESTS_PER_MINUTE": "1000000",
    "API_ANONYMOUS_REQUESTS_PER_MINUTE": "1000000",
    "LOG_LEVEL": "WARNING",
}


def main() -> int:
    options = _arguments()
    os.environ.update(ENVIRONMENT)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    _fresh_database()
    _flush_broker()
    subprocess.run([str(REPOSITORY / "bin" / "prodlike"), "start", "--demo"], cwd=REPOSITORY, check=True)  # noqa: S603
    try:
        _setup_django()
        return _load(options)
    finally:
        subprocess.run([str(REPOSITORY / "bin" / "prodlike"), "stop"], cwd=REPOSITORY, check=False)  # noqa: S603


def _load(options) -> int:
    from apps.orders.models import OutboundEndpoint, OutboxEvent, OutboxStatus
    from apps.punchout.models import BuyerConnection
    from apps.punchout.order_request import connection_source

    connection = BuyerConnection.objects.get(protocol=BuyerConnection.Protocol.CXML, from_identity="AN01000000001")
    orders_file = RUN_DIR / "orders.txt"
    orders_file.write_text("")
    sampler = _MemorySampler()
    with _BuyerServer() as buyer:
        OutboundEndpoint.objects.update_or_create(
            source=connection_source(connection), defaults={"url": buyer.url, "is_active": True}
        )
        sampler.start()
        seconds = int(options.minutes * 60)
        command = [str(REPOSITORY / ".venv" / "bin" / "locust"), "-f", str(REPOSITORY / "bench/load/locustfile.py")]
        command += ["--headless", "--only-summary", "-u", str(options.users), "-r", str(max(1, options.users // 10))]
        command += ["-t", f"{seconds}s", "--stop-timeout", "30", "--host", BASE_URL, "--csv", str(RUN_DIR / "locust")]
        locust = subprocess.run(  # noqa: S603 -- fixed command line against the local stack
            command,
            cwd=REPOSITORY,
            env={**os.environ, "LOAD_ORDERS_FILE": str(orders_file), "PYTHONPATH": str(REPOSITORY)},
            check=False,
        )
        sampler.stop()
        po_numbers = [line for line in orders_file.read_text().split() if line]
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline and OutboxEvent.objects.filter(status=OutboxStatus.PENDING).exists():
            time.sleep(2)
        received = len(buyer.received)

    stats = _endpoint_stats(RUN_DIR / "locust_stats.csv")
    lost, doubled, undelivered = _order_check(po_numbers)
    memory = sampler.summary()

    print(f"\nLoad: {options.users} users, {options.minutes} min, {BASE_URL}, locust exit {locust.returncode}")
    print("\n| endpoint | requests | failures | p50 ms | p99 ms |\n| --- | ---: | ---: | ---: | ---: |")
    for row in stats:
        print(f"| {row['Name']} | {row['Request Count']} | {row['Failure Count']} | {row['50%']} | {row['99%']} |")
    print(
        f"\nOrders accepted: {len(po_numbers)}; lost: {lost}; doubled: {doubled}; status documents not delivered: "
        f"{undelivered}; documents the buyer server received: {received}"
    )
    print("\n| processes | RSS at 1 min (MiB) | RSS at end (MiB) | max (MiB) | growth |")
    print("| --- | ---: | ---: | ---: | ---: |")
    failed_memory = False
    for group, (first, last, peak) in memory.items():
        growth = (last - first) / first if first else 0.0
        failed_memory |= growth > MEMORY_GROWTH_LIMIT
        print(f"| {group} | {first:.0f} | {last:.0f} | {peak:.0f} | {growth:+.1%} |")

    failures = sum(int(row["Failure Count"]) for row in stats)
    return 1 if failures or lost or doubled or undelivered or failed_memory or locust.returncode else 0


def _endpoint_stats(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _order_check(po_numbers: list[str]) -> tuple[int, int, int]:
    from django.db.models import Count

    from apps.orders.models import Order, OutboxEvent, OutboxStatus

    counts = dict(
        Order.objects.filter(po_number__in=po_numbers)
        .values_list("po_number")
        .annotate(n=Count("id"))
        .values_list("po_number", "n")
    )
    lost = sum(1 for number in po_numbers if counts.get(number, 0) == 0)
    doubled = sum(1 for number in po_numbers if counts.get(number, 0) > 1)
    undelivered = OutboxEvent.objects.filter(order__po_number__in=po_numbers).exclude(status=OutboxStatus.DELIVERED)
    return lost, doubled, undelivered.count()


class _MemorySampler(threading.Thread):
    """Sample the summed RSS of the web and worker process trees every few seconds."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.stopping = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        self.started_at = time.monotonic()
        while not self.stopping.wait(SAMPLE_SECONDS):
            self.samples.append((time.monotonic() - self.started_at, {g: _tree_rss(g) for g in ("web", "worker")}))

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=SAMPLE_SECONDS * 2)

    def summary(self) -> dict[str, tuple[float, float, float]]:
        result = {}
        for group in ("web", "worker"):
            series = [(at, values[group]) for at, values in self.samples]
            after_minute = [value for at, value in series if at >= 60] or [value for _at, value in series]
            result[group] = (after_minute[0], series[-1][1], max(value for _at, value in series))
        return result


def _tree_rss(group: str) -> float:
    """Return the summed resident memory in MiB of the process in var/load/<group>.pid and its children."""
    pid_file = RUN_DIR / f"{group}.pid"
    if not pid_file.exists():
        return 0.0
    pids = [int(pid_file.read_text().strip())]
    index = 0
    while index < len(pids):
        children = Path(f"/proc/{pids[index]}/task/{pids[index]}/children")
        if children.exists():
            pids += [int(pid) for pid in children.read_text().split()]
        index += 1
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


class _BuyerServer:
    """The buyer's procurement system on 127.0.0.1: answers every status document with cXML 200."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                server.received.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                body = b'<?xml version="1.0"?><cXML><Response><Status code="200" text="OK"/></Response></cXML>'
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

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


def _fresh_database() -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE_NAME)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))


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


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10, help="length of the load, in minutes (default 10)")
    parser.add_argument("--users", type=int, default=20, help="concurrent locust users (default 20)")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
