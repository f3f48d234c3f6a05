"""Allocation of confirmed orders to warehouses, with row locks that neither oversell nor deadlock.

Rule, for the order's open lines (backordered and cancelled lines are left out):

1. The customer's region first: the warehouses listed for the region in
   ``ORDER_REGION_WAREHOUSES`` (a dict of region to warehouse codes), and
   those in the ship-to country. The first of them that can ship every line
   ships the order.
2. Else the one active warehouse that can ship everything, the one with the
   most stock of the order's products left over winning, then the lowest code.
3. Else a split: each line takes what it can from the region's warehouses,
   then from the others by code.

Stock rows are locked in primary-key order, so two orders for the same
products wait for each other in the same order and cannot deadlock. Most
callers lock every stock row of the order's products with one ``SELECT …
FOR NO KEY UPDATE`` before they make the plan that is written. Intake plans
a new order on the rows read without the lock and writes the order, its
lines and its allocation rows first. Then one statement locks the planned
rows and reserves the planned quantities where they are still available
(``reserve_planned_stock``), so that the locks are held only from that
statement to the commit. When a row no longer covers its quantity,
``reserve_planned_stock`` raises StockChanged, and intake runs the order
again with the locks taken first.

Every stock row lock is FOR NO KEY UPDATE, the lock an UPDATE of these
columns takes anyway. That lock does not wait for the FOR KEY SHARE lock
that the foreign key of a new allocation row takes on its stock row. So
allocation rows written before the stock lock cannot make another order
wait out of primary-key order. Availability is ``on_hand - reserved``; an allocation
adds to ``reserved``, which a shipment takes off again together with
``on_hand``.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from apps.catalog.models import StockLevel
from apps.core.history import insert_history_select, write_history
from apps.core.inserts import insert_rows
from apps.core.prepared import PLACEHOLDER_ID, run_for_list
from apps.orders.models import LineAllocation, LineStatus, Order, OrderLine

logger = logging.getLogger(__name__)

_ZERO = Decimal(0)
_RESERVED_REASON = "Reserved for an order"


class StockChanged(Exception):
    """The stock rows, once locked, no longer cover a plan that was made on them without the lock."""


@dataclass
class Reservation:
    """A plan that reserves stock for an order's open lines.

    ``plan`` maps a line's position to {warehouse id: quantity}; ``shortages``
    lists the products without enough stock, and then the plan is empty.
    ``remaining`` maps a line's position to the quantity the plan allocates
    to it. ``locked`` is False for a plan made on stock rows read without
    their locks, which ``write_reservation`` locks only for its last write.
    """

    lines: list[OrderLine]
    stock: dict[int, list[StockLevel]]
    remaining: dict[int, Decimal]
    plan: dict[int, dict[int, Decimal]] = field(default_factory=dict)
    shortages: list[dict] = field(default_factory=list)
    locked: bool = True


def reserve(*, order: Order, actor, lines: list[OrderLine] | None = None) -> list[dict]:
    """Reserve stock for a locked, confirmed order's open lines and set its warehouse.

    Returns the shortages (product id, needed, available) and reserves
    nothing when any product lacks stock; an empty list means reserved.
    """
    reservation = plan_reservation(order=order, lines=lines)
    if reservation.shortages:
        return reservation.shortages
    assign_reservation(reservation, order=order)
    write_reservation(reservation, actor=actor)
    return []


def plan_reservation(
    *, order: Order, lines: list[OrderLine] | None = None, unlocked_stock: dict[int, list[StockLevel]] | None = None
) -> Reservation:
    """Lock the stock rows of the order's open lines and plan the reservation; nothing is written.

    The lines may be unsaved: the plan refers to them by position. A caller
    that read the rows without their locks (``read_stock``) passes them as
    ``unlocked_stock`` to plan on them. ``write_reservation`` then locks only
    the planned rows, in its last statement.
    """
    if lines is None:
        lines = _open_lines(order)
    else:
        lines = [line for line in lines if line.status == LineStatus.OPEN and line.product_id is not None]
    locked = unlocked_stock is None
    stock = _lock_stock(lines) if locked else unlocked_stock
    remaining = {line.position: line.quantity - line.quantity_allocated for line in lines}
    plan, shortages = _plan(order, lines, stock, remaining)
    return Reservation(lines=lines, stock=stock, remaining=remaining, plan=plan, shortages=shortages, locked=locked)


def assign_reservation(reservation: Reservation, *, order: Order) -> None:
    """Set the lines' allocated quantities and the order's warehouse from the plan, in memory only."""
    by_position = {line.position: line for line in reservation.lines}
    for position, allocations in reservation.plan.items():
        by_position[position].quantity_allocated += sum(allocations.values(), _ZERO)
    order.warehouse_id = _single_warehouse(reservation.plan)


def _single_warehouse(plan: dict[int, dict[int, Decimal]]) -> int | None:
    """Return the one warehouse the plan ships from, or None for a split plan."""
    warehouses = {warehouse_id for allocations in plan.values() for warehouse_id in allocations}
    return next(iter(warehouses)) if len(warehouses) == 1 else None


def write_reservation(reservation: Reservation, *, actor, lines_written: bool = False) -> None:
    """Write an assigned plan: reserved stock, allocation rows and, unless ``lines_written``, the lines.

    The lines must be saved by now. ``lines_written`` means that the caller
    inserted them with their allocated quantities and their history. A plan
    made without the stock locks (``reservation.locked`` False) takes them
    in the last statement and raises StockChanged, after writing part of the
    plan, when the locked rows no longer cover it; the caller then rolls
    back its savepoint.
    """
    _reserve(
        reservation.plan,
        reservation.stock,
        reservation.lines,
        actor,
        write_lines=not lines_written,
        locked=reservation.locked,
    )
    reservation.locked = True


def release(*, order: Order, actor) -> None:
    """Give back the stock reserved for the order's lines (on cancellation or a buyer's change)."""
    allocations = list(
        LineAllocation.objects.filter(line__order=order).select_related("line").order_by("stock_level_id")
    )
    if not allocations:
        return
    stock = {
        level.pk: level
        for level in StockLevel.objects.select_for_update(no_key=True)
        .filter(pk__in={allocation.stock_level_id for allocation in allocations})
        .order_by("pk")
    }
    touched_lines: dict[int, OrderLine] = {}
    for allocation in allocations:
        level = stock[allocation.stock_level_id]
        level.reserved = max(level.reserved - allocation.quantity, _ZERO)
        line = touched_lines.setdefault(allocation.line_id, allocation.line)
        line.quantity_allocated = max(line.quantity_allocated - allocation.quantity, _ZERO)
    for level in stock.values():
        level._history_user = actor
        level._change_reason = f"Released for order {order.number}"
        level.save(update_fields=["reserved", "updated_at"])
    for line in touched_lines.values():
        line.save(update_fields=["quantity_allocated", "updated_at"])
    for allocation in allocations:
        allocation.delete()


def _open_lines(order: Order) -> list[OrderLine]:
    return list(order.lines.filter(status=LineStatus.OPEN, product__isnull=False).order_by("position"))


def read_stock(product_ids) -> dict[int, list[StockLevel]]:
    """Read the stock rows of the products in active warehouses without locking them; return them by product."""
    return _by_product(_run_stock_query("read", product_ids))


def _lock_stock(lines: list[OrderLine]) -> dict[int, list[StockLevel]]:
    """Lock every stock row of the lines' products in primary-key order; return them by product."""
    return _by_product(_run_stock_query("lock", {line.product_id for line in lines}))


