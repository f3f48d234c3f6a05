"""The figures of the sync-health dashboard, each read in one query whatever the number of connections.

The dashboard reads models of apps that sit above the document log (buyer
connections, the orders outbox, import jobs, exception cases). It looks them
up through the app registry instead of importing those apps, so that the log
stays importable by all of them.
"""

import dataclasses
import datetime as dt

from django.apps import apps
from django.db.models import Count, DateTimeField, IntegerField, Max, Min, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from apps.integrations.models import DocumentLog, Outcome

# Hours shown in the exchanges chart.
CHART_HOURS = 24
# Statuses of outbox events still waiting to be sent.
_WAITING_STATUSES = ("pending",)
# Exception case states that count as open.
_OPEN_CASE_STATES = ("open", "in_progress")
# Runs of the nightly ERP reconciliation shown, newest first.
RECONCILIATION_RUNS = 7


@dataclasses.dataclass(frozen=True)
class HourBar:
    hour: dt.datetime
    succeeded: int
    failed: int


@dataclasses.dataclass(frozen=True)
class SyncHealth:
    """Every figure of the dashboard, read at ``now``."""

    now: dt.datetime
    connections: list[dict]
    partners: list[dict]
    outbox: dict
    outbox_by_source: list[dict]
    imports: list
    cases: list[dict]
    hours: list[HourBar]
    reconciliations: list


def sync_health(*, now: dt.datetime | None = None) -> SyncHealth:
    """Read the dashboard's figures: eight queries, however many connections, partners and jobs there are."""
    now = now or timezone.now()
    return SyncHealth(
        now=now,
        connections=connection_health(now=now),
        partners=partner_health(now=now),
        outbox=outbox_backlog(),
        outbox_by_source=outbox_backlog_by_source(),
        imports=last_import_jobs(),
        cases=open_cases_by_team_and_kind(),
        hours=exchanges_by_hour(now=now),
        reconciliations=last_reconciliations(),
    )


def connection_health(*, now: dt.datetime) -> list[dict]:
    """Return each buyer connection with its last successful and failed exchange and its recent failure counts."""
    connection_model = apps.get_model("punchout", "BuyerConnection")
    rows = DocumentLog.objects.filter(connection=OuterRef("pk"))
    failed = rows.filter(outcome=Outcome.FAILED)
    queryset = (
        connection_model.objects.select_related("customer")
        .annotate(
            last_succeeded=Subquery(
                rows.filter(outcome=Outcome.SUCCEEDED).order_by("-created_at").values("created_at")[:1],
                output_field=DateTimeField(),
            ),
            last_failed=Subquery(failed.order_by("-created_at").values("created_at")[:1], output_field=DateTimeField()),
            last_failed_message=Subquery(failed.order_by("-created_at").values("message")[:1]),
            failures_hour=_count(failed.filter(created_at__gte=now - dt.timedelta(hours=1))),
            failures_day=_count(failed.filter(created_at__gte=now - dt.timedelta(days=1))),
        )
        .order_by("name")
    )
    return [
        {
            "connection": connection,
            "last_succeeded": connection.last_succeeded,
            "last_failed": connection.last_failed,
            "last_failed_message": connection.last_failed_message or "",
            "failures_hour": connection.failures_hour,
            "failures_day": connection.failures_day,
            "failing": _is_failing(connection.last_succeeded, connection.last_failed),
        }
        for connection in queryset
    ]


def partner_health(*, now: dt.datetime) -> list[dict]:
    """Return each partner seen in the log with its last successful and failed exchange and recent failures.

    NOTE: partners are grouped from their log rows, which reads every partner
    row kept; with a partner table this becomes one annotated query like
    ``connection_health``.
    """
    failed = Q(outcome=Outcome.FAILED)
    rows = (
        DocumentLog.objects.filter(partner_type__isnull=False)
        .values("partner_type", "partner_id")
        .annotate(
            name=Max("partner_name"),
            last_succeeded=Max("created_at", filter=Q(outcome=Outcome.SUCCEEDED)),
            last_failed=Max("created_at", filter=failed),
            failures_hour=Count("pk", filter=failed & Q(created_at__gte=now - dt.timedelta(hours=1))),
            failures_day=Count("pk", filter=failed & Q(created_at__gte=now - dt.timedelta(days=1))),
        )
        .order_by("name")
    )
    return [{**row, "failing": _is_failing(row["last_succeeded"], row["last_failed"])} for row in rows]


