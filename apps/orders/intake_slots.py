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
database shares it. Each intake draws a ticket from a sequence and waits
for slot ``ticket % limit``. PostgreSQL grants the waiters of one lock in
the order they asked, so waiting intakes are served in turn, which keeps
the slowest latencies close to the median. PostgreSQL's deadlock detector
includes these waits like any other lock wait.

A variant that first took any free slot without waiting served newcomers
ahead of intakes queued for a busy slot, and its p99 with 16 clients rose
from 171 and 172 ms to 193 and 254 ms (docs/benchmarks.md).
NOTE: an intake that waits long for a row lock also stalls the intakes
queued for its slot, while the other slots go on.
"""

from django.conf import settings
from django.db import connection

TICKET_SEQUENCE = "orders_intake_ticket"
# Slot keys are one-argument (bigint) advisory lock keys, which PostgreSQL keeps apart from the
# two-argument keys of the catalog import. The base is "ORDER" in ASCII in the high bytes.
SLOT_KEY_BASE = 0x4F52_4445_5200_0000


def wait_for_intake_slot() -> None:
    """Wait for an intake slot, which the current transaction keeps until it ends.

    No slot is taken when ``ORDER_INTAKE_MAX_CONCURRENT`` is 0, on databases
    other than PostgreSQL, or when the caller's transaction was open before
    intake began. Such a caller may already hold row locks, and it must not
    queue behind intakes that may wait for those rows.
    """
    limit = settings.ORDER_INTAKE_MAX_CONCURRENT
    if limit <= 0 or connection.vendor != "postgresql" or _caller_transaction_open():
        return
    with connection.cursor() as cursor:
        # Both numbers are integers from this module and the settings, so the SQL text is the same on every call.
        cursor.execute(f"SELECT pg_advisory_xact_lock({SLOT_KEY_BASE:d} + nextval('{TICKET_SEQUENCE}') % {limit:d})")


def _caller_transaction_open() -> bool:
    # Intake calls this first inside its own atomic block, so a second block is the caller's.
    return len(connection.atomic_blocks) > 1
