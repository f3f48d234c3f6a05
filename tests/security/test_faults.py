"""Faults on the real stack: Celery workers killed, Redis and database connections lost, buyers that hang.

Each test runs real `celery worker` processes against the pytest PostgreSQL
database and a Redis server of its own on another 127.0.0.1 port (so that
stopping it never touches the machine's shared Redis), with buyers'
procurement systems simulated on 127.0.0.1. The PostgreSQL restart runs
gunicorn on a copy of the pytest database in a PostgreSQL cluster of its
own, for the same reason. After each fault the invariants
are the same: every accepted order exists once, every outbox document
reaches its buyer with one payloadID (a resend repeats the payloadID, which
a cXML receiver drops as a duplicate), and no import is half applied.

The slow faults run only with FAULT_TESTS=1 (docs/security.md has the
command); CI runs the others.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection as db_connection

from apps.catalog.models import StockLevel
from apps.orders import outbox, tasks
from apps.orders.models import OutboundEndpoint, OutboxEvent, OutboxStatus
from apps.punchout.order_request import connection_source
from tests.orders.buyer_server import ANSWER, BuyerServer
from tests.punchout.support import create_order_connection, place_order
from tests.security.private_postgres import PrivatePostgres, free_port, postgres_bin_dir, wait_for_port

CELERY = Path(sys.executable).parent / "celery"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
SLOW = pytest.mark.skipif(os.environ.get("FAULT_TESTS") != "1", reason="a slow fault test; run with FAULT_TESTS=1")
# Seconds to wait for the stack to settle after a fault; generous for a loaded 2-core machine.
SETTLE_SECONDS = 90

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class PrivateRedis:
    """A redis-server of the test's own on a free 127.0.0.1 port, which the test may stop and start again."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 -- the machine's redis-server on a loopback port
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis(tmp_path):
    if not Path(REDIS_SERVER).exists():
        pytest.skip("needs redis-server")
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


class Workers:
    """Start and stop `celery worker` processes on the test database and the private Redis."""

    def __init__(self, broker_url: str, log_folder: Path) -> None:
        self.broker_url = broker_url
        self.log_folder = log_folder
        self.processes: list[subprocess.Popen] = []

    def start(self, *, concurrency: int = 1, **environment: str) -> subprocess.Popen:
        database = db_connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.security.fault_worker_settings",
            "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
            "CELERY_BROKER_URL": self.broker_url,
            "SECRET_KEY": os.environ.get("SECRET_KEY", "fault-test"),
            "LOG_LEVEL": "INFO",
            **environment,
        }
        log = (self.log_folder / f"worker-{len(self.processes)}.log").open("w")
        command = [str(CELERY), "-A", "config", "worker", "--pool=prefork", f"--concurrency={concurrency}"]
        command += ["--prefetch-multiplier=1", "--without-gossip", "--without-mingle", "--loglevel=INFO"]
        process = subprocess.Popen(  # noqa: S603 -- a fixed command line of the project's own celery
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self) -> None:
        for process in self.processes:
            self.stop(process)


@pytest.fixture
def workers(private_redis, tmp_path):
    pool = Workers(private_redis.url, tmp_path)
    yield pool
    pool.stop_all()


@pytest.fixture
def broker(private_redis, monkeypatch):
    """Send the test process's on-commit enqueues to the private Redis instead of running them eagerly."""
    app = Celery("fault-test", broker=private_redis.url, set_as_current=False)
    app.conf.broker_connection_retry = False
    app.conf.broker_connection_max_retries = 0

    def send(event_id):
        return app.send_task("orders.send_outbox_event", args=[event_id], retry=False)

    monkeypatch.setattr(tasks.send_outbox_event, "delay", send)
    yield app
    app.close()


@pytest.fixture
def connection(db):
    return create_order_connection()


def pool_children(process: subprocess.Popen) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()]


