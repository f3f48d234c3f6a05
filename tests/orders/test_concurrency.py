"""Allocation and intake under concurrency, on PostgreSQL, where row locks and unique indexes really block."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.catalog.imports.service import import_rows
from apps.catalog.models import ImportKind, StockLevel
from apps.exceptions.models import CaseKind
from apps.exceptions.selectors import open_cases_for
from apps.orders.inputs import LineInput, OrderInput
from apps.orders.models import BackorderEntry, BackorderStatus, InboundDocument, LineAllocation, Order, OrderStatus
from apps.orders.services import order_intake
from tests.db_locks import lock_held_elsewhere
from tests.factories import (
    ContractFactory,
    CustomerFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StockLevelFactory,
    WarehouseFactory,
)


def run_threads(count: int, target) -> list:
    """Start ``count`` threads that wait at a barrier and call ``target(index)``; return results and errors."""
    barrier = threading.Barrier(count)
    outcomes: list = [None] * count

    def work(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            outcomes[index] = target(index)
        except Exception as error:  # the test asserts that no thread failed
            outcomes[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def request(customer, index: int, lines: list[tuple[str, str]], *, document_id: str | None = None) -> OrderInput:
    return OrderInput(
        channel="api",
        source="load-test",
        customer=customer,
        document_id=document_id or f"doc-{index}",
        operation="new",
        po_number=f"PO-{index}" if document_id is None else "PO-SAME",
        currency="EUR",
        lines=tuple(
            LineInput(line_number=str(number), sku=sku, quantity=quantity, unit="EA")
            for number, (sku, quantity) in enumerate(lines, start=1)
        ),
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_orders_for_last_ten_units_allocate_ten(customer, contract):
    # given
    product = ProductFactory(sku="LAST-10")
    StockLevelFactory(product=product, warehouse=WarehouseFactory(code="RTM", country="NL"), on_hand=Decimal("6"))
    StockLevelFactory(product=product, warehouse=WarehouseFactory(code="FRA", country="DE"), on_hand=Decimal("4"))

    # when
    outcomes = run_threads(20, lambda index: order_intake(request=request(customer, index, [("LAST-10", "1")])))

    # then
    assert [outcome for outcome in outcomes if isinstance(outcome, Exception)] == []
    assert all(outcome.status == 200 for outcome in outcomes)
    statuses = sorted(Order.objects.values_list("status", flat=True))
    assert statuses.count(OrderStatus.ALLOCATED) == 10
    # A loser that saw the shortage in its stock check is held with a case; one that passed the check
    # but lost at the locked allocation is confirmed and waits in the backorder queue.
    held = statuses.count(OrderStatus.ON_HOLD)
    waiting = statuses.count(OrderStatus.CONFIRMED)
    assert held + waiting == 10
    assert BackorderEntry.objects.filter(status=BackorderStatus.WAITING).count() == waiting
    reserved = sum(level.reserved for level in StockLevel.objects.filter(product=product))
    assert reserved == Decimal("10")
    assert all(level.reserved <= level.on_hand for level in StockLevel.objects.filter(product=product))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_opposite_line_orders_do_not_deadlock(customer, contract):
    # given
    warehouse = WarehouseFactory(code="RTM", country="NL")
    for sku in ("A-1", "B-1"):
        StockLevelFactory(product=ProductFactory(sku=sku), warehouse=warehouse, on_hand=Decimal("100"))

    def place(index: int):
        lines = [("A-1", "1"), ("B-1", "1")] if index % 2 else [("B-1", "1"), ("A-1", "1")]
        return order_intake(request=request(customer, index, lines))

    # when
    outcomes = run_threads(16, place)

    # then
    assert [outcome for outcome in outcomes if isinstance(outcome, Exception)] == []
    assert Order.objects.filter(status=OrderStatus.ALLOCATED).count() == 16
    assert sorted(StockLevel.objects.values_list("reserved", flat=True)) == [Decimal("16"), Decimal("16")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_same_document_from_two_threads_makes_one_order(customer, contract):
    # given
    product = ProductFactory(sku="ONE-1")
    StockLevelFactory(product=product, warehouse=WarehouseFactory(code="RTM", country="NL"), on_hand=Decimal("50"))

    # when
    outcomes = run_threads(
        2, lambda index: order_intake(request=request(customer, index, [("ONE-1", "1")], document_id="same-doc"))
    )

    # then
    assert [outcome for outcome in outcomes if isinstance(outcome, Exception)] == []
    assert Order.objects.count() == 1
    assert InboundDocument.objects.count() == 1
    assert {outcome.order.pk for outcome in outcomes} == {Order.objects.get().pk}
    assert sorted(outcome.replayed for outcome in outcomes) == [False, True]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_stock_arrivals_allocate_queue_once():
    # given four confirmed orders of 3 waiting, one per tier and an older and a newer gold one
    product = ProductFactory(sku="RACE-1", list_price=Decimal("10.00"))
    earlier = timezone.now() - dt.timedelta(days=1)
    levels = [
        StockLevelFactory(
            product=product, warehouse=WarehouseFactory(code=code, country=country), on_hand=0, as_of=earlier
        )
        for code, country in (("RTM", "NL"), ("FRA", "DE"))
    ]
    orders = {}
    for name, tier in (("STD", 3), ("GOLD-OLD", 2), ("GOLD-NEW", 2), ("PLAT", 1)):
        customer = CustomerFactory(account_number=name, service_tier=tier, credit_limit=Decimal("100000"))
        ContractFactory(customer=customer, valid_from=dt.date(2020, 1, 1), valid_to=None)
        order = OrderFactory(customer=customer, status=OrderStatus.CONFIRMED, total=Decimal("30.00"))
        OrderLineFactory(order=order, product=product, sku="RACE-1", quantity=Decimal("3"), unit_price=Decimal("10"))
        BackorderEntry.objects.create(order=order, queued_at=timezone.now())
        orders[name] = order

    # when 5 arrive at each warehouse in two pushes at once
    def arrive(index: int):
        warehouse = ("RTM", "FRA")[index]
        row = {"sku": "RACE-1", "warehouse": warehouse, "on_hand": "5", "as_of": timezone.now().isoformat()}
        return import_rows(ImportKind.STOCK, [row])

    outcomes = run_threads(2, arrive)

    # then 10 units serve platinum and both gold orders (9), and the standard order waits
    assert [outcome for outcome in outcomes if isinstance(outcome, Exception)] == []
    assert [job.status for job in outcomes] == ["succeeded", "succeeded"]
    statuses = {name: Order.objects.get(pk=order.pk).status for name, order in orders.items()}
    assert statuses == {
        "PLAT": OrderStatus.ALLOCATED,
        "GOLD-OLD": OrderStatus.ALLOCATED,
        "GOLD-NEW": OrderStatus.ALLOCATED,
        "STD": OrderStatus.CONFIRMED,
    }
    for level in levels:
        level.refresh_from_db()
        assert level.on_hand == Decimal("5")
        assert level.reserved <= level.on_hand
    assert sum(level.reserved for level in levels) == Decimal("9")
    allocated = LineAllocation.objects.filter(
        line__order__customer__account_number__in=["PLAT", "GOLD-OLD", "GOLD-NEW"]
    )
    assert sum(allocation.quantity for allocation in allocated) == Decimal("9")
    assert BackorderEntry.objects.get(order=orders["STD"]).status == BackorderStatus.WAITING


def take_stock_before_lock(monkeypatch, **reserved_by_warehouse_code) -> None:
    """Make another transaction commit ``reserved`` on stock rows just before intake locks them.

    Intake plans a new order on stock rows read without their locks, so this
    is the moment where a concurrent order can take the stock it planned on.
    """
    from apps.orders import allocation

    reserve_planned_stock = allocation.reserve_planned_stock

    def commit_elsewhere() -> None:
        try:
            for code, reserved in reserved_by_warehouse_code.items():
                StockLevel.objects.filter(warehouse__code=code).update(reserved=Decimal(reserved))
        finally:
            connection.close()

    def take_then_lock(rows, quantities, **keywords) -> None:
        thread = threading.Thread(target=commit_elsewhere)
        thread.start()
        thread.join(timeout=30)
        monkeypatch.setattr(allocation, "reserve_planned_stock", reserve_planned_stock)
        reserve_planned_stock(rows, quantities, **keywords)

    monkeypatch.setattr(allocation, "reserve_planned_stock", take_then_lock)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_stock_taken_after_plan_holds_order(customer, contract, monkeypatch):
    # given
    product = ProductFactory(sku="GONE-1")
    StockLevelFactory(product=product, warehouse=WarehouseFactory(code="RTM", country="NL"), on_hand=Decimal("3"))
    take_stock_before_lock(monkeypatch, RTM="3")

    # when
    result = order_intake(request=request(customer, 1, [("GONE-1", "2")]))

    # then: the second run checks the order again, finds no stock, and holds it
    assert result.status == 200
    order = Order.objects.get()
    assert order.status == OrderStatus.ON_HOLD
    assert order.warehouse_id is None
    assert [case.kind for case in open_cases_for(order)] == [CaseKind.OUT_OF_STOCK]
    assert OrderStatus.ALLOCATED not in order.history.values_list("status", flat=True)
    assert order.lines.get().quantity_allocated == 0
    assert not LineAllocation.objects.exists()
    assert StockLevel.objects.get(product=product).reserved == Decimal("3")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_stock_moved_after_plan_ships_from_other_warehouse(customer, contract, monkeypatch):
    # given: Frankfurt has the most stock, so the plan made without locks ships from there
    product = ProductFactory(sku="MOVED-1")
    rotterdam = WarehouseFactory(code="RTM", country="NL")
    StockLevelFactory(product=product, warehouse=rotterdam, on_hand=Decimal("5"))
    StockLevelFactory(product=product, warehouse=WarehouseFactory(code="FRA", country="DE"), on_hand=Decimal("20"))
    take_stock_before_lock(monkeypatch, FRA="20")

    # when
    result = order_intake(request=request(customer, 1, [("MOVED-1", "2")]))

    # then
    assert result.status == 200
    order = Order.objects.get()
    assert order.status == OrderStatus.ALLOCATED
    assert order.warehouse_id == rotterdam.pk
    assert order.history.order_by("history_date", "history_id").last().warehouse_id == rotterdam.pk
    line = order.lines.get()
    assert line.quantity_allocated == Decimal("2")
    assert [(row.warehouse_id, row.quantity) for row in line.allocations.all()] == [(rotterdam.pk, Decimal("2"))]
    assert StockLevel.objects.get(warehouse=rotterdam).reserved == Decimal("2")


def commit_reserved_elsewhere(product, reserved: str) -> None:
    """Set ``reserved`` on the product's stock rows from another connection, committed at once."""

    def update() -> None:
        try:
            StockLevel.objects.filter(product=product).update(reserved=Decimal(reserved))
        finally:
            connection.close()

    thread = threading.Thread(target=update)
    thread.start()
    thread.join(timeout=30)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_retried_intake_and_same_po_do_not_deadlock(customer, contract, monkeypatch):
    """A retried intake meets a document with its PO number that has inserted its order and waits for the stock.

    Document A plans on stock that another order takes before A locks it, so
    A's attempt rolls back and A runs again, with the stock back, locking
    the rows before it plans. Document B, with the same PO number, inserts
    its order in between and then waits for the stock rows. The hooks hold
    each side at that point for up to 3 seconds, long enough for PostgreSQL
    to find a deadlock (``deadlock_timeout``, 1 s by default) if the two
    wait for each other.
    """
    from apps.orders import allocation, intake

    # given
    product = ProductFactory(sku="RETRY-1")
    StockLevelFactory(product=product, warehouse=WarehouseFactory(code="RTM", country="NL"), on_hand=Decimal("5"))
    a_retrying, b_inserted, a_locked = threading.Event(), threading.Event(), threading.Event()
    reserve_planned_stock, dispatch = allocation.reserve_planned_stock, intake._dispatch
    plan_reservation, insert_order = allocation.plan_reservation, intake._insert_order

    def take_stock_then_lock(rows, quantities, **keywords) -> None:
        if threading.current_thread().name == "doc-a" and not a_retrying.is_set():
            commit_reserved_elsewhere(product, "5")
        reserve_planned_stock(rows, quantities, **keywords)

    def give_stock_back_then_retry(request, document, actor, *, plan_unlocked=True):
        if request.document_id == "doc-a" and not plan_unlocked:
            commit_reserved_elsewhere(product, "0")
            a_retrying.set()
            b_inserted.wait(timeout=3)
        return dispatch(request, document, actor, plan_unlocked=plan_unlocked)

    def plan_then_signal(*, order, lines=None, unlocked_stock=None):
        reservation = plan_reservation(order=order, lines=lines, unlocked_stock=unlocked_stock)
        if order.payload_id == "doc-a" and unlocked_stock is None:
            a_locked.set()
        return reservation

    def insert_then_wait(order, steps) -> None:
        insert_order(order, steps)
        if order.payload_id == "doc-b":
            b_inserted.set()
            a_locked.wait(timeout=3)

    monkeypatch.setattr(allocation, "reserve_planned_stock", take_stock_then_lock)
    monkeypatch.setattr(intake, "_dispatch", give_stock_back_then_retry)
    monkeypatch.setattr(allocation, "plan_reservation", plan_then_signal)
    monkeypatch.setattr(intake, "_insert_order", insert_then_wait)
    outcomes: dict = {}

    def send(document_id: str, wait_for: threading.Event | None) -> None:
        try:
            if wait_for is not None:
                wait_for.wait(timeout=30)
            outcomes[document_id] = order_intake(
                request=request(customer, 0, [("RETRY-1", "1")], document_id=document_id)
            )
        except Exception as error:  # the test asserts that neither request failed
            outcomes[document_id] = error
        finally:
            connection.close()

    threads = [
        threading.Thread(target=send, args=("doc-a", None), name="doc-a"),
        threading.Thread(target=send, args=("doc-b", a_retrying), name="doc-b"),
    ]

    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # then
    assert not any(thread.is_alive() for thread in threads)
    assert [outcome for outcome in outcomes.values() if isinstance(outcome, Exception)] == []
    assert sorted(outcome.status for outcome in outcomes.values()) == [200, 409]
    assert Order.objects.filter(po_number="PO-SAME").count() == 1
    assert StockLevel.objects.get(product=product).reserved == Decimal("1")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_retried_intake_with_stock_back_allocates(customer, contract, monkeypatch):
    """The second run of an intake inserts its order before locking the stock, then saves it as allocated."""
    from apps.orders import allocation, intake

    # given: the stock is taken between the plan and the lock, and back before the second run
    product = ProductFactory(sku="BACK-1")
    StockLevelFactory(product=product, warehouse=WarehouseFactory(code="RTM", country="NL"), on_hand=Decimal("5"))
    reserve_planned_stock, dispatch = allocation.reserve_planned_stock, intake._dispatch
    retried = []

    def take_stock_then_lock(rows, quantities, **keywords) -> None:
        if not retried:
            commit_reserved_elsewhere(product, "5")
        reserve_planned_stock(rows, quantities, **keywords)

    def give_stock_back_then_retry(request, document, actor, *, plan_unlocked=True):
        if not plan_unlocked:
            retried.append(request.document_id)
            commit_reserved_elsewhere(product, "0")
        return dispatch(request, document, actor, plan_unlocked=plan_unlocked)

    monkeypatch.setattr(allocation, "reserve_planned_stock", take_stock_then_lock)
    monkeypatch.setattr(intake, "_dispatch", give_stock_back_then_retry)

    # when
    result = order_intake(request=request(customer, 1, [("BACK-1", "2")]))

    # then
    assert retried == ["doc-1"]
    assert result.status == 200
    order = Order.objects.get()
    assert order.status == OrderStatus.ALLOCATED
    history = list(order.history.order_by("history_date", "history_id").values_list("history_type", "status"))
    assert history == [
        ("+", OrderStatus.RECEIVED),
        ("~", OrderStatus.CONFIRMED),
        ("~", OrderStatus.ALLOCATED),
    ]
    assert order.lines.get().quantity_allocated == Decimal("2")
    assert StockLevel.objects.get(product=product).reserved == Decimal("2")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_two_line_orders_never_oversell(customer, contract):
    """Orders that plan on the same unlocked rows race for their late stock locks; the losers run again."""
    # given: 6 units of each product, split over two warehouses, for 16 orders of one of each
    rotterdam, frankfurt = WarehouseFactory(code="RTM", country="NL"), WarehouseFactory(code="FRA", country="DE")
    for sku in ("PAIR-A", "PAIR-B"):
        product = ProductFactory(sku=sku)
        StockLevelFactory(product=product, warehouse=rotterdam, on_hand=Decimal("3"))
        StockLevelFactory(product=product, warehouse=frankfurt, on_hand=Decimal("3"))

    def place(index: int):
        lines = [("PAIR-A", "1"), ("PAIR-B", "1")] if index % 2 else [("PAIR-B", "1"), ("PAIR-A", "1")]
        return order_intake(request=request(customer, index, lines))

    # when
    outcomes = run_threads(16, place)

    # then
    assert [outcome for outcome in outcomes if isinstance(outcome, Exception)] == []
    assert all(outcome.status == 200 for outcome in outcomes)
    assert Order.objects.filter(status=OrderStatus.ALLOCATED).count() == 6
    for level in StockLevel.objects.all():
        allocated = sum(allocation.quantity for allocation in LineAllocation.objects.filter(stock_level=level))
        assert level.reserved <= level.on_hand
        assert level.reserved == allocated
    assert sum(StockLevel.objects.values_list("reserved", flat=True)) == Decimal("12")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_stock_reservation_ignores_key_share_locks(customer, contract):
    """Another transaction's new allocation row (a FOR KEY SHARE lock on its stock row) does not block intake."""
    # given: another transaction holds the lock that its allocation row's foreign key takes
    product = ProductFactory(sku="SHARED-1")
    level = StockLevelFactory(
        product=product, warehouse=WarehouseFactory(code="RTM", country="NL"), on_hand=Decimal("5")
    )

    def hold_key_share() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM catalog_stocklevel WHERE id = %s FOR KEY SHARE", [level.pk])

    # when: waiting for that lock would fail after 3 seconds instead of hanging
    with lock_held_elsewhere(hold_key_share), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = '3s'")
        result = order_intake(request=request(customer, 1, [("SHARED-1", "2")]))

    # then
    assert result.status == 200
    assert Order.objects.get().status == OrderStatus.ALLOCATED
    level.refresh_from_db()
    assert level.reserved == Decimal("2")
    stock_history = level.history.order_by("history_date", "history_id").last()
    assert (stock_history.history_type, stock_history.reserved) == ("~", Decimal("2"))
    assert stock_history.history_change_reason == "Reserved for an order"
