"""Measure the CPU time of the Celery task that builds and sends one outbox document, in one process.

The script takes in ``--orders`` one-line cXML orders and records a
shipment, an invoice and a payment for each, with the outbox sender turned
off, so the ship notices, invoices and status updates wait as outbox rows.
It then turns the sender on, sets those rows back to pending and runs the
worker's task ``orders.send_outbox_event`` for each of them in this
process (Celery's ``apply``, without a broker). Each document is POSTed to a
buyer server on 127.0.0.1 that this script runs, validated, stored and
logged as the worker does it. The script reports the median CPU time
(``time.process_time``) and wall time per document, each document type
apart, over the documents after the first ``--warm-up``. It checks that every
row was delivered once. ``--profile FILE`` writes a cProfile of the
measured sends to FILE.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backoffice_bench_outbox SECRET_KEY=dev \\
        PUBLIC_BASE_URL=http://127.0.0.1 SECURE_SSL_REDIRECT=0 LOG_LEVEL=WARNING \\
        .venv/bin/python -m bench.outbox_delivery --orders 200

The buyer server's threads run in this process too, so the CPU figure
includes the buyer server's handling of each request. A Celery worker
adds the broker's work (receiving and acknowledging the task), which this
script leaves out.
"""

import argparse
import cProfile
import datetime as dt
import os
import statistics
import time

from bench.database import create_database_if_missing
from bench.erp_messages import create_cxml_buyer, take_in_orders

DATABASE_URL_EXAMPLE = "postgres://postgres@127.0.0.1:5432/backoffice_bench_outbox"
ACCOUNT = "BENCH-OUTBOX"
SKU = "BENCH-OUTBOX-1"
SENDERS = {"cxml": "apps.punchout.outbound"}


def main() -> None:
    options = _parse_arguments()
    create_database_if_missing(os.environ.get("DATABASE_URL", ""), example_url=DATABASE_URL_EXAMPLE)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    from apps.orders.models import OutboxEvent, OutboxStatus
    from apps.orders.tasks import send_outbox_event
    from tests.orders.buyer_server import BuyerServer

    with BuyerServer() as buyer:
        settings.ORDER_OUTBOX_SENDERS = {}
        event_ids = _prepare(options.orders, buyer.url)
        settings.ORDER_OUTBOX_SENDERS = SENDERS
        events = list(OutboxEvent.objects.filter(pk__in=event_ids).order_by("pk").values_list("pk", "event"))
        OutboxEvent.objects.filter(pk__in=event_ids).update(
            status=OutboxStatus.PENDING, finished_at=None, attempts=0, document_id="", document=""
        )

        profile = cProfile.Profile(time.process_time) if options.profile else None
        cpu_ms: dict[str, list[float]] = {}
        wall_ms: dict[str, list[float]] = {}
        load_before = os.getloadavg()[0]
        for index, (event_id, event) in enumerate(events):
            measured = index >= options.warm_up
            if measured and profile is not None:
                profile.enable()
            cpu_started, wall_started = time.process_time(), time.perf_counter()
            send_outbox_event.apply(args=[event_id])
            cpu, wall = time.process_time() - cpu_started, time.perf_counter() - wall_started
            if measured and profile is not None:
                profile.disable()
            if measured:
                cpu_ms.setdefault(event, []).append(cpu * 1000)
                wall_ms.setdefault(event, []).append(wall * 1000)

    delivered = OutboxEvent.objects.filter(pk__in=event_ids, status=OutboxStatus.DELIVERED).count()
    everything_cpu = [value for values in cpu_ms.values() for value in values]
    everything_wall = [value for values in wall_ms.values() for value in values]
    print(f"{len(events)} documents, {len(everything_cpu)} measured; load average {load_before:.1f} before, ", end="")
    print(f"{os.getloadavg()[0]:.1f} after")
    for event in sorted(cpu_ms):
        print(
            f"{event:16} median CPU {statistics.median(cpu_ms[event]):6.2f} ms, "
            f"wall {statistics.median(wall_ms[event]):6.2f} ms over {len(cpu_ms[event])} documents"
        )
    print(
        f"{'all':16} median CPU {statistics.median(everything_cpu):6.2f} ms, "
        f"mean {statistics.fmean(everything_cpu):6.2f} ms, wall median {statistics.median(everything_wall):6.2f} ms"
    )
    if profile is not None:
        profile.dump_stats(options.profile)
        print(f"profile written to {options.profile}")
    problems = []
    if delivered != len(events):
        problems.append(f"{delivered} of {len(events)} outbox rows delivered")
    if len(buyer.received) != len(events):
        problems.append(f"the buyer received {len(buyer.received)} documents for {len(events)} rows")
    if problems:
        raise SystemExit("Check failed: " + "; ".join(problems))
    print("check passed: every row delivered once")


def _parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200, help="orders to take in; each gives three documents")
    parser.add_argument("--warm-up", type=int, default=30, help="documents sent before the measurement starts")
    parser.add_argument("--profile", default="", help="file to write a cProfile of the measured sends to")
    return parser.parse_args()


def _prepare(count: int, buyer_url: str) -> list[int]:
    """Take in ``count`` orders and ship, invoice and pay each; return the ids of the outbox rows to send."""
    from apps.orders.fulfilment import invoice_record, payment_record, shipment_record
    from apps.orders.models import OutboxEvent

    customer, source, _ = create_cxml_buyer(
        account=ACCOUNT, sku=SKU, label="Outbox benchmark", stock=count, buyer_url=buyer_url
    )

    run = time.strftime("%Y%m%d%H%M%S")
    first_event = (OutboxEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    for order in take_in_orders(customer=customer, source=source, sku=SKU, count=count, prefix=f"OUT-{run}-"):
        shipment_record(order=order, shipment_id=f"S-{order.number}", lines=[("1", "1")], carrier="DHL")
        invoice = invoice_record(
            order=order,
            number=f"I-{order.number}",
            lines=[("1", "1")],
            tax=format(order.total - order.subtotal, "f"),
            due_date=dt.date.today() + dt.timedelta(days=30),
        )
        payment_record(invoice=invoice, payment_id=f"P-{order.number}", amount=format(invoice.total, "f"))
    return list(
        OutboxEvent.objects.filter(
            pk__gte=first_event, event__in=["order.shipped", "order.invoiced", "order.paid"]
        ).values_list("pk", flat=True)
    )


if __name__ == "__main__":
    main()
