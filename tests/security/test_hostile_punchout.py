"""Hostile PunchOut requests: every cXML handler and the OCI entry answer bad input with an error, never a crash.

The cXML endpoint turns an unexpected exception into Status 500 and logs it,
so any 500 here is a bug; the OCI entry lets exceptions through to the test
client, which raises them.
"""

import base64
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.core.xml import parse_xml
from apps.punchout import oci
from apps.punchout.errors import PunchOutError
from apps.punchout.services import parse_quantity
from tests.punchout.support import CXML_URL, OCI_PASSWORD, OCI_URL, Catalog
from tests.security.fuzzing import NASTY_VALUES, SEED_SAMPLES, mutate, mutation, seed_document

CONNECTION_SECRET = "test-shared-secret"

OCI_PARAMETERS = [
    "USERNAME", "PASSWORD", "HOOK_URL", "~TARGET", "~OkCode", "~CALLER", "FUNCTION", "PRODUCTID", "QUANTITY",
    "SEARCHSTRING", "EXT_PRODUCT_ID", "returntarget", "http_content_charset", "VENDOR", "error",
]  # fmt: skip
OCI_FUNCTIONS = ["", "DETAIL", "DETAILADD", "VALIDATE", "BACKGROUND_SEARCH", "QUANTITYCHECK", "detail", "X"]


@pytest.fixture
def catalog(db, settings):
    # Guessed credentials must not lock the fuzzer out of the handlers behind the login.
    settings.PUNCHOUT_LOGIN_MAX_FAILURES = 1_000_000
    return Catalog()


def _status(response) -> str:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    return parse_xml(response.content).find("Response/Status").get("code")


@given(seed=st.sampled_from(sorted(SEED_SAMPLES)), mutations=st.lists(mutation, max_size=5))
def test_cxml_handlers_answer_mutated_documents(catalog, client, seed, mutations):
    document = mutate(seed_document(seed, catalog.connection, CONNECTION_SECRET), mutations)

    response = client.post(CXML_URL, data=document, content_type="text/xml")

    assert _status(response) != "500"


@pytest.mark.parametrize("seed", sorted(SEED_SAMPLES))
def test_cxml_seed_documents_are_accepted(catalog, client, seed):
    # The mutations start from documents that pass authentication and reach the handlers' own checks.
    # The status update names a document this supplier never sent, so its handler rejects it.
    document = mutate(seed_document(seed, catalog.connection, CONNECTION_SECRET), [])
    response = client.post(CXML_URL, data=document, content_type="text/xml")
    assert _status(response) == ("400" if seed == "status" else "200")


