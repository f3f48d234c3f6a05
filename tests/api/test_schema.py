"""The OpenAPI document, its interactive documentation from local files, and the API keeping to the document."""

import time

import pytest
import requests
import schemathesis
from django.contrib.staticfiles import finders
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.api import tasks
from tests.factories import UserFactory

# Generated requests per run: enough to reach every operation several times, few enough to stay well under a
# minute (about 20 s on a 2-core machine). TIME_LIMIT_SECONDS stops sending requests on a slower one.
MAX_EXAMPLES = 150
TIME_LIMIT_SECONDS = 40


def test_schema_lists_every_endpoint(api, db):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert set(schema["paths"]) == {
        "/api/v1/products/",
        "/api/v1/products/{sku}/",
        "/api/v1/prices/",
        "/api/v1/availability/",
        "/api/v1/orders/",
        "/api/v1/orders/{number}/",
        "/api/v1/orders/{number}/cancel/",
        "/api/v1/orders/{number}/erp-ack/",
        "/api/v1/orders/{number}/shipments/",
        "/api/v1/orders/{number}/invoices/",
        "/api/v1/invoices/{number}/payments/",
        "/api/v1/quotes/",
        "/api/v1/quotes/{number}/",
        "/api/v1/quotes/{number}/accept/",
        "/api/v1/quotes/{number}/decline/",
        "/api/v1/catalog/updates/",
        "/api/v1/stock/updates/",
        "/api/v1/customers/updates/",
        "/api/v1/contracts/updates/",
        "/api/v1/webhooks/",
        "/api/v1/webhooks/{subscription_id}/",
    }
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A partner API key, sent as 'Authorization: Bearer <api key>'.",
    }


def test_every_operation_documents_responses_and_examples(api, db):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            assert operation.get("summary"), label
            assert operation["security"] == [{"ApiKey": []}], label
            successes = [code for code in operation["responses"] if code.startswith("2")]
            assert successes, label
            for code in ("401", "403", "429"):
                assert code in operation["responses"], (label, code)
            if method == "delete":
                continue
            success = operation["responses"][successes[0]]["content"]["application/json"]
            assert success.get("examples"), label
            if method == "post":
                body = operation["requestBody"]["content"]["application/json"]
                assert body["schema"], label


def test_docs_page_uses_local_files(client, db, settings):
    # given: static files from the app folders, as collectstatic has not run in tests
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

    # when
    page = client.get("/api/docs/")
    html = page.content.decode()

    # then: the page loads Swagger UI from the project's own static files, which collectstatic gathers
    assert page.status_code == 200
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


@pytest.mark.django_db(transaction=True)
def test_api_keeps_to_its_schema(live_server, catalog, acme_key, settings, monkeypatch):
    """Schemathesis sends generated requests to the live server: no 500, and every response fits the schema."""
    # given: no request limit in the way, a sales person for quote requests, and no webhook sent to the
    # addresses the generator makes up
    settings.API_PARTNER_REQUESTS_PER_MINUTE = 100_000
    settings.API_QUOTE_SALES_PERSON = UserFactory(username="schema-sales").username
    settings.API_WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    monkeypatch.setattr(tasks.send_webhook, "delay", lambda delivery_id: None)
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {acme_key}"
    failures = []
    started = time.monotonic()

    @hypothesis_settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=schema.as_strategy())
    def check(case):
        if time.monotonic() - started > TIME_LIMIT_SECONDS:
            return
        response = case.call(base_url=live_server.url, session=session, timeout=30)
        try:
            case.validate_response(
                response,
                checks=[
                    not_a_server_error,
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ],
            )
        except Exception as error:  # every failed check is collected, so one run lists them all
            failures.append(f"{case.method} {case.formatted_path}: {error}"[:2000])

    # when
    check()

    # then
    assert failures == []
