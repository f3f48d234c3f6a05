"""Generate the exception queue benchmark's data in PostgreSQL with ``INSERT … SELECT generate_series``.

The data: customers, orders, a few staff users in the ``sales`` and
``finance`` groups, and exception cases about the orders. Most cases are
resolved or dismissed. About 6 % are open or in progress, and a third of
those are past their due time. Rows are built by PostgreSQL in one
transaction, so a failed run leaves no half-filled tables.

Columns that the benchmark does not care about but that are NOT NULL
without a database default get a neutral value of their type (see
``_neutral_value``), so the generator keeps working when other apps add
such columns.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction

# Every generated row carries this prefix in its number or account, so the
# generator can tell its rows from others.
PREFIX = "BQ"
SALES_USERNAMES = ("bench-sales-1", "bench-sales-2", "bench-sales-3")
FINANCE_USERNAMES = ("bench-finance-1", "bench-finance-2")

# Kinds per team, following the default routing rules: credit and tax cases go to finance.
SALES_KINDS = ("price_mismatch", "out_of_stock", "unknown_product", "unit_of_measure", "duplicate_order")
FINANCE_KINDS = ("credit", "tax_mismatch")

# Share of cases that are still active (open or in progress); the rest are closed.
ACTIVE_SHARE = 0.06


@dataclass(frozen=True)
class QueueData:
    order_count: int
    case_count: int
    active_case_count: int
    sales_username: str


def ensure_queue_data(*, order_count: int, case_count: int, customer_count: int) -> QueueData:
    """Generate the customers, orders, users and cases unless a previous run left them; then ANALYZE."""
    _ensure_users()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM exceptions_exceptioncase WHERE cause_key LIKE %s", [f"{PREFIX}-%"])
        existing_cases = cursor.fetchone()[0]
    if existing_cases != case_count:
        _generate(order_count=order_count, case_count=case_count, customer_count=customer_count)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders_order WHERE number LIKE %s", [f"{PREFIX}-%"])
        orders = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM exceptions_exceptioncase "
            "WHERE cause_key LIKE %s AND state IN ('open', 'in_progress')",
            [f"{PREFIX}-%"],
        )
        active = cursor.fetchone()[0]
    return QueueData(
        order_count=orders, case_count=case_count, active_case_count=active, sales_username=SALES_USERNAMES[0]
    )


def _ensure_users() -> None:
    user_model = get_user_model()
    for group_name, usernames in (("sales", SALES_USERNAMES), ("finance", FINANCE_USERNAMES)):
        group = Group.objects.get(name=group_name)
        for username in usernames:
            user, _ = user_model.objects.get_or_create(username=username, defaults={"is_staff": True})
            user.groups.add(group)


@transaction.atomic
def _generate(*, order_count: int, case_count: int, customer_count: int) -> None:
    like = f"{PREFIX}-%"
    with connection.cursor() as cursor:
        # Remove a partial or differently sized earlier run, cases first because they point at customers.
        cursor.execute("DELETE FROM exceptions_exceptioncase WHERE cause_key LIKE %s", [like])
        cursor.execute("DELETE FROM orders_order WHERE number LIKE %s", [like])
        cursor.execute("DELETE FROM contracts_customer WHERE account_number LIKE %s", [like])
        cursor.execute("SELECT setseed(0.42)")

    _insert_series(
        "contracts_customer",
        customer_count,
        {
            "account_number": f"'{PREFIX}-' || lpad(i::text, 6, '0')",
            "name": "(ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Stark', 'Wayne', 'Hooli', 'Tyrell'])"
            "[1 + i % 8] || ' ' || (ARRAY['Industrial', 'Supply', 'Labs', 'Holding', 'Works'])[1 + (i / 8) % 5]"
            " || ' ' || i",
            "currency": "'EUR'",
            "region": "(ARRAY['EMEA', 'NA', 'APAC'])[1 + i % 3]",
            "is_active": "true",
        },
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM contracts_customer WHERE account_number LIKE %s", [like])
        first_customer_id = cursor.fetchone()[0]

    # Orders of the newest first: order i was created i minutes before now.
    _insert_series(
        "orders_order",
        order_count,
        {
            "number": f"'{PREFIX}-' || lpad(i::text, 7, '0')",
            "customer_id": f"{first_customer_id} + i % {customer_count}",
            "channel": "'cxml'",
            "po_number": "'PO-' || lpad(i::text, 7, '0')",
            "status": "(ARRAY['paid', 'paid', 'paid', 'invoiced', 'shipped', 'confirmed', 'on_hold', 'cancelled'])"
            "[1 + floor(random() * 8)::int]",
            "currency": "'EUR'",
            "total": "round((50 + random() * 5000)::numeric, 2)",
            "subtotal": "round((50 + random() * 5000)::numeric, 2)",
            "created_at": "now() - i * interval '1 minute'",
            "updated_at": "now() - i * interval '1 minute'",
        },
    )
    _insert_cases(case_count=case_count, order_count=order_count, customer_count=customer_count)


def _insert_cases(*, case_count: int, order_count: int, customer_count: int) -> None:
    like = f"{PREFIX}-%"
    order_type = ContentType.objects.get(app_label="orders", model="order")
    sales = Group.objects.get(name="sales")
    finance = Group.objects.get(name="finance")
    user_model = get_user_model()
    sales_ids = list(user_model.objects.filter(username__in=SALES_USERNAMES).values_list("pk", flat=True))
    kinds = SALES_KINDS * 3 + FINANCE_KINDS  # 15 of every 17 cases go to sales, as in most queues
    kind_array = "ARRAY[" + ", ".join(f"'{kind}'" for kind in kinds) + "]"
    finance_array = "ARRAY[" + ", ".join(f"'{kind}'" for kind in FINANCE_KINDS) + "]"
    sales_id_array = "ARRAY[" + ", ".join(str(pk) for pk in sales_ids) + "]::int[]"

    # Each case concerns one order, spread over the whole table. The staging
    # table fixes each case's random draws once, so the final INSERT can
    # derive several columns from the same draw.
    stride = max(order_count // case_count, 1)
    order_number = f"'{PREFIX}-' || lpad(((i - 1) * {stride} % {order_count} + 1)::text, 7, '0')"
    # Every interpolated value is a constant of this module or an integer.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE TEMP TABLE bench_case_draws ON COMMIT DROP AS
            SELECT i,
                   ({kind_array})[1 + floor(random() * {len(kinds)})::int] AS kind,
                   random() AS state_draw,
                   random() AS due_draw,
                   random() AS assignee_draw,
                   o.id AS order_id, o.number, o.po_number,
                   c.account_number, c.name AS customer_name, c.id AS customer_id
            FROM generate_series(1, {case_count}) AS g(i)
            JOIN orders_order o ON o.number = {order_number}
            JOIN contracts_customer c ON c.id = o.customer_id
            """  # noqa: S608
        )
    # Active cases are due from 2 days ago to 4 days ahead, so about a third
    # are overdue, and half of those the escalation task has already flagged.
    # Closed cases were due and resolved up to a year ago.
    state = (
        f"CASE WHEN d.state_draw < {ACTIVE_SHARE * 0.7} THEN 'open' "
        f"WHEN d.state_draw < {ACTIVE_SHARE} THEN 'in_progress' "
        "WHEN d.state_draw < 0.8 THEN 'resolved' ELSE 'dismissed' END"
    )
    active = f"(d.state_draw < {ACTIVE_SHARE})"
    due_at = (
        f"CASE WHEN {active} THEN now() + (d.due_draw * 6 - 2) * interval '1 day' "
        "ELSE now() - d.due_draw * interval '365 days' END"
    )
    team = f"CASE WHEN d.kind = ANY({finance_array}) THEN {finance.pk} ELSE {sales.pk} END"
    _insert_series(
        "exceptions_exceptioncase",
        case_count,
        {
            "kind": "d.kind",
            "state": state,
            "severity": "(ARRAY['low', 'normal', 'normal', 'normal', 'high', 'critical'])[1 + d.i % 6]",
            "summary": "replace(d.kind, '_', ' ') || ' on order ' || d.number",
            "cause_key": f"'{PREFIX}-line-' || (1 + d.i % 5)",
            "facts": "jsonb_build_object('buyer_price', '90.00', 'our_price', '100.00', 'currency', 'EUR')",
            "content_type_id": str(order_type.pk),
            "object_id": "d.order_id::text",
            "customer_id": "d.customer_id",
            "reference": "d.number",
            "po_number": "d.po_number",
            "sku": "'SKU-' || lpad((d.i % 20000)::text, 5, '0')",
            "customer_account": "d.account_number",
            "customer_name": "d.customer_name",
            "team_id": team,
            "assignee_id": f"CASE WHEN d.state_draw >= {ACTIVE_SHARE * 0.7} AND d.kind <> ALL({finance_array}) "
            f"THEN ({sales_id_array})[1 + floor(d.assignee_draw * {len(sales_ids)})::int] END",
            "blocking": "d.i % 4 <> 0",
            "due_at": due_at,
            "overdue": f"{active} AND d.due_draw < 1.0 / 6",
            "escalation_group_id": team,
            "escalate_at": due_at,
            "escalation_level": f"CASE WHEN {active} AND d.due_draw < 1.0 / 6 THEN 1 ELSE 0 END",
            "reopen_count": "0",
            "resolution_action": "''",
            "resolution_note": f"CASE WHEN {active} THEN '' ELSE 'closed by the generator' END",
            "resolved_at": f"CASE WHEN {active} THEN NULL ELSE now() - d.due_draw * interval '365 days' END",
            "created_at": "now() - interval '1 day' - d.due_draw * interval '365 days'",
            "updated_at": "now()",
        },
        source="bench_case_draws d",
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM exceptions_exceptioncase WHERE cause_key LIKE %s", [like])
        inserted = cursor.fetchone()[0]
    if inserted != case_count:
        raise RuntimeError(f"Generated {inserted} exception cases instead of {case_count}; check the order numbers.")


def _insert_series(table: str, count: int, values: dict[str, str], *, source: str | None = None) -> None:
    """Insert ``count`` rows into ``table`` with the SQL expressions in ``values``, over ``i`` from 1 to ``count``.

    ``source`` replaces the default ``generate_series`` as the FROM clause; it must provide the rows itself.
    """
    columns = dict(values)
    for column, data_type in _required_columns(table):
        if column not in columns:
            columns[column] = _neutral_value(table, column, data_type)
    names = ", ".join(f'"{name}"' for name in columns)
    expressions = ",\n    ".join(columns.values())
    from_clause = source or f"generate_series(1, {count}) AS g(i)"
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({names})\nSELECT {expressions}\nFROM {from_clause}")


def _required_columns(table: str) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT column_name, data_type FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = %s
              AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'
            """,
            [table],
        )
        return cursor.fetchall()


def _neutral_value(table: str, column: str, data_type: str) -> str:
    if data_type in {"character varying", "text", "character"}:
        return "''"
    if data_type in {"integer", "bigint", "smallint", "numeric", "double precision", "real"}:
        return "0"
    if data_type == "boolean":
        return "false"
    if data_type == "jsonb":
        return "'{}'::jsonb"
    if data_type.startswith("timestamp"):
        return "now()"
    if data_type == "date":
        return "current_date"
    if data_type == "uuid":
        return "gen_random_uuid()"
    raise RuntimeError(
        f"Column {table}.{column} is NOT NULL with type {data_type!r}, which the generator cannot fill; "
        "add a value for it in bench/exception_queue_data.py."
    )