def _run_stock_query(kind: str, product_ids) -> list:
    """Run one of the stock row queries of ``_STOCK_QUERIES`` for the products, compiled once per connection.

    Every order reads and locks its stock rows, and building these querysets
    took more CPU time than running them (bench/orders_intake.py).
    """
    return run_for_list(("orders.allocation.stock", kind), _STOCK_QUERIES[kind], sorted(product_ids), _placeholder_id)


def _placeholder_id(index: int) -> int:
    return PLACEHOLDER_ID + index


def _stock_rows(product_ids: list[int]):
    return StockLevel.objects.select_related("warehouse").filter(product_id__in=product_ids, warehouse__is_active=True)


# The stock row queries, by kind: rows with their warehouses, and the same locked.
_STOCK_QUERIES = {
    "read": lambda product_ids: _stock_rows(product_ids).order_by("pk"),
    "lock": lambda product_ids: _stock_rows(product_ids).select_for_update(of=("self",), no_key=True).order_by("pk"),
}


def _by_product(rows) -> dict[int, list[StockLevel]]:
    by_product: dict[int, list[StockLevel]] = defaultdict(list)
    for row in rows:
        by_product[row.product_id].append(row)
    return by_product


def _needed(lines: list[OrderLine], remaining: dict[int, Decimal]) -> dict[int, Decimal]:
    needed: dict[int, Decimal] = defaultdict(lambda: _ZERO)
    for line in lines:
        needed[line.product_id] += remaining[line.position]
    return needed


def _region_codes(order: Order) -> list[str]:
    mapping = getattr(settings, "ORDER_REGION_WAREHOUSES", {}) or {}
    return list(mapping.get(order.customer.region, [])) if order.customer.region else []


