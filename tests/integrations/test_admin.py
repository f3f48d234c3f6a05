"""The document log admin: resending outbound documents, permissions, and the sync-health dashboard."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.catalog.models import ImportJob
from apps.core.xml import parse_xml
from apps.exceptions.models import CaseKind
from apps.exceptions.services import case_open
from apps.integrations.models import Channel, Direction, DocumentLog, Outcome
from apps.integrations.selectors import sync_health
from apps.orders.models import OutboundEndpoint, OutboxEvent, OutboxStatus
from apps.punchout.order_request import connection_source
from tests.factories import BuyerConnectionFactory, CustomerFactory, OrderFactory, UserFactory
from tests.integrations.documents import staff_login
from tests.orders.buyer_server import BuyerServer
from tests.punchout.support import create_order_connection, place_order

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:integrations_documentlog_changelist"


def _send_first_document(connection, server, capture) -> DocumentLog:
    OutboundEndpoint.objects.create(source=connection_source(connection), url=server.url)
    with capture(execute=True):
        place_order(connection)
    return DocumentLog.objects.filter(channel=Channel.ORDER_STATUS).latest("pk")


def _resend(client, rows, capture):
    with capture(execute=True):
        return client.post(
            reverse(CHANGELIST),
            {"action": "resend_documents", "_selected_action": [row.pk for row in rows]},
            follow=True,
        )


def _staff_client(username: str, group: str | None) -> Client:
    user = UserFactory(username=username, is_staff=True)
    user.set_password("demo-pass-2026")
    user.save()
    if group:
        user.groups.add(Group.objects.get(name=group))
    return staff_login(Client(), username)


@pytest.fixture
def manager_client(db):
    return _staff_client("manager-test", "sales-manager")


def test_resend_sends_same_payload_id(manager_client, django_capture_on_commit_callbacks):
    # given an order document delivered to the buyer once
    connection = create_order_connection()
    with BuyerServer() as buyer:
        row = _send_first_document(connection, buyer, django_capture_on_commit_callbacks)

        # when a sales manager sends it again from the log
        response = _resend(manager_client, [row], django_capture_on_commit_callbacks)

    # then the buyer received the same document id twice, and the second send is logged
    payload_ids = [parse_xml(body).get("payloadID") for body in buyer.received]
    assert len(payload_ids) == 2
    assert payload_ids[0] == payload_ids[1] == row.payload_id
    assert buyer.received[0] == buyer.received[1]
    rows = list(DocumentLog.objects.filter(channel=Channel.ORDER_STATUS).order_by("pk"))
    assert [entry.payload_id for entry in rows] == [row.payload_id, row.payload_id]
    assert [entry.attempts for entry in rows] == [1, 2]
    assert "queued to be sent again" in response.content.decode()


def test_resend_delivers_failed_event(manager_client, settings, django_capture_on_commit_callbacks):
    # given a document that failed on every try
    settings.ORDER_OUTBOX_MAX_ATTEMPTS = 2
    connection = create_order_connection()
    with BuyerServer(answers=[(500, None), (500, None), (200, "200")]) as buyer:
        row = _send_first_document(connection, buyer, django_capture_on_commit_callbacks)
        event = OutboxEvent.objects.get()
        assert event.status == OutboxStatus.FAILED

        # when it is sent again and the buyer accepts it
        _resend(manager_client, [row], django_capture_on_commit_callbacks)

    # then the event is delivered, with the same payloadID as before
    event.refresh_from_db()
    assert event.status == OutboxStatus.DELIVERED
    assert event.attempts == 3
    assert len({parse_xml(body).get("payloadID") for body in buyer.received}) == 1
    last = DocumentLog.objects.filter(channel=Channel.ORDER_STATUS).latest("pk")
    assert last.outcome == Outcome.SUCCEEDED
    assert last.payload_id == event.document_id


def test_resend_refuses_inbound_document(manager_client, django_capture_on_commit_callbacks):
    # given an inbound document in the log
    inbound = DocumentLog.objects.create(
        direction=Direction.INBOUND, channel=Channel.CXML, document_type="OrderRequest", outcome=Outcome.SUCCEEDED
    )
    rows_before = DocumentLog.objects.count()

    # when it is chosen for resending
    response = _resend(manager_client, [inbound], django_capture_on_commit_callbacks)

    # then nothing is sent and the message names the reason
    assert "only outbound order documents can be sent again" in response.content.decode()
    assert DocumentLog.objects.count() == rows_before


def test_sales_may_read_the_log_but_not_resend(db, django_capture_on_commit_callbacks):
    # given a sales user and an outbound document
    connection = create_order_connection()
    client = _staff_client("sales-person", "sales")
    with BuyerServer() as buyer:
        row = _send_first_document(connection, buyer, django_capture_on_commit_callbacks)

        # when sales open the log and try the resend action
        listing = client.get(reverse(CHANGELIST))
        dashboard = client.get(reverse("admin:integrations_documentlog_dashboard"))
        _resend(client, [row], django_capture_on_commit_callbacks)

    # then they see the log with a link to the dashboard, and nothing is sent again
    assert listing.status_code == 200
    assert reverse("admin:integrations_documentlog_dashboard") in listing.content.decode()
    assert listing.context["action_form"] is None
    assert dashboard.status_code == 200
    assert len(buyer.received) == 1


def test_dashboard_requires_log_permission(db):
    # given a staff user without the log's view permission
    client = _staff_client("clerk", None)

    # when the dashboard is opened
    response = client.get(reverse("admin:integrations_documentlog_dashboard"))

    # then it is denied
    assert response.status_code == 403


def _log(connection, outcome: str, at: dt.datetime, message: str = "") -> DocumentLog:
    return DocumentLog.objects.create(
        created_at=at,
        direction=Direction.OUTBOUND,
        channel=Channel.ORDER_STATUS,
        document_type="ConfirmationRequest",
        outcome=outcome,
        connection=connection,
        message=message,
    )


def _known_data(now: dt.datetime, *, connections: int = 2):
    customer = CustomerFactory()
    healthy = BuyerConnectionFactory(customer=customer, name="A healthy", from_identity="AN-HEALTHY")
    failing = BuyerConnectionFactory(customer=customer, name="B failing", from_identity="AN-FAILING")
    for number in range(connections - 2):
        BuyerConnectionFactory(customer=customer, name=f"C quiet {number}", from_identity=f"AN-QUIET-{number}")
    _log(healthy, Outcome.SUCCEEDED, now - dt.timedelta(minutes=5))
    _log(healthy, Outcome.FAILED, now - dt.timedelta(hours=3))
    _log(failing, Outcome.SUCCEEDED, now - dt.timedelta(hours=5))
    _log(failing, Outcome.FAILED, now - dt.timedelta(minutes=30), message="Sending failed: connection refused")
    _log(failing, Outcome.FAILED, now - dt.timedelta(minutes=50))
    _log(failing, Outcome.FAILED, now - dt.timedelta(hours=20))
    _log(failing, Outcome.FAILED, now - dt.timedelta(days=2))

    order = OrderFactory(customer=customer, source=connection_source(failing))
    for age in (dt.timedelta(minutes=2), dt.timedelta(minutes=40)):
        event = OutboxEvent.objects.create(order=order, event="order.confirmed", next_attempt_at=now)
        OutboxEvent.objects.filter(pk=event.pk).update(created_at=now - age)
    OutboxEvent.objects.create(
        order=order, event="order.shipped", next_attempt_at=now, status=OutboxStatus.FAILED, finished_at=now
    )

    ImportJob.objects.create(kind="catalog", source="command", status="succeeded", created_count=3)
    latest = ImportJob.objects.create(kind="catalog", source="command", status="failed", rejected_count=7)
    stock = ImportJob.objects.create(kind="stock", source="api", status="succeeded", updated_count=11)

    case_open(kind=CaseKind.PRICE_MISMATCH, concerning=order, customer=customer, facts={}, summary="p", cause_key="a")
    case_open(kind=CaseKind.PRICE_MISMATCH, concerning=order, customer=customer, facts={}, summary="p", cause_key="b")
    case_open(kind=CaseKind.CREDIT, concerning=order, customer=customer, facts={}, summary="c", cause_key="c")
    return healthy, failing, latest, stock


def test_dashboard_figures_match_known_data(db):
    # given two connections, their exchanges, an outbox backlog, import jobs and open cases
    now = timezone.now()
    healthy, failing, latest, stock = _known_data(now)

    # when the dashboard's figures are read
    health = sync_health(now=now)

    # then each figure is the count of the rows above
    rows = {row["connection"].pk: row for row in health.connections}
    assert rows[healthy.pk]["last_succeeded"] == now - dt.timedelta(minutes=5)
    assert rows[healthy.pk]["last_failed"] == now - dt.timedelta(hours=3)
    assert rows[healthy.pk]["failures_hour"] == 0
    assert rows[healthy.pk]["failures_day"] == 1
    assert rows[healthy.pk]["failing"] is False
    assert rows[failing.pk]["last_failed"] == now - dt.timedelta(minutes=30)
    assert rows[failing.pk]["last_failed_message"] == "Sending failed: connection refused"
    assert rows[failing.pk]["failures_hour"] == 2
    assert rows[failing.pk]["failures_day"] == 3
    assert rows[failing.pk]["failing"] is True
    assert health.outbox["waiting"] == 2
    assert health.outbox["oldest_waiting"] == now - dt.timedelta(minutes=40)
    assert health.outbox["failed"] == 1
    assert health.outbox_by_source == [
        {"source": connection_source(failing), "waiting": 2, "oldest": now - dt.timedelta(minutes=40)}
    ]
    assert [job.pk for job in health.imports] == [stock.pk, latest.pk]
    counts = {(row["team__name"], row["kind"]): row["count"] for row in health.cases}
    assert counts[("sales", "price_mismatch")] == 2
    assert counts[("finance", "credit")] == 1
    assert sum(bar.failed for bar in health.hours) == 4
    assert sum(bar.succeeded for bar in health.hours) == 2


def test_dashboard_page_renders_figures_and_links(manager_client):
    # given known data and a sales manager
    now = timezone.now()
    _healthy, failing, _latest, _stock = _known_data(now)
    client = manager_client

    # when the page is opened
    response = client.get(reverse("admin:integrations_documentlog_dashboard"))

    # then it shows the failing connection with a link to its failed documents, and the charts are inline SVG
    content = response.content.decode()
    assert response.status_code == 200
    assert "B failing" in content
    assert f"?connection__id__exact={failing.pk}&amp;outcome__exact=failed" in content
    assert "<svg" in content
    assert "<script" not in content.split('id="content-main"')[1]
    assert "https://" not in content.split('id="content-main"')[1]


@pytest.mark.parametrize("connections", [2, 6])
def test_dashboard_query_count_does_not_grow_with_connections(db, connections):
    # given a number of connections with exchanges
    _known_data(timezone.now(), connections=connections)

    # when the figures are read
    with CaptureQueriesContext(db_connection) as queries:
        sync_health()

    # then they take the same eight queries
    assert len(queries) == 8