def place_orders(connection, count: int, *, prefix: str = "PO") -> list[str]:
    numbers = []
    for index in range(count):
        place_order(connection, document_id=f"{prefix}-doc-{index}@buyer", po_number=f"{prefix}-{index}", quantity="1")
        numbers.append(f"{prefix}-{index}")
    return numbers


def wait_until(condition, *, timeout: float = SETTLE_SECONDS, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(message or "the condition did not hold in time")


def all_delivered() -> bool:
    statuses = set(OutboxEvent.objects.values_list("status", flat=True))
    return statuses == {OutboxStatus.DELIVERED}


def assert_invariants(connection, po_numbers: list[str], buyer: BuyerServer) -> None:
    """Every accepted order exists once; every outbox document reached the buyer under exactly one payloadID."""
    from apps.orders.models import Order

    for po_number in po_numbers:
        assert Order.objects.filter(customer=connection.customer, po_number=po_number).count() == 1, po_number
    events = list(OutboxEvent.objects.order_by("pk"))
    assert events
    assert {event.status for event in events} == {OutboxStatus.DELIVERED}
    received = buyer.payload_ids()
    assert sorted(set(received)) == sorted(event.document_id for event in events)
    # A document may arrive twice after a fault, always with the same payloadID: the receiver drops the copy.
    assert len(received) <= 2 * len(events)


def relayed_and_delivered() -> bool:
    """Run beat's outbox relay once, as it runs every minute, and report whether everything was delivered."""
    outbox.relay_pending()
    return all_delivered()


def test_worker_killed_mid_send_delivers_each_document(workers, broker, connection, settings):
    # The whole worker dies (kill -9 of the main process and its child), so nothing rejects the message:
    # Redis would deliver it again only after the visibility timeout, and beat's relay sends it first.
    settings.ORDER_OUTBOX_RELAY_GRACE_SECONDS = 1

    # Given a buyer that holds the first document, and a worker sending three orders' confirmations
    with BuyerServer(hold=True) as buyer:
        OutboundEndpoint.objects.create(source=connection_source(connection), url=buyer.url)
        worker = workers.start()
        po_numbers = place_orders(connection, 3)
        assert buyer.first_arrived.wait(timeout=SETTLE_SECONDS)

        # When the worker's process is killed mid-send, and a new worker starts
        for child in pool_children(worker):
            os.kill(child, signal.SIGKILL)
        worker.kill()
        worker.wait(timeout=20)
        buyer.release()
        workers.start()

        # Then every document arrives, each under one payloadID
        wait_until(relayed_and_delivered, message="outbox events stayed undelivered after the worker was killed")
    assert_invariants(connection, po_numbers, buyer)


def test_orders_taken_while_redis_is_down(workers, broker, private_redis, connection, settings):
    settings.ORDER_OUTBOX_RELAY_GRACE_SECONDS = 1
    with BuyerServer() as buyer:
        OutboundEndpoint.objects.create(source=connection_source(connection), url=buyer.url)

        # Given Redis is down while three orders arrive
        private_redis.stop()
        po_numbers = place_orders(connection, 3)

        # Then the orders are taken and their documents wait in the outbox
        assert OutboxEvent.objects.count() == 3
        assert set(OutboxEvent.objects.values_list("status", flat=True)) == {OutboxStatus.PENDING}
        assert buyer.received == []

        # When Redis is back, a worker runs and beat's relay finds the waiting documents
        private_redis.start()
        workers.start()
        time.sleep(1.5)
        assert outbox.relay_pending() == 3

        wait_until(all_delivered, message="waiting documents did not leave after Redis returned")
    assert_invariants(connection, po_numbers, buyer)


class SlowBuyer(BuyerServer):
    """A buyer that answers every document with 200, the first one only after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(hold=True)
        self.delay = delay
        handler = self.httpd.RequestHandlerClass
        server = self

        class SlowHandler(handler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.received.append(body)
                server.first_arrived.set()
                if len(server.received) == 1:
                    time.sleep(server.delay)
                payload = ANSWER.format(n=len(server.received), code="200", text="OK", message="").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd.RequestHandlerClass = SlowHandler


@SLOW
def test_task_past_visibility_timeout_changes_nothing(workers, broker, connection, tmp_path):
    # Given a worker with two processes, a Redis visibility timeout of 2 seconds and a buyer that takes 12
    with SlowBuyer(delay=12) as buyer:
        OutboundEndpoint.objects.create(source=connection_source(connection), url=buyer.url)
        workers.start(concurrency=2, FAULT_VISIBILITY_TIMEOUT="2")
        po_numbers = place_orders(connection, 1)

        # When the send outlasts the timeout, Redis hands the task to the second process as well
        wait_until(all_delivered, message="the event was not delivered")
        wait_until(lambda: len(_task_results(tmp_path)) >= 2, timeout=30, message="Redis did not redeliver the task")

    # Then the second copy found the row locked by the first (busy) or the document sent (done), and changed nothing
    results = _task_results(tmp_path)
    assert results.count("delivered") == 1
    assert set(results) - {"delivered"} <= {"busy", "done"}
    assert OutboxEvent.objects.get().attempts == 1
    assert len(buyer.received) == 1
    assert_invariants(connection, po_numbers, buyer)


def _task_results(log_folder: Path) -> list[str]:
    text = "".join(path.read_text() for path in log_folder.glob("worker-*.log"))
    return re.findall(r"Task orders\.send_outbox_event\[[^\]]+\] succeeded in [0-9.]+s: '(\w+)'", text)


@SLOW
def test_worker_database_connection_terminated_mid_task(workers, broker, connection, settings):
    settings.ORDER_OUTBOX_RELAY_GRACE_SECONDS = 1
    with BuyerServer(hold=True) as buyer:
        OutboundEndpoint.objects.create(source=connection_source(connection), url=buyer.url)
        workers.start()
        po_numbers = place_orders(connection, 2)
        assert buyer.first_arrived.wait(timeout=SETTLE_SECONDS)

        # When PostgreSQL ends the worker's connection while it waits for the buyer
        with db_connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            terminated = [row[0] for row in cursor.fetchall()]
        assert any(terminated)
        buyer.release()

        # Then the task fails without a half-written row, and beat's relay sends the document again
        wait_until(relayed_and_delivered, message="the relay did not deliver after the connection was terminated")
    assert_invariants(connection, po_numbers, buyer)


@SLOW
def test_hanging_buyer_times_out_without_sticking_the_worker(workers, broker, connection):
    from tests.factories import BuyerConnectionFactory, CustomerFactory

    # Given one buyer that never answers and another that does
    other = BuyerConnectionFactory(customer=CustomerFactory(account_number="OTHER-9"), from_identity="AN09")
    with BuyerServer(hold=True) as hanging, BuyerServer() as healthy:
        OutboundEndpoint.objects.create(source=connection_source(connection), url=hanging.url)
        OutboundEndpoint.objects.create(source=connection_source(other), url=healthy.url)
        workers.start(FAULT_OUTBOUND_TIMEOUT="2")

        # When the hanging buyer's document is sent first
        place_orders(connection, 1, prefix="HANG")
        assert hanging.first_arrived.wait(timeout=SETTLE_SECONDS)
        started = time.monotonic()
        place_orders(other, 1, prefix="OK")

        # Then the single worker process gives up on it after the timeout and sends the other buyer's document
        wait_until(lambda: len(healthy.received) == 1, message="the worker stayed stuck on the hanging buyer")
        assert time.monotonic() - started < 30
        hanging_event = OutboxEvent.objects.get(order__customer=connection.customer)
        assert hanging_event.attempts >= 1
        assert hanging_event.status == OutboxStatus.PENDING
        assert "timed out" in hanging_event.last_error.lower() or hanging_event.last_error
        hanging.release()


def test_worker_killed_mid_import_is_restarted_and_completes(workers, broker, monkeypatch, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.catalog.imports.jobs import import_job_create_from_upload
    from apps.catalog.imports.service import ImportOptions
    from apps.catalog.models import ImportJob, ImportRowError, Product
    from apps.catalog.tasks import recover_lost_import_jobs, run_import_job
    from tests.factories import UnitOfMeasureFactory

    # The workers store a heartbeat every second (fault_worker_settings); five seconds without one is lost.
    settings.CATALOG_IMPORT_LOST_AFTER_SECONDS = 5
    total = 60_000

    # Given an uploaded catalog of 60,000 rows in batches of 500, run by a worker
    UnitOfMeasureFactory(code="EA")
    stamp = "2026-01-01T00:00:00+00:00"
    rows = [f"FAULT-{index:06d},Fault product {index},EA,{10 + index % 50}.00,EUR,{stamp}" for index in range(total)]
    header = "sku,name,uom,list_price,currency,updated_at\n"
    upload = SimpleUploadedFile("catalog.csv", (header + "\n".join(rows)).encode())
    app = broker
    monkeypatch.setattr(
        run_import_job, "delay", lambda job_id: app.send_task("catalog.run_import_job", args=[job_id], retry=False)
    )
    # The upload lands in the default upload folder, which the worker, started in the same folder, reads too.
    worker = workers.start()
    job = import_job_create_from_upload(
        kind="catalog", upload=upload, options=ImportOptions(batch_size=500), dry_run=False, actor=None
    )

    try:
        # When the whole worker is killed (SIGKILL) after the first batches are committed
        wait_until(lambda: ImportJob.objects.get(pk=job.pk).batches_committed >= 2, message="the import did not start")
        for child in pool_children(worker):
            os.kill(child, signal.SIGKILL)
        worker.kill()
        worker.wait(timeout=20)
        job.refresh_from_db()
        applied = Product.objects.filter(sku__startswith="FAULT-").count()
        assert job.status == ImportJob.Status.RUNNING
        assert 0 < applied < total, f"the kill came too late to interrupt the import: {applied} rows applied"

        # Then beat's sweep finds the job without a heartbeat and queues it again for a new worker
        workers.start()
        wait_until(
            lambda: recover_lost_import_jobs()["restarted"] == [job.pk],
            timeout=30,
            message="the sweep did not restart the lost job",
        )
        wait_until(
            lambda: ImportJob.objects.get(pk=job.pk).status not in {"pending", "running"},
            message="the restarted import did not finish",
        )

        # And the catalog contains the whole file, each product once, with the lost attempt on the job's report
        job.refresh_from_db()
        assert job.status == ImportJob.Status.SUCCEEDED, job.error
        assert job.attempts == 2
        assert job.rows_read == total
        assert job.created_count + job.unchanged_count == total
        assert job.unchanged_count >= applied
        assert Product.objects.filter(sku__startswith="FAULT-").count() == total
        notice = job.row_errors.get(level=ImportRowError.Level.NOTICE)
        assert "Attempt 1 of this import stopped without finishing" in notice.message
    finally:
        job.upload.delete(save=False)


GUNICORN = Path(sys.executable).parent / "gunicorn"
# Orders sent while PostgreSQL is stopped and started again under them: half through the API, half as cXML.
RESTART_ORDERS = 24
# Seconds PostgreSQL stays down after the first order failed, so that several orders meet the outage.
OUTAGE_SECONDS = 3


@pytest.fixture
def private_postgres():
    """A PostgreSQL cluster of the test's own, which it may stop like a crash and start again."""
    bin_dir = postgres_bin_dir()
    reason = None
    if bin_dir is None:
        reason = "needs PostgreSQL's server programs (initdb, pg_ctl) in /usr/lib/postgresql/<version>/bin"
    elif os.geteuid() == 0 and not shutil.which("runuser"):
        reason = "runs as root, so it needs runuser to start PostgreSQL as the postgres user"
    if reason is not None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (REQUIRE_SERVICES=1 forbids skipping)")
        pytest.skip(reason)
    cluster = PrivatePostgres(bin_dir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def copy_test_database(cluster: PrivatePostgres, name: str) -> str:
    """Copy the pytest database, as committed now, into a new database of the cluster; return its URL."""
    database = db_connection.settings_dict
    source = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    environment = {**os.environ, "PGPASSWORD": database.get("PASSWORD") or ""}
    dump = subprocess.run(  # noqa: S603 - PostgreSQL's pg_dump of the test database on this machine
        [str(cluster.bin_dir / "pg_dump"), "--format=custom", "--no-owner", "--no-acl", f"--dbname={source}"],
        capture_output=True,
        check=True,
        env=environment,
        timeout=120,
    ).stdout
    cluster.create_database(name)
    subprocess.run(  # noqa: S603 - PostgreSQL's pg_restore into the private cluster
        [str(cluster.bin_dir / "pg_restore"), "--no-owner", "--no-acl", f"--dbname={cluster.url(name)}"],
        input=dump,
        capture_output=True,
        check=True,
        timeout=120,
    )
    return cluster.url(name)


class WebServer:
    """gunicorn with the production settings (DEBUG off, the default database connection settings)."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        environment = {
            key: value for key, value in os.environ.items() if key not in {"CELERY_BROKER_URL", "DJANGO_DEBUG"}
        }
        environment.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=database_url,
            SECRET_KEY=settings.SECRET_KEY,
            ALLOWED_HOSTS="127.0.0.1",
            PUBLIC_BASE_URL=self.base_url,
            SECURE_SSL_REDIRECT="0",
            TRUSTED_PROXY_COUNT="0",
            GUNICORN_BIND=f"127.0.0.1:{self.port}",
            WEB_CONCURRENCY="2",
            LOG_LEVEL="WARNING",
        )
        self.environment = environment
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = self.log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603 - the project's own gunicorn on a loopback port
            [str(GUNICORN), "-c", "config/gunicorn.conf.py", "config.wsgi"],
            cwd=settings.BASE_DIR,
            env=self.environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, timeout=SETTLE_SECONDS)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def request(self, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, dict, bytes]:
        request = urllib.request.Request(  # noqa: S310 - http on 127.0.0.1
            self.base_url + path, data=body, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - http on 127.0.0.1
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()


@dataclass
class SentOrder:
    """One order the buyer keeps sending until it is accepted, with the same key or payloadID each time."""

    channel: str
    po_number: str
    outcomes: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return "accepted" in self.outcomes


def send_order(server: WebServer, order: SentOrder, api_key: str) -> str:
    """Send the order once and classify the response: accepted, database_unavailable, or what went wrong."""
    from tests.integrations.documents import order_request

    if order.channel == "api":
        body = json.dumps({"po_number": order.po_number, "lines": [{"sku": "CHAIR-1", "quantity": "1"}]})
        status, headers, content = server.request(
            "POST",
            "/api/v1/orders/",
            body.encode(),
            **{"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            **{"Idempotency-Key": order.po_number},
        )
        if status == 201:
            return "accepted"
        if status == 503 and json.loads(content)["code"] == "database_unavailable" and "Retry-After" in headers:
            return "database_unavailable"
        return f"HTTP {status}: {content[:300]!r}"

    document = order_request(
        [("CHAIR-1", "1", "99.50")],
        po_number=order.po_number,
        payload_id=f"{order.po_number}@buyer",
        shared_secret="test-shared-secret",
    )
    status, _, content = server.request("POST", "/punchout/cxml/", document, **{"Content-Type": "text/xml"})
    if status == 200 and b'<Status code="200"' in content:
        return "accepted"
    if status == 200 and b'<Status code="500"' in content and b"database is unavailable" in content:
        return "database_unavailable"
    return f"HTTP {status}: {content[:300]!r}"


def stored_orders(database_url: str) -> dict[str, list[int]]:
    """Read the private database: each PO number with the line count of each of its orders."""
    import psycopg

    with psycopg.connect(database_url, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT o.po_number, count(l.id) FROM orders_order o LEFT JOIN orders_orderline l ON l.order_id = o.id "
            "GROUP BY o.id, o.po_number"
        ).fetchall()
    orders: dict[str, list[int]] = {}
    for po_number, lines in rows:
        orders.setdefault(po_number, []).append(lines)
    return orders


def test_postgresql_restart_while_orders_arrive(private_postgres, tmp_path):
    from apps.api.keys import api_key_create
    from apps.api.models import Partner, Scope

    # Given the app under gunicorn on a private PostgreSQL, with a buyer connection and a partner key
    connection = create_order_connection()
    StockLevel.objects.filter(product__sku="CHAIR-1").update(on_hand=Decimal("1000"))
    partner = Partner.objects.create(name="Restart partner")
    partner.customers.set([connection.customer])
    _, api_key = api_key_create(partner=partner, name="restart", scopes=[Scope.ORDERS_READ, Scope.ORDERS_WRITE])
    database_url = copy_test_database(private_postgres, "restart")
    server = WebServer(database_url, tmp_path / "gunicorn.log")
    server.start()
    try:
        status, _, body = server.request("GET", "/healthz")
        assert (status, json.loads(body)["database"]) == (200, "ok")
        orders = [SentOrder("api" if index % 2 else "cxml", f"RESTART-{index:03d}") for index in range(RESTART_ORDERS)]
        outage_answers: dict[str, tuple[int, bytes]] = {}

        # When PostgreSQL stops like a crash while a buyer sends orders one after another, and starts again
        def send_all():
            for order in orders:
                order.outcomes.append(send_order(server, order, api_key))
                time.sleep(0.2)

        sender = threading.Thread(target=send_all)
        sender.start()
        wait_until(lambda: sum(order.accepted for order in orders) >= 4, message="no order was accepted")
        private_postgres.stop("immediate")
        for path in ("/healthz", "/punchout/session/unknown-token/", "/api/v1/orders/"):
            outage_answers[path] = server.request("GET", path, **{"Authorization": f"Bearer {api_key}"})[::2]
        wait_until(
            lambda: any(outcome == "database_unavailable" for order in orders for outcome in order.outcomes),
            timeout=30,
            message="no order was sent during the outage",
        )
        time.sleep(OUTAGE_SECONDS)
        private_postgres.start()
        sender.join(timeout=SETTLE_SECONDS)
        assert not sender.is_alive()

        # Then every response during the outage was a clean error, and the app serves again without a restart
        unexpected = [(order.po_number, outcome) for order in orders for outcome in order.outcomes]
        unexpected = [pair for pair in unexpected if pair[1] not in {"accepted", "database_unavailable"}]
        assert unexpected == []
        health_status, health_body = outage_answers["/healthz"]
        assert health_status == 503
        assert json.loads(health_body) == {"status": "down", "database": "down", "broker": "eager"}
        page_status, page_body = outage_answers["/punchout/session/unknown-token/"]
        assert page_status == 503
        assert page_body.decode().startswith("The database is unavailable at the moment")
        api_status, api_body = outage_answers["/api/v1/orders/"]
        assert (api_status, json.loads(api_body)["code"]) == (503, "database_unavailable")
        assert all(b"Traceback" not in body for _, body in outage_answers.values())
        assert server.process.poll() is None
        wait_until(lambda: server.request("GET", "/healthz")[0] == 200, timeout=30, message="health stayed down")

        # And the buyer's retries with the same keys are taken, each order exactly once and whole
        for order in orders:
            if not order.accepted:
                order.outcomes.append(send_order(server, order, api_key))
        assert [order.po_number for order in orders if not order.accepted] == []
        stored = stored_orders(database_url)
        assert sorted(stored) == sorted(order.po_number for order in orders)
        assert {po_number: lines for po_number, lines in stored.items() if lines != [1]} == {}
        assert any("database_unavailable" in order.outcomes for order in orders)
    finally:
        server.stop()
