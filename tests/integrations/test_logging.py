"""Request ids: taken from X-Request-ID or made, returned, attached to log lines, and carried into Celery tasks."""

import json
import logging
import re
import time

import pytest
from celery import shared_task

from apps.core import log_context
from apps.core.json_logging import JSONFormatter
from apps.integrations.models import Channel, DocumentLog
from apps.orders.models import OutboundEndpoint, OutboxEvent, OutboxStatus
from apps.punchout.order_request import connection_source
from tests.integrations.documents import order_request, setup_request
from tests.orders.buyer_server import BuyerServer
from tests.punchout.support import CXML_URL, create_order_connection
from tests.punchout.test_order_outbound_worker import broker, worker  # noqa: F401 - fixtures used below

pytestmark = pytest.mark.django_db


@shared_task(name="tests.integrations.report_log_context")
def report_log_context() -> dict:
    return dict(log_context.current())


def _json_lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_request_id_from_header_is_returned(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123.def:4_5")

    assert response["X-Request-ID"] == "abc-123.def:4_5"


@pytest.mark.parametrize("offered", ["x" * 65, "bad id", "id\nforged log line", "<script>", "ünïcode", "-leading"])
def test_unsafe_request_id_is_replaced(client, offered):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=offered)

    assert response["X-Request-ID"] != offered
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_missing_request_id_is_generated(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


def test_log_lines_carry_request_connection_and_payload_ids(client, demo_connection, json_log):
    # when a buyer opens a session with a request id
    client.post(CXML_URL, data=setup_request(), content_type="text/xml", HTTP_X_REQUEST_ID="setup-req-7")

    # then the session's log line carries the request id, connection and payloadID
    (opened,) = [line for line in _json_lines(json_log) if line["message"] == "PunchOut session opened"]
    assert opened["request_id"] == "setup-req-7"
    assert opened["connection_id"] == demo_connection.pk
    assert opened["payload_id"] == "demo-setup-0001@procurement.acme.example"
    assert opened["level"] == "INFO"
    assert opened["logger"] == "apps.punchout.services.opening"
    row = DocumentLog.objects.get(channel=Channel.CXML)
    assert row.request_id == "setup-req-7"


def test_json_formatter_masks_secrets():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "login %s", ("<SharedSecret>s</SharedSecret>",), None)
    record.password = "pw"
    record.params = {"USERNAME": "u", "PASSWORD": "pw"}
    record.url = "/punchout/oci/?USERNAME=u&PASSWORD=pw"

    line = json.loads(JSONFormatter().format(record))

    assert line["message"] == "login <SharedSecret>********</SharedSecret>"
    assert line["password"] == "********"
    assert line["params"] == {"USERNAME": "u", "PASSWORD": "********"}
    assert line["url"] == "/punchout/oci/?USERNAME=u&PASSWORD=********"


def test_eager_task_keeps_caller_ids():
    # given a context started as a request starts it
    token = log_context.start("caller-req-1", connection_id=7)
    try:
        # when a task runs eagerly in that context
        seen = report_log_context.delay().get()
        after = dict(log_context.current())
    finally:
        log_context.end(token)

    # then the task saw the caller's ids plus its own task id, and the caller's context is back afterwards
    assert seen["request_id"] == "caller-req-1"
    assert seen["connection_id"] == 7
    assert seen["task_id"]
    assert after == {"request_id": "caller-req-1", "connection_id": 7}


def test_published_task_carries_request_id_header():
    from apps.core.task_context import REQUEST_ID_HEADER, add_request_id

    headers = {}
    token = log_context.start("publish-req-2")
    try:
        add_request_id(headers=headers)
    finally:
        log_context.end(token)

    assert headers == {REQUEST_ID_HEADER: "publish-req-2"}


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_request_id_flows_into_worker_log_lines(client, worker, broker, tmp_path, settings):  # noqa: F811
    # given a buyer connection whose order documents go to a buyer server, and a real worker
    settings.ORDER_EVENT_LISTENERS = []
    connection = create_order_connection()
    document = order_request(
        [("CHAIR-1", "2", "99.50")],
        po_number="PO-RID-1",
        payload_id="rid-1@buyer.test",
        shared_secret="test-shared-secret",
    )
    with BuyerServer() as buyer:
        OutboundEndpoint.objects.create(source=connection_source(connection), url=buyer.url)

        # when the order arrives with a request id and the worker sends its status document
        answer = client.post(CXML_URL, data=document, content_type="text/xml", HTTP_X_REQUEST_ID="order-req-42")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and OutboxEvent.objects.filter(status=OutboxStatus.PENDING).exists():
            time.sleep(0.2)

    # then the worker's own log lines carry the request id of the web request
    assert answer["X-Request-ID"] == "order-req-42"
    assert OutboxEvent.objects.get().status == OutboxStatus.DELIVERED
    worker_lines = [
        json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines() if line.startswith("{")
    ]
    finished = [line for line in worker_lines if line["message"] == "Outbox event finished"]
    assert [line["request_id"] for line in finished] == ["order-req-42"]
    assert finished[0]["task_id"]
    logged = DocumentLog.objects.get(channel=Channel.ORDER_STATUS)
    assert logged.request_id == "order-req-42"
