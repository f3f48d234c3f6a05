"""The quote state machine: permissions, send with the PDF, accept and decline, expiry, revision, conversion."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail

from apps.contracts.selectors import today_utc
from apps.orders.models import Channel, Order
from apps.quotes.errors import (
    InvalidQuoteInput,
    QuoteActionNotPermitted,
    QuoteStateConflict,
)
from apps.quotes.models import Quote, QuoteStatus
from apps.quotes.selectors import quote_by_reference, stale_prices, version_changes
from apps.quotes.services import (
    quote_accept,
    quote_approve,
    quote_change_line,
    quote_convert,
    quote_decline,
    quote_refresh_prices,
    quote_reject,
    quote_revise,
    quote_send,
    quote_submit,
)
from apps.quotes.services.common import save_quote
from apps.quotes.tasks import expire_due_quotes
from tests.factories import StockLevelFactory, WarehouseFactory

SERVER_CONFIGURATION = {"cpu-16c": 1, "mem-32g": 4, "sup-3y": 1}


def _backdate(quote: Quote, valid_until: dt.date) -> None:
    """Move the valid-until date into the past, as time passing would."""
    Quote.objects.filter(pk=quote.pk).update(valid_until=valid_until)


@pytest.fixture
def sent_quote(
    approval_rules, make_quote, server, contract_prices, chair, sales, manager, django_capture_on_commit_callbacks
):
    quote = make_quote((server.product, 2, "12.5", SERVER_CONFIGURATION), (chair, 3, "0"))
    quote_submit(quote=quote, actor=sales)
    quote_approve(quote=quote, actor=manager)
    with django_capture_on_commit_callbacks(execute=True):
        return quote_send(quote=quote, actor=sales)


def test_send_mails_pdf_to_contact(sent_quote):
    # Then: one mail to the contact, with the PDF whose text names the quote and its total
    from io import BytesIO

    from pypdf import PdfReader

    assert sent_quote.status == QuoteStatus.SENT
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["buyer@acme.example"]
    assert message.subject == f"Quote {sent_quote.reference}"
    (name, content, mimetype) = message.attachments[0]
    assert (name, mimetype) == (f"quote-{sent_quote.reference}.pdf", "application/pdf")
    text = "\n".join(page.extract_text() for page in PdfReader(BytesIO(content)).pages)
    assert sent_quote.reference in text
    assert "5769.00" in text  # 5,470.50 for the servers and 298.50 for the chairs
    assert sent_quote.total == Decimal("5769.00")


def test_send_without_contact_email_refused(make_quote, chair, sales):
    quote = quote_submit(quote=make_quote((chair, 1), contact_email=""), actor=sales)

    with pytest.raises(InvalidQuoteInput, match="has no contact email"):
        quote_send(quote=quote, actor=sales)

    quote.refresh_from_db()
    assert quote.status == QuoteStatus.APPROVED


def test_accept_converts_to_order_at_quoted_prices(sent_quote, server, chair, sales):
    # Given: stock for everything, so the order can go through
    warehouse = WarehouseFactory(code="FRA")
    for product in (server.product, chair):
        StockLevelFactory(product=product, warehouse=warehouse, on_hand=Decimal("50"))

    # When: the customer accepts with their PO number
    quote = quote_accept(quote=sent_quote, actor=sales, po_number="ACME-PO-77")

    # Then: the quote is converted, and the order carries the quoted net prices, not the contract's
    assert quote.status == QuoteStatus.CONVERTED
    order = quote.order
    assert (order.channel, order.po_number, order.customer_id) == (Channel.QUOTE, "ACME-PO-77", quote.customer_id)
    lines = list(order.lines.order_by("position"))
    assert [(line.sku, line.quantity, line.unit_price, line.price_source) for line in lines] == [
        ("SRV-2U", Decimal("2.000"), Decimal("2735.2500"), "quote"),
        ("CHAIR-1", Decimal("3.000"), Decimal("99.5000"), "quote"),
    ]
    assert lines[0].supplier_part_auxiliary_id == f"{quote.reference}/1"
    assert lines[0].extrinsics == {"quote": quote.reference, "configuration": SERVER_CONFIGURATION}
    assert order.subtotal == quote.total
    assert order.status == "allocated"


def test_convert_is_idempotent(sent_quote, sales):
    quote = quote_accept(quote=sent_quote, actor=sales)
    first = quote.order

    again = quote_convert(quote=quote, actor=sales)

    assert again == first
    assert Order.objects.filter(channel=Channel.QUOTE).count() == 1
    assert quote.events.filter(event="quote.converted").count() == 1


def test_decline_records_reason(sent_quote, sales):
    quote = quote_decline(quote=sent_quote, actor=sales, reason="Budget moved to next year")

    assert quote.status == QuoteStatus.DECLINED
    assert quote.status_reason == "Declined: Budget moved to next year"
    assert quote.order is None


@pytest.mark.parametrize(
    ("user", "service", "allowed"),
    [
        ("finance", "submit", False),
        ("sales", "submit", True),
        ("finance", "send", False),
        ("manager", "send", True),
        ("finance", "accept", False),
    ],
)
def test_transition_permissions(make_quote, chair, sales, finance, manager, request, user, service, allowed):
    # Given: an unapproved draft for submit, an approved quote for send, a sent one for accept
    quote = make_quote((chair, 1))
    if service in ("send", "accept"):
        quote = quote_submit(quote=quote, actor=sales)
    if service == "accept":
        quote = quote_send(quote=quote, actor=sales, email=False)
    before = quote.status
    actor = request.getfixturevalue(user)
    run = {
        "submit": lambda: quote_submit(quote=quote, actor=actor),
        "send": lambda: quote_send(quote=quote, actor=actor, email=False),
        "accept": lambda: quote_accept(quote=quote, actor=actor, convert=False),
    }[service]

    # When / Then
    if allowed:
        assert run().status != before
    else:
        with pytest.raises(QuoteActionNotPermitted):
            run()
        quote.refresh_from_db()
        assert quote.status == before


def test_transition_from_wrong_state_refused(make_quote, chair, sales):
    quote = make_quote((chair, 1))

    with pytest.raises(QuoteStateConflict, match="is draft; it cannot be sent now"):
        quote_send(quote=quote, actor=sales)
    with pytest.raises(QuoteStateConflict, match="is draft; it cannot be approved now"):
        quote_approve(quote=quote, actor=sales)


def test_stale_instance_cannot_overwrite_transition(make_quote, chair, sales):
    # Given: two copies of one draft; the first is submitted and saved
    quote = make_quote((chair, 1))
    stale = Quote.objects.get(pk=quote.pk)
    quote_submit(quote=quote, actor=sales)

    # When: the stale copy runs the same transition and saves
    stale.approve_without_rules()

    # Then: the save is refused instead of writing over the first transition
    with pytest.raises(QuoteStateConflict, match="was changed by someone else meanwhile"):
        save_quote(stale, actor=sales, reason="Submitted", fields=("status",))


def test_expiry_task_expires_approved_and_sent(make_quote, chair, sales):
    # Given: a draft, an approved and a sent quote, all past their date, and a sent one still valid
    yesterday = today_utc() - dt.timedelta(days=1)
    draft = make_quote((chair, 1))
    approved = quote_submit(quote=make_quote((chair, 1)), actor=sales)
    sent = quote_send(quote=quote_submit(quote=make_quote((chair, 1)), actor=sales), actor=sales, email=False)
    valid = quote_send(quote=quote_submit(quote=make_quote((chair, 1)), actor=sales), actor=sales, email=False)
    for quote in (draft, approved, sent):
        _backdate(quote, yesterday)

    # When: beat runs the task twice
    first = expire_due_quotes.delay().get()
    second = expire_due_quotes.delay().get()

    # Then
    statuses = {quote.pk: Quote.objects.get(pk=quote.pk).status for quote in (draft, approved, sent, valid)}
    assert (first, second) == (2, 0)
    assert statuses == {
        draft.pk: QuoteStatus.DRAFT,
        approved.pk: QuoteStatus.EXPIRED,
        sent.pk: QuoteStatus.EXPIRED,
        valid.pk: QuoteStatus.SENT,
    }


def test_accept_after_valid_until_refused(make_quote, chair, sales):
    quote = quote_send(quote=quote_submit(quote=make_quote((chair, 1)), actor=sales), actor=sales, email=False)
    _backdate(quote, today_utc() - dt.timedelta(days=1))

    with pytest.raises(QuoteStateConflict, match="it can no longer be accepted"):
        quote_accept(quote=quote, actor=sales)


def test_revise_rejected_quote_keeps_old_version(approval_rules, make_quote, chair, sales, manager):
    # Given: a rejected quote
    quote = quote_submit(quote=make_quote((chair, 2, "15")), actor=sales)
    quote = quote_reject(quote=quote, actor=manager, reason="Too deep")

    # When
    revision = quote_revise(quote=quote, actor=sales)

    # Then: version 2 is a draft copy with the same number; version 1 is kept rejected and read-only
    quote.refresh_from_db()
    assert (revision.number, revision.version, revision.status) == (quote.number, 2, QuoteStatus.DRAFT)
    assert revision.reference == f"{quote.number}-V2"
    assert revision.previous_version == quote
    assert (quote.status, quote.is_current_version) == (QuoteStatus.REJECTED, False)
    assert list(revision.lines.values_list("sku", "discount_percent")) == [("CHAIR-1", Decimal("15.00"))]
    assert quote_by_reference(quote.number) == revision
    assert quote_by_reference(quote.reference) == quote
    with pytest.raises(QuoteStateConflict, match="is an old version"):
        quote_change_line(line=quote.lines.get(), actor=sales, discount_percent="5")
    with pytest.raises(QuoteStateConflict):
        quote_revise(quote=quote, actor=sales)

    # When: the revision gets a smaller discount
    quote_change_line(line=revision.lines.get(), actor=sales, discount_percent="8")

    # Then: the versions compare line by line
    changes = version_changes(quote, Quote.objects.get(pk=revision.pk))
    (line, fields) = changes["changed"][0]
    assert line.position == 1
    assert [name for name, _, _ in fields][:2] == ["discount_percent", "net_price"]
    assert ("status", "rejected", "draft") in changes["header"]


def test_stale_prices_shown_and_refreshed(make_quote, contract, chair, sales):
    # Given: a quote, then the contract price of the chair changes
    quote = make_quote((chair, 2))
    price = contract.prices.get(product=chair)
    price.price = Decimal("95.00")
    price.save()

    # When
    stale = stale_prices(quote)
    refreshed = quote_refresh_prices(quote=quote, actor=sales)

    # Then: the quote showed its locked price as out of date, and the refresh took the new one
    assert [(item.position, item.field, item.quoted, item.current) for item in stale] == [
        (1, "contract_price", Decimal("99.5000"), Decimal("95.0000"))
    ]
    assert refreshed.total == Decimal("190.00")
    assert stale_prices(refreshed) == []


def test_system_actor_accepts_for_api(sent_quote, server, chair):
    # Given: stock, so the order goes through; an integration acts without a user
    warehouse = WarehouseFactory(code="FRA")
    for product in (server.product, chair):
        StockLevelFactory(product=product, warehouse=warehouse, on_hand=Decimal("50"))

    # When
    quote = quote_accept(quote=sent_quote, actor=None, po_number="API-PO-1")

    # Then: the acceptance and conversion are recorded without a user
    assert quote.status == QuoteStatus.CONVERTED
    assert quote.order.po_number == "API-PO-1"
    assert quote.events.get(event="quote.accepted").actor is None
    assert quote.history.first().history_user is None


def test_beat_schedules_quote_expiry(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["quotes-expire-due"]

    assert entry == {"task": "quotes.expire_due_quotes", "schedule": 3600.0}
    assert expire_due_quotes.name == entry["task"]
