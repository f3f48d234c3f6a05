"""Checks of the hand-off to the ERP: orders it has not acknowledged in time, and the nightly reconciliation.

The reconciliation compares each open order that the ERP acknowledged with
the order's ``ErpOrderReport`` (what the ERP last reported) and opens one
integration-conflict case for finance per disagreement. A case's cause key
contains the field and both values, so the next night finds the same case
instead of opening another, and a case that staff closed stays closed while
the values stay the same. Other values open a new case.
"""

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import CharField, Exists, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from apps.exceptions.models import CaseKind, ExceptionCase, Severity
from apps.exceptions.services import case_open
from apps.orders.erp import FINANCE_TEAM, UNACKNOWLEDGED_CAUSE, decimal_text
from apps.orders.models import (
    ErpOrderReport,
    Invoice,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    OutboxEvent,
    ReconciliationRun,
)

logger = logging.getLogger(__name__)

# Orders flagged per run, so that a backlog after an ERP outage is worked through over a few runs.
UNACKNOWLEDGED_BATCH_SIZE = 500
# States of an order waiting for the ERP's acknowledgement; a paid order has passed through the ERP already.
AWAITING_ACKNOWLEDGEMENT = (
    OrderStatus.CONFIRMED,
    OrderStatus.ALLOCATED,
    OrderStatus.PARTIALLY_SHIPPED,
    OrderStatus.SHIPPED,
    OrderStatus.INVOICED,
)
# Orders read per query of the reconciliation.
RECONCILIATION_CHUNK_SIZE = 500
# The states the ERP's report allows for each state it implies. Allocation is this system's own step,
# so an acknowledged order that has not shipped may be confirmed or allocated here.
_ALLOWED_STATES = {
    "acknowledged": {OrderStatus.CONFIRMED, OrderStatus.ALLOCATED},
    OrderStatus.PARTIALLY_SHIPPED: {OrderStatus.PARTIALLY_SHIPPED},
    OrderStatus.SHIPPED: {OrderStatus.SHIPPED},
    OrderStatus.INVOICED: {OrderStatus.INVOICED},
    OrderStatus.PAID: {OrderStatus.PAID},
}
_FIELD_LABELS = {
    "erp_reference": "ERP reference",
    "total": "order total",
    "status": "status",
    "shipped": "shipped quantities",
    "invoiced": "invoice totals",
    "paid": "paid amounts",
}


@dataclass(frozen=True)
class Disagreement:
    """One field on which the order and the ERP's report differ, with both values as JSON-ready data."""

    field: str
    ours: object
    erp: object

    @property
    def cause_key(self) -> str:
        values = json.dumps([self.ours, self.erp], cls=DjangoJSONEncoder, sort_keys=True)
        return f"erp-reconcile:{self.field}:{hashlib.sha256(values.encode()).hexdigest()[:24]}"