def _plan(order, lines, stock, remaining) -> tuple[dict[int, dict[int, Decimal]], list[dict]]:
    """Return {line position: {warehouse id: quantity}} and the shortages (empty when the plan covers every line).

    ``remaining`` maps each line's position to the quantity to allocate to it.
    """
    needed = _needed(lines, remaining)
    available: dict[tuple[int, int], Decimal] = {}
    warehouses = {}
    for product_id, rows in stock.items():
        for row in rows:
            available[(product_id, row.warehouse_id)] = max(row.on_hand - row.reserved, _ZERO)
            warehouses[row.warehouse_id] = row.warehouse

    shortages = []
    for product_id, quantity in needed.items():
        total = sum((available.get((product_id, warehouse_id), _ZERO) for warehouse_id in warehouses), _ZERO)
        if total < quantity:
            shortages.append({"product_id": product_id, "needed": quantity, "available": total})
    if shortages:
        return {}, shortages

    ship_country = str((order.ship_to or {}).get("country_code", "")).upper()
    region_codes = _region_codes(order)
    regional = sorted(
        (w for w in warehouses.values() if w.code in region_codes or (ship_country and w.country == ship_country)),
        key=lambda w: (region_codes.index(w.code) if w.code in region_codes else len(region_codes), w.code),
    )

    def covers(warehouse_id: int) -> bool:
        return all(available.get((p, warehouse_id), _ZERO) >= q for p, q in needed.items())

    single = next((w.pk for w in regional if covers(w.pk)), None)
    if single is None:
        full = [w for w in warehouses.values() if covers(w.pk)]
        if full:
            leftover = {w.pk: sum(available.get((p, w.pk), _ZERO) - q for p, q in needed.items()) for w in full}
            single = sorted(full, key=lambda w: (-leftover[w.pk], w.code))[0].pk
    if single is not None:
        return {line.position: {single: remaining[line.position]} for line in lines}, []

    order_of_preference = [w.pk for w in regional] + [
        w.pk for w in sorted(warehouses.values(), key=lambda w: w.code) if w not in regional
    ]
    plan: dict[int, dict[int, Decimal]] = {}
    for line in lines:
        to_allocate = remaining[line.position]
        plan[line.position] = {}
        for warehouse_id in order_of_preference:
            if to_allocate <= 0:
                break
            key = (line.product_id, warehouse_id)
            take = min(available.get(key, _ZERO), to_allocate)
            if take > 0:
                plan[line.position][warehouse_id] = take
                available[key] -= take
                to_allocate -= take
    return plan, []


def _reserve(plan, stock, lines: list[OrderLine], actor, *, write_lines: bool = True, locked: bool = True) -> None:
    """Write the plan: reserved stock, allocation rows and the lines' allocated quantities, each in one statement.

    The history rows are written in bulk too. The lines already carry their
    allocated quantities (``assign_reservation``). With ``locked`` the stock
    rows are whole rows read under the lock, so no field is recorded as
    changed that did not change. Without it the stock is reserved last, by
    ``reserve_planned_stock``, which may raise StockChanged.
    """
    now = timezone.now()
    rows = {(row.product_id, row.warehouse_id): row for rows in stock.values() for row in rows}
    lines_by_position = {line.position: line for line in lines}
    changed: dict[int, StockLevel] = {}
    reserve_by_row: dict[int, Decimal] = defaultdict(lambda: _ZERO)
    new_allocations = []
    for position, allocations in plan.items():
        line = lines_by_position[position]
        line.updated_at = now
        for warehouse_id, quantity in allocations.items():
            row = rows[(line.product_id, warehouse_id)]
            reserve_by_row[row.pk] += quantity
            changed[row.pk] = row
            new_allocations.append(
                LineAllocation(line=line, warehouse_id=warehouse_id, stock_level=row, quantity=quantity)
            )
    ordered_rows = sorted(changed.values(), key=lambda row: row.pk)
    allocated_lines = [lines_by_position[position] for position in plan]
    if locked:
        for row in ordered_rows:
            row.reserved += reserve_by_row[row.pk]
            row.updated_at = now
        _bulk_set(StockLevel, ordered_rows, "reserved", now, actor, _RESERVED_REASON)
    if write_lines:
        _bulk_set(OrderLine, allocated_lines, "quantity_allocated", now, actor, "Allocated")
    insert_rows(new_allocations)
    write_history(LineAllocation, [(row, "+", "") for row in new_allocations], actor=actor, date=now)
    if not locked:
        reserve_planned_stock(ordered_rows, [reserve_by_row[row.pk] for row in ordered_rows], now=now, actor=actor)
    logger.info("Stock reserved", extra={"lines": len(allocated_lines), "stock_rows": len(ordered_rows)})


