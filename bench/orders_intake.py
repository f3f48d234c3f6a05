"""Time cXML OrderRequest intake on PostgreSQL: one 500-line order, and 1,000 one-line orders from 16 clients.

Run from the repository root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backoffice_bench_orders DJANGO_DEBUG=1 \\
        .venv/bin/python -m bench.orders_intake            # --lines 500 --orders 1000 --clients 16

By default each request goes the way the cXML endpoint takes it after the HTTP layer:
``parse_xml``, ``read_header``, ``authenticate_cxml_sender`` and
``handle_order_request``, which takes the order in, checks it, confirms it
and allocates its stock in one transaction. The timing is from the bytes of
the document to the committed, allocated order. Django's request handling
and the document log row of the cXML view are not in it: through Django's
test client the same one-line order costs about 3 to 4 ms more CPU time. Outbox delivery is off
(the script empties ``ORDER_OUTBOX_SENDERS``), so the outbox rows are written
as skipped and no document is built or sent, as a worker would do it after
the commit.

The concurrent part gives 10 products 80 units each (800 in all) in two
warehouses and sends 1,000 orders of one unit of a random product, so about
200 orders find no stock and go on hold (or, when they lose the stock only
at its lock, wait in the backorder queue). Each client process sends one
untimed warm-up order first. The part reports the CPU time per order of
the clients and their PostgreSQL backends, then checks that no stock row
has more reserved than on hand and that the reserved units equal the
allocated orders.

With ``--base-url`` the concurrent part sends its orders over HTTP to
``/punchout/cxml/`` of a running server on the same database, such as the
production-like stack (``bin/prodlike``), so that each latency runs from
the client's request to the server's response and includes Django's
request handling and the wait for a free server worker. The client
processes then do no intake work of their own, and the CPU per order is
not reported. The big order and the serial part still run in this
process. The server must hash credentials with the same
``CREDENTIAL_HASH_KEY`` as this script, which stores the buyer
connection's shared secret.

``--server-slots N`` lets at most N client processes take an order in at
once; the others wait inside their timed request, as requests wait for a
free worker of a server with N workers. Intake's own slots
(``ORDER_INTAKE_MAX_CONCURRENT``, default the host's cores) bound the
client processes as they bound a server's workers.
"""

import argparse
import concurrent.futures
import http.client
import multiprocessing
import os
import random
import statistics
import time
from decimal import Decimal
from urllib.parse import urlsplit

from bench.database import create_database_if_missing

DATABASE_URL_EXAMPLE = "postgres://postgres@127.0.0.1:5432/backoffice_bench_orders"

SECRET = "bench-shared-secret"  # noqa: S105 - a benchmark's own connection secret, in its own database
HOT_PRODUCTS = 10
UNITS_PER_PRODUCT = 80
# The server that a client process sends its orders to over HTTP, or None to take them in itself.
_server: http.client.HTTPConnection | None = None
# With --server-slots, the semaphore that lets only that many client processes take an order in at once.
_server_slots = None


def main() -> None:
    options = _parse_arguments()
    create_database_if_missing(os.environ.get("DATABASE_URL", ""), example_url=DATABASE_URL_EXAMPLE)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # Sending documents is a worker's job after the commit; the client processes inherit this.
    settings.ORDER_OUTBOX_SENDERS = {}
    # As in production: with DEBUG on, Django keeps the text of every query, which costs CPU time
    # and makes apps/core/prepared.py use cursors that PostgreSQL cannot prepare statements for.
    settings.DEBUG = False

    call_command("migrate", verbosity=0, interactive=False)
    data = _ensure_data(options.lines)
    run_id = f"{int(time.time())}"

    print(f"load average {os.getloadavg()[0]:.1f} at the start")
    _big_order(data, options.lines, run_id, options.runs)
    _serial_orders(data, options.serial, run_id)
    if options.orders > 0:
        _concurrent_orders(data, options.orders, options.clients, run_id, options.base_url, options.server_slots)