def flag_unacknowledged_orders(*, now: dt.datetime | None = None) -> int:
    """Open one integration-failure case per order the ERP has not acknowledged in time; return how many.

    The time is ERP_ACKNOWLEDGE_TIMEOUT_MINUTES after the order was confirmed
    (0 turns the check off). An order that has a case of this cause in any
    state is skipped, so a case that staff closed is not opened again.
    """
    timeout = int(settings.ERP_ACKNOWLEDGE_TIMEOUT_MINUTES)
    if timeout <= 0:
        return 0
    now = now or timezone.now()
    confirmed_at = (
        OutboxEvent.objects.filter(order=OuterRef("pk"), event="order.confirmed")
        .order_by("created_at")
        .values("created_at")[:1]
    )
    flagged = _cases_of(UNACKNOWLEDGED_CAUSE, kind=CaseKind.INTEGRATION_FAILURE)
    orders = list(
        Order.objects.filter(status__in=AWAITING_ACKNOWLEDGEMENT, erp_acknowledged_at__isnull=True, is_test=False)
        .annotate(confirmed_at=Coalesce(Subquery(confirmed_at), "created_at"))
        .filter(confirmed_at__lte=now - dt.timedelta(minutes=timeout))
        .exclude(Exists(flagged))
        .select_related("customer")
        .order_by("confirmed_at", "pk")[:UNACKNOWLEDGED_BATCH_SIZE]
    )
    for order in orders:
        waited = int((now - order.confirmed_at).total_seconds() // 60)
        case_open(
            kind=CaseKind.INTEGRATION_FAILURE,
            concerning=order,
            customer=order.customer,
            facts={
                "order": order.number,
                "confirmed_at": order.confirmed_at,
                "minutes_waited": waited,
                "timeout_minutes": timeout,
            },
            summary=(
                f"The ERP has not acknowledged order {order.number} {waited} minutes after its confirmation; "
                "check that the ERP received the order.confirmed event."
            )[:300],
            cause_key=UNACKNOWLEDGED_CAUSE,
            severity=Severity.HIGH,
            reference=order.number,
            po_number=order.po_number[:64],
        )
    if orders:
        logger.warning("Orders not acknowledged by the ERP", extra={"count": len(orders), "timeout_minutes": timeout})
    return len(orders)


def reconcile_orders(*, now: dt.datetime | None = None) -> ReconciliationRun:
    """Compare each open acknowledged order with the ERP's report, open a case per new disagreement, record the run.

    Open orders are those the ERP acknowledged that are not cancelled, rejected
    or paid, and paid orders changed within ERP_RECONCILIATION_PAID_DAYS, so
    that a payment recorded only here is caught once.
    """
    now = now or timezone.now()
    run = ReconciliationRun.objects.create(started_at=now)
    team = Group.objects.filter(name=FINANCE_TEAM).first()
    paid_since = now - dt.timedelta(days=int(settings.ERP_RECONCILIATION_PAID_DAYS))
    reports = (
        ErpOrderReport.objects.filter(
            Q(order__status__in=AWAITING_ACKNOWLEDGEMENT)
            | Q(order__status=OrderStatus.PAID, order__updated_at__gte=paid_since)
        )
        .select_related("order", "order__customer")
        .prefetch_related(
            Prefetch("order__lines", queryset=OrderLine.objects.exclude(status=LineStatus.CANCELLED)),
            Prefetch("order__invoices", queryset=Invoice.objects.order_by("number")),
        )
        .order_by("order_id")
    )
    try:
        for report in reports.iterator(chunk_size=RECONCILIATION_CHUNK_SIZE):
            run.orders_compared += 1
            for disagreement in compare_with_report(report.order, report):
                run.disagreements += 1
                if _open_disagreement_case(report.order, disagreement, run=run, team=team):
                    run.cases_opened += 1
    except Exception as error:
        # The run is recorded as stopped with the error, for the sync-health page, and the error goes on.
        run.error = f"{type(error).__name__}: {error}"[:2000]
        logger.exception("ERP reconciliation stopped", extra={"run_id": run.pk})
        raise
    finally:
        run.finished_at = timezone.now()
        run.save()
    logger.info(
        "ERP reconciliation finished",
        extra={
            "run_id": run.pk,
            "orders_compared": run.orders_compared,
            "disagreements": run.disagreements,
            "cases_opened": run.cases_opened,
        },
    )
    return run


def compare_with_report(order: Order, report: ErpOrderReport) -> list[Disagreement]:
    """Return the fields on which the order differs from what the ERP reported about it."""
    found = []
    if order.erp_reference != report.erp_reference:
        found.append(Disagreement("erp_reference", order.erp_reference, report.erp_reference))
    if report.order_total is not None and order.total != report.order_total:
        found.append(Disagreement("total", decimal_text(order.total), decimal_text(report.order_total)))

    lines = list(order.lines.all())
    ours_shipped = {line.line_number: decimal_text(line.quantity_shipped) for line in lines if line.quantity_shipped}
    erp_shipped = {
        number: decimal_text(Decimal(quantity)) for number, quantity in report.shipped.items() if Decimal(quantity)
    }
    if ours_shipped != erp_shipped:
        found.append(Disagreement("shipped", ours_shipped, erp_shipped))

    invoices = list(order.invoices.all())
    ours_invoiced = {invoice.number: decimal_text(invoice.total) for invoice in invoices}
    erp_invoiced = {number: decimal_text(Decimal(reported["total"])) for number, reported in report.invoices.items()}
    if ours_invoiced != erp_invoiced:
        found.append(Disagreement("invoiced", ours_invoiced, erp_invoiced))

    ours_paid = {invoice.number: decimal_text(invoice.paid_amount) for invoice in invoices if invoice.paid_amount}
    erp_paid: dict[str, Decimal] = {}
    for payment in report.payments.values():
        erp_paid[payment["invoice"]] = erp_paid.get(payment["invoice"], Decimal(0)) + Decimal(payment["amount"])
    erp_paid_text = {number: decimal_text(amount) for number, amount in erp_paid.items() if amount}
    if ours_paid != erp_paid_text:
        found.append(Disagreement("paid", ours_paid, erp_paid_text))

    implied = implied_status(lines, report, erp_paid)
    if order.status not in _ALLOWED_STATES[implied]:
        found.append(Disagreement("status", order.status, str(implied)))
    return found


def implied_status(lines: list[OrderLine], report: ErpOrderReport, paid: dict[str, Decimal]) -> str:
    """Return the order state that the ERP's report implies, or "acknowledged" when nothing has shipped."""
    shipped = {number: Decimal(quantity) for number, quantity in report.shipped.items()}
    invoiced: dict[str, Decimal] = {}
    for reported in report.invoices.values():
        for number, quantity in reported.get("lines", {}).items():
            invoiced[number] = invoiced.get(number, Decimal(0)) + Decimal(quantity)

    if not any(shipped.values()):
        return "acknowledged"
    if not all(shipped.get(line.line_number, 0) >= line.quantity for line in lines):
        return OrderStatus.PARTIALLY_SHIPPED
    if not all(invoiced.get(line.line_number, 0) >= line.quantity for line in lines):
        return OrderStatus.SHIPPED
    invoice_totals = sum((Decimal(reported["total"]) for reported in report.invoices.values()), Decimal(0))
    if sum(paid.values(), Decimal(0)) < invoice_totals:
        return OrderStatus.INVOICED
    return OrderStatus.PAID


def _open_disagreement_case(order: Order, disagreement: Disagreement, *, run: ReconciliationRun, team) -> bool:
    """Open a case for a disagreement that has none yet, in any state; return whether one was opened."""
    if _cases_of(disagreement.cause_key, kind=CaseKind.INTEGRATION_CONFLICT, order=order).exists():
        return False
    label = _FIELD_LABELS[disagreement.field]
    case_open(
        kind=CaseKind.INTEGRATION_CONFLICT,
        concerning=order,
        customer=order.customer,
        facts={
            "field": label,
            "this system": disagreement.ours,
            "ERP": disagreement.erp,
            "reconciliation_run": run.pk,
        },
        summary=(
            f"Order {order.number} disagrees with the ERP on {label}: "
            f"here {_short(disagreement.ours)}, ERP {_short(disagreement.erp)}"
        )[:300],
        cause_key=disagreement.cause_key,
        severity=Severity.NORMAL,
        reference=order.number,
        po_number=order.po_number[:64],
        team=team,
    )
    return True


def _cases_of(cause_key: str, *, kind: str, order: Order | None = None):
    """Return the cases of a cause about ``order``, or about the outer query's order when none is given."""
    object_id = str(order.pk) if order is not None else Cast(OuterRef("pk"), output_field=CharField())
    return ExceptionCase.objects.filter(
        kind=kind,
        content_type=ContentType.objects.get_for_model(Order),
        object_id=object_id,
        cause_key=cause_key,
    )


def _short(value: object) -> str:
    text = json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 80 else f"{text[:77]}..."