def reserve_planned_stock(rows: list[StockLevel], quantities: list[Decimal], *, now, actor) -> None:
    """Lock the stock rows in primary-key order and add ``quantities`` to their ``reserved``, with history rows.

    ``rows`` are sorted by primary key and were read without their locks;
    their ``reserved`` and ``updated_at`` are set to the written values. A
    row whose ``on_hand - reserved``, once locked, is below its quantity is
    left as it is, and StockChanged is raised after the others are written.
    On PostgreSQL this is one statement, so that the locks are taken just
    before the transaction ends.
    """
    if connection.vendor != "postgresql":
        written = _reserve_locked_rows(rows, quantities, now, actor)
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                _reserve_statement(DEFAULT_DB_ALIAS),
                {
                    "ids": [row.pk for row in rows],
                    "quantities": quantities,
                    "now": now,
                    "history_date": now,
                    "history_change_reason": _RESERVED_REASON,
                    "history_type": "~",
                    "history_user_id": actor.pk if actor is not None else None,
                },
            )
            written = dict(cursor.fetchall())
        for row in rows:
            if row.pk in written:
                row.reserved, row.updated_at = written[row.pk], now
    if len(written) < len(rows):
        raise StockChanged(f"Stock rows {sorted({row.pk for row in rows} - set(written))} no longer cover the plan.")


@lru_cache(maxsize=4)
def _reserve_statement(using: str) -> str:
    """Return the statement of ``reserve_planned_stock`` on PostgreSQL, with named parameters.

    The MATERIALIZED subquery locks the rows in primary-key order before the
    UPDATE writes them, so the UPDATE's own plan cannot change the lock
    order. The UPDATE adds to ``reserved`` only where the locked row still
    has the quantity available, and its new rows become the history rows.
    """
    quote = connections[using].ops.quote_name
    table = quote(StockLevel._meta.db_table)
    names = ("id", "on_hand", "reserved", "updated_at")
    column = {name: quote(StockLevel._meta.get_field(name).column) for name in names}
    history_insert = insert_history_select(StockLevel, "updated", using)
    return (
        f"WITH locked AS MATERIALIZED (SELECT {column['id']} FROM {table} "  # noqa: S608 - names from _meta
        f"WHERE {column['id']} = ANY(%(ids)s::bigint[]) ORDER BY {column['id']} FOR NO KEY UPDATE), "
        f"updated AS (UPDATE {table} AS t SET {column['reserved']} = t.{column['reserved']} + v.quantity, "
        f"{column['updated_at']} = %(now)s FROM locked "
        f"JOIN unnest(%(ids)s::bigint[], %(quantities)s::numeric[]) AS v(id, quantity) ON v.id = locked.{column['id']} "
        f"WHERE t.{column['id']} = locked.{column['id']} "
        f"AND t.{column['on_hand']} - t.{column['reserved']} >= v.quantity RETURNING t.*) "
        f"{history_insert} RETURNING {column['id']}, {column['reserved']}"
    )


def _reserve_locked_rows(rows: list[StockLevel], quantities: list[Decimal], now, actor) -> dict[int, Decimal]:
    """Do what the PostgreSQL statement of ``reserve_planned_stock`` does with the ORM; return {id: reserved}."""
    requested = dict(zip((row.pk for row in rows), quantities, strict=True))
    locked = (
        StockLevel.objects.select_for_update(no_key=True)
        .filter(pk__in=requested)
        .order_by("pk")
        .values_list("pk", "on_hand", "reserved")
    )
    written = {pk: reserved + requested[pk] for pk, on_hand, reserved in locked if on_hand - reserved >= requested[pk]}
    by_pk = {row.pk: row for row in rows}
    covered = [by_pk[pk] for pk in written]
    for row in covered:
        row.reserved, row.updated_at = written[row.pk], now
    StockLevel.objects.bulk_update(covered, ["reserved", "updated_at"])
    write_history(StockLevel, [(row, "~", _RESERVED_REASON) for row in covered], actor=actor, date=now)
    return written


def _bulk_set(model, objects: list, field_name: str, now, actor, reason: str) -> None:
    """Write one field of many rows and their history rows, in two statements.

    On PostgreSQL the rows are updated from two arrays with ``unnest``,
    because ``bulk_update``'s CASE expression with hundreds of branches took
    about 0.5 s for 500 rows (the orders benchmark). Other databases use
    ``bulk_update``.
    """
    if not objects:
        return
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        column = model._meta.get_field(field_name).column
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {quote(model._meta.db_table)} AS t SET {quote(column)} = v.value, "  # noqa: S608 - names from _meta
                f"{quote('updated_at')} = %s FROM unnest(%s::bigint[], %s::numeric[]) AS v(id, value) "
                "WHERE t.id = v.id",
                [now, [obj.pk for obj in objects], [getattr(obj, field_name) for obj in objects]],
            )
    else:
        model.objects.bulk_update(objects, [field_name, "updated_at"], batch_size=500)
    write_history(model, [(obj, "~", reason) for obj in objects], actor=actor, date=now)