def _parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500, help="lines of the big order (default 500)")
    parser.add_argument("--runs", type=int, default=5, help="big orders to time (default 5)")
    parser.add_argument(
        "--orders", type=int, default=1000, help="one-line orders from concurrent clients, 0 for none (default 1000)"
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument(
        "--server-slots",
        type=int,
        default=0,
        help="let at most this many client processes take an order in at once, as a server with that many "
        "workers would; the others wait for a slot inside their timed request (default 0: no limit)",
    )
    parser.add_argument(
        "--base-url",
        help="send the concurrent orders over HTTP to this running server, on the same database "
        "(for example http://127.0.0.1:8100); by default each client process takes its orders in itself",
    )
    parser.add_argument(
        "--serial", type=int, default=300, help="one-line orders from one client, for CPU per order (default 300)"
    )
    return parser.parse_args()


def _ensure_data(line_count: int) -> dict:
    import datetime as dt

    from django.utils import timezone

    from apps.catalog.models import Category, Product, StockLevel, UnitOfMeasure, Warehouse
    from apps.contracts.models import Contract, ContractPrice, Customer
    from apps.punchout.models import BuyerConnection

    customer, _ = Customer.objects.get_or_create(
        account_number="BENCH-ORDERS",
        defaults={"name": "Order benchmark buyer", "currency": "EUR", "credit_limit": Decimal("1000000000")},
    )
    contract, _ = Contract.objects.get_or_create(
        number="K-BENCH-ORDERS",
        defaults={
            "customer": customer,
            "valid_from": dt.date(2020, 1, 1),
            "currency": "EUR",
            "status": Contract.Status.ACTIVE,
        },
    )
    category, _ = Category.objects.get_or_create(code="BENCH-ORD", defaults={"name": "Order benchmark"})
    unit = UnitOfMeasure.objects.get(code="EA")
    warehouses = [
        Warehouse.objects.get_or_create(code=code, defaults={"name": code, "country": country})[0]
        for code, country in (("BENCH-NL", "NL"), ("BENCH-DE", "DE"))
    ]
    skus = [f"BENCH-ORD-{index:05d}" for index in range(line_count + HOT_PRODUCTS)]
    existing = set(Product.objects.filter(sku__in=skus).values_list("sku", flat=True))
    for sku in skus:
        if sku in existing:
            continue
        product = Product.objects.create(
            sku=sku, name=sku, category=category, unit=unit, list_price=Decimal("10.00"), currency="EUR"
        )
        ContractPrice.objects.create(contract=contract, product=product, price=Decimal("9.50"))
        for warehouse in warehouses:
            StockLevel.objects.create(product=product, warehouse=warehouse, on_hand=0, as_of=timezone.now())
    connection = BuyerConnection.objects.filter(sender_identity="BENCH-ORDERS").first()
    if connection is None:
        connection = BuyerConnection(
            name="Order benchmark",
            customer=customer,
            from_domain="NetworkID",
            from_identity="BENCH-ORDERS",
            sender_domain="NetworkID",
            sender_identity="BENCH-ORDERS",
            to_domain="DUNS",
            to_identity="987654321",
        )
        connection.set_shared_secret(SECRET)
        connection.save()
    return {"skus": skus, "customer": customer, "warehouses": warehouses}


def _reset_stock(data: dict, *, big: bool) -> None:
    """Set on-hand stock for a run. A benchmark reset, so it skips the stock history on purpose."""
    from apps.catalog.models import StockLevel

    hot = data["skus"][-HOT_PRODUCTS:]
    levels = StockLevel.objects.filter(product__sku__in=data["skus"])
    levels.update(on_hand=Decimal("1000000") if big else Decimal("0"), reserved=Decimal("0"))
    if not big:
        StockLevel.objects.filter(product__sku__in=hot).update(on_hand=Decimal(UNITS_PER_PRODUCT // 2))


def _document(payload_id: str, po_number: str, lines: list[tuple[str, int]]) -> bytes:
    items = "".join(
        f'<ItemOut quantity="{quantity}" lineNumber="{number}"><ItemID><SupplierPartID>{sku}</SupplierPartID>'
        f'</ItemID><ItemDetail><UnitPrice><Money currency="EUR">9.50</Money></UnitPrice>'
        f'<Description xml:lang="en">{sku}</Description><UnitOfMeasure>EA</UnitOfMeasure>'
        f'<Classification domain="UNSPSC">43211503</Classification></ItemDetail></ItemOut>'
        for number, (sku, quantity) in enumerate(lines, start=1)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><cXML payloadID="{payload_id}" timestamp="2026-12-04T10:00:00+00:00">'
        '<Header><From><Credential domain="NetworkID"><Identity>BENCH-ORDERS</Identity></Credential></From>'
        '<To><Credential domain="DUNS"><Identity>987654321</Identity></Credential></To>'
        '<Sender><Credential domain="NetworkID"><Identity>BENCH-ORDERS</Identity>'
        f"<SharedSecret>{SECRET}</SharedSecret></Credential><UserAgent>bench</UserAgent></Sender></Header>"
        f'<Request><OrderRequest><OrderRequestHeader orderID="{po_number}" type="new">'
        '<Total><Money currency="EUR">0</Money></Total></OrderRequestHeader>'
        f"{items}</OrderRequest></Request></cXML>"
    ).encode()


def _post(document: bytes) -> str:
    if _server is not None:
        return _post_http(document)
    from apps.core.xml import parse_xml
    from apps.punchout.cxml.reader import read_header
    from apps.punchout.order_handlers import handle_order_request
    from apps.punchout.services import authenticate_cxml_sender

    root = parse_xml(document)
    header = read_header(root)
    connection = authenticate_cxml_sender(header=header, client_address="127.0.0.1")
    answer = parse_xml(handle_order_request(root=root, header=header, connection=connection))
    return answer.find("Response/Status").get("code")


def _post_http(document: bytes) -> str:
    """Send a document to the server's cXML endpoint on this process's connection; return the cXML status code."""
    from apps.core.xml import parse_xml

    _server.request("POST", "/punchout/cxml/", body=document, headers={"Content-Type": "text/xml; charset=utf-8"})
    response = _server.getresponse()
    body = response.read()
    if response.status != 200:
        return f"HTTP {response.status}"
    return parse_xml(body).find("Response/Status").get("code")


def _big_order(data: dict, line_count: int, run_id: str, runs: int) -> None:
    from apps.orders.models import Order

    _reset_stock(data, big=True)
    lines = [(sku, 3) for sku in data["skus"][:line_count]]
    timings = []
    python_cpu = backend_cpu = 0.0
    for run in range(runs + 1):
        document = _document(f"bench-big-{run_id}-{run}", f"BIG-{run_id}-{run}", lines)
        backend = _backend_pid()
        cpu_started, backend_started = time.process_time(), _backend_cpu_seconds(backend)
        started = time.perf_counter()
        code = _post(document)
        elapsed = time.perf_counter() - started
        if run > 0:
            python_cpu += time.process_time() - cpu_started
            backend_cpu += _backend_cpu_seconds(backend) - backend_started
        order = Order.objects.get(payload_id=f"bench-big-{run_id}-{run}")
        if code != "200" or order.status != "allocated":
            raise SystemExit(f"The big order answered {code} and is {order.status}; expected 200 and allocated.")
        if run > 0:  # the first run warms up imports, caches and the connection
            timings.append(elapsed)
    print(
        f"{line_count}-line OrderRequest to allocated order: median {statistics.median(timings) * 1000:.0f} ms, "
        f"min {min(timings) * 1000:.0f} ms, max {max(timings) * 1000:.0f} ms over {runs} runs; CPU per order: "
        f"Python {python_cpu / runs * 1000:.0f} ms, PostgreSQL {backend_cpu / runs * 1000:.0f} ms"
    )


def _serial_orders(data: dict, order_count: int, run_id: str) -> None:
    """Send one-line orders one after another and report wall time and the CPU time each one costs.

    The CPU time is this process's (``time.process_time``) and that of its
    PostgreSQL backend, read from ``/proc/<pid>/stat`` (the server runs on
    this machine), so it leaves out what other work on the machine takes.
    The backend's figure counts in clock ticks of 10 ms, so only the mean
    over many orders means anything.
    """
    if order_count <= 0:
        return
    _reset_stock(data, big=True)
    hot = data["skus"][-HOT_PRODUCTS:]
    rng = random.Random(2)
    documents = [
        _document(f"bench-serial-{run_id}-{index}", f"SERIAL-{run_id}-{index}", [(rng.choice(hot), 1)])
        for index in range(order_count + 10)
    ]
    for document in documents[:10]:  # warm-up: imports, caches, the connection
        _post(document)
    backend = _backend_pid()
    latencies = []
    cpu_started = time.process_time()
    backend_started = _backend_cpu_seconds(backend)
    started = time.perf_counter()
    for document in documents[10:]:
        elapsed, code = _timed_post(document)
        if code != "200":
            raise SystemExit(f"A one-line order returned status {code}; expected 200.")
        latencies.append(elapsed)
    wall = time.perf_counter() - started
    python_cpu = time.process_time() - cpu_started
    backend_cpu = _backend_cpu_seconds(backend) - backend_started
    latencies.sort()
    print(
        f"{order_count} one-line orders from 1 client: p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {latencies[max(int(len(latencies) * 0.99) - 1, 0)] * 1000:.1f} ms, wall {wall / order_count * 1000:.1f} "
        f"ms per order; CPU per order: Python {python_cpu / order_count * 1000:.1f} ms, "
        f"PostgreSQL {backend_cpu / order_count * 1000:.1f} ms; load average {os.getloadavg()[0]:.1f}"
    )


def _backend_pid() -> int:
    from django.db import connection

    connection.ensure_connection()
    return connection.connection.info.backend_pid


def _backend_cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time of a local process, from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    # utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _init_client(warm_up_sku: str, run_id: str, ready, base_url: str | None) -> None:
    """Set up Django in a client process and send one warm-up order, then wait at ``ready`` for the other clients.

    The warm-up order opens the process's database connection, imports what
    intake imports on first use and compiles the queries that are kept per
    connection, as the serial part's warm-up does. It is for one unit of a
    product that has no stock in this part, so it goes on hold and leaves
    the contended stock alone. With ``base_url`` the process opens its
    connection to the server, which the warm-up order then warms up too.
    """
    global _server
    import django

    django.setup()
    if base_url:
        parts = urlsplit(base_url)
        _server = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
    try:
        _post(_document(f"bench-warm-{run_id}-{os.getpid()}", f"WARM-{run_id}-{os.getpid()}", [(warm_up_sku, 1)]))
    finally:  # a failed warm-up breaks the pool, and the main process must not wait for this client
        ready.wait(timeout=600)


def _timed_post(document: bytes) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        if _server_slots is None:
            code = _post(document)
        else:
            with _server_slots:
                code = _post(document)
    except Exception as error:  # a failed request is counted and reported, not hidden
        code = repr(error)
    return time.perf_counter() - started, code


def _client_post(document: bytes) -> tuple[float, str, float, float]:
    """Send one order from a client process; return its wall time, status code and the CPU time it took.

    The CPU time is this process's and its PostgreSQL backend's, read
    outside the timed call as in the serial part (10 ms ticks for the
    backend, so only the sum over many orders counts).
    """
    if _server is not None:
        elapsed, code = _timed_post(document)
        return elapsed, code, 0.0, 0.0
    backend = _backend_pid()
    cpu_started, backend_started = time.process_time(), _backend_cpu_seconds(backend)
    elapsed, code = _timed_post(document)
    return elapsed, code, time.process_time() - cpu_started, _backend_cpu_seconds(backend) - backend_started


def _concurrent_orders(
    data: dict, order_count: int, clients: int, run_id: str, base_url: str | None, server_slots: int
) -> None:
    from django.db import connections

    from apps.catalog.models import StockLevel
    from apps.orders.models import Order

    _reset_stock(data, big=False)
    hot = data["skus"][-HOT_PRODUCTS:]
    rng = random.Random(1)
    documents = [
        _document(f"bench-one-{run_id}-{index}", f"ONE-{run_id}-{index}", [(rng.choice(hot), 1)])
        for index in range(order_count)
    ]
    connections.close_all()  # the client processes must not share this process's connection

    # One process per client, so that the clients do not share one interpreter lock. With "fork" the pool
    # starts all of them at the first submission (Python 3.11), and each sends its warm-up order before
    # the clock runs.
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(clients + 1)
    global _server_slots
    # NOTE: a multiprocessing semaphore wakes its waiters in no fixed order, unlike a server's FIFO queue,
    # so the slowest latencies under --server-slots may be higher than a server's.
    _server_slots = context.BoundedSemaphore(server_slots) if server_slots > 0 else None
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=clients,
        mp_context=context,
        initializer=_init_client,
        initargs=(data["skus"][0], run_id, ready, base_url),
    ) as pool:
        started_clients = pool.map(_noop, range(clients))
        ready.wait(timeout=600)
        list(started_clients)
        started = time.perf_counter()
        results = list(pool.map(_client_post, documents, chunksize=1))
        wall = time.perf_counter() - started

    latencies = sorted(elapsed for elapsed, *_ in results)
    errors = [code for _, code, *_ in results if code != "200"]
    python_cpu = sum(result[2] for result in results)
    backend_cpu = sum(result[3] for result in results)
    orders = Order.objects.filter(payload_id__startswith=f"bench-one-{run_id}-")
    allocated = orders.filter(status="allocated").count()
    on_hold = orders.filter(status="on_hold").count()
    backordered = orders.filter(status="confirmed").count()
    levels = StockLevel.objects.filter(product__sku__in=hot)
    oversold = [level.pk for level in levels if level.reserved > level.on_hand]
    reserved = sum(level.reserved for level in levels)
    p99 = latencies[max(int(len(latencies) * 0.99) - 1, 0)]
    sent_to = f"over HTTP to {base_url}" if base_url else "taken in by the clients themselves"
    if server_slots > 0:
        sent_to += f", at most {server_slots} at once"
    print(
        f"{order_count} one-line orders from {clients} client processes, {sent_to}, in {wall:.1f} s "
        f"({order_count / wall:.0f} orders/s): p50 {statistics.median(latencies) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; load average {os.getloadavg()[0]:.1f} at the end"
    )
    _print_latencies_by_status(results, orders, run_id)
    if not base_url:
        print(
            f"CPU per order in the clients: Python {python_cpu / order_count * 1000:.1f} ms, "
            f"PostgreSQL {backend_cpu / order_count * 1000:.1f} ms"
        )
    print(
        f"allocated {allocated}, on hold {on_hold}, waiting for stock {backordered}, "
        f"reserved {reserved} of {HOT_PRODUCTS * UNITS_PER_PRODUCT}, oversold rows {len(oversold)}, "
        f"errors {len(errors)} {errors[:3]}"
    )
    if oversold or errors or reserved != allocated:
        raise SystemExit("Oversell or errors: see the figures above.")


def _print_latencies_by_status(results: list, orders, run_id: str) -> None:
    """Print p50 and p99 of the orders that were allocated and of those that ended otherwise (on hold, waiting).

    The stock runs out after about 800 orders, and an order that goes on hold
    opens cases, so the last part of the run is slower than the first.
    """
    status_by_payload = dict(orders.values_list("payload_id", "status"))
    groups: dict[str, list[float]] = {}
    for index, (elapsed, *_) in enumerate(results):
        status = status_by_payload.get(f"bench-one-{run_id}-{index}", "missing")
        groups.setdefault("allocated" if status == "allocated" else "not allocated", []).append(elapsed)
    parts = []
    for name, latencies in sorted(groups.items()):
        latencies.sort()
        p99 = latencies[max(int(len(latencies) * 0.99) - 1, 0)]
        parts.append(
            f"{name} {len(latencies)}: p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
        )
    print("by outcome: " + "; ".join(parts))


def _noop(_: int) -> None:
    return None


if __name__ == "__main__":
    main()
