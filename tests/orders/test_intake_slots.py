"""Intake slots on PostgreSQL: at most ORDER_INTAKE_MAX_CONCURRENT intakes at once, the others served in turn."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction

from apps.orders.intake_slots import SLOT_KEY_BASE
from apps.orders.models import Order, OrderStatus
from apps.orders.services import order_intake
from tests.db_locks import lock_held_elsewhere
from tests.factories import ProductFactory, StockLevelFactory
from tests.orders.test_concurrency import request

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def hold_slot(slot: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SLOT_KEY_BASE + slot])


def backends_waiting_for_slots() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND ((classid::bigint << 32) | objid::bigint) BETWEEN %s AND %s",
            [SLOT_KEY_BASE, SLOT_KEY_BASE + 63],
        )
        return cursor.fetchone()[0]


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


class IntakeThread(threading.Thread):
    """An order intake on its own connection, started now; ``result`` is its outcome once it ends."""

    def __init__(self, customer, index: int, sku: str) -> None:
        super().__init__()
        self.customer, self.index, self.sku = customer, index, sku
        self.result = None
        self.start()

    def run(self) -> None:
        try:
            self.result = order_intake(request=request(self.customer, self.index, [(self.sku, "1")]))
        except Exception as error:  # the test asserts on it
            self.result = error
        finally:
            connection.close()


@pytest.fixture
def lamp(contract, warehouses):
    product = ProductFactory(sku="LAMP-1", list_price=Decimal("30.00"))
    StockLevelFactory(product=product, warehouse=warehouses["RTM"], on_hand=Decimal("100"))
    return product


@pytest.mark.parametrize("limit", [1, 2])
def test_intake_waits_while_every_slot_is_taken(settings, customer, lamp, limit):
    # given
    settings.ORDER_INTAKE_MAX_CONCURRENT = limit

    def hold_every_slot() -> None:
        for slot in range(limit):
            hold_slot(slot)

    # when
    with lock_held_elsewhere(hold_every_slot):
        intake = IntakeThread(customer, 1, "LAMP-1")
        waited = wait_until(lambda: backends_waiting_for_slots() == 1)
        orders_while_held = Order.objects.count()
    intake.join(timeout=30)

    # then
    assert waited, "The intake did not wait although another connection held every slot."
    assert orders_while_held == 0
    assert not isinstance(intake.result, Exception), intake.result
    assert intake.result.status == 200
    assert Order.objects.get().status == OrderStatus.ALLOCATED


def test_waiting_intakes_run_in_arrival_order(settings, customer, lamp):
    # given
    settings.ORDER_INTAKE_MAX_CONCURRENT = 1
    intakes = []

    # when
    with lock_held_elsewhere(lambda: hold_slot(0)):
        for index in range(4):
            intakes.append(IntakeThread(customer, index, "LAMP-1"))
            assert wait_until(lambda count=index + 1: backends_waiting_for_slots() == count)
    for intake in intakes:
        intake.join(timeout=30)

    # then
    assert [intake.result.status for intake in intakes] == [200, 200, 200, 200]
    taken_in = list(Order.objects.order_by("id").values_list("po_number", flat=True))
    assert taken_in == ["PO-0", "PO-1", "PO-2", "PO-3"]


def test_two_slots_let_two_intakes_run(settings, customer, lamp):
    # given
    settings.ORDER_INTAKE_MAX_CONCURRENT = 2

    # when: slot 0 is taken, so of the two consecutive tickets the one for slot 0 waits and the other runs
    with lock_held_elsewhere(lambda: hold_slot(0)):
        intakes = [IntakeThread(customer, index, "LAMP-1") for index in range(2)]
        finished_one = wait_until(lambda: any(intake.result is not None for intake in intakes))
        waiting = backends_waiting_for_slots()
    for intake in intakes:
        intake.join(timeout=30)

    # then
    assert finished_one, "Neither intake ran while only one of the two slots was taken."
    assert waiting == 1
    assert Order.objects.filter(status=OrderStatus.ALLOCATED).count() == 2


def test_intake_in_callers_transaction_takes_no_slot(settings, customer, lamp):
    # given
    settings.ORDER_INTAKE_MAX_CONCURRENT = 1

    # when: a caller's open transaction may hold row locks, so intake must not queue behind other intakes
    with lock_held_elsewhere(lambda: hold_slot(0)), transaction.atomic():
        result = order_intake(request=request(customer, 1, [("LAMP-1", "1")]))

    # then
    assert result.status == 200
    assert Order.objects.get().status == OrderStatus.ALLOCATED


def test_no_limit_takes_no_slot(settings, customer, lamp):
    # given
    settings.ORDER_INTAKE_MAX_CONCURRENT = 0

    # when
    with lock_held_elsewhere(lambda: hold_slot(0)):
        result = order_intake(request=request(customer, 1, [("LAMP-1", "1")]))

    # then
    assert result.status == 200
