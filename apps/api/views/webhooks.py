"""Webhook subscriptions of the key's partner: list, create (the secret is shown once), read and delete."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response

from apps.api import serializers, webhooks
from apps.api.errors import NotFound
from apps.api.models import Scope, WebhookSubscription
from apps.api.views.base import PartnerView, validated
from apps.api.views.docs import COMMON_ERRORS, ERROR_RESPONSES

WEBHOOK_EXAMPLE = {
    "id": 7,
    "url": "https://erp.partner.example/hooks/backoffice",
    "events": ["order.confirmed", "order.shipped"],
    "description": "ERP order status",
    "active": True,
    "disabled_reason": "",
    "created_at": "2026-12-04T10:00:00Z",
}
# Largest value of a bigint primary key; a larger id in the path cannot exist.
MAX_ID = 2**63 - 1
# Listing and deleting subscriptions needs one of the scopes that events are read with.
_ANY_EVENT_SCOPE = (Scope.ORDERS_READ, Scope.QUOTES_READ)


class _WebhookView(PartnerView):
    required_scopes = {"GET": _ANY_EVENT_SCOPE, "POST": _ANY_EVENT_SCOPE, "DELETE": _ANY_EVENT_SCOPE}

    def subscriptions(self):
        return WebhookSubscription.objects.filter(partner=self.client.partner)


class WebhookListView(_WebhookView):
    @extend_schema(
        operation_id="webhooks_list",
        summary="List the partner's webhook subscriptions",
        responses={200: serializers.WebhookListDoc, **COMMON_ERRORS},
        examples=[OpenApiExample("Subscriptions", value={"results": [WEBHOOK_EXAMPLE]}, response_only=True)],
    )
    def get(self, request):
        return Response({"results": [_subscription_dict(item) for item in self.subscriptions().order_by("id")]})

    @extend_schema(
        operation_id="webhooks_create",
        summary="Subscribe a URL to events",
        description=(
            "Returns the signing secret once. Each delivery is a POST with the event as JSON and the header "
            "'X-Signature: t=<unix time>,v1=<hex>', where v1 is HMAC-SHA256 of '<t>.' followed by the body, keyed "
            "with the secret. Order events need the orders:read scope and quote events quotes:read."
        ),
        request=serializers.WebhookInput,
        responses={201: serializers.WebhookCreatedDoc, **COMMON_ERRORS},
        examples=[
            OpenApiExample(
                "Subscription",
                value={"url": WEBHOOK_EXAMPLE["url"], "events": WEBHOOK_EXAMPLE["events"]},
                request_only=True,
            ),
            OpenApiExample(
                "Created", value={**WEBHOOK_EXAMPLE, "secret": "whsec_5f0c…"}, response_only=True, status_codes=["201"]
            ),
        ],
    )
    def post(self, request):
        data = validated(serializers.WebhookInput, request.data)
        missing = sorted(webhooks.required_scopes(data["events"]) - set(self.client.api_key.scopes))
        if missing:
            raise exceptions.PermissionDenied(
                f"This API key lacks the scope {', '.join(missing)} for the events it subscribes to."
            )
        subscription, secret = webhooks.webhook_subscribe(
            partner=self.client.partner,
            url=data["url"],
            events=data["events"],
            description=data.get("description", ""),
            api_key=self.client.api_key,
        )
        return Response({**_subscription_dict(subscription), "secret": secret}, status=status.HTTP_201_CREATED)


# The URL pattern matches digits only, so a negative id never reaches the API's JSON errors.
SUBSCRIPTION_ID = OpenApiParameter(
    "subscription_id", {"type": "integer", "minimum": 1}, OpenApiParameter.PATH, description="The subscription's id."
)


class WebhookDetailView(_WebhookView):
    @extend_schema(
        operation_id="webhooks_retrieve",
        summary="Read one webhook subscription",
        parameters=[SUBSCRIPTION_ID],
        responses={200: serializers.WebhookDoc, **COMMON_ERRORS, 404: ERROR_RESPONSES[404]},
        examples=[OpenApiExample("Subscription", value=WEBHOOK_EXAMPLE, response_only=True)],
    )
    def get(self, request, subscription_id: int):
        return Response(_subscription_dict(self._subscription(subscription_id)))

    @extend_schema(
        operation_id="webhooks_destroy",
        summary="Delete a webhook subscription",
        parameters=[SUBSCRIPTION_ID],
        responses={204: None, **COMMON_ERRORS, 404: ERROR_RESPONSES[404]},
    )
    def delete(self, request, subscription_id: int):
        webhooks.webhook_unsubscribe(subscription=self._subscription(subscription_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _subscription(self, subscription_id: int) -> WebhookSubscription:
        subscription = None
        if subscription_id <= MAX_ID:
            subscription = self.subscriptions().filter(pk=subscription_id).first()
        if subscription is None:
            raise NotFound(f"Webhook subscription {subscription_id} not found.")
        return subscription


def _subscription_dict(subscription: WebhookSubscription) -> dict:
    return {
        "id": subscription.pk,
        "url": subscription.url,
        "events": subscription.events,
        "description": subscription.description,
        "active": subscription.is_active,
        "disabled_reason": subscription.disabled_reason,
        "created_at": subscription.created_at,
    }
