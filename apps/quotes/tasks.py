"""Celery tasks of the quotes app: expire quotes past their date, and mail a sent quote with its PDF."""

import logging
import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage

from apps.core.money import format_amount, round_money
from apps.quotes.models import Quote

logger = logging.getLogger(__name__)

# Mail failures worth another try: the connection failed, was dropped or timed out.
_TRANSIENT_MAIL_ERRORS = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, TimeoutError, ConnectionError)
MAIL_RETRIES = 3
MAIL_RETRY_SECONDS = 60


@shared_task(name="quotes.expire_due_quotes")
def expire_due_quotes() -> int:
    """Expire approved and sent quotes past their valid-until date; beat runs it, and a second run changes nothing."""
    # Imported here because the services import this module to enqueue mail.
    from apps.quotes.services.transitions import quotes_expire_due

    return quotes_expire_due()


@shared_task(
    bind=True,
    name="quotes.send_quote_email",
    autoretry_for=_TRANSIENT_MAIL_ERRORS,
    retry_backoff=MAIL_RETRY_SECONDS,
    max_retries=MAIL_RETRIES,
)
def send_quote_email(self, quote_id: int) -> bool:
    """Mail a sent quote to its contact with the quote PDF attached; return whether a mail went out."""
    from apps.quotes.pdf import render_quote_pdf

    quote = Quote.objects.select_related("customer", "sales_person", "contract").filter(pk=quote_id).first()
    if quote is None or not quote.contact_email:
        logger.warning("Quote to mail has no contact email or no longer exists", extra={"quote_id": quote_id})
        return False
    sender = quote.sales_person.email or settings.DEFAULT_FROM_EMAIL
    message = EmailMessage(
        subject=f"Quote {quote.reference}",
        body=_body(quote),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[quote.contact_email],
        reply_to=[sender],
    )
    message.attach(f"quote-{quote.reference}.pdf", render_quote_pdf(quote), "application/pdf")
    message.send()
    logger.info("Quote mailed", extra={"quote_id": quote.pk, "attempt": self.request.retries + 1})
    return True


def _body(quote: Quote) -> str:
    greeting = f"Dear {quote.contact_name}," if quote.contact_name else "Hello,"
    return (
        f"{greeting}\n\n"
        f"please find attached our quote {quote.reference} for {quote.customer.name}, "
        f"valid until {quote.valid_until.isoformat()}.\n\n"
        f"Total: {format_amount(round_money(quote.total, quote.currency), quote.currency)} {quote.currency} "
        "excluding tax.\n\n"
        f"Kind regards,\n{quote.sales_person.get_full_name() or quote.sales_person.get_username()}\n"
    )
