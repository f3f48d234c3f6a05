"""The quote admin: building a quote through the services, the line editor's guide, transitions and views."""

import json

import pytest
from django.urls import reverse

from apps.exceptions.models import CaseKind, ExceptionCase
from apps.quotes.models import Quote, QuoteStatus
from apps.quotes.services import quote_reject, quote_revise, quote_send, quote_submit
from tests.admin.forms import change_form_data

SERVER_CONFIGURATION = {"cpu-16c": 1, "mem-32g": 4, "sup-3y": 1}


@pytest.fixture(autouse=True)
def _plain_static_storage(plain_static_storage):
    """Pages here are rendered, so static files come from the finders."""


@pytest.fixture
def sales_client(client, sales):
    client.force_login(sales)
    return client


def _change_url(quote):
    return reverse("admin:quotes_quote_change", args=[quote.pk])


def _line_data(response, **values):
    data = change_form_data(response)
    for name, value in values.items():
        data[f"lines-0-{name}"] = value
    return data


def test_sales_builds_quote_in_admin(sales_client, sales, customer, contract, contract_prices, server):
    # When: sales creates the header, then adds a configured line with a discount
    response = sales_client.post(
        reverse("admin:quotes_quote_add"),
        {"customer": customer.pk, "valid_until": "2099-12-31", "contact_email": "buyer@acme.example",
         "crm_opportunity": "OPP-1", "notes": "", "terms": "Net 30", "contact_name": "", "_continue": "1"},
    )  # fmt: skip
    quote = Quote.objects.get()
    page = sales_client.get(_change_url(quote))
    data = _line_data(
        page,
        product=server.product.pk,
        quantity="2",
        discount_percent="12.5",
        configuration=json.dumps(SERVER_CONFIGURATION),
    )
    saved = sales_client.post(_change_url(quote), data)

    # Then: the quote belongs to sales and its line carries the waterfall
    assert response.status_code == 302
    assert saved.status_code == 302, saved.context["errors"] if saved.context else saved
    quote.refresh_from_db()
    assert (quote.sales_person, quote.crm_opportunity, quote.terms) == (sales, "OPP-1", "Net 30")
    line = quote.lines.get()
    assert (str(line.net_price), str(line.line_total)) == ("2735.2500", "5470.5000")
    page = sales_client.get(_change_url(quote))
    assert "Configuration adders" in page.content.decode()


def test_invalid_configuration_is_a_form_error(sales_client, make_quote, chair, server):
    quote = make_quote((chair, 1))
    page = sales_client.get(_change_url(quote))
    data = change_form_data(page)
    data.update(
        {
            "lines-TOTAL_FORMS": "2",
            "lines-1-product": server.product.pk,
            "lines-1-quantity": "1",
            "lines-1-discount_percent": "0",
            "lines-1-configuration": json.dumps({"cpu-8c": 1, "mem-16g": 3, "sup-1y": 1}),
        }
    )

    response = sales_client.post(_change_url(quote), data)

    assert response.status_code == 200
    errors = " ".join(str(error) for error in response.context["inline_admin_formsets"][0].formset.errors)
    assert "the quantity must be a multiple of 2; 3 is chosen" in errors
    assert quote.lines.count() == 1


def test_configuration_with_nul_is_a_form_error(sales_client, make_quote, chair, server):
    # JSON text can carry NUL as the escape \u0000, which no PostgreSQL text or jsonb column can store.
    quote = make_quote((chair, 1))
    data = change_form_data(sales_client.get(_change_url(quote)))
    data.update(
        {
            "lines-TOTAL_FORMS": "2",
            "lines-1-product": server.product.pk,
            "lines-1-quantity": "1",
            "lines-1-discount_percent": "0",
            "lines-1-configuration": json.dumps({"cpu-8c\x00": 1}),
        }
    )

    response = sales_client.post(_change_url(quote), data)

    assert response.status_code == 200
    errors = " ".join(str(error) for error in response.context["inline_admin_formsets"][0].formset.errors)
    assert "The configuration&#x27;s option &#x27;cpu-8c&#x27; contains a NUL character" in errors
    assert quote.lines.count() == 1


def test_guide_view_lists_allowed_options(sales_client, server):
    url = reverse("admin:quotes_quote_configuration_guide")

    response = sales_client.get(url, {"product": server.product.pk, "configuration": json.dumps({"cpu-8c": 1})})

    data = response.json()
    options = {option["code"]: option for group in data["groups"] for option in group["options"]}
    assert data["configurable"] is True
    assert options["gpu-a"]["allowed"] is False
    assert options["cpu-16c"]["allowed"] is True
    assert [violation["code"] for violation in data["violations"]] == ["too_few_choices", "too_few_choices"]


def test_guide_view_needs_staff_login(client, server):
    response = client.get(reverse("admin:quotes_quote_configuration_guide"), {"product": server.product.pk})

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_transition_buttons_follow_permissions(approval_rules, make_quote, chair, sales, manager, client):
    quote = quote_submit(quote=make_quote((chair, 1, "15")), actor=sales)

    client.force_login(sales)
    sales_page = client.get(_change_url(quote)).context["transition_buttons"]
    client.force_login(manager)
    manager_page = client.get(_change_url(quote)).context["transition_buttons"]

    assert [button["name"] for button in sales_page] == []
    assert [button["name"] for button in manager_page] == ["approve", "reject"]


