"""Measure how many ERP messages per second the API takes in on PostgreSQL, with a real Celery worker sending.

Start the production-like stack (gunicorn, a Celery worker and beat) on a
PostgreSQL database of your own, with a partner rate limit above the load,
then run this script against it with the same DATABASE_URL:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backoffice_bench_erp CELERY_BROKER_URL=redis://127.0.0.1:6379/6 \\
        API_PARTNER_REQUESTS_PER_MINUTE=1000000 bin/prodlike start
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backoffice_bench_erp CELERY_BROKER_URL=redis://127.0.0.1:6379/6 \\
        .venv/bin/python -m bench.erp_messages --base-url http://127.0.0.1:8100   # --orders 400 --clients 8

The script creates a buyer connection with its own customer and product,
takes in ``--orders`` one-line cXML orders (confirmed and allocated) and
points the connection's order documents at a buyer server it runs on
127.0.0.1. ``--clients`` threads then send, for each order in turn, the
ERP's acknowledgement, shipment, invoice and payment, each twice, so that
every second message is a replay. The figure is the messages per second over
the whole send, replays included. Afterwards the script waits until the
worker has sent every outbox document. It then checks that each message
was applied exactly once. That means one shipment, invoice and payment per
order, every order paid, and every replay marked as a replay. The buyer
server must have one confirmation, ship notice, invoice and status update
per order.

Besides the web processes' CPU time over the send, the script reads the
CPU time of the PostgreSQL backends of its database and of the Celery
worker's process group from /proc, from the start of the send until the
worker has finished the outbox, and reports each per message.

``--floor N`` measures the baseline instead, with no orders: N requests to
``/bench/erp-floor/`` (the partner API's stack and one inserted row) and N to
``/bench/plain/`` (a plain Django view), from the same clients. The stack must
then run with ``PRODLIKE_SETTINGS_MODULE=bench.erp_settings``, whose URLs
add those views (see ``bench.erp_urls``); the ERP messages run on it too.
"""

import argparse
import concurrent.futures
import datetime as dt
import functools
import http.client
import json
import os
import statistics
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bench.database import create_database_if_missing

DATABASE_URL_EXAMPLE = "postgres://postgres@127.0.0.1:5432/backoffice_bench_erp"
ACCOUNT = "BENCH-ERP"
SKU = "BENCH-ERP-1"
UNIT_PRICE = Decimal("10.00")
# Seconds to wait for the worker to send the last documents once the messages are in.
DRAIN_TIMEOUT_SECONDS = 600
# Seconds between two readings of the stack's processes' CPU time.
PROCESS_SAMPLE_SECONDS = 0.25


