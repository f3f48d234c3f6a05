"""Outbound order documents: built per event, valid against their DTD, delivered once per payloadID."""

import datetime as dt

import pytest
from django.test import override_settings

from apps.core.xml import parse_xml
from apps.exceptions.models import ExceptionCase
from apps.orders import tasks
from apps.orders.models import OrderStatus, OutboundEndpoint, OutboxEvent, OutboxStatus
from apps.orders.outbox import deliver, relay_pending
from apps.orders.services import invoice_record, payment_record, shipment_record
from apps.orders.tasks import send_outbox_event
from apps.punchout.cxml.validation import validate_document
from apps.punchout.order_handlers import handle_status_update_request
from apps.punchout.order_request import connection_source
from tests.db_locks import lock_held_elsewhere
from tests.orders.buyer_server import BuyerServer
from tests.punchout.support import create_order_connection, place_order

SENDERS = {"cxml": "apps.punchout.outbound"}


@pytest.fixture
def connection(db):
    return create_order_connection()


def endpoint(connection, url):
    return OutboundEndpoint.objects.create(source=connection_source(connection), url=url)


@override_settings(ORDER_OUTBOX_SENDERS=SENDERS)
def test_every_step_sends_a_valid_document(connection, django_capture_on_commit_callbacks):
    # given
    with BuyerServer() as buyer:
        endpoint(connection, buyer.url)

        # when
        with django_capture_on_commit_callbacks(execute=True):
            order = place_order(connection).order
        with django_capture_on_commit_callbacks(execute=True):
            shipment_record(order=order, shipment_id="S-1", lines=[("1", "2")], carrier="DHL", tracking_number="JD 01")
        with django_capture_on_commit_callbacks(execute=True):
            invoice = invoice_record(
                order=order, number="INV-1", lines=[("1", "2")], tax="37.81", due_date=dt.date(2027, 1, 31)
            )
        with django_capture_on_commit_callbacks(execute=True):
            payment_record(invoice=invoice, payment_id="P-1", amount="236.81")

    # then
    assert buyer.payload_names() == [
        "ConfirmationRequest",
        "ShipNoticeRequest",
        "InvoiceDetailRequest",
        "StatusUpdateRequest",
    ]
    for body in buyer.received:
        validate_document(body)
        assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE cXML SYSTEM')
    confirmation = parse_xml(buyer.received[0])
    assert confirmation.find(".//ConfirmationHeader").get("type") == "accept"
    assert confirmation.find(".//OrderReference/DocumentReference").get("payloadID") == "po-doc-1@buyer"
    assert parse_xml(buyer.received[1]).find(".//ShipmentIdentifier").text == "JD 01"
    assert parse_xml(buyer.received[2]).find(".//InvoiceDetailSummary/NetAmount/Money").text == "236.81"
    assert b"test-shared-secret" not in buyer.received[0]
    assert set(OutboxEvent.objects.values_list("status", flat=True)) == {OutboxStatus.DELIVERED}
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


@override_settings(ORDER_OUTBOX_SENDERS=SENDERS)
def test_invoice_over_two_orders_sends_one_document(connection, django_capture_on_commit_callbacks):
    # given two shipped orders of the same buyer connection
    first = place_order(connection).order
    second = place_order(connection, document_id="po-doc-2@buyer", po_number="PO-78").order
    for order in (first, second):
        shipment_record(order=order, shipment_id=f"S-{order.po_number}", lines=[("1", "2")])

    with BuyerServer() as buyer:
        endpoint(connection, buyer.url)

        # when
        with django_capture_on_commit_callbacks(execute=True):
            invoice_record(
                number="INV-9",
                lines=[(first.number, "1", "2"), (second.number, "1", "1")],
                tax="37.82",
                due_date=dt.date(2027, 1, 31),
            )

    # then
    assert buyer.payload_names() == ["InvoiceDetailRequest"]
    validate_document(buyer.received[0])
    document = parse_xml(buyer.received[0])
    blocks = document.findall(".//InvoiceDetailOrder")
    assert [block.find("InvoiceDetailOrderInfo/OrderReference").get("orderID") for block in blocks] == [
        "PO-77",
        "PO-78",
    ]
    assert [
        block.find("InvoiceDetailOrderInfo/OrderReference/DocumentReference").get("payloadID") for block in blocks
    ] == [
        "po-doc-1@buyer",
        "po-doc-2@buyer",
    ]
    assert [item.get("invoiceLineNumber") for item in document.iterfind(".//InvoiceDetailItem")] == ["1", "2"]
    assert [item.get("quantity") for item in document.iterfind(".//InvoiceDetailItem")] == ["2", "1"]
    assert document.find(".//InvoiceDetailSummary/SubtotalAmount/Money").text == "298.50"
    assert document.find(".//InvoiceDetailSummary/NetAmount/Money").text == "336.32"
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == OrderStatus.INVOICED
    assert second.status == OrderStatus.SHIPPED