def test_submit_and_approve_buttons(approval_rules, make_quote, chair, sales, manager, client):
    quote = make_quote((chair, 1, "15"))
    client.force_login(sales)

    client.post(reverse("admin:quotes_quote_transition", args=[quote.pk, "submit"]))
    client.force_login(manager)
    client.post(reverse("admin:quotes_quote_transition", args=[quote.pk, "approve"]))

    quote.refresh_from_db()
    assert quote.status == QuoteStatus.APPROVED
    assert ExceptionCase.objects.get(kind=CaseKind.QUOTE_APPROVAL).state == "resolved"


def test_reject_needs_reason_page(approval_rules, make_quote, chair, sales, manager, client):
    quote = quote_submit(quote=make_quote((chair, 1, "15")), actor=sales)
    client.force_login(manager)
    url = reverse("admin:quotes_quote_transition", args=[quote.pk, "reject"])

    page = client.get(url)
    client.post(url, {"reason": "Margin too thin"})

    quote.refresh_from_db()
    assert page.status_code == 200
    assert quote.status == QuoteStatus.REJECTED
    assert quote.status_reason.endswith("Margin too thin")


def test_inbox_filters(approval_rules, make_quote, chair, sales, manager, client):
    mine = make_quote((chair, 1))
    waiting = quote_submit(quote=make_quote((chair, 1, "15")), actor=sales)
    url = reverse("admin:quotes_quote_changelist")

    client.force_login(sales)
    sales_mine = client.get(url, {"inbox": "mine"}).context["cl"].result_list
    client.force_login(manager)
    manager_waiting = client.get(url, {"inbox": "approval"}).context["cl"].result_list

    assert {quote.pk for quote in sales_mine} == {mine.pk, waiting.pk}
    assert [quote.pk for quote in manager_waiting] == [waiting.pk]


def test_old_version_is_read_only_and_comparable(approval_rules, make_quote, chair, sales, manager, sales_client):
    quote = quote_reject(
        quote=quote_submit(quote=make_quote((chair, 1, "15")), actor=sales), actor=manager, reason="No"
    )
    revision = quote_revise(quote=quote, actor=sales)

    old_page = sales_client.get(_change_url(quote))
    post = sales_client.post(_change_url(quote), change_form_data(old_page))
    compare = sales_client.get(reverse("admin:quotes_quote_compare", args=[quote.pk, revision.pk]))

    assert old_page.context["has_change_permission"] is False
    assert post.status_code == 403
    assert compare.status_code == 200
    assert ("status", "rejected", "draft") in compare.context["changes"]["header"]


def test_pdf_view(make_quote, chair, sales_client):
    quote = make_quote((chair, 1))

    response = sales_client.get(reverse("admin:quotes_quote_pdf", args=[quote.pk]))

    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")


def test_add_with_past_date_is_a_form_error(sales_client, customer, contract):
    response = sales_client.post(
        reverse("admin:quotes_quote_add"),
        {"customer": customer.pk, "valid_until": "2020-01-31", "contact_email": "", "crm_opportunity": "",
         "notes": "", "terms": "", "contact_name": ""},
    )  # fmt: skip

    assert response.status_code == 200
    assert "Valid until 2020-01-31 is in the past" in str(response.context["adminform"].form.non_field_errors())
    assert not Quote.objects.exists()


@pytest.fixture
def sent_quote(make_quote, chair, sales):
    return quote_send(quote=quote_submit(quote=make_quote((chair, 2)), actor=sales), actor=sales, email=False)


def _accept_url(quote):
    return reverse("admin:quotes_quote_transition", args=[quote.pk, "accept"])


def test_mark_accepted_asks_how_the_order_comes(sent_quote, sales_client):
    buttons = sales_client.get(_change_url(sent_quote)).context["transition_buttons"]

    page = sales_client.get(_accept_url(sent_quote))

    accept = next(button for button in buttons if button["name"] == "accept")
    assert accept["needs_page"] is True
    assert page.status_code == 200
    assert page.context["form"]["order"].initial == "now"
    assert "procurement system" in page.content.decode()


def test_mark_accepted_now_creates_order_with_po_number(sent_quote, sales_client):
    response = sales_client.post(_accept_url(sent_quote), {"po_number": "PO-ADM-7", "order": "now"})

    sent_quote.refresh_from_db()
    assert response.status_code == 302
    assert sent_quote.status == QuoteStatus.CONVERTED
    assert sent_quote.order.po_number == "PO-ADM-7"


def test_mark_accepted_for_purchase_order_keeps_quote_accepted(sent_quote, sales_client):
    response = sales_client.post(_accept_url(sent_quote), {"po_number": "", "order": "by_purchase_order"}, follow=True)

    sent_quote.refresh_from_db()
    assert sent_quote.status == QuoteStatus.ACCEPTED
    assert sent_quote.order_id is None
    assert [str(message) for message in response.context["messages"]] == [
        f"Quote {sent_quote.reference} is now accepted. "
        "It waits for the buyer's purchase order, or for Convert to order."
    ]


@pytest.mark.parametrize(
    "data",
    [{"po_number": "PO-1"}, {"po_number": "PO-1", "order": "tomorrow"}, {"po_number": "P" * 65, "order": "now"}],
    ids=["no choice", "unknown choice", "PO number too long"],
)
def test_mark_accepted_with_bad_form_changes_nothing(sent_quote, sales_client, data):
    response = sales_client.post(_accept_url(sent_quote), data)

    sent_quote.refresh_from_db()
    assert response.status_code == 200
    assert response.context["form"].errors
    assert sent_quote.status == QuoteStatus.SENT


def test_mark_accepted_by_user_without_permission_is_refused(sent_quote, client, finance):
    client.force_login(finance)

    client.post(_accept_url(sent_quote), {"order": "now"})

    sent_quote.refresh_from_db()
    assert sent_quote.status == QuoteStatus.SENT
