"""A limit on the order intakes that run at once on PostgreSQL, with waiting intakes served in arrival order.

An intake is CPU work in the web process and in PostgreSQL, with a dozen
round trips between them. When more intakes run at once than there are
cores, each one takes longer, because processes and threads take turns on
the cores and on the GIL. A transaction that has reserved stock then waits
for its next turn while it holds the row locks that the orders behind it
need. So ``ORDER_INTAKE_MAX_CONCURRENT`` intakes hold a slot, and the
others wait for one without using CPU.

A slot is a transaction-level advisory lock. It is released at the commit
or rollback however the intake ends, and every web process and host on the
database shares it. An intake takes the first free slot. When none is
free, it draws a ticket from a sequence and waits for slot
``ticket % limit``. PostgreSQL grants the waiters of one lock in the order
they asked, and a slot with waiters passes straight to the next one, so no
newcomer overtakes an intake that waits for the same slot. That keeps the
slowest latencies close to the median, though an intake may wait behind a
slow one in its slot while another slot serves newcomers. PostgreSQL's deadlock
detector includes these waits like any other lock wait.
"""

from django.conf import settings
from django.db import connection

# Slot keys are one-argument (bigint) advisory lock keys, which PostgreSQL keeps apart from the
# two-argument keys of the catalog import. The base is "ORDER" in ASCII in the high bytes.
SLOT_KEY_BASE = 0x4F52_4445_5200_0000

# The first free slot, else a ticket from the sequence of migration orders.0008 and a wait for its slot.
# PostgreSQL runs the second subquery only when the first finds no free slot, and the LIMIT stops the first
# at the slot it took.
_TAKE_SLOT = (
    "SELECT COALESCE("
    "(SELECT slot FROM generate_series(0, %(last)s) AS slot "
    "WHERE pg_try_advisory_xact_lock(%(base)s + slot) LIMIT 1), "
    "(SELECT -1 FROM (SELECT pg_advisory_xact_lock(%(base)s + nextval('orders_intake_ticket') %% %(limit)s)) "
    "AS waited))"
)


def wait_for_intake_slot() -> None:
    """Wait for an intake slot, which the current transaction holds until it ends.

    No slot is taken when ``ORDER_INTAKE_MAX_CONCURRENT`` is 0, on databases
    other than PostgreSQL, or when the caller's transaction was open before
    intake began. Such a caller may already hold row locks, and it must not
    queue behind intakes that may wait for those rows.
    """
    limit = settings.ORDER_INTAKE_MAX_CONCURRENT
    if limit <= 0 or connection.vendor != "postgresql" or _caller_transaction_open():
        return
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_SLOT, {"base": SLOT_KEY_BASE, "last": limit - 1, "limit": limit})


def _caller_transaction_open() -> bool:
    # Intake calls this first inside its own atomic block, so a second block is the caller's.
    return len(connection.atomic_blocks) > 1