@dataclass
class Tally:
    """The clients' observations: every latency, the statuses, and the replays the server marked as such."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    replays_marked: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, latency_ms: float, replayed: bool, error: str = "") -> None:
        with self.lock:
            self.latencies_ms.append(latency_ms)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.replays_marked += int(replayed)
            if error and len(self.errors) < 10:
                self.errors.append(error)


def main() -> None:
    options = _parse_arguments()
    create_database_if_missing(os.environ.get("DATABASE_URL", ""), example_url=DATABASE_URL_EXAMPLE)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from tests.orders.buyer_server import BuyerServer

    meter = CpuMeter(options.web_pid_file, options.worker_pid_file, os.environ.get("DATABASE_URL", ""))
    if options.floor:
        _measure_floor(options, meter)
        return
    with BuyerServer() as buyer:
        orders, key, restore, prefix = _prepare(options.orders, buyer.url)
        try:
            print(f"{len(orders)} orders allocated; sending {len(orders) * 8} messages from {options.clients} clients")
            tally = Tally()
            load_before = os.getloadavg()[0]
            before = meter.read()
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(options.clients) as pool:
                chunks = [orders[index :: options.clients] for index in range(options.clients)]
                list(pool.map(lambda chunk: _send_chunk(options.base_url, key, chunk, tally), chunks))
            seconds = time.perf_counter() - started
            sent_cpu = meter.read()
            _report(tally, seconds)
            sent = max(len(tally.latencies_ms), 1)
            print(
                f"web processes' CPU {sent_cpu.web - before.web:.1f} s, "
                f"{(sent_cpu.web - before.web) * 1000 / sent:.1f} ms per message; this script's CPU "
                f"{sent_cpu.client - before.client:.1f} s, {(sent_cpu.client - before.client) * 1000 / sent:.1f} ms "
                f"per message; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
            )
            drained = _wait_for_outbox(orders)
            _report_cpu(meter.read().minus(before), sent, "message", until="the worker finished the outbox")
            _check(orders, tally, buyer, drained, prefix)
        finally:
            restore()


@dataclass(frozen=True)
class CpuReading:
    """CPU seconds, user and system, used so far by each part of the stack."""

    web: float
    database: float
    worker: float
    client: float

    def minus(self, earlier: "CpuReading") -> "CpuReading":
        return CpuReading(
            web=self.web - earlier.web,
            database=self.database - earlier.database,
            worker=self.worker - earlier.worker,
            client=self.client - earlier.client,
        )


class CpuMeter:
    """Read the CPU time of the web processes, the PostgreSQL backends, the Celery worker and this script.

    Processes end during a run: gunicorn replaces a worker after
    GUNICORN_MAX_REQUESTS requests, and the stack closes a database
    connection once it is older than DATABASE_CONN_MAX_AGE, so its backend
    exits. Their CPU time would drop out of a sum over the living
    processes. So a thread reads every process every
    ``PROCESS_SAMPLE_SECONDS`` and keeps the last figure of each, and a
    process that exits loses at most that interval's CPU time: each figure
    is a lower bound.
    """

    def __init__(self, web_pid_file: str, worker_pid_file: str, database_url: str) -> None:
        self.web_pid_file = web_pid_file
        self.worker_pid_file = worker_pid_file
        self.database = unquote(urlsplit(database_url).path.lstrip("/"))
        # CPU ticks of each process per part, under (PID, start time) so that a reused PID is another process.
        self.ticks: dict[str, dict[tuple[int, int], int]] = {"web": {}, "database": {}, "worker": {}}
        self.lock = threading.Lock()
        sampler = threading.Thread(target=self._sample_forever, name="cpu-sampler", daemon=True)
        sampler.start()

    def read(self) -> CpuReading:
        totals = self._sample()
        return CpuReading(
            web=totals["web"], database=totals["database"], worker=totals["worker"], client=time.process_time()
        )

    def _sample(self) -> dict[str, float]:
        """Read every process of the stack now; return the CPU seconds of each part, exited processes included."""
        found = _stack_process_ticks(_group_of(self.web_pid_file), _group_of(self.worker_pid_file), self.database)
        per_second = os.sysconf("SC_CLK_TCK")
        with self.lock:
            for part, processes in found.items():
                self.ticks[part].update(processes)
            return {part: sum(processes.values()) / per_second for part, processes in self.ticks.items()}

    def _sample_forever(self) -> None:
        while True:
            self._sample()
            time.sleep(PROCESS_SAMPLE_SECONDS)


def _report_cpu(used: CpuReading, count: int, unit: str, *, until: str) -> None:
    """Print the CPU time per request of each part, and their sum, from the start of the send until ``until``."""
    per = {name: getattr(used, name) * 1000 / max(count, 1) for name in ("web", "database", "worker", "client")}
    print(
        f"CPU per {unit}, from the start of the send until {until}: web {per['web']:.2f} ms, PostgreSQL backends "
        f"{per['database']:.2f} ms, Celery worker {per['worker']:.2f} ms, this script {per['client']:.2f} ms; "
        f"together {sum(per.values()):.2f} ms"
    )


def _measure_floor(options, meter: CpuMeter) -> None:
    """Send ``--floor`` requests to each baseline view of bench.erp_urls and print rate and CPU per request."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    key = _floor_key()
    for path in ("/bench/erp-floor/", "/bench/plain/"):
        tally = Tally()
        load_before = os.getloadavg()[0]
        before = meter.read()
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(options.clients) as pool:
            counts = [len(range(index, options.floor, options.clients)) for index in range(options.clients)]
            send = functools.partial(_send_floor, options.base_url, key, path, tally=tally)
            list(pool.map(send, counts))
        seconds = time.perf_counter() - started
        used = meter.read().minus(before)
        print(f"{path}:")
        _report(tally, seconds, unit="requests")
        _report_cpu(used, len(tally.latencies_ms), "request", until="its end")
        print(f"  load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
        if tally.statuses != {201: options.floor}:
            raise SystemExit(f"{path}: expected {options.floor} responses 201, got {tally.statuses}.")


def _floor_key() -> str:
    from apps.api.keys import api_key_create
    from apps.api.models import Partner, Scope

    partner, _ = Partner.objects.get_or_create(
        name="ERP benchmark", defaults={"all_customers": True, "requests_per_minute": 10_000_000}
    )
    _, key = api_key_create(partner=partner, name=f"bench floor {time.time_ns()}", scopes=[Scope.ERP_WRITE])
    return key


def _send_floor(base_url: str, key: str, path: str, count: int, *, tally: Tally) -> None:
    """Send ``count`` POSTs of a small ERP-like JSON body to ``path`` over one kept-alive connection."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    payload = json.dumps({"shipment_id": "S-1", "lines": [{"line_number": "1", "quantity": "1"}], "carrier": "DHL"})
    for _ in range(count):
        started = time.perf_counter()
        try:
            connection.request("POST", path, body=payload.encode(), headers=headers)
            response = connection.getresponse()
            text = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            status, text = 0, str(error).encode()
        latency = (time.perf_counter() - started) * 1000
        tally.add(status, latency, False, "" if status == 201 else f"{path}: {status} {text[:200]!r}")
    connection.close()


def _parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8100", help="the running server's URL")
    parser.add_argument("--orders", type=int, default=400, help="orders to report on, 8 messages each (default 400)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument(
        "--web-pid-file",
        default="var/prodlike/web.pid",
        help="PID file of the web process, whose process group's CPU time is reported (default var/prodlike/web.pid)",
    )
    parser.add_argument(
        "--worker-pid-file",
        default="var/prodlike/worker.pid",
        help="PID file of the Celery worker, whose process group's CPU time is reported "
        "(default var/prodlike/worker.pid)",
    )
    parser.add_argument(
        "--floor",
        type=int,
        default=0,
        metavar="N",
        help="send N requests to each baseline view of bench.erp_urls instead of the ERP messages (default 0: off)",
    )
    return parser.parse_args()


def _prepare(count: int, buyer_url: str):
    """Create the buyer, product and ERP key, and take in ``count`` orders.

    Returns the orders, the key, a step that removes the buyer endpoint again, and the orders' PO number prefix.
    """
    from django.conf import settings

    from apps.api.keys import api_key_create
    from apps.api.models import Partner, Scope

    customer, source, endpoint = create_cxml_buyer(
        account=ACCOUNT, sku=SKU, label="ERP benchmark", stock=count, buyer_url=buyer_url
    )

    partner, _ = Partner.objects.get_or_create(
        name="ERP benchmark", defaults={"all_customers": True, "requests_per_minute": 10_000_000}
    )
    _, key = api_key_create(partner=partner, name=f"bench {time.time_ns()}", scopes=[Scope.ERP_WRITE])

    if settings.CELERY_TASK_ALWAYS_EAGER:
        raise SystemExit("Set CELERY_BROKER_URL to the stack's broker, so that the worker sends the documents.")
    run = time.strftime("%Y%m%d%H%M%S")
    orders = take_in_orders(customer=customer, source=source, sku=SKU, count=count, prefix=f"ERP-{run}-")

    def restore() -> None:
        endpoint.delete()

    return orders, key, restore, f"ERP-{run}-"


def create_cxml_buyer(*, account: str, sku: str, label: str, stock: int, buyer_url: str):
    """Create or reuse a cXML buyer with a customer, product and warehouse of its own, sending to ``buyer_url``.

    ``stock`` units of the product are added to the warehouse. Returns the
    customer, the connection's order source and its outbound endpoint.
    """
    from django.utils import timezone

    from apps.catalog.models import Category, Product, StockLevel, UnitOfMeasure, Warehouse
    from apps.contracts.models import Customer
    from apps.orders.models import OutboundEndpoint
    from apps.punchout.models import BuyerConnection
    from apps.punchout.order_request import connection_source

    customer, _ = Customer.objects.get_or_create(
        account_number=account,
        defaults={"name": f"{label} buyer", "currency": "EUR", "credit_limit": Decimal("1000000000")},
    )
    category, _ = Category.objects.get_or_create(code=account, defaults={"name": label})
    unit, _ = UnitOfMeasure.objects.get_or_create(code="EA", defaults={"name": "each"})
    warehouse, _ = Warehouse.objects.get_or_create(code=account, defaults={"name": label, "country": "NL"})
    product, _ = Product.objects.get_or_create(
        sku=sku,
        defaults={"name": sku, "category": category, "unit": unit, "list_price": UNIT_PRICE, "currency": "EUR"},
    )
    level, _ = StockLevel.objects.get_or_create(
        product=product, warehouse=warehouse, defaults={"on_hand": 0, "as_of": timezone.now()}
    )
    level.on_hand += stock
    level.save(update_fields=["on_hand", "updated_at"])
    connection = BuyerConnection.objects.filter(sender_identity=account).first()
    if connection is None:
        connection = BuyerConnection(
            name=label,
            customer=customer,
            from_domain="NetworkID",
            from_identity=account,
            sender_domain="NetworkID",
            sender_identity=account,
            to_domain="DUNS",
            to_identity="987654321",
        )
        connection.set_shared_secret(f"bench-{time.time_ns()}")
        connection.save()
    source = connection_source(connection)
    endpoint, _ = OutboundEndpoint.objects.update_or_create(source=source, defaults={"url": buyer_url})
    return customer, source, endpoint


def take_in_orders(*, customer, source: str, sku: str, count: int, prefix: str) -> list:
    """Take in ``count`` one-line cXML orders of one unit of ``sku``, numbered from ``prefix``; return them.

    Stops the script with ``SystemExit`` when an order is not allocated.
    """
    from apps.orders.inputs import LineInput, OrderInput
    from apps.orders.models import OrderStatus
    from apps.orders.services import order_intake

    orders = []
    for index in range(count):
        po_number = f"{prefix}{index:05d}"
        result = order_intake(
            request=OrderInput(
                channel="cxml",
                source=source,
                customer=customer,
                document_id=f"{po_number}@bench",
                operation="new",
                po_number=po_number,
                currency="EUR",
                lines=(LineInput(line_number="1", sku=sku, quantity="1", unit="EA"),),
            )
        )
        if result.order is None or result.order.status != OrderStatus.ALLOCATED:
            raise SystemExit(f"Order {po_number} was not allocated: {result.code} {result.message}")
        orders.append(result.order)
    return orders


def _messages(order) -> list[tuple[str, dict]]:
    """Return the ERP's four messages about a one-line order of one unit, in the order the ERP sends them."""
    total = format(order.total, "f")
    tax = format(order.total - order.subtotal, "f")
    return [
        (f"/api/v1/orders/{order.number}/erp-ack/", {"erp_reference": f"E-{order.number}"}),
        (
            f"/api/v1/orders/{order.number}/shipments/",
            {"shipment_id": f"S-{order.number}", "lines": [{"line_number": "1", "quantity": "1"}], "carrier": "DHL"},
        ),
        (
            f"/api/v1/orders/{order.number}/invoices/",
            {
                "invoice_number": f"I-{order.number}",
                "lines": [{"line_number": "1", "quantity": "1"}],
                "tax": tax,
                "total": total,
                "due_date": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
            },
        ),
        (f"/api/v1/invoices/I-{order.number}/payments/", {"payment_id": f"P-{order.number}", "amount": total}),
    ]


def _send_chunk(base_url: str, key: str, orders: list, tally: Tally) -> None:
    """Send each order's messages, each twice, over one kept-alive connection."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for order in orders:
        for path, body in _messages(order):
            payload = json.dumps(body).encode()
            for _ in range(2):
                started = time.perf_counter()
                try:
                    connection.request("POST", path, body=payload, headers=headers)
                    response = connection.getresponse()
                    text = response.read()
                    status, replayed = response.status, response.getheader("Idempotent-Replayed") == "true"
                except (OSError, http.client.HTTPException) as error:
                    connection.close()
                    status, replayed, text = 0, False, str(error).encode()
                latency = (time.perf_counter() - started) * 1000
                tally.add(status, latency, replayed, "" if status == 201 else f"{path}: {status} {text[:200]!r}")
    connection.close()


def _group_of(pid_file: str) -> int | None:
    """Return the process group that the PID in ``pid_file`` leads, or None when the file is missing.

    bin/prodlike starts gunicorn and the Celery worker each in a process group of its own, so the group is
    the process and its children.
    """
    try:
        return int(Path(pid_file).read_text().strip())
    except (OSError, ValueError):
        return None


def _stack_process_ticks(
    web_group: int | None, worker_group: int | None, database: str
) -> dict[str, dict[tuple[int, int], int]]:
    """Return the user and system CPU ticks of each process of the web and worker groups and of the database's backends.

    The keys are (PID, start time in ticks after boot). A PostgreSQL backend's command line reads
    ``postgres: [cluster:] user database client state``. Returns nothing without /proc.
    """
    found: dict[str, dict[tuple[int, int], int]] = {"web": {}, "database": {}, "worker": {}}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
            # After the command name: pgrp is field 5, utime 14, stime 15 and starttime 22 of stat(5).
            fields = stat.rsplit(")", 1)[1].split()
            key, ticks, group = (int(entry), int(fields[19])), int(fields[11]) + int(fields[12]), int(fields[2])
            if group in (web_group, worker_group):
                found["web" if group == web_group else "worker"][key] = ticks
            elif stat.split(" (", 1)[1].startswith("postgres)") and _is_backend_of(entry, database):
                found["database"][key] = ticks
        except (OSError, IndexError, ValueError):
            continue
    return found


def _is_backend_of(pid: str, database: str) -> bool:
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        words = handle.read().replace(b"\0", b" ").decode(errors="replace").split()
    names = [word for word in words[1:] if not word.endswith(":")]
    return bool(words) and words[0] == "postgres:" and len(names) >= 2 and names[1] == database


def _report(tally: Tally, seconds: float, unit: str = "messages") -> None:
    sent = len(tally.latencies_ms)
    ordered = sorted(tally.latencies_ms)
    print(
        f"{sent} {unit} in {seconds:.1f} s: {sent / seconds:.0f} {unit}/s; latency median "
        f"{statistics.median(ordered):.1f} ms, p95 {ordered[int(0.95 * (sent - 1))]:.1f} ms, "
        f"max {ordered[-1]:.1f} ms; statuses {tally.statuses}; replays marked {tally.replays_marked}"
    )
    for error in tally.errors:
        print(f"  error: {error}")


def _wait_for_outbox(orders) -> float:
    """Wait until the worker has finished every outbox event of the orders; return the seconds waited."""
    from apps.orders.models import OutboxEvent, OutboxStatus

    started = time.perf_counter()
    events = OutboxEvent.objects.filter(order__in=[order.pk for order in orders])
    while events.filter(status=OutboxStatus.PENDING).exists():
        if time.perf_counter() - started > DRAIN_TIMEOUT_SECONDS:
            break
        time.sleep(1)
    return time.perf_counter() - started


def _check(orders, tally: Tally, buyer, drained: float, prefix: str) -> None:
    from django.db.models import Count

    from apps.orders.models import ErpMessage, Invoice, Order, OrderStatus, OutboxEvent, Payment, Shipment

    ids = [order.pk for order in orders]
    count = len(orders)
    # Documents of earlier orders that were waiting for a retry may reach this run's buyer server too.
    ours = [body for body in buyer.received if prefix.encode() in body]
    statuses = dict(Order.objects.filter(pk__in=ids).values_list("status").annotate(n=Count("pk")))
    outbox = dict(OutboxEvent.objects.filter(order__in=ids).values_list("status").annotate(n=Count("pk")))
    checks = {
        "every message answered 201": tally.statuses == {201: count * 8},
        "every second message marked a replay": tally.replays_marked == count * 4,
        "one shipment per order": Shipment.objects.filter(order__in=ids).count() == count,
        "one invoice per order": Invoice.objects.filter(orders__in=ids).count() == count,
        "one payment per order": Payment.objects.filter(invoice__orders__in=ids).count() == count,
        "four ERP messages kept per order": ErpMessage.objects.filter(order__in=ids).count() == count * 4,
        "every order paid": statuses == {OrderStatus.PAID: count},
        "every outbox document delivered": outbox == {"delivered": count * 4},
        "buyer got one document per event": len(ours) == count * 4,
    }
    print(f"worker finished the outbox {drained:.1f} s after the last message; order statuses {statuses}")
    for name, passed in checks.items():
        print(f"  {'ok  ' if passed else 'FAIL'} {name}")
    print(f"  outbox statuses {outbox}; buyer received {len(ours)} documents of these orders")
    if not all(checks.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
