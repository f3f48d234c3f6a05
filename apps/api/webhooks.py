"""Webhook subscriptions, the deliveries that events create, and their signed sending with retries.

An order event (``apps.orders.outbox.record_event`` calls ``on_order_event``
in the transaction of the change) or a quote event (``on_quote_event``,
called by ``apps.quotes.services.common.record_event``) creates one
delivery per matching active subscription of a partner that serves the
customer. The body is built then and stored, so every try sends the same
bytes with the same ``X-Webhook-Id``. A Celery task sends it after the
commit.

Each try is signed: ``X-Signature: t=<unix time>,v1=<hex>``, where ``v1`` is
HMAC-SHA256 of ``"<t>." + body`` keyed with the subscription's secret. A
2xx status is delivered; any other status, or no response, is tried again
with a doubling delay. After API_WEBHOOK_MAX_ATTEMPTS tries the delivery fails,
the subscription is disabled, and an integration-failure exception case is
opened for staff.
"""

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.api import tasks
from apps.api.errors import InvalidWebhookTarget
from apps.api.models import (
    EVENT_SCOPES,
    ApiKey,
    DeliveryStatus,
    Partner,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from apps.api.selectors import money_text, order_detail, order_summary, quote_detail
from apps.core.prepared import PLACEHOLDER_ID, prepared
from apps.exceptions.models import CaseKind, Severity
from apps.exceptions.services import case_open
from apps.integrations.services import record_webhook_delivery
from apps.orders.models import Invoice, Shipment

logger = logging.getLogger(__name__)

USER_AGENT = "Supplier back office webhooks"
# Bytes of the receiver's response kept for the attempt record.
MAX_ERROR_TEXT = 500
LOCALHOST_NAMES = {"localhost", "localhost.localdomain"}


class Outcome:
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    DONE = "done"


@dataclass(frozen=True)
class SendResult:
    """The result of one try: the HTTP status (None when no response came) and an error text."""

    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# Subscriptions --------------------------------------------------------------------------------


def webhook_subscribe(
    *, partner: Partner, url: str, events: list[str], description: str = "", api_key: ApiKey | None = None
) -> tuple[WebhookSubscription, str]:
    """Create a subscription and return it with its signing secret, which is shown only this once."""
    check_target_url(url)
    chosen = sorted(set(events))
    unknown = [event for event in chosen if event not in WebhookEvent.values]
    if unknown or not chosen:
        raise InvalidWebhookTarget(
            f"Unknown or missing events {', '.join(unknown) or '(none)'}; use some of {', '.join(WebhookEvent.values)}."
        )
    subscription = WebhookSubscription(
        partner=partner,
        url=url,
        events=chosen,
        description=(description or "")[:200],
        secret_nonce=secrets.token_hex(32),
        created_by_key=api_key,
    )
    subscription._change_reason = "Subscribed through the API" if api_key else "Subscribed"
    subscription.save()
    logger.info("Webhook subscription created", extra={"subscription_id": subscription.pk, "partner_id": partner.pk})
    return subscription, signing_secret(subscription)


def webhook_unsubscribe(*, subscription: WebhookSubscription) -> None:
    """Delete the subscription; its deliveries that still wait are dropped with it."""
    subscription_id = subscription.pk
    subscription.delete()
    logger.info("Webhook subscription deleted", extra={"subscription_id": subscription_id})


def required_scopes(events: list[str]) -> set[str]:
    """Return the scopes a key needs to subscribe to ``events``: orders:read for order events and so on."""
    return {EVENT_SCOPES[event.split(".", 1)[0]] for event in events if event.split(".", 1)[0] in EVENT_SCOPES}


def signing_secret(subscription: WebhookSubscription) -> str:
    """Return the subscription's signing secret, derived from the server's key and the subscription's nonce."""
    key = settings.API_WEBHOOK_SIGNING_KEY
    digest = hmac.new(key.encode(), f"webhook-secret:{subscription.secret_nonce}".encode(), hashlib.sha256)
    return f"whsec_{digest.hexdigest()}"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the X-Signature value for a body sent at ``timestamp`` (Unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def check_target_url(url: str) -> None:
    """Raise InvalidWebhookTarget unless ``url`` is http(s) without credentials, and not private in production.

    A host name is not resolved here, so creating a subscription never sends
    a DNS query. Every send checks the addresses the name resolves to.
    """
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhookTarget(f"Webhook URL {url!r} is not an absolute http or https URL.")
    if parts.username or parts.password:
        raise InvalidWebhookTarget("A webhook URL must not contain a user name or password; remove them.")
    try:
        parts.port  # noqa: B018 - reading it validates the port
    except ValueError:
        raise InvalidWebhookTarget(f"Webhook URL {url!r} has an invalid port.") from None
    host = parts.hostname.rstrip(".").lower()
    if host in LOCALHOST_NAMES or host.endswith(".localhost"):
        _check_address(ipaddress.ip_address("127.0.0.1"), url)
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    _check_address(address, url)


def _check_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, url: str) -> None:
    if settings.API_WEBHOOK_ALLOW_PRIVATE_TARGETS:
        return
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_global or address.is_multicast:
        raise InvalidWebhookTarget(
            f"Webhook URL {url!r} points to {address}, which is not a public internet address; "
            "use a public address that the partner's receiver listens on."
        )


def _resolve_and_check(url: str) -> None:
    """Check every address the URL's host resolves to, right before a send.

    NOTE: urllib resolves the name again when it connects, so a DNS server that changes its answer between
    the two lookups (DNS rebinding) could still reach a private address; an egress proxy closes that gap.
    """
    check_target_url(url)
    if settings.API_WEBHOOK_ALLOW_PRIVATE_TARGETS:
        return
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError as error:
        raise InvalidWebhookTarget(f"The host of webhook URL {url!r} could not be resolved: {error}.") from None
    for info in infos:
        _check_address(ipaddress.ip_address(info[4][0].split("%", 1)[0]), url)


# Events ---------------------------------------------------------------------------------------


def on_order_event(row) -> list[WebhookDelivery]:
    """Create the deliveries of an order outbox event for the subscribed partners; send them after commit."""
    if row.event not in WebhookEvent.values:
        return []
    order = row.order

    def build_data() -> dict:
        data = {"order": _order_payload(row)}
        data.update(_event_details(row))
        return data

    return queue_event(event=row.event, customer_id=order.customer_id, data=build_data)


def on_quote_event(row) -> list[WebhookDelivery]:
    """Create the deliveries of a quote event (sent, accepted, declined, expired) for the subscribed partners."""
    if row.event not in WebhookEvent.values:
        return []
    quote = row.quote
    detail = quote_detail(quote)
    detail.pop("lines")
    return queue_event(event=row.event, customer_id=quote.customer_id, data={"quote": detail})


def queue_event(*, event: str, customer_id: int, data: dict | Callable[[], dict]) -> list[WebhookDelivery]:
    """Create one delivery per active subscription to ``event`` of a partner serving the customer.

    ``data`` may be a function that builds the data, so that nothing is read when no one subscribed.
    """
    # Every order event reads them, so the query is compiled once per connection (apps.core.prepared).
    query = prepared("api.webhooks.subscriptions", _subscriptions_for, {"customer_id": PLACEHOLDER_ID})
    found = query.run({"customer_id": customer_id})
    subscriptions = [subscription for subscription in found if event in subscription.events]
    if not subscriptions:
        return []
    if callable(data):
        data = data()
    now = timezone.now()
    deliveries = []
    for subscription in subscriptions:
        event_id = f"evt_{uuid.uuid4().hex}"
        body = {"id": event_id, "type": event, "created_at": now, "data": data}
        deliveries.append(
            WebhookDelivery(
                subscription=subscription,
                event_id=event_id,
                event=event,
                body=json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":")),
                next_attempt_at=now,
            )
        )
    WebhookDelivery.objects.bulk_create(deliveries)
    for delivery in deliveries:
        tasks.enqueue_on_commit(delivery.pk)
    logger.info("Webhook deliveries queued", extra={"event": event, "count": len(deliveries)})
    return deliveries