@override_settings(ORDER_OUTBOX_SENDERS=SENDERS)
def test_changed_price_confirms_with_detail(connection, django_capture_on_commit_callbacks):
    # given
    from apps.exceptions.services import case_resolve
    from tests.factories import UserFactory

    with BuyerServer() as buyer:
        endpoint(connection, buyer.url)
        with django_capture_on_commit_callbacks(execute=True):
            order = place_order(connection, unit_price="90.00").order
        case = ExceptionCase.objects.get(kind="price_mismatch")

        # when
        with django_capture_on_commit_callbacks(execute=True):
            case_resolve(case=case, action="keep_contract_price", note="", actor=UserFactory(is_superuser=True))

    # then
    assert buyer.payload_names() == ["StatusUpdateRequest", "ConfirmationRequest"]
    confirmation = parse_xml(buyer.received[1])
    validate_document(confirmation)
    assert confirmation.find(".//ConfirmationHeader").get("type") == "detail"
    status = confirmation.find(".//ConfirmationItem/ConfirmationStatus")
    assert status.get("type") == "detail"
    assert status.find("UnitPrice/Money").text == "99.50"
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED


@override_settings(ORDER_OUTBOX_SENDERS=SENDERS, ORDER_OUTBOX_RETRY_BASE_SECONDS=0)
def test_server_error_is_retried_with_same_payload(connection, django_capture_on_commit_callbacks):
    # given
    with BuyerServer(answers=[(500, None), (200, "500"), (200, "200")]) as buyer:
        endpoint(connection, buyer.url)

        # when
        with django_capture_on_commit_callbacks(execute=True):
            place_order(connection)

    # then
    assert len(buyer.received) == 3
    assert len(set(buyer.payload_ids())) == 1
    event = OutboxEvent.objects.get()
    assert event.status == OutboxStatus.DELIVERED
    assert event.attempts == 3


@override_settings(ORDER_OUTBOX_SENDERS=SENDERS)
def test_buyer_4xx_rejects_without_retry_and_opens_case(connection, django_capture_on_commit_callbacks):
    # given
    with BuyerServer(answers=[(200, "400")]) as buyer:
        endpoint(connection, buyer.url)

        # when
        with django_capture_on_commit_callbacks(execute=True):
            order = place_order(connection).order

    # then
    assert len(buyer.received) == 1
    event = OutboxEvent.objects.get()
    assert event.status == OutboxStatus.REJECTED
    assert event.response_code == "400"
    case = ExceptionCase.objects.get(object_id=str(order.pk))
    assert case.kind == "integration_failure"
    assert case.facts["event"] == "order.confirmed"


@override_settings(ORDER_OUTBOX_SENDERS=SENDERS, ORDER_OUTBOX_MAX_ATTEMPTS=2, ORDER_OUTBOX_RETRY_BASE_SECONDS=0)
def test_last_failed_try_opens_case(connection, django_capture_on_commit_callbacks):
    # given
    with BuyerServer(answers=[(503, None)]) as buyer:
        endpoint(connection, buyer.url)

        # when
        with django_capture_on_commit_callbacks(execute=True):
            place_order(connection)

    # then
    assert len(buyer.received) == 2
    event = OutboxEvent.objects.get()
    assert event.status == OutboxStatus.FAILED
    assert ExceptionCase.objects.get().kind == "integration_failure"


