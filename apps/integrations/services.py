"""Recording integration documents in the log, and pruning the log after its retention period.

Every channel describes its message as a ``DocumentExchange`` and hands it to
``record_exchange`` (or to ``record_after_response``, which writes the row
once the HTTP response has gone out). Recording never raises: a failure to
write the row is logged and the exchange it describes carries on. Bodies are
masked before they are stored and compressed above a size from settings.

Partner API views and webhook deliveries call ``record_api_request`` and
``record_webhook_delivery``.
"""

import dataclasses
import datetime as dt
import json
import logging
import re
import time
import zlib
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import HttpRequest, HttpResponse
from django.http.request import RawPostDataException
from django.utils import timezone

from apps.core import log_context
from apps.core.redaction import MASK, SECRET_HEADERS, mask_data, mask_fields, mask_text
from apps.integrations.models import BodyFormat, Channel, Direction, DocumentLog, Outcome

logger = logging.getLogger(__name__)

# Defaults of the settings below, used when a test or script leaves them out.
DEFAULT_RETENTION_DAYS = 90
DEFAULT_COMPRESS_BYTES = 16 * 1024
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
DEFAULT_PRUNE_BATCH_SIZE = 5000
# The first cXML Status code in a document; a Response carries exactly one.
_CXML_STATUS = re.compile(rb"<Status\b[^>]*?\bcode\s*=\s*[\"'](\d{3})[\"']")
_CXML_STATUS_TEXT = re.compile(r"<Status\b[^>]*?\bcode\s*=\s*[\"'](\d{3})[\"']")
_FIELD_LIMITS = {"document_type": 64, "payload_id": 250, "po_number": 64, "order_number": 32, "url": 500}


@dataclasses.dataclass
class DocumentExchange:
    """The known facts of one message while it is handled: the fields of its log row.

    Views create one when a request arrives and fill it in as they learn the
    connection, the document and the outcome. ``note`` also binds the ids to
    the logging context, so later log lines of the request carry them.
    """

    direction: str
    channel: str
    document_type: str = ""
    outcome: str = Outcome.SUCCEEDED
    payload_id: str = ""
    po_number: str = ""
    order_number: str = ""
    connection_id: int | None = None
    partner: Any = None
    customer_id: int | None = None
    order_id: int | None = None
    outbox_event_id: int | None = None
    import_job_id: int | None = None
    related: Any = None
    url: str = ""
    http_status: int | None = None
    cxml_status: str = ""
    message: str = ""
    attempts: int = 1
    request_id: str = dataclasses.field(default_factory=log_context.current_request_id)
    request_body: Any = None
    request_format: str = ""
    response_body: Any = None
    response_format: str = ""
    started: float = dataclasses.field(default_factory=time.monotonic)
    created_at: dt.datetime | None = None
    duration_ms: int | None = None

    def note(self, **fields: Any) -> None:
        """Set fields of the row and bind the ids among them to the logging context."""
        for name, value in fields.items():
            setattr(self, name, value)
        log_context.bind(
            connection_id=fields.get("connection_id"),
            payload_id=fields.get("payload_id"),
            order_number=fields.get("order_number"),
        )

    def fail(self, message: str = "", **fields: Any) -> None:
        """Mark the exchange failed with ``message``."""
        self.note(outcome=Outcome.FAILED, message=message, **fields)

    def finish(self) -> None:
        """Fix the duration at this moment, for rows written after the response."""
        if self.duration_ms is None:
            self.duration_ms = int((time.monotonic() - self.started) * 1000)


def record_exchange(exchange: DocumentExchange) -> DocumentLog | None:
    """Write ``exchange`` to the document log and return the row; on any failure log it and return None."""
    try:
        exchange.finish()
        row = _build_row(exchange)
        connection = connections[DEFAULT_DB_ALIAS]
        if connection.in_atomic_block:
            # A savepoint, so that a failed INSERT cannot break the caller's transaction.
            with transaction.atomic():
                row.save(force_insert=True)
        else:
            row.save(force_insert=True)
        return row
    except Exception:
        logger.exception(
            "Document log row could not be written",
            extra={"channel": exchange.channel, "document_type": exchange.document_type},
        )
        return None