def _subscriptions_for(customer_id: int):
    """Return the active subscriptions of the active partners that serve the customer."""
    return (
        WebhookSubscription.objects.filter(is_active=True, partner__is_active=True)
        .filter(Q(partner__all_customers=True) | Q(partner__customers__id=customer_id))
        .distinct()
        .order_by("id")
    )


def _order_payload(row) -> dict:
    """Return the order's header, with its lines for order.confirmed, which is the ERP's cue to take the order."""
    if row.event == "order.confirmed":
        return order_detail(row.order)
    return order_summary(row.order)


def _event_details(row) -> dict:
    payload = row.payload or {}
    if row.event == "order.shipped" and payload.get("shipment_id"):
        shipment = Shipment.objects.filter(pk=payload["shipment_id"]).first()
        if shipment is not None:
            return {
                "shipment": {
                    "shipment_id": shipment.shipment_id,
                    "carrier": shipment.carrier,
                    "tracking_number": shipment.tracking_number,
                    "shipped_at": shipment.shipped_at,
                    "complete": bool(payload.get("complete")),
                }
            }
    if row.event == "order.invoiced" and payload.get("invoice_id"):
        invoice = Invoice.objects.filter(pk=payload["invoice_id"]).first()
        if invoice is not None:
            # One invoice may bill several orders of the customer; the event names each of them.
            numbers = invoice.orders.order_by("id").values_list("number", flat=True)
            return {
                "invoice": {
                    "number": invoice.number,
                    "total": money_text(invoice.total, invoice.currency),
                    "currency": invoice.currency,
                    "due_date": invoice.due_date,
                    "orders": list(numbers),
                }
            }
    if payload.get("reason"):
        return {"reason": payload["reason"]}
    return {}


