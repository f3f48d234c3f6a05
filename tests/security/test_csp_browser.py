"""Chromium renders the admin, the PunchOut shop and the API docs without a single Content-Security-Policy violation.

Every page runs with the project's real CSP header. A listener added before
any page script reports each ``securitypolicyviolation`` event to the console,
and Chromium's own "Refused to ..." console errors are collected as well; the
test fails on either.
"""

import urllib.request

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from apps.core.xml import parse_xml
from apps.punchout.models import BuyerConnection
from tests.browser.support import DEMO_PASSWORD, TIMEOUT_MS
from tests.punchout.support import setup_document

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO_SHARED_SECRET = "demo-shared-secret"

_REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI} at ${where}`);
});
"""


def _watched_page(context, violations: list[str]):
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(_REPORT_VIOLATIONS)

    def on_console(message):
        text = message.text
        if "CSP violation" in text or "Content Security Policy" in text or "Refused to" in text:
            violations.append(f"{page.url}: {text}")

    page.on("console", on_console)
    return page


def _admin_urls() -> list[str]:
    """Return the admin index, and for every registered model its changelist, add page and a change page."""
    request = _superuser_request()
    urls = [reverse("admin:index")]
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
        if model_admin.has_add_permission(request):
            urls.append(reverse("admin:{}_{}_add".format(*info)))
        first = model_admin.get_queryset(request).order_by("pk").first()
        if first is not None:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
    return urls


def _superuser_request():
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = get_user_model().objects.get(username="admin")
    return request


def test_admin_pages_keep_to_csp(live_server, chromium, demo_data):
    violations: list[str] = []
    context = chromium.new_context()
    page = _watched_page(context, violations)

    page.goto(f"{live_server.url}/admin/")
    page.locator("#id_username").fill("admin")
    page.locator("#id_password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator("#content").wait_for()

    visited = []
    for url in _admin_urls():
        response = page.goto(f"{live_server.url}{url}")
        visited.append((url, response.status))
        # Let deferred admin scripts (calendar, select filter, collapse) run.
        page.wait_for_load_state("load")
    context.close()

    assert [item for item in visited if item[1] >= 400] == []
    assert len(visited) > 20
    assert violations == [], "\n".join(violations)


def test_admin_has_frame_ancestors_none(client, db):
    response = client.get("/admin/login/")
    directives = [part.strip() for part in response["Content-Security-Policy"].split(";")]
    assert "frame-ancestors 'none'" in directives
    assert "script-src 'self'" in directives or any(d.startswith("script-src 'self'") for d in directives)
    assert "object-src 'none'" in directives


def test_shop_keeps_to_csp_through_cart_return(live_server, chromium, demo_data, procurement_system):
    # Given a PunchOut session of the demo cXML connection that returns to a local procurement system
    connection = BuyerConnection.objects.get(protocol=BuyerConnection.Protocol.CXML, from_identity="AN01000000001")
    return_url = f"http://127.0.0.1:{procurement_system.server_port}/punchout/return"
    document = setup_document(connection, secret=DEMO_SHARED_SECRET, form_post_url=return_url, selected=False)
    request = urllib.request.Request(  # noqa: S310 -- the local live server's http URL
        f"{live_server.url}/punchout/cxml/", data=document, headers={"Content-Type": "text/xml"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 -- the local live server
        answer = parse_xml(response.read())
    assert answer.find("Response/Status").get("code") == "200"
    start_url = answer.findtext("Response/PunchOutSetupResponse/StartPage/URL")
    start_path = start_url.split("://", 1)[1].split("/", 1)[1]

    violations: list[str] = []
    context = chromium.new_context()
    page = _watched_page(context, violations)

    # When the buyer browses, searches, opens a product, fills the cart and returns it
    page.goto(f"{live_server.url}/{start_path}")
    page.locator("main").wait_for()
    first_product = page.locator("main a[href*='/product/']").first
    sku_href = first_product.get_attribute("href")
    page.goto(f"{live_server.url}{sku_href}")
    page.locator("main").wait_for()
    page.locator("#shop-search-q").fill("a")
    page.locator("form.shop-search button").click()
    page.wait_for_load_state("load")
    page.goto(f"{live_server.url}{sku_href}")
    page.locator("main form[action$='/cart/'] button").first.click()
    page.wait_for_url("**/cart/")
    with page.expect_navigation(url=f"{return_url}*"):
        page.locator("form[action$='/return/'] button").first.click()
    context.close()

    # Then the cart arrived and no page broke the policy
    assert len(procurement_system.posts) == 1
    assert violations == [], "\n".join(violations)


def test_api_docs_keep_to_csp(live_server, chromium, demo_data):
    violations: list[str] = []
    context = chromium.new_context()
    page = _watched_page(context, violations)

    page.goto(f"{live_server.url}{reverse('api:docs')}")
    page.locator(".swagger-ui .info").first.wait_for()
    page.wait_for_load_state("networkidle")
    context.close()

    assert violations == [], "\n".join(violations)