@given(
    content_type=st.sampled_from(
        ["text/xml", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain", ""]
    ),
    field=st.sampled_from(["cxml-urlencoded", "cxml-base64", "other"]),
    payload=st.binary(max_size=500),
)
def test_cxml_endpoint_answers_any_body(catalog, client, content_type, field, payload):
    if content_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        value = base64.b64encode(payload).decode() if field == "cxml-base64" else payload.decode("latin-1")
        if content_type == "multipart/form-data":
            response = client.post(CXML_URL, {field: value})
        else:
            response = client.post(CXML_URL, urlencode({field: value}), content_type=content_type)
    else:
        response = client.post(CXML_URL, data=payload, content_type=content_type)

    assert _status(response) != "500"


oci_value = st.one_of(st.sampled_from([*NASTY_VALUES, "\x00", "a\x00b"]), st.text(max_size=40))


@given(
    method=st.sampled_from(["get", "post"]),
    function=st.sampled_from(OCI_FUNCTIONS),
    extra=st.dictionaries(st.sampled_from(OCI_PARAMETERS), oci_value, max_size=6),
    valid_login=st.booleans(),
)
def test_oci_entry_answers_any_parameters(catalog, client, method, function, extra, valid_login):
    params = {"HOOK_URL": "http://127.0.0.1:9/return", "FUNCTION": function, "PRODUCTID": "5555"}
    params.update(extra)
    if valid_login:
        params.update({"USERNAME": "acme-oci", "PASSWORD": OCI_PASSWORD})

    response = getattr(client, method)(OCI_URL, params)

    assert response.status_code < 500


@given(st.one_of(st.sampled_from(NASTY_VALUES), st.text(max_size=30)))
def test_parse_quantity_returns_or_rejects(text):
    try:
        quantity = parse_quantity(text)
    except PunchOutError as error:
        assert error.message
    else:
        assert quantity.is_finite()
        assert quantity >= 0


@given(st.one_of(st.sampled_from(NASTY_VALUES), st.text(max_size=20)))
def test_oci_charset_always_encodes_a_page(name):
    charset = oci.charset_or_default(name)
    # The return page is encoded in this charset; it must be a text encoding that can write any page.
    encoded = "<p>Stühle €5 \u4e2d</p>".encode(charset, errors="xmlcharrefreplace")
    assert encoded


@pytest.mark.parametrize("hook_url", ["http://[::1", "http://[::1]:99999/x", "http://[not-ip]/", "http://h:port/"])
@pytest.mark.parametrize("function", ["", "VALIDATE", "BACKGROUND_SEARCH"])
def test_oci_malformed_hook_url_is_rejected(catalog, client, hook_url, function):
    # Regression: urlsplit raised ValueError for a malformed IPv6 host, which became a 500.
    params = {"USERNAME": "acme-oci", "PASSWORD": OCI_PASSWORD, "HOOK_URL": hook_url, "FUNCTION": function}
    params.update({"PRODUCTID": "5555", "SEARCHSTRING": "chair"})

    response = client.post(OCI_URL, params)

    assert response.status_code == 400
    assert b"HOOK_URL" in response.content


def test_cxml_malformed_browser_form_post_url_is_rejected(catalog, client):
    # Regression: the same ValueError in a PunchOutSetupRequest's BrowserFormPost URL became Status 500.
    root = seed_document("setup", catalog.connection, CONNECTION_SECRET)
    root.find("Request/PunchOutSetupRequest/BrowserFormPost/URL").text = "http://[::1"

    response = client.post(CXML_URL, data=mutate(root, []), content_type="text/xml")

    assert _status(response) == "400"


@pytest.mark.parametrize("charset", ["idna", "rot13", "base64", "zlib", "punycode"])
def test_oci_return_page_ignores_unusable_charset(catalog, client, charset):
    # Regression: these codec names passed codecs.lookup but cannot encode a page, which became a 500.
    params = {"USERNAME": "acme-oci", "PASSWORD": OCI_PASSWORD, "HOOK_URL": "http://127.0.0.1:9/return"}
    params.update({"FUNCTION": "BACKGROUND_SEARCH", "SEARCHSTRING": "chair", "http_content_charset": charset})

    response = client.post(OCI_URL, params)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("field", ["USERNAME", "PASSWORD", "PRODUCTID", "SEARCHSTRING", "HOOK_URL"])
def test_oci_nul_character_is_answered(catalog, client, field):
    # PostgreSQL cannot store or compare text with NUL; such a value must get an error page, not a 500.
    params = {"USERNAME": "acme-oci", "PASSWORD": OCI_PASSWORD, "HOOK_URL": "http://127.0.0.1:9/return"}
    params.update({"FUNCTION": "BACKGROUND_SEARCH", "SEARCHSTRING": "chair", "PRODUCTID": "5555"})
    params[field] = params[field] + "\x00"

    response = client.post(OCI_URL, urlencode(params), content_type="application/x-www-form-urlencoded")

    # Regression: USERNAME and SEARCHSTRING with NUL raised DataError on PostgreSQL, a 500.
    assert response.status_code == 400
    assert b"NUL character" in response.content


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/punchout/session/x/search/", {"q": "chair\x00"}),
        ("/api/v1/products/", {"search": "\x00"}),
        ("/admin/login/", {"next": "/admin/\x00"}),
    ],
)
def test_nul_character_in_query_string_is_rejected(client, db, path, params):
    response = client.get(path, params)

    assert response.status_code == 400
    assert b"NUL character" in response.content


def test_oci_multipart_nul_parameter_is_rejected(catalog, client):
    # The test client posts a dict as multipart/form-data, which the project's NUL middleware leaves to the view.
    response = client.post(OCI_URL, {"USERNAME": "acme\x00", "PASSWORD": OCI_PASSWORD})

    assert response.status_code == 400
    assert b"contains a NUL character" in response.content


@pytest.mark.parametrize(
    "path",
    ["/admin/catalog/product/%00/change/", "/punchout/session/a%00b/", "/api/v1/products/A%00/", "/healthz%00"],
)
def test_nul_character_in_url_path_is_rejected(client, db, path):
    # Regression: a NUL in a URL argument reached PostgreSQL as a lookup value and raised DataError, a 500.
    response = client.get(path)

    assert response.status_code == 400
    assert b"The URL path contains a NUL character" in response.content


@pytest.mark.postgres
@pytest.mark.parametrize("field", ["encoding", "delimiter", "kind"])
def test_multipart_admin_form_nul_field_is_rejected(client, db, field):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.catalog.models import ImportJob
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="nul-admin", is_superuser=True))
    data = {"kind": "catalog", "encoding": "utf-8", "delimiter": ",", "dry_run": "on"}
    data[field] = data[field] + "\x00"
    data["file"] = SimpleUploadedFile("prices.csv", b"sku,name\nA,B\n", content_type="text/csv")

    # The test client posts a dict with a file as multipart/form-data.
    response = client.post("/admin/catalog/importjob/upload/", data)

    assert response.status_code == 400
    assert f"The form field '{field}' contains a NUL character".encode() in response.content
    assert not ImportJob.objects.exists()