def record_after_response(response: HttpResponse, exchange: DocumentExchange) -> HttpResponse:
    """Write ``exchange`` once the server has sent ``response``, and return the response.

    The duration is fixed now, before the response is sent. The row is
    written when the WSGI server closes the response, so the client does not
    wait for the INSERT. The response's status and body are stored when the
    exchange has none of its own.
    """
    exchange.finish()

    def record_sent_response() -> None:
        # Read here, because a DRF or template response is rendered only after the view returns.
        if exchange.http_status is None:
            exchange.http_status = response.status_code
        if exchange.response_body is None and not response.streaming:
            exchange.response_body = response.content
        if not exchange.response_format:
            exchange.response_format = _format_of(response.get("Content-Type", ""))
        record_exchange(exchange)

    # NOTE: _resource_closers is Django's private list of callables that HttpResponse.close() runs (Django 3.0
    # to 5.2). Django has no public hook that runs for one response after it is sent.
    response._resource_closers.append(record_sent_response)
    return response


def record_api_request(
    *,
    request: HttpRequest,
    response: HttpResponse,
    partner=None,
    document_type: str,
    idempotency_key: str = "",
    order=None,
    customer_id: int | None = None,
    related=None,
    body: Any = None,
    started: float | None = None,
) -> None:
    """Log a partner API call after its response is sent: method, path, masked headers and body, status.

    ``partner`` is the calling partner (any model instance), ``document_type``
    names the operation (``orders.create``), ``related`` another object it
    concerns (a quote). Call it from the view or its ``finalize_response``.
    ``body`` is the request body when the caller has it; otherwise it is read
    from the request, or from the parsed ``request.data`` once DRF has
    consumed the stream.
    """
    if body is None:
        try:
            body = request.body
        except RawPostDataException:
            body = getattr(request, "data", None)
    exchange = DocumentExchange(
        direction=Direction.INBOUND,
        channel=Channel.API,
        document_type=document_type,
        payload_id=idempotency_key,
        partner=partner,
        related=related,
        url=f"{request.method} {request.get_full_path()}"[:500],
        request_body={
            "headers": _request_headers(request),
            "body": _json_or_text(body) if isinstance(body, bytes | str) else body,
        },
        request_format=BodyFormat.JSON,
        response_format=BodyFormat.JSON,
    )
    if started is not None:
        exchange.started = started
    if order is not None:
        exchange.note(order_id=order.pk, order_number=order.number, po_number=order.po_number)
        customer_id = customer_id or order.customer_id
    exchange.customer_id = customer_id
    if response.status_code >= 400:
        exchange.outcome = Outcome.FAILED
        exchange.message = _api_error_message(response)
    record_after_response(response, exchange)


def record_webhook_delivery(
    *,
    partner,
    url: str,
    event: str,
    delivery_id: str,
    body: bytes | str | Mapping,
    http_status: int | None,
    response_body: bytes | str | None,
    succeeded: bool,
    attempts: int = 1,
    duration_ms: int | None = None,
    error: str = "",
    order=None,
) -> DocumentLog | None:
    """Log one webhook delivery attempt to a partner: the event, the signed body and the receiver's response.

    ``delivery_id`` is the id the delivery carries (the receiver's
    idempotency key). The X-Signature header is never passed here.
    """
    exchange = DocumentExchange(
        direction=Direction.OUTBOUND,
        channel=Channel.WEBHOOK,
        document_type=event,
        payload_id=delivery_id,
        partner=partner,
        url=url,
        http_status=http_status,
        outcome=Outcome.SUCCEEDED if succeeded else Outcome.FAILED,
        message=error,
        attempts=attempts,
        duration_ms=duration_ms,
        request_body=body,
        request_format=BodyFormat.JSON,
        response_body=response_body,
        response_format=BodyFormat.TEXT,
    )
    if order is not None:
        exchange.order_id = order.pk
        exchange.order_number = order.number
        exchange.po_number = order.po_number
        exchange.customer_id = order.customer_id
    return record_exchange(exchange)


