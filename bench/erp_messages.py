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
"""

import argparse
import concurrent.futures
import datetime as dt
import http.client
import json
import os
import statistics
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from bench.database import create_database_if_missing

DATABASE_URL_EXAMPLE = "postgres://postgres@127.0.0.1:5432/backoffice_bench_erp"
ACCOUNT = "BENCH-ERP"
SKU = "BENCH-ERP-1"
UNIT_PRICE = Decimal("10.00")
# Seconds to wait for the worker to send the last documents once the messages are in.
DRAIN_TIMEOUT_SECONDS = 600


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

    with BuyerServer() as buyer:
        orders, key, restore, prefix = _prepare(options.orders, buyer.url)
        try:
            print(f"{len(orders)} orders allocated; sending {len(orders) * 8} messages from {options.clients} clients")
            tally = Tally()
            load_before = os.getloadavg()[0]
            cpu_before = _group_cpu_seconds(options.web_pid_file)
            client_cpu_before = time.process_time()
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(options.clients) as pool:
                chunks = [orders[index :: options.clients] for index in range(options.clients)]
                list(pool.map(lambda chunk: _send_chunk(options.base_url, key, chunk, tally), chunks))
            seconds = time.perf_counter() - started
            web_cpu = _group_cpu_seconds(options.web_pid_file) - cpu_before
            client_cpu = time.process_time() - client_cpu_before
            _report(tally, seconds)
            sent = max(len(tally.latencies_ms), 1)
            print(
                f"web processes' CPU {web_cpu:.1f} s, {web_cpu * 1000 / sent:.1f} ms per message; this script's "
                f"CPU {client_cpu:.1f} s, {client_cpu * 1000 / sent:.1f} ms per message; load average "
                f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
            )
            drained = _wait_for_outbox(orders)
            _check(orders, tally, buyer, drained, prefix)
        finally:
            restore()


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
    return parser.parse_args()


def _prepare(count: int, buyer_url: str):
    """Create the buyer, product and ERP key, and take in ``count`` orders.

    Returns the orders, the key, a step that removes the buyer endpoint again, and the orders' PO number prefix.
    """
    from django.conf import settings
    from django.utils import timezone

    from apps.api.keys import api_key_create
    from apps.api.models import Partner, Scope
    from apps.catalog.models import Category, Product, StockLevel, UnitOfMeasure, Warehouse
    from apps.contracts.models import Customer
    from apps.orders.inputs import LineInput, OrderInput
    from apps.orders.models import OrderStatus, OutboundEndpoint
    from apps.orders.services import order_intake
    from apps.punchout.models import BuyerConnection
    from apps.punchout.order_request import connection_source

    customer, _ = Customer.objects.get_or_create(
        account_number=ACCOUNT,
        defaults={"name": "ERP benchmark buyer", "currency": "EUR", "credit_limit": Decimal("1000000000")},
    )
    category, _ = Category.objects.get_or_create(code="BENCH-ERP", defaults={"name": "ERP benchmark"})
    unit, _ = UnitOfMeasure.objects.get_or_create(code="EA", defaults={"name": "each"})
    warehouse, _ = Warehouse.objects.get_or_create(code="BENCH-ERP", defaults={"name": "ERP bench", "country": "NL"})
    product, _ = Product.objects.get_or_create(
        sku=SKU,
        defaults={"name": SKU, "category": category, "unit": unit, "list_price": UNIT_PRICE, "currency": "EUR"},
    )
    level, _ = StockLevel.objects.get_or_create(
        product=product, warehouse=warehouse, defaults={"on_hand": 0, "as_of": timezone.now()}
    )
    level.on_hand += count
    level.save(update_fields=["on_hand", "updated_at"])
    connection = BuyerConnection.objects.filter(sender_identity=ACCOUNT).first()
    if connection is None:
        connection = BuyerConnection(
            name="ERP benchmark",
            customer=customer,
            from_domain="NetworkID",
            from_identity=ACCOUNT,
            sender_domain="NetworkID",
            sender_identity=ACCOUNT,
            to_domain="DUNS",
            to_identity="987654321",
        )
        connection.set_shared_secret(f"bench-{time.time_ns()}")
        connection.save()
    source = connection_source(connection)
    endpoint, _ = OutboundEndpoint.objects.update_or_create(source=source, defaults={"url": buyer_url})

    partner, _ = Partner.objects.get_or_create(
        name="ERP benchmark", defaults={"all_customers": True, "requests_per_minute": 10_000_000}
    )
    _, key = api_key_create(partner=partner, name=f"bench {time.time_ns()}", scopes=[Scope.ERP_WRITE])

    if settings.CELERY_TASK_ALWAYS_EAGER:
        raise SystemExit("Set CELERY_BROKER_URL to the stack's broker, so that the worker sends the documents.")
    run = time.strftime("%Y%m%d%H%M%S")
    orders = []
    for index in range(count):
        po_number = f"ERP-{run}-{index:05d}"
        result = order_intake(
            request=OrderInput(
                channel="cxml",
                source=source,
                customer=customer,
                document_id=f"{po_number}@bench",
                operation="new",
                po_number=po_number,
                currency="EUR",
                lines=(LineInput(line_number="1", sku=SKU, quantity="1", unit="EA"),),
            )
        )
        if result.order is None or result.order.status != OrderStatus.ALLOCATED:
            raise SystemExit(f"Order {po_number} was not allocated: {result.code} {result.message}")
        orders.append(result.order)

    def restore() -> None:
        endpoint.delete()

    return orders, key, restore, f"ERP-{run}-"


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


def _group_cpu_seconds(pid_file: str) -> float:
    """Return the user and system CPU seconds of the processes in the process group of the PID in ``pid_file``.

    bin/prodlike starts gunicorn in its own process group, so the group is gunicorn and its workers. Returns
    0 when the file or /proc is missing, and the figure is then left out of the comparison.
    """
    try:
        group = int(Path(pid_file).read_text().strip())
        entries = os.listdir("/proc")
    except (OSError, ValueError):
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state, ppid, pgrp, ... utime is field 14 and stime 15 of stat(5).
        if int(fields[2]) == group:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def _report(tally: Tally, seconds: float) -> None:
    sent = len(tally.latencies_ms)
    ordered = sorted(tally.latencies_ms)
    print(
        f"{sent} messages in {seconds:.1f} s: {sent / seconds:.0f} messages/s; latency median "
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
