"""The printable quote: customer, lines with their configuration, prices, totals, validity and terms, as PDF.

Built with ReportLab's page layout engine (platypus) and its built-in
Helvetica fonts, so no font file is needed. Costs and margins are internal
and never printed.
"""

import io
from xml.sax.saxutils import escape

from django.conf import settings
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from apps.core.money import format_amount, round_money
from apps.quotes.models import Quote

# Column widths of the lines table in millimetres; together they fill an A4 page inside 18 mm margins.
_COLUMNS_MM = (10, 78, 16, 26, 18, 26)


def render_quote_pdf(quote: Quote) -> bytes:
    """Return the quote as a PDF document."""
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"Quote {quote.reference}",
        author=getattr(settings, "QUOTE_SUPPLIER_NAME", "") or "Supplier back office",
    )
    styles = _styles()
    story = [
        Paragraph(f"Quote {escape(quote.reference)}", styles["title"]),
        _header_table(quote, styles),
        Spacer(1, 6 * mm),
        _lines_table(quote, styles),
        Spacer(1, 4 * mm),
        _totals_table(quote, styles),
    ]
    if quote.notes.strip():
        story += [Spacer(1, 6 * mm), Paragraph("Notes", styles["heading"]), _text(quote.notes, styles)]
    if quote.terms.strip():
        story += [Spacer(1, 4 * mm), Paragraph("Terms", styles["heading"]), _text(quote.terms, styles)]
    document.build(story)
    return buffer.getvalue()


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("quote-title", parent=base["Title"], alignment=0, fontSize=18),
        "heading": ParagraphStyle("quote-heading", parent=base["Heading3"]),
        "body": ParagraphStyle("quote-body", parent=base["BodyText"], fontSize=9, leading=11),
        "small": ParagraphStyle("quote-small", parent=base["BodyText"], fontSize=8, leading=10),
        "number": ParagraphStyle("quote-number", parent=base["BodyText"], fontSize=9, leading=11, alignment=TA_RIGHT),
    }


def _header_table(quote: Quote, styles) -> Table:
    customer = quote.customer
    contract = quote.contract.number if quote.contract is not None else "none (list prices)"
    sales_person = quote.sales_person.get_full_name() or quote.sales_person.get_username()
    rows = [
        ("Customer", f"{customer.name} ({customer.account_number})"),
        ("Contact", " ".join(part for part in (quote.contact_name, quote.contact_email) if part) or "—"),
        ("Contract", contract),
        ("Quote", f"{quote.number}, version {quote.version}"),
        ("Prices as of", quote.price_date.isoformat()),
        ("Valid until", quote.valid_until.isoformat()),
        ("Sales person", sales_person),
    ]
    if quote.crm_opportunity:
        rows.append(("Your reference", quote.crm_opportunity))
    data = [
        [Paragraph(escape(label), styles["body"]), Paragraph(escape(value), styles["body"])] for label, value in rows
    ]
    table = Table(data, colWidths=(35 * mm, 139 * mm))
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("TEXTCOLOR", (0, 0), (0, -1), colors.grey)]))
    return table


def _lines_table(quote: Quote, styles) -> Table:
    currency = quote.currency
    data = [[_cell(label, styles, number=index > 1) for index, label in enumerate(
        ("#", "Item", "Quantity", f"Unit price ({currency})", "Discount", f"Total ({currency})")
    )]]  # fmt: skip
    for line in quote.lines.order_by("position"):
        description_lines = (line.description or line.sku).splitlines()
        item = f"<b>{escape(line.sku)}</b> {escape(description_lines[0])}"
        for option in description_lines[1:]:
            item += f"<br/><font size=8>{escape(option)}</font>"
        discount = f"{line.discount_percent.normalize():f} %" if line.discount_percent else ""
        data.append(
            [
                _cell(str(line.position), styles),
                Paragraph(item, styles["body"]),
                _cell(f"{line.quantity.normalize():f}", styles, number=True),
                _cell(_money(line.gross_price, currency), styles, number=True),
                _cell(discount, styles, number=True),
                _cell(_money(line.line_total, currency), styles, number=True),
            ]
        )
    table = Table(data, colWidths=[width * mm for width in _COLUMNS_MM], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.lightgrey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
            ]
        )
    )
    return table


def _totals_table(quote: Quote, styles) -> Table:
    currency = quote.currency
    rows = [
        ("Total before discounts", _money(quote.gross_total, currency)),
        ("Discounts", _money(-quote.discount_total, currency) if quote.discount_total else _money(0, currency)),
        (f"Total excluding tax ({currency})", _money(quote.total, currency)),
        ("Tax", _money(quote.tax_total, currency)),
        (f"Total including tax ({currency})", _money(quote.total + quote.tax_total, currency)),
    ]
    data = [[_cell(label, styles, number=True), _cell(value, styles, number=True)] for label, value in rows]
    table = Table(data, colWidths=(148 * mm, 26 * mm))
    table.setStyle(
        TableStyle(
            [("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black), ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold")]
        )
    )
    return table


def _cell(text: str, styles, *, number: bool = False) -> Paragraph:
    return Paragraph(escape(text), styles["number" if number else "body"])


def _text(text: str, styles) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), styles["body"])


def _money(amount, currency: str) -> str:
    return format_amount(round_money(amount, currency), currency)
