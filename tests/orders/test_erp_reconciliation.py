"""Orders the ERP has not acknowledged in time, and the nightly reconciliation with what the ERP reported."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.exceptions.models import CaseKind, CaseState, ExceptionCase
from apps.exceptions.services import case_dismiss
from apps.orders.erp import erp_acknowledge, erp_invoice_report, erp_shipment_report
from apps.orders.models import ErpOrderReport, OrderStatus, OutboxEvent, ReconciliationRun
from apps.orders.reconciliation import flag_unacknowledged_orders, reconcile_orders
from apps.orders.services import order_cancel, order_mark_paid
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DUE = dt.date(2027, 1, 31)


def line(quantity="2", number="1"):
    return {"line_number": number, "sku": "CHAIR-1", "quantity": quantity, "unit_price": "99.50", "unit": "EA"}


@pytest.fixture
def confirmed(place, chair):
    """Place one allocated order per PO number; return the orders."""

    def _confirmed(*po_numbers):
        orders = []
        for po_number in po_numbers:
            order = place([line()], document_id=f"doc-{po_number}", po_number=po_number).order
            assert order.status == OrderStatus.ALLOCATED
            orders.append(order)
        return orders

    return _confirmed


def confirmed_minutes_ago(order, minutes: int) -> None:
    # The outbox row is not a history-keeping model, so moving its time back with update() loses nothing.
    OutboxEvent.objects.filter(order=order, event="order.confirmed").update(
        created_at=timezone.now() - dt.timedelta(minutes=minutes)
    )


def invoiced(order, *, reference: str):
    """Acknowledge, ship and invoice the whole order as the ERP would; return it re-read."""
    erp_acknowledge(order=order, erp_reference=reference)
    erp_shipment_report(order=order, shipment_id=f"S-{reference}", lines=[("1", "2")])
    erp_invoice_report(order=order, number=f"I-{reference}", lines=[("1", "2")], tax="0", total="199.00", due_date=DUE)
    order.refresh_from_db()
    assert order.status == OrderStatus.INVOICED
    return order


def test_unacknowledged_order_opens_one_case(confirmed, settings):
    # given an order confirmed 5 hours ago, one confirmed just now, and an acknowledged old one
    settings.ERP_ACKNOWLEDGE_TIMEOUT_MINUTES = 240
    late, _fresh, acknowledged = confirmed("PO-LATE", "PO-FRESH", "PO-ACK")
    confirmed_minutes_ago(late, 300)
    confirmed_minutes_ago(acknowledged, 300)
    erp_acknowledge(order=acknowledged, erp_reference="ERP-1")

    # when the check runs twice
    first = flag_unacknowledged_orders()
    second = flag_unacknowledged_orders()

    # then one case concerns the late order only
    assert (first, second) == (1, 0)
    case = ExceptionCase.objects.get()
    assert case.kind == CaseKind.INTEGRATION_FAILURE
    assert case.concerning == late
    assert case.facts["timeout_minutes"] == 240
    assert case.facts["minutes_waited"] >= 300
    assert late.number in case.summary


def test_closed_unacknowledged_case_is_not_opened_again(confirmed, settings):
    # given a flagged order whose case staff dismissed
    settings.ERP_ACKNOWLEDGE_TIMEOUT_MINUTES = 60
    (late,) = confirmed("PO-LATE")
    confirmed_minutes_ago(late, 120)
    flag_unacknowledged_orders()
    case = ExceptionCase.objects.get()
    case_dismiss(case=case, reason="The ERP was down; it has the order now", actor=UserFactory(is_superuser=True))

    # when
    opened = flag_unacknowledged_orders()

    # then
    assert opened == 0
    case.refresh_from_db()
    assert case.state == CaseState.DISMISSED
    assert ExceptionCase.objects.count() == 1


def test_acknowledgement_dismisses_unacknowledged_case(confirmed, settings):
    # given a late order with an open case, and another late order whose case stays
    settings.ERP_ACKNOWLEDGE_TIMEOUT_MINUTES = 60
    late, other = confirmed("PO-LATE", "PO-OTHER")
    confirmed_minutes_ago(late, 120)
    confirmed_minutes_ago(other, 120)
    assert flag_unacknowledged_orders() == 2

    # when the ERP acknowledges the first order, and then sends the same acknowledgement again
    erp_acknowledge(order=late, erp_reference="ERP-LATE")
    erp_acknowledge(order=late, erp_reference="ERP-LATE")

    # then its case is dismissed with the reference, and the other order's case stays open
    case = ExceptionCase.objects.get(object_id=str(late.pk))
    assert case.state == CaseState.DISMISSED
    assert "ERP-LATE" in case.resolution_note
    assert case.history.filter(history_change_reason__startswith="Superseded").count() == 1
    assert ExceptionCase.objects.get(object_id=str(other.pk)).state == CaseState.OPEN
    assert flag_unacknowledged_orders() == 0


def test_unacknowledged_check_off_with_zero_timeout(confirmed, settings):
    # given
    settings.ERP_ACKNOWLEDGE_TIMEOUT_MINUTES = 0
    (late,) = confirmed("PO-LATE")
    confirmed_minutes_ago(late, 10_000)

    # when
    opened = flag_unacknowledged_orders()

    # then
    assert opened == 0
    assert not ExceptionCase.objects.exists()


def test_reconciliation_finds_planted_disagreement(confirmed):
    # given two orders the ERP acknowledged, shipped and invoiced, and one that staff marked paid here
    # although the ERP reported no payment
    clean, planted = (invoiced(order, reference=f"ERP-{order.po_number}") for order in confirmed("PO-1", "PO-2"))
    order_mark_paid(order=planted, actor=None, reason="Marked paid by hand")

    # when
    run = reconcile_orders()

    # then
    assert (run.orders_compared, run.disagreements, run.cases_opened) == (2, 1, 1)
    assert run.finished_at is not None
    assert run.error == ""
    case = ExceptionCase.objects.get()
    assert case.kind == CaseKind.INTEGRATION_CONFLICT
    assert case.team.name == "finance"
    assert case.concerning == planted
    assert case.facts["field"] == "status"
    assert case.facts["this system"] == "paid"
    assert case.facts["ERP"] == "invoiced"
    assert case.facts["reconciliation_run"] == run.pk
    assert not ExceptionCase.objects.filter(object_id=str(clean.pk)).exists()


def test_next_night_opens_no_duplicate(confirmed):
    # given a disagreement found once and dismissed, and the same disagreement still there
    (order,) = confirmed("PO-1")
    erp_acknowledge(order=order, erp_reference="ERP-1", total="150.00")
    reconcile_orders()
    case = ExceptionCase.objects.get()
    assert case.facts["field"] == "order total"
    assert (case.facts["this system"], case.facts["ERP"]) == ("199", "150")

    # when the next two nights run, the second after staff dismissed the case
    second = reconcile_orders()
    case_dismiss(case=case, reason="The ERP rounds differently", actor=UserFactory(is_superuser=True))
    third = reconcile_orders()

    # then each run counts the disagreement, and no case is opened or reopened
    assert (second.disagreements, second.cases_opened) == (1, 0)
    assert (third.disagreements, third.cases_opened) == (1, 0)
    assert ExceptionCase.objects.count() == 1
    case.refresh_from_db()
    assert case.state == CaseState.DISMISSED


def test_changed_disagreement_opens_new_case(confirmed):
    # given a shipped quantity the ERP reports differently from this system's
    (order,) = confirmed("PO-1")
    erp_acknowledge(order=order, erp_reference="ERP-1")
    erp_shipment_report(order=order, shipment_id="S-1", lines=[("1", "1")])
    report = ErpOrderReport.objects.get(order=order)
    report.shipped = {"1": "2"}
    report.save()
    reconcile_orders()

    # when the ERP's figure changes again
    report.shipped = {"1": "0.5"}
    report.save()
    run = reconcile_orders()

    # then
    cases = ExceptionCase.objects.filter(kind=CaseKind.INTEGRATION_CONFLICT).order_by("pk")
    assert [case.facts["field"] for case in cases] == ["shipped quantities", "status", "shipped quantities"]
    assert cases[2].facts["ERP"] == {"1": "0.5"}
    assert cases[2].facts["this system"] == {"1": "1"}
    assert run.cases_opened == 1


def test_unacknowledged_and_closed_orders_are_not_compared(confirmed):
    # given an order the ERP never acknowledged and a cancelled one it did
    _never, cancelled = confirmed("PO-1", "PO-2")
    erp_acknowledge(order=cancelled, erp_reference="ERP-2")
    order_cancel(order=cancelled, actor=None, reason="Buyer cancelled")

    # when
    run = reconcile_orders()

    # then
    assert run.orders_compared == 0
    assert not ExceptionCase.objects.exists()


def test_sync_health_page_shows_last_run(confirmed, admin_client, settings):
    # given
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    (order,) = confirmed("PO-1")
    erp_acknowledge(order=order, erp_reference="ERP-1", total="150.00")
    reconcile_orders(now=timezone.now() - dt.timedelta(days=1))
    reconcile_orders()

    # when
    response = admin_client.get(reverse("admin:integrations_documentlog_dashboard"))

    # then
    content = response.content.decode()
    assert response.status_code == 200
    assert "Nightly reconciliation with the ERP" in content
    section = content.split("Nightly reconciliation with the ERP")[1].split("</table>")[0]
    assert section.count("<tr>") == 3
    assert ReconciliationRun.objects.count() == 2
