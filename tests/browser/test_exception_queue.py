"""Clear a case from the exception queue in Chromium, as the demo's sales user, and see the order move on."""

import re

import pytest

from apps.exceptions.models import CaseKind, ExceptionCase
from apps.exceptions.selectors import has_blocking_open_cases
from apps.orders.models import Order, OrderStatus
from tests.browser.support import log_in_to_admin

PO_NUMBERS = ("DEMO-PO-1005", "DEMO-PO-1006")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _open_queue(page) -> None:
    page.get_by_role("link", name="Your exception queue").click()
    page.locator("#result_list").wait_for()


def test_sales_clears_price_mismatch(live_server, chromium, demo_data):
    # Given: the demo data, where order DEMO-PO-1001 is held only by a price mismatch
    order = Order.objects.get(po_number="DEMO-PO-1001")
    case = ExceptionCase.objects.get(kind=CaseKind.PRICE_MISMATCH, object_id=str(order.pk))
    assert order.status == OrderStatus.ON_HOLD
    # When: sales finds the case in the queue, takes it and accepts the buyer's price
    context, page = log_in_to_admin(chromium, live_server.url, "sales")
    _open_queue(page)
    page.locator("#searchbar").fill("DEMO-PO-1001")
    page.locator("#searchbar").press("Enter")
    page.wait_for_url(re.compile(r"\?q=DEMO-PO-1001$"))
    row = page.locator("#result_list tbody tr").filter(has=page.locator("td.field-kind", has_text="price mismatch"))
    assert row.count() == 1
    row.get_by_role("link", name=f"#{case.pk}").click()

    page.locator(".object-tools").get_by_role("link", name="Take").click()
    page.get_by_role("button", name="Take").click()
    page.locator(".messagelist").filter(has_text="1 case taken.").wait_for()

    page.locator(".object-tools").get_by_role("link", name="Resolve").click()
    page.get_by_label("Accept the buyer's price").check()
    page.locator("#id_note").fill("The buyer's framework price list is older; accepted once.")
    page.get_by_role("button", name="Next: see what it will do").click()
    page.get_by_role("heading", name="What it will do").wait_for()
    description = page.locator(".exception-action-descriptions").inner_text()
    page.get_by_role("button", name="Confirm and resolve").click()
    page.locator(".messagelist").filter(has_text="1 case resolved (Accept the buyer's price).").wait_for()

    page.get_by_role("link", name=re.compile(r"^Order: ")).click()
    page.locator(".field-status").wait_for()
    status_text = page.locator(".field-status .readonly").inner_text()
    page_title = page.locator("h1").inner_text()
    context.close()

    # Then: the confirmation page described the change, and the order went on to allocation
    assert "priced at the buyer's 760.00 EUR instead of our 790.3800" in description
    assert page_title == "View order"
    assert status_text == "allocated"
    order.refresh_from_db()
    case.refresh_from_db()
    assert case.state == "resolved"
    assert case.resolution_action == "use_buyer_price"
    assert case.resolved_by.username == "sales"
    assert order.status == OrderStatus.ALLOCATED
    assert has_blocking_open_cases(order) is False
    line = order.lines.get()
    assert (str(line.unit_price), line.price_source) == ("760.0000", "buyer_price")


def test_finance_queue_shows_own_cases(live_server, chromium, demo_data):
    # When: finance logs in and opens the queue
    context, page = log_in_to_admin(chromium, live_server.url, "finance")
    _open_queue(page)
    kinds = page.locator("#result_list td.field-kind").all_inner_texts()
    references = page.locator("#result_list td.field-reference").all_inner_texts()
    context.close()

    # Then: only the credit and tax cases are listed, on the demo orders that opened them
    orders = {order.po_number: order.number for order in Order.objects.filter(po_number__in=PO_NUMBERS)}
    assert sorted(kinds) == ["credit limit or hold", "tax mismatch"]
    assert sorted(references) == sorted([orders["DEMO-PO-1005"], orders["DEMO-PO-1006"]])
