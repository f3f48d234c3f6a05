"""The quote PDF, read back as text."""

from io import BytesIO

from pypdf import PdfReader

from apps.quotes.pdf import render_quote_pdf

SERVER_CONFIGURATION = {"cpu-16c": 1, "mem-32g": 4, "sup-3y": 1}


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)


def test_pdf_has_number_lines_totals_and_terms(make_quote, server, contract_prices, chair):
    # Given: a configured server line at 12.5 % off and a plain line, with notes and terms
    quote = make_quote(
        (server.product, 2, "12.5", SERVER_CONFIGURATION),
        (chair, 3, "0"),
        notes="Delivery to the Rotterdam site.",
        terms="Payment 30 days net.",
        contact_name="Dana Buyer",
    )

    # When
    text = _text(render_quote_pdf(quote))

    # Then: the reference, customer, configuration, each total and the terms are in the text
    assert f"Quote {quote.reference}" in text
    assert "Acme Corporation (ACME-001)" in text
    assert "Memory: 4 x 32 GB module" in text
    assert "5470.50" in text
    assert "298.50" in text
    assert "6550.50" in text  # before discounts: 2 x 3126.00 + 3 x 99.50
    assert "-781.50" in text
    assert "5769.00" in text
    assert "Valid until" in text
    assert quote.valid_until.isoformat() in text
    assert "Payment 30 days net." in text
    assert "Delivery to the Rotterdam site." in text


def test_pdf_leaves_out_cost_and_margin(make_quote, chair):
    quote = make_quote((chair, 1))

    text = _text(render_quote_pdf(quote))

    assert "Margin" not in text
    assert "Cost" not in text
    assert "60.00" not in text


def test_pdf_of_many_lines_spans_pages(make_quote, chair):
    quote = make_quote(*[(chair, 1) for _ in range(80)])

    reader = PdfReader(BytesIO(render_quote_pdf(quote)))

    assert len(reader.pages) > 1
    assert "Total excluding tax (EUR)" in reader.pages[-1].extract_text()