def document_log_prune(*, now: dt.datetime | None = None, batch_size: int | None = None) -> int:
    """Delete log rows older than ``INTEGRATION_LOG_RETENTION_DAYS``, in batches; return how many went.

    Each batch is its own short transaction, so pruning a large backlog
    never holds locks for long nor builds one huge delete.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=_setting("INTEGRATION_LOG_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))
    batch_size = batch_size or _setting("INTEGRATION_LOG_PRUNE_BATCH_SIZE", DEFAULT_PRUNE_BATCH_SIZE)
    deleted = 0
    while True:
        ids = list(
            DocumentLog.objects.filter(created_at__lt=cutoff)
            .order_by("created_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            break
        count, _ = DocumentLog.objects.filter(pk__in=ids).delete()
        deleted += count
        if len(ids) < batch_size:
            break
    if deleted:
        logger.info("Document log pruned", extra={"deleted": deleted, "cutoff": cutoff.isoformat()})
    return deleted


def cxml_status_of(document: bytes | str | None) -> str:
    """Return the code of the first cXML Status element in ``document``, or an empty string."""
    if not document:
        return ""
    pattern = _CXML_STATUS if isinstance(document, bytes) else _CXML_STATUS_TEXT
    match = pattern.search(document[:65536])
    if match is None:
        return ""
    code = match.group(1)
    return code.decode("ascii") if isinstance(code, bytes) else code


def outcome_for_cxml_status(code: str) -> str:
    """Return the outcome of a cXML status code: 2xx succeeded, anything else (or none) failed."""
    return Outcome.SUCCEEDED if code.startswith("2") else Outcome.FAILED


def _build_row(exchange: DocumentExchange) -> DocumentLog:
    values = {name: (getattr(exchange, name) or "")[:limit] for name, limit in _FIELD_LIMITS.items()}
    row = DocumentLog(
        created_at=exchange.created_at or timezone.now(),
        direction=exchange.direction,
        channel=exchange.channel,
        outcome=exchange.outcome,
        connection_id=exchange.connection_id,
        customer_id=exchange.customer_id,
        order_id=exchange.order_id,
        outbox_event_id=exchange.outbox_event_id,
        import_job_id=exchange.import_job_id,
        http_status=exchange.http_status,
        cxml_status=(exchange.cxml_status or "")[:16],
        message=mask_text(exchange.message or "")[:500],
        attempts=min(max(exchange.attempts, 0), 32767),
        duration_ms=exchange.duration_ms,
        request_id=(exchange.request_id or "")[:64],
        request_format=exchange.request_format,
        response_format=exchange.response_format,
        **values,
    )
    if exchange.partner is not None:
        row.partner_type = ContentType.objects.get_for_model(exchange.partner)
        row.partner_id = exchange.partner.pk
        row.partner_name = str(exchange.partner)[:200]
    if exchange.related is not None:
        row.related_type = ContentType.objects.get_for_model(exchange.related)
        row.related_id = exchange.related.pk
    row.request_body, row.request_body_gz = _stored_body(exchange.request_body, exchange.request_format)
    row.response_body, row.response_body_gz = _stored_body(exchange.response_body, exchange.response_format)
    if not row.cxml_status and exchange.response_format == BodyFormat.XML:
        row.cxml_status = cxml_status_of(exchange.response_body)
    return row


def _stored_body(body: Any, body_format: str) -> tuple[str, bytes | None]:
    """Return the masked text of ``body`` and, when it is larger than the threshold, its compressed bytes instead."""
    # PostgreSQL text cannot hold NUL, and a hostile request may carry one: the log shows it as an escape.
    text = masked_body(body, body_format).replace("\x00", "\\u0000")
    if not text:
        return "", None
    limit = _setting("INTEGRATION_LOG_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)
    encoded = text.encode("utf-8")
    if len(encoded) > limit:
        encoded = encoded[:limit] + f"\n… cut at {limit} of {len(encoded)} bytes".encode()
    if len(encoded) <= _setting("INTEGRATION_LOG_COMPRESS_BYTES", DEFAULT_COMPRESS_BYTES):
        return encoded.decode("utf-8", errors="replace"), None
    return "", zlib.compress(encoded, 6)


def masked_body(body: Any, body_format: str) -> str:
    """Return ``body`` (bytes, text, form pairs or JSON data) as text with its secrets masked."""
    if body is None or body == b"" or body == "":
        return ""
    if body_format == BodyFormat.FORM and not isinstance(body, bytes | str):
        return "\n".join(f"{name}={value}" for name, value in mask_fields(body))
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        if body_format == BodyFormat.JSON:
            parsed = _json_or_text(body)
            if not isinstance(parsed, str):
                return json.dumps(mask_data(parsed), ensure_ascii=False, default=str)
        return mask_text(body)
    return json.dumps(mask_data(body), ensure_ascii=False, default=str)


def _format_of(content_type: str) -> str:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type.endswith("xml"):
        return BodyFormat.XML
    if media_type.endswith("json"):
        return BodyFormat.JSON
    if media_type == "text/html":
        return BodyFormat.HTML
    return BodyFormat.TEXT if media_type else ""


def _request_headers(request: HttpRequest) -> dict[str, str]:
    headers = {}
    for name, value in request.headers.items():
        headers[name] = MASK if name.lower() in SECRET_HEADERS else value
    return headers


def _json_or_text(body: bytes | str) -> Any:
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not body:
        return ""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        # A body nested beyond Python's recursion limit is kept as the text it was.
        return body


def _api_error_message(response: HttpResponse) -> str:
    data = getattr(response, "data", None)
    if isinstance(data, Mapping):
        return str(data.get("detail") or data.get("code") or "")[:500]
    return f"HTTP {response.status_code}"


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))