# Delivery -------------------------------------------------------------------------------------


def deliver(*, delivery_id: int) -> str:
    """Send a pending delivery once and record the try; return an ``Outcome``."""
    prepared = _prepare(delivery_id)
    if prepared is not None:
        return prepared
    with transaction.atomic():
        delivery = _lock(delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return Outcome.DONE
        started = time.monotonic()
        try:
            _resolve_and_check(delivery.subscription.url)
            result = send(delivery)
        except InvalidWebhookTarget as error:
            result = SendResult(status=None, error=error.message)
        duration_ms = int((time.monotonic() - started) * 1000)
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            response_code=result.status,
            error=result.error[:MAX_ERROR_TEXT],
            duration_ms=duration_ms,
        )
        record_webhook_delivery(
            partner=delivery.subscription.partner,
            url=delivery.subscription.url,
            event=delivery.event,
            delivery_id=delivery.event_id,
            body=delivery.body,
            http_status=result.status,
            response_body=None,
            succeeded=result.ok,
            attempts=delivery.attempts,
            duration_ms=duration_ms,
            error=result.error,
        )
        return _apply(delivery, result)


def send(delivery: WebhookDelivery) -> SendResult:
    """POST the stored body, signed now; never follows a redirect."""
    body = delivery.body.encode("utf-8")
    timestamp = int(time.time())
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be http or https
        delivery.subscription.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Webhook-Id": delivery.event_id,
            "X-Webhook-Event": delivery.event,
            "X-Signature": sign(signing_secret(delivery.subscription), timestamp, body),
        },
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=settings.API_WEBHOOK_TIMEOUT_SECONDS) as response:
            return SendResult(status=response.status)
    except urllib.error.HTTPError as error:
        text = error.read(MAX_ERROR_TEXT).decode("utf-8", errors="replace")
        return SendResult(status=error.code, error=f"HTTP {error.code}: {text}".strip())
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return SendResult(status=None, error=f"{type(error).__name__}: {reason}")


