"""Security headers and cookie names of the admin, the API and the PunchOut pages."""

from django.urls import reverse


def _directives(response) -> dict[str, str]:
    parts = [part.strip() for part in response["Content-Security-Policy"].split(";") if part.strip()]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else "" for part in parts}


def test_admin_login_sends_strict_policy(client, db):
    response = client.get("/admin/login/", secure=True)

    directives = _directives(response)
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_production_cookies_use_host_prefix(client, db, settings):
    response = client.get("/admin/login/", secure=True)

    assert settings.SESSION_COOKIE_NAME == "__Host-sessionid"
    csrf = response.cookies["__Host-csrftoken"]
    assert csrf["secure"] is True
    assert csrf["path"] == "/"
    assert csrf["domain"] == ""


def test_session_cookie_uses_host_prefix_after_login(client, db):
    from tests.factories import UserFactory

    UserFactory(username="clerk")
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "clerk", "password": "test-pass-2026"}, secure=True
    )

    cookie = response.cookies["__Host-sessionid"]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["path"] == "/"
    assert cookie["domain"] == ""


def test_healthz_json_also_forbids_framing(client, db):
    response = client.get("/healthz")
    assert _directives(response)["frame-ancestors"] == "'none'"


def test_api_responses_forbid_framing(client, db):
    response = client.get(reverse("api:product-list"))

    assert response.status_code == 401
    assert _directives(response)["frame-ancestors"] == "'none'"


def test_oci_error_page_may_be_framed_by_any_site(client, db):
    response = client.post("/punchout/oci/", {"USERNAME": "nobody", "PASSWORD": "wrong"})

    directives = _directives(response)
    assert directives["frame-ancestors"] == "*"
    assert directives["script-src"] == "'self'"
    assert "X-Frame-Options" not in response
