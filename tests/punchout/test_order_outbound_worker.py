"""A real Celery worker against Redis delivers outbox events to a buyer server on 127.0.0.1.

The worker runs in its own process on the pytest PostgreSQL test database,
so the test commits its data (``transaction=True``) for the worker to see.
"""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.conf import settings
from django.db import connection as db_connection

from apps.orders import tasks
from apps.orders.inputs import LineInput, OrderInput
from apps.orders.models import OutboundEndpoint, OutboxEvent, OutboxStatus
from apps.orders.services import order_intake
from apps.punchout.order_request import connection_source
from tests.factories import (
    BuyerConnectionFactory,
    ContractFactory,
    ContractPriceFactory,
    CustomerFactory,
    ProductFactory,
    StockLevelFactory,
    WarehouseFactory,
)
from tests.orders.buyer_server import BuyerServer

REDIS_URL = os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/12"
CELERY = Path(sys.executable).parent / "celery"

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tmp_path):
    """Start ``celery worker`` with one prefork child on the test database; stop it after the test."""
    redis.Redis.from_url(REDIS_URL).flushdb()
    database = db_connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.orders.celery_worker_settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CELERY_BROKER_URL": REDIS_URL,
        "SECRET_KEY": os.environ.get("SECRET_KEY", "worker-test"),
    }
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - a fixed command line of the project's own celery
        [
            str(CELERY),
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--prefetch-multiplier=1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


@pytest.fixture
def broker(monkeypatch):
    """Send the on-commit enqueue of the test process to Redis instead of running it eagerly."""
    app = Celery("outbox-test", broker=REDIS_URL)
    monkeypatch.setattr(
        tasks.send_outbox_event, "delay", lambda event_id: app.send_task("orders.send_outbox_event", args=[event_id])
    )
    yield app
    app.close()


@pytest.fixture
def connection(db):
    customer = CustomerFactory(account_number="ACME-001", credit_limit=Decimal("100000"))
    contract = ContractFactory(customer=customer, valid_from=dt.date(2020, 1, 1), valid_to=None)
    product = ProductFactory(sku="CHAIR-1")
    ContractPriceFactory(contract=contract, product=product, price=Decimal("99.50"))
    StockLevelFactory(product=product, warehouse=WarehouseFactory(code="RTM"), on_hand=Decimal("50"))
    return BuyerConnectionFactory(customer=customer, from_identity="AN01000000001")


def place(connection):
    return order_intake(
        request=OrderInput(
            channel="cxml",
            source=connection_source(connection),
            customer=connection.customer,
            document_id="po-doc-1@buyer",
            operation="new",
            po_number="PO-77",
            currency="EUR",
            lines=(LineInput(line_number="1", sku="CHAIR-1", quantity="2", unit="EA", unit_price="99.50"),),
        )
    )


def wait_for_status(status: str, timeout: float = 60) -> OutboxEvent:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = OutboxEvent.objects.get()
        if event.status == status:
            return event
        time.sleep(0.2)
    raise AssertionError(f"The outbox event stayed {OutboxEvent.objects.get().status}, expected {status}.")


def pool_children(process: subprocess.Popen) -> list[int]:
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    return [int(pid) for pid in children]


def test_worker_retries_after_server_error(worker, broker, connection):
    # given
    with BuyerServer(answers=[(500, None), (200, "200")]) as buyer:
        OutboundEndpoint.objects.create(source=connection_source(connection), url=buyer.url)

        # when
        place(connection)
        event = wait_for_status(OutboxStatus.DELIVERED)

    # then
    assert len(buyer.received) == 2
    assert len(set(buyer.payload_ids())) == 1
    assert event.attempts == 2
    assert buyer.payload_names() == ["ConfirmationRequest", "ConfirmationRequest"]


def test_worker_killed_mid_send_delivers_one_document(worker, broker, connection):
    # given
    with BuyerServer(hold=True) as buyer:
        OutboundEndpoint.objects.create(source=connection_source(connection), url=buyer.url)

        # when
        place(connection)
        assert buyer.first_arrived.wait(timeout=60)
        children = pool_children(worker)
        assert len(children) == 1
        os.kill(children[0], signal.SIGKILL)
        buyer.release()
        event = wait_for_status(OutboxStatus.DELIVERED)

    # then
    assert len(buyer.received) == 2
    assert len(set(buyer.payload_ids())) == 1
    assert event.attempts == 2
