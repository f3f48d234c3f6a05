"""A real Celery worker against Redis delivers outbox events to a buyer server on 127.0.0.1.

The worker runs in its own process on the pytest PostgreSQL test database,
so the test commits its data (``transaction=True``) for the worker to see.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from celery import Celery

from apps.orders import tasks
from apps.orders.models import OutboundEndpoint, OutboxEvent, OutboxStatus
from apps.punchout.order_request import connection_source
from tests.celery_worker import REDIS_URL, running_worker
from tests.orders.buyer_server import BuyerServer
from tests.punchout.support import create_order_connection, place_order

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tmp_path):
    """Start ``celery worker`` with one prefork child on the test database; stop it after the test."""
    with running_worker(
        settings_module="tests.orders.celery_worker_settings",
        log_path=tmp_path / "worker.log",
        env={"SECRET_KEY": os.environ.get("SECRET_KEY", "worker-test")},
    ) as process:
        yield process


@pytest.fixture
def broker(monkeypatch):
    """Send the on-commit enqueue of the test process to Redis instead of running it eagerly."""
    # A new Celery app becomes the thread's current app unless told otherwise, and later tests in
    # this thread would then send every shared task to this broker instead of running it eagerly.
    app = Celery("outbox-test", broker=REDIS_URL, set_as_current=False)
    monkeypatch.setattr(
        tasks.send_outbox_event, "delay", lambda event_id: app.send_task("orders.send_outbox_event", args=[event_id])
    )
    yield app
    app.close()


@pytest.fixture
def connection(db):
    return create_order_connection()


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
        place_order(connection)
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
        place_order(connection)
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