@override_settings(ORDER_OUTBOX_SENDERS=SENDERS)
def test_201_waits_for_buyer_status_update(connection, django_capture_on_commit_callbacks):
    # given
    with BuyerServer(answers=[(200, "201")]) as buyer:
        endpoint(connection, buyer.url)
        with django_capture_on_commit_callbacks(execute=True):
            place_order(connection)
    event = OutboxEvent.objects.get()
    assert event.status == OutboxStatus.AWAITING_STATUS
    update = parse_xml(
        (
            '<cXML payloadID="su-1@buyer" timestamp="2026-01-01T00:00:00+00:00"><Header/><Request>'
            f'<StatusUpdateRequest><DocumentReference payloadID="{event.document_id}"/>'
            '<Status code="200" text="OK">Forwarded to supplier’s ERP</Status></StatusUpdateRequest></Request></cXML>'  # noqa: RUF001 - buyers send typographic apostrophes
        ).encode()
    )

    # when
    answer = handle_status_update_request(root=update, header=None, connection=connection)

    # then
    assert parse_xml(answer).find("Response/Status").get("code") == "200"
    event.refresh_from_db()
    assert event.status == OutboxStatus.DELIVERED


def test_status_update_for_unknown_document_is_400(connection):
    # given
    update = parse_xml(
        b'<cXML payloadID="su-2@buyer" timestamp="2026-01-01T00:00:00+00:00"><Header/><Request>'
        b'<StatusUpdateRequest><DocumentReference payloadID="nope"/><Status code="200" text="OK"/>'
        b"</StatusUpdateRequest></Request></cXML>"
    )

    # when
    answer = parse_xml(handle_status_update_request(root=update, header=None, connection=connection))

    # then
    assert answer.find("Response/Status").get("code") == "400"
    assert "No document with payloadID 'nope'" in answer.find("Response/Status").text


@override_settings(ORDER_OUTBOX_SENDERS=SENDERS)
def test_same_row_sent_twice_sends_one_document(connection, django_capture_on_commit_callbacks):
    # given
    with BuyerServer() as buyer:
        endpoint(connection, buyer.url)
        with django_capture_on_commit_callbacks(execute=True):
            place_order(connection)
        event = OutboxEvent.objects.get()

        # when
        send_outbox_event.delay(event.pk)
        send_outbox_event.delay(event.pk)

    # then
    assert len(buyer.received) == 1


@override_settings(ORDER_OUTBOX_SENDERS=SENDERS)
def test_relay_sends_rows_whose_task_was_lost(connection, django_capture_on_commit_callbacks):
    # given
    with BuyerServer() as buyer:
        endpoint(connection, buyer.url)
        place_order(connection)  # on-commit callbacks never run here, as if the process died after commit
        event = OutboxEvent.objects.get()
        assert event.status == OutboxStatus.PENDING

        # when
        early = relay_pending()
        with django_capture_on_commit_callbacks(execute=True) as enqueued:
            later = relay_pending(now=event.next_attempt_at + dt.timedelta(seconds=1))

    # then
    assert early == 0
    assert later == 1
    assert len(enqueued) == 1
    event.refresh_from_db()
    assert event.status == OutboxStatus.DELIVERED
    assert len(buyer.received) == 1


def test_no_endpoint_skips_event(connection, django_capture_on_commit_callbacks, settings, monkeypatch):
    # given a buyer connection without an endpoint for order documents
    settings.ORDER_OUTBOX_SENDERS = SENDERS
    enqueued = []
    monkeypatch.setattr(tasks, "enqueue_on_commit", enqueued.append)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        place_order(connection)

    # then the event is skipped when it is recorded, and no task is enqueued for it
    event = OutboxEvent.objects.get()
    assert event.status == OutboxStatus.SKIPPED
    assert event.finished_at is not None
    assert enqueued == []


def test_inactive_endpoint_skips_event_without_task(connection, django_capture_on_commit_callbacks, monkeypatch):
    # given an endpoint that is turned off
    target = endpoint(connection, "http://127.0.0.1:9/cxml")
    target.is_active = False
    target.save()
    enqueued = []
    monkeypatch.setattr(tasks, "enqueue_on_commit", enqueued.append)

    # when
    with override_settings(ORDER_OUTBOX_SENDERS=SENDERS), django_capture_on_commit_callbacks(execute=True):
        place_order(connection)

    # then
    assert OutboxEvent.objects.get().status == OutboxStatus.SKIPPED
    assert enqueued == []


