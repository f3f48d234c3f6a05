"""URLs of the ERP message benchmark: the project's, plus two baseline views that it measures the messages against.

- ``POST /bench/erp-floor/`` goes through the partner API's stack as an ERP
  message does: key authentication, the rate limit, the scope check, the
  JSON parser and the document log row that ``PartnerView`` writes. Then
  it inserts one ``ErpMessage`` row with the body and returns 201. That is
  about the least work a synchronous API that keeps each message can do.
- ``POST /bench/plain/`` is a plain Django view that returns 201 without
  reading the database: the cost of gunicorn, the middleware and the URL
  resolver alone.

Both serve only the benchmark settings (``bench.erp_settings``), never the product's URLs.
"""

import hashlib
import json
import uuid

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.response import Response

from apps.api.models import Scope
from apps.api.views.base import PartnerView
from apps.orders.models import ErpMessage, ErpMessageKind
from config.urls import urlpatterns as project_urlpatterns


class ErpFloorView(PartnerView):
    """Insert the request body as an ``ErpMessage`` row under a new random id; return 201 with the row's id."""

    required_scopes = {"POST": Scope.ERP_WRITE}

    def post(self, request):
        body = request.data
        message = ErpMessage.objects.create(
            kind=ErpMessageKind.ACKNOWLEDGEMENT,
            message_key=f"bench-floor/{uuid.uuid4().hex}",
            order=None,
            body=body,
            body_hash=hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest(),
        )
        return Response({"id": message.pk}, status=status.HTTP_201_CREATED)


@csrf_exempt
def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b'{"ok":true}', status=201, content_type="application/json")


urlpatterns = [
    *project_urlpatterns,
    path("bench/erp-floor/", ErpFloorView.as_view()),
    path("bench/plain/", plain),
]
