"""Orders placed and cancelled by partners: the API's request turned into the same intake every channel uses."""

import json
import re
import uuid

from django.core.serializers.json import DjangoJSONEncoder

from apps.api.authentication import PartnerClient
from apps.api.errors import ApiError
from apps.contracts.models import Customer
from apps.orders.inputs import LineInput, OrderInput
from apps.orders.intake import IntakeResult, order_intake
from apps.orders.models import Channel, DocumentOperation, Order, OrderStatus
from apps.orders.transitions import order_cancel

# Printable ASCII without spaces, such as a UUID; the intake's document ids hold 250 characters.
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,200}$")


class InvalidIdempotencyKey(ApiError):
    code = "invalid_idempotency_key"


def partner_source(client: PartnerClient) -> str:
    """Return the intake source of a partner's orders, so that idempotency keys are per partner."""
    return f"api-partner:{client.partner.pk}"


def order_place(*, client: PartnerClient, customer: Customer, data: dict, idempotency_key: str | None) -> IntakeResult:
    """Take in a partner's order through order intake; the same key and body return the first result again.

    Without an idempotency key every request is a new document. The body
    kept for the key is the validated request in a canonical JSON form, so
    the same content in another key order or spacing counts as the same body.
    """
    if idempotency_key is None:
        document_id = f"no-key-{uuid.uuid4().hex}"
    elif IDEMPOTENCY_KEY_PATTERN.match(idempotency_key):
        document_id = idempotency_key
    else:
        raise InvalidIdempotencyKey(
            "The Idempotency-Key header must be 1 to 200 printable ASCII characters without spaces, such as a UUID."
        )
    body = json.dumps({**data, "customer": customer.account_number}, cls=DjangoJSONEncoder, sort_keys=True)
    lines = tuple(
        LineInput(
            line_number=line.get("line_number") or str(position),
            sku=line["sku"],
            quantity=line["quantity"],
            unit=line.get("unit", ""),
            unit_price=line.get("unit_price"),
            description=line.get("description", ""),
        )
        for position, line in enumerate(data["lines"], start=1)
    )
    request = OrderInput(
        channel=Channel.API,
        source=partner_source(client),
        customer=customer,
        document_id=document_id,
        operation=DocumentOperation.NEW,
        po_number=data["po_number"],
        lines=lines,
        currency=customer.currency,
        requested_delivery_date=data.get("requested_delivery_date"),
        ship_to=dict(data.get("ship_to") or {}),
        comments=data.get("comments", ""),
        body=body,
    )
    return order_intake(request=request)


def order_cancel_by_partner(*, client: PartnerClient, order: Order, reason: str = "") -> Order:
    """Cancel the order as the partner asked; an order already cancelled stays as it is."""
    if order.status == OrderStatus.CANCELLED:
        return order
    note = f"Cancelled by partner {client.partner.name} through the API"
    if reason:
        note = f"{note}: {reason}"
    return order_cancel(order=order, actor=None, reason=note)
