"""Quote to order in Chromium: sales builds a configured quote, the sales manager approves it, it becomes an order."""

import re
from decimal import Decimal

import pytest

from apps.exceptions.models import CaseKind, ExceptionCase
from apps.orders.models import Channel
from apps.quotes.models import Quote, QuoteStatus
from tests.browser.support import log_in_to_admin

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _autocomplete(page, container, text: str) -> None:
    """Pick the first match for ``text`` in an admin autocomplete widget inside ``container``."""
    container.locator(".select2-selection").click()
    page.locator(".select2-search__field").fill(text)
    page.locator(".select2-results__option", has_text=text).first.click()


def _settle(page) -> None:
    """Wait until the configuration editor has drawn the response to its latest request."""
    page.wait_for_function("() => !document.querySelector('.quote-config-loading')")


def _click_transition(page, label: str) -> None:
    page.locator(".object-tools").get_by_role("button", name=label).click()
    page.locator(".messagelist").wait_for()


def test_quote_from_configuration_to_order(live_server, chromium, demo_data):
    # Given: the demo data, with the configurable server and the rule that discounts above 10 % need a manager
    url = live_server.url

    # When: sales creates a quote for ACME-001 ...
    context, page = log_in_to_admin(chromium, url, "sales")
    page.goto(f"{url}/admin/quotes/quote/add/")
    _autocomplete(page, page.locator(".field-customer"), "ACME-001")
    page.locator("#id_contact_email").fill("purchasing@acme.example")
    page.locator("#id_crm_opportunity").fill("OPP-BROWSER-1")
    page.get_by_role("button", name="Save and continue editing").click()
    page.locator(".inline-related").first.wait_for()

    # ... adds two configured servers, choosing options in the editor, at 15 % off
    line = page.locator(".inline-related").filter(has=page.locator("select[name$='-product']")).first
    _autocomplete(page, line.locator(".field-product"), "SRV-CFG-2U")
    editor = line.locator(".quote-configurator")
    editor.locator(".quote-config-group").first.wait_for()
    editor.get_by_label("32-core 2.6 GHz processor").check()
    _settle(page)
    editor.get_by_text("The configuration is not complete yet").wait_for()
    editor.get_by_label("64 GB RDIMM", exact=True).check()
    _settle(page)
    editor.get_by_label("Quantity of 64 GB RDIMM").fill("4")
    editor.get_by_label("Quantity of 64 GB RDIMM").dispatch_event("change")
    _settle(page)
    editor.get_by_label("3-year next-business-day support").check()
    _settle(page)
    editor.get_by_text("The configuration is complete and valid.").wait_for()
    blocked_after_choice = editor.locator(".quote-config-blocked label").all_inner_texts()
    line.locator("input[name$='-quantity']").fill("2")
    line.locator("input[name$='-discount_percent']").fill("15")
    page.get_by_role("button", name="Save and continue editing").click()
    line_waterfall = page.locator(".inline-related .quote-waterfall").first
    line_waterfall.wait_for()
    waterfall = line_waterfall.inner_text()

    # ... and submits it, which needs a sales manager's approval
    _click_transition(page, "Submit")
    status_after_submit = page.locator(".field-status .readonly").inner_text()
    context.close()
    quote = Quote.objects.get(crm_opportunity="OPP-BROWSER-1")
    case = ExceptionCase.objects.get(kind=CaseKind.QUOTE_APPROVAL, object_id=str(quote.pk))

    # When: the sales manager approves it from the exception queue
    context, page = log_in_to_admin(chromium, url, "sales-manager")
    page.get_by_role("link", name="Your exception queue").click()
    page.locator("#searchbar").fill(quote.reference)
    page.locator("#searchbar").press("Enter")
    page.wait_for_url(re.compile(r"\?q="))
    page.locator("#result_list").get_by_role("link", name=f"#{case.pk}").click()
    page.locator(".object-tools").get_by_role("link", name="Resolve").click()
    page.get_by_label("Approve the quote").check()
    page.get_by_role("button", name="Next: see what it will do").click()
    page.get_by_role("button", name="Confirm and resolve").click()
    page.locator(".messagelist").filter(has_text="1 case resolved (Approve the quote).").wait_for()
    context.close()

    # When: sales sends it and marks it accepted
    context, page = log_in_to_admin(chromium, url, "sales")
    page.goto(f"{url}/admin/quotes/quote/{quote.pk}/change/")
    _click_transition(page, "Send")
    status_after_send = page.locator(".field-status .readonly").inner_text()
    page.locator(".object-tools").get_by_role("link", name="Mark accepted").click()
    page.get_by_label("Customer's PO number").fill("PO-BROWSER-1")
    page.get_by_label("Create the order now").check()
    page.get_by_role("button", name="Mark accepted").click()
    page.locator(".messagelist").wait_for()
    message = page.locator(".messagelist").inner_text()
    context.close()

    # Then: the configured line carried its waterfall, the approval went through the queue,
    # and the accepted quote became an order at the quoted price
    quote.refresh_from_db()
    case.refresh_from_db()
    line = quote.lines.get()
    # With 64 GB modules chosen, the 16-core processor is excluded by a rule.
    assert blocked_after_choice == ["16-core 2.9 GHz processor"]
    assert "Configuration adders" in waterfall
    assert status_after_submit == "pending approval"
    assert (case.state, case.resolution_action, case.resolved_by.username) == (
        "resolved",
        "approve_quote",
        "sales-manager",
    )
    assert status_after_send == "sent"
    assert quote.status == QuoteStatus.CONVERTED
    assert line.configuration == {"cpu-32c": 1, "mem-64g": 4, "sup-3y": 1}
    assert line.discount_percent == Decimal("15.00")
    order = quote.order
    assert f"Order {order.number} was created." in message
    assert order.channel == Channel.QUOTE
    assert order.po_number == "PO-BROWSER-1"
    order_line = order.lines.get()
    assert (order_line.sku, order_line.quantity, order_line.unit_price) == ("SRV-CFG-2U", Decimal("2"), line.net_price)