def retry_delay(attempts: int) -> int:
    """Seconds before the next try: doubling from the base, capped below half the broker's visibility timeout."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    visibility = int(options.get("visibility_timeout", 3600))
    base = settings.API_WEBHOOK_RETRY_BASE_SECONDS
    return max(0, min(base * 2 ** max(attempts - 1, 0), settings.API_WEBHOOK_RETRY_MAX_SECONDS, visibility // 2))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report a redirect as the response it is, because following it could reach an address never checked."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _prepare(delivery_id: int) -> str | None:
    """Count the try in a committed transaction; return an outcome when there is nothing to send."""
    with transaction.atomic():
        delivery = _lock(delivery_id)
        if delivery is None:
            logger.info("Webhook delivery busy or gone", extra={"delivery_id": delivery_id})
            return Outcome.DONE
        if delivery.status != DeliveryStatus.PENDING:
            logger.info("Webhook delivery already handled", extra={"delivery_id": delivery_id})
            return Outcome.DONE
        subscription = delivery.subscription
        if not subscription.is_active or not subscription.partner.is_active:
            delivery.status = DeliveryStatus.CANCELLED
            delivery.finished_at = timezone.now()
            delivery.save(update_fields=["status", "finished_at"])
            logger.info("Webhook delivery cancelled: subscription inactive", extra={"delivery_id": delivery_id})
            return Outcome.DONE
        delivery.attempts += 1
        if delivery.attempts > settings.API_WEBHOOK_MAX_ATTEMPTS:
            _fail(delivery, "The delivery was handed to a worker too often without an answer.")
            return Outcome.FAILED
        delivery.next_attempt_at = timezone.now() + dt.timedelta(seconds=retry_delay(delivery.attempts))
        delivery.save(update_fields=["attempts", "next_attempt_at"])
    return None


def _apply(delivery: WebhookDelivery, result: SendResult) -> str:
    now = timezone.now()
    delivery.response_code = result.status
    if result.ok:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.finished_at = now
        delivery.last_error = ""
        delivery.save(update_fields=["status", "response_code", "delivered_at", "finished_at", "last_error"])
        logger.info("Webhook delivered", extra={"delivery_id": delivery.pk, "attempts": delivery.attempts})
        return Outcome.DELIVERED
    delivery.last_error = result.error[:MAX_ERROR_TEXT] or f"HTTP {result.status}"
    if delivery.attempts >= settings.API_WEBHOOK_MAX_ATTEMPTS:
        _fail(delivery, f"Sending failed {delivery.attempts} times; last: {delivery.last_error}")
        return Outcome.FAILED
    delivery.save(update_fields=["response_code", "last_error"])
    logger.warning(
        "Webhook send will be retried",
        extra={"delivery_id": delivery.pk, "attempts": delivery.attempts, "status": result.status},
    )
    return Outcome.RETRY


def _fail(delivery: WebhookDelivery, reason: str) -> None:
    """Mark the delivery failed, disable its subscription and open a case for staff."""
    now = timezone.now()
    delivery.status = DeliveryStatus.FAILED
    delivery.finished_at = now
    delivery.last_error = reason[:MAX_ERROR_TEXT]
    delivery.save(update_fields=["status", "finished_at", "last_error", "attempts", "response_code"])

    subscription = WebhookSubscription.objects.select_for_update().get(pk=delivery.subscription_id)
    if subscription.is_active:
        subscription.is_active = False
        subscription.disabled_at = now
        subscription.disabled_reason = f"Delivery {delivery.event_id} failed: {reason}"[:300]
        subscription._change_reason = "Disabled after repeated delivery failures"
        subscription.save(update_fields=["is_active", "disabled_at", "disabled_reason", "updated_at"])
    logger.error(
        "Webhook delivery failed; subscription disabled",
        extra={"delivery_id": delivery.pk, "subscription_id": subscription.pk},
    )
    case_open(
        kind=CaseKind.INTEGRATION_FAILURE,
        concerning=subscription,
        facts={
            "partner": subscription.partner.name,
            "url": subscription.url,
            "event": delivery.event,
            "event_id": delivery.event_id,
            "attempts": delivery.attempts,
            "reason": reason[:MAX_ERROR_TEXT],
        },
        summary=f"Webhook to {subscription.partner.name} disabled after {delivery.attempts} failed tries"[:300],
        cause_key=f"webhook-disabled:{subscription.pk}",
        severity=Severity.HIGH,
        reference=delivery.event_id[:64],
    )


def _lock(delivery_id: int) -> WebhookDelivery | None:
    return (
        WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("subscription", "subscription__partner")
        .filter(pk=delivery_id)
        .first()
    )