def test_active_endpoint_enqueues_event(connection, django_capture_on_commit_callbacks, monkeypatch):
    # given an active endpoint, and the task kept from running
    endpoint(connection, "http://127.0.0.1:9/cxml")
    enqueued = []
    monkeypatch.setattr(tasks, "enqueue_on_commit", enqueued.append)

    # when
    with override_settings(ORDER_OUTBOX_SENDERS=SENDERS), django_capture_on_commit_callbacks(execute=True):
        place_order(connection)

    # then the event waits for its task
    event = OutboxEvent.objects.get()
    assert event.status == OutboxStatus.PENDING
    assert enqueued == [event.pk]


@override_settings(ORDER_OUTBOX_SENDERS=SENDERS)
def test_ship_notice_send_query_count(connection, django_capture_on_commit_callbacks, django_assert_num_queries):
    # given a shipped order whose ship notice waits in the outbox
    with BuyerServer() as buyer:
        endpoint(connection, buyer.url)
        with django_capture_on_commit_callbacks(execute=True):
            order = place_order(connection).order
        shipment_record(order=order, shipment_id="S-1", lines=[("1", "2")], carrier="DHL", tracking_number="JD 01")
        event = OutboxEvent.objects.get(event="order.shipped")

        # when the worker's task sends it. The first transaction locks the row, reads the connection, the
        # endpoint, the shipment and its lines, and stores the document. The second locks the row, reads
        # the endpoint and the connection, logs the exchange in a savepoint and stores the outcome. The
        # test's own transaction turns each of the two transactions into a savepoint as well.
        with django_assert_num_queries(17):
            send_outbox_event.apply(args=[event.pk])

    # then
    assert buyer.payload_names() == ["ConfirmationRequest", "ShipNoticeRequest"]
    event.refresh_from_db()
    assert event.status == OutboxStatus.DELIVERED


@override_settings(ORDER_OUTBOX_SENDERS=SENDERS)
def test_endpoint_change_reaches_next_document(connection, django_capture_on_commit_callbacks):
    # given a first document sent, so the endpoint's query is compiled on this connection
    with BuyerServer() as first, BuyerServer() as second:
        target = endpoint(connection, first.url)
        with django_capture_on_commit_callbacks(execute=True):
            order = place_order(connection).order

        # when the endpoint moves, and then is turned off
        target.url = second.url
        target.save()
        with django_capture_on_commit_callbacks(execute=True):
            shipment_record(order=order, shipment_id="S-1", lines=[("1", "1")])
        target.is_active = False
        target.save()
        with django_capture_on_commit_callbacks(execute=True):
            shipment_record(order=order, shipment_id="S-2", lines=[("1", "1")])

    # then each document went where the endpoint pointed at that moment
    assert first.payload_names() == ["ConfirmationRequest"]
    assert second.payload_names() == ["ShipNoticeRequest"]
    statuses = dict(OutboxEvent.objects.filter(event="order.shipped").values_list("payload__shipment_id", "status"))
    assert len(statuses) == 2
    assert sorted(statuses.values()) == [OutboxStatus.DELIVERED, OutboxStatus.SKIPPED]


@pytest.mark.django_db(transaction=True)
@override_settings(ORDER_OUTBOX_SENDERS=SENDERS)
def test_row_locked_elsewhere_is_left_alone(monkeypatch):
    # given a pending confirmation, whose task is never enqueued, and whose row another transaction holds locked
    monkeypatch.setattr(tasks, "enqueue_on_commit", lambda event_id: None)
    connection = create_order_connection()
    with BuyerServer() as buyer:
        endpoint(connection, buyer.url)
        place_order(connection)
        event = OutboxEvent.objects.get()

        # when the worker's task runs while the lock is held, and again after it is released
        with lock_held_elsewhere(lambda: OutboxEvent.objects.select_for_update().get(pk=event.pk)):
            busy = deliver(event_id=event.pk)
        delivered = deliver(event_id=event.pk)

    # then the first run sends nothing and the second sends the document once
    assert busy == "busy"
    assert delivered == "delivered"
    assert buyer.payload_names() == ["ConfirmationRequest"]
    event.refresh_from_db()
    assert event.attempts == 1
    assert event.status == OutboxStatus.DELIVERED
