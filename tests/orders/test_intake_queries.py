"""The query count of a clean one-line order, and the history rows its single insert still writes."""

from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.orders.models import OrderStatus

# Savepoints included, because the test transaction turns BEGIN and COMMIT into a savepoint. The list:
# document insert, savepoint, products (with unit and category), contract, contract prices, stock rows read
# without locks, exposure, order, order history, lines, line history, outbox row, allocations, allocation
# history, the stock rows locked and updated with their history (one statement), savepoint release, document
# result, and the test's savepoint pair.
ONE_LINE_ORDER_QUERIES = 19


def line(sku="CHAIR-1", quantity="2", unit_price="99.50", number="1"):
    return {"line_number": number, "sku": sku, "quantity": quantity, "unit_price": unit_price, "unit": "EA"}


def test_one_line_order_query_count(place, chair, settings):
    # given no sender or listener, so that only intake's own queries count
    settings.ORDER_OUTBOX_SENDERS = {}
    settings.ORDER_EVENT_LISTENERS = []
    place([line()], document_id="warm-up", po_number="PO-0")

    # when
    with CaptureQueriesContext(connection) as queries:
        result = place([line()])

    # then
    assert result.status == 200
    assert len(queries) == ONE_LINE_ORDER_QUERIES, "\n".join(query["sql"][:120] for query in queries)


def test_single_insert_keeps_each_state_in_history(place, chair):
    # when
    order = place([line()]).order

    # then
    history = list(order.history.order_by("history_date", "history_id"))
    assert [(row.history_type, row.status, row.history_change_reason) for row in history] == [
        ("+", OrderStatus.RECEIVED, "Received by api"),
        ("~", OrderStatus.CONFIRMED, "All checks passed"),
        ("~", OrderStatus.ALLOCATED, "Allocated"),
    ]
    assert history[-1].total == Decimal("199.00")
    order_line = order.lines.get()
    line_history = list(order_line.history.order_by("history_date", "history_id"))
    assert [(row.history_type, row.quantity_allocated, row.history_change_reason) for row in line_history] == [
        ("+", Decimal("0"), "Received"),
        ("~", Decimal("2"), "Allocated"),
    ]
    assert order.history.count() == 3