def outbox_backlog() -> dict:
    """Return the counts of waiting, failed and status-awaiting outbox events and the oldest waiting one's time."""
    outbox_model = apps.get_model("orders", "OutboxEvent")
    return outbox_model.objects.aggregate(
        waiting=Count("pk", filter=Q(status__in=_WAITING_STATUSES)),
        oldest_waiting=Min("created_at", filter=Q(status__in=_WAITING_STATUSES)),
        awaiting_status=Count("pk", filter=Q(status="awaiting_status")),
        failed=Count("pk", filter=Q(status__in=("failed", "rejected"))),
    )


def outbox_backlog_by_source() -> list[dict]:
    """Return the waiting outbox events per order source (``cxml-connection:<id>``…) with the oldest one's time."""
    outbox_model = apps.get_model("orders", "OutboxEvent")
    return list(
        outbox_model.objects.filter(status__in=_WAITING_STATUSES)
        .values(source=Coalesce("order__source", Value("")))
        .annotate(waiting=Count("pk"), oldest=Min("created_at"))
        .order_by("oldest")
    )


def last_import_jobs() -> list:
    """Return the latest import job of each feed (kind and source), newest first."""
    job_model = apps.get_model("catalog", "ImportJob")
    latest = job_model.objects.values("kind", "source").annotate(last=Max("pk")).values("last")
    return list(job_model.objects.filter(pk__in=Subquery(latest)).order_by("-created_at"))


def last_reconciliations() -> list:
    """Return the latest runs of the nightly comparison of orders with the ERP's reports, newest first."""
    run_model = apps.get_model("orders", "ReconciliationRun")
    return list(run_model.objects.order_by("-started_at", "-id")[:RECONCILIATION_RUNS])


def open_cases_by_team_and_kind() -> list[dict]:
    """Return the open exception cases counted by team and kind, largest first."""
    case_model = apps.get_model("exceptions", "ExceptionCase")
    kinds = dict(case_model._meta.get_field("kind").choices)
    rows = (
        case_model.objects.filter(state__in=_OPEN_CASE_STATES)
        .values("team__name", "kind")
        .annotate(count=Count("pk"), overdue=Count("pk", filter=Q(due_at__lt=timezone.now())))
        .order_by("-count", "team__name", "kind")
    )
    return [{**row, "kind_label": kinds.get(row["kind"], row["kind"])} for row in rows]


def exchanges_by_hour(*, now: dt.datetime) -> list[HourBar]:
    """Return the succeeded and failed exchanges of each of the last CHART_HOURS hours, oldest first."""
    start = (now - dt.timedelta(hours=CHART_HOURS - 1)).replace(minute=0, second=0, microsecond=0)
    counts = (
        DocumentLog.objects.filter(created_at__gte=start)
        .annotate(hour=TruncHour("created_at"))
        .values("hour")
        .annotate(
            succeeded=Count("pk", filter=Q(outcome=Outcome.SUCCEEDED)),
            failed=Count("pk", filter=Q(outcome=Outcome.FAILED)),
        )
    )
    by_hour = {row["hour"]: row for row in counts}
    bars = []
    for offset in range(CHART_HOURS):
        hour = start + dt.timedelta(hours=offset)
        row = by_hour.get(hour, {})
        bars.append(HourBar(hour=hour, succeeded=row.get("succeeded", 0), failed=row.get("failed", 0)))
    return bars


def _count(queryset) -> Coalesce:
    counted = queryset.order_by().values("connection").annotate(count=Count("pk")).values("count")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _is_failing(last_succeeded: dt.datetime | None, last_failed: dt.datetime | None) -> bool:
    """Return whether the latest exchange failed."""
    return last_failed is not None and (last_succeeded is None or last_failed > last_succeeded)
