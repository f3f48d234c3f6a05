"""The permission matrix: every admin page and action, PunchOut URL and API endpoint, for every role.

The pages come from the URL resolver, so a view added later is in the matrix
without editing this file; a URL argument the matrix cannot fill, or an API
view that reads data without a partner-scoped queryset, fails the test until
someone decides what it needs. The expectations do not come from the code
under test: admin pages follow the role's Django permissions (granted by the
groups data migration), with a page that even the superuser cannot open
counting as closed to everyone.
"""

import datetime as dt
import inspect
import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from apps.api import selectors as api_selectors
from apps.api import webhooks
from apps.api.keys import api_key_create
from apps.api.models import ApiKey, Partner, Scope
from apps.api.tenancy import customer_for
from apps.api.views.base import PartnerView
from apps.catalog.models import ImportJob
from apps.contracts.models import Customer
from apps.contracts.selectors import active_contract_for, today_utc
from apps.core.demo import seed_demo_data
from apps.orders.models import Invoice, Order
from apps.punchout.models import BuyerConnection, CartLine
from tests.factories import BuyerConnectionFactory
from tests.punchout.support import CXML_URL, session_path, setup_document, start_page_path

pytestmark = pytest.mark.django_db

STAFF_ROLES = ["sales", "sales-manager", "finance", "admin"]
ROLES = ["anonymous", *STAFF_ROLES]
DEMO_ACME_KEY = "demo-partner-key-acme"
DEMO_ERP_KEY = "demo-erp-key"
DENIED = {302, 403, 404}
RETURN_URL = "http://127.0.0.1:9/return"
# Admin URL names that are not pages of a model: the matrix checks them for anonymous users only.
SITE_PAGES = {"index", "login", "logout", "password_change", "password_change_done", "autocomplete", "jsi18n"}


@dataclass(frozen=True)
class Route:
    namespace: str
    name: str | None
    route: str
    callback: object


def _routes(patterns=None, prefix: str = "", namespace: str = "") -> list[Route]:
    routes = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace or namespace
            routes += _routes(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            routes.append(Route(namespace, pattern.name, prefix + str(pattern.pattern), pattern.callback))
    return routes


def _arguments(route: str) -> list[str]:
    return [first or second for first, second in re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", route)]


def _fill(route: str, values: dict[str, str]) -> str | None:
    """Return the route with its arguments replaced, or None when one has no value.

    simple-history's record pages are regular expressions with two unnamed groups: the object's id
    and the history record's id, taken from ``values`` as "object_id" and "history_id".
    """
    path = route
    for argument in _arguments(route):
        if argument not in values:
            return None
        path = re.sub(r"<(?:\w+:)?" + argument + ">", str(values[argument]), path)
    if "([^/]+)" in path:
        if "history_id" not in values:
            return None
        path = path.replace("^([^/]+)", str(values["object_id"]), 1).replace("([^/]+)/$", f"{values['history_id']}/")
        path = path.replace("^", "").replace("$", "")
    return "/" + path


@pytest.fixture
def demo(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PUNCHOUT_LOGIN_MAX_FAILURES = 1_000_000
    seed_demo_data()
    return {user.username: user for user in get_user_model().objects.filter(username__in=STAFF_ROLES)}


def _client(role: str, users) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(users[role])
    return client


# Admin pages ---------------------------------------------------------------------------------


def _model_of(route: str):
    match = re.match(r"admin/(\w+)/(\w+)/", route)
    if not match:
        return None
    try:
        return apps.get_model(match.group(1), match.group(2))
    except LookupError:
        return None


def _page_kind(route: Route) -> str:
    for kind in ("changelist", "add", "delete", "history", "change"):
        if route.name and route.name.endswith("_" + kind):
            return kind
    return "custom"


# The permission a role needs to open each standard admin page of a model.
PAGE_PERMISSIONS = {
    "changelist": ("view", "change"),
    "change": ("view", "change"),
    "history": ("view", "change"),
    "add": ("add",),
    "delete": ("delete",),
}


def _has_model_permission(user, model, actions) -> bool:
    return any(user.has_perm(f"{model._meta.app_label}.{action}_{model._meta.model_name}") for action in actions)


def _admin_values(model) -> dict[str, str]:
    first = model._default_manager.order_by("pk").first() if model is not None else None
    values = {}
    if first is not None:
        values.update({"object_id": first.pk, "pk": first.pk, "older_id": first.pk, "newer_id": first.pk})
        history = getattr(first, "history", None)
        record = history.order_by("pk").first() if history is not None else None
        if record is not None:
            values["history_id"] = record.pk
    job = ImportJob.objects.order_by("pk").first()
    if job is not None:
        values["job_id"] = job.pk
    return values


def test_admin_pages_follow_role_permissions(demo):
    clients = {role: _client(role, demo) for role in ROLES}
    mismatches, checked, untested = [], 0, []

    for route in _routes():
        if route.namespace != "admin" or route.route.endswith("(?P<url>.*)$") or "app_label" in route.route:
            continue
        model = _model_of(route.route)
        if route.name in SITE_PAGES or model is None:
            path = _fill(route.route, {"content_type_id": "1", "object_id": "1"})
            response = clients["anonymous"].get(path)
            if route.name not in {"login", "logout"} and not _redirects_to_login(response):
                mismatches.append(f"anonymous GET {path}: {response.status_code}, expected the login redirect")
            continue
        kind = _page_kind(route)
        if "transition" in route.route or (kind == "custom" and "name" in _arguments(route.route)):
            path = _fill(route.route, {**_admin_values(model), "name": "confirm"})
        else:
            path = _fill(route.route, _admin_values(model))
        if path is None:
            untested.append(route.route)
            continue

        statuses = {role: clients[role].get(path).status_code for role in ROLES}
        checked += 1
        if not _redirects_to_login(clients["anonymous"].get(path)):
            mismatches.append(f"anonymous GET {path}: {statuses['anonymous']}, expected the login redirect")
        open_to_superuser = statuses["admin"] not in DENIED
        for role in STAFF_ROLES[:-1]:
            user = demo[role]
            if kind == "custom":
                # A custom view may ask for more than any one permission; a role with none must be kept out.
                if not _has_model_permission(user, model, ("view", "change", "add", "delete")) and (
                    statuses[role] not in DENIED
                ):
                    mismatches.append(f"{role} GET {path}: {statuses[role]} without any permission on the model")
                continue
            expected_open = open_to_superuser and _has_model_permission(user, model, PAGE_PERMISSIONS[kind])
            if kind in {"change", "history", "delete"} and not _in_role_queryset(model, user, path):
                # Row-level scoping by design, such as the exception queue of another team.
                expected_open = False
            if expected_open != (statuses[role] not in DENIED):
                mismatches.append(
                    f"{role} GET {path}: {statuses[role]}, expected {'open' if expected_open else 'closed'}"
                )

    assert mismatches == [], "\n".join(mismatches)
    # Model pages without an object in the demo data cannot be checked; they must stay few.
    assert checked > 150, (checked, untested)


def _in_role_queryset(model, user, path: str) -> bool:
    request = RequestFactory().get(path)
    request.user = user
    object_id = _admin_values(model).get("object_id")
    return admin.site._registry[model].get_queryset(request).filter(pk=object_id).exists()


def _redirects_to_login(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_admin_actions_need_their_permissions(demo):
    factory = RequestFactory()
    mismatches = []
    for model, model_admin in admin.site._registry.items():
        superuser_request = factory.get("/")
        superuser_request.user = demo["admin"]
        all_actions = model_admin.get_actions(superuser_request)
        first = model._default_manager.order_by("pk").first()
        for role in STAFF_ROLES[:-1]:
            request = factory.get("/")
            request.user = demo[role]
            offered = model_admin.get_actions(request)
            for name, (function, _name, _description) in offered.items():
                for permission in getattr(function, "allowed_permissions", ()):
                    if permission in {"add", "change", "delete", "view"} and not _has_model_permission(
                        demo[role], model, (permission,)
                    ):
                        mismatches.append(f"{role} is offered {model.__name__}.{name} without {permission}")
            if first is None:
                continue
            for name in set(all_actions) - set(offered):
                changelist = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
                history_before = _history_count(first)
                response = _client(role, demo).post(changelist, {"action": name, "_selected_action": [first.pk]})
                first.refresh_from_db() if model._default_manager.filter(pk=first.pk).exists() else None
                if not model._default_manager.filter(pk=first.pk).exists() or _history_count(first) != history_before:
                    mismatches.append(f"{role} ran {model.__name__}.{name} ({response.status_code}) without access")
    assert mismatches == [], "\n".join(mismatches)


def _history_count(instance) -> int:
    history = getattr(instance, "history", None)
    return history.count() if history is not None else 0


# PunchOut ------------------------------------------------------------------------------------


def _punchout_session(client, connection: BuyerConnection, secret: str) -> str:
    response = client.post(
        CXML_URL,
        data=setup_document(connection, secret=secret, selected=False, form_post_url=RETURN_URL),
        content_type="text/xml",
    )
    start = client.get(start_page_path(response))
    assert start.status_code == 303, start.content
    return session_path(start["Location"])


def test_punchout_urls_for_every_role(demo, client):
    acme = BuyerConnection.objects.get(protocol=BuyerConnection.Protocol.CXML, from_identity="AN01000000001")
    globex_customer = Customer.objects.get(account_number="GLOBEX-002")
    globex = BuyerConnectionFactory(
        customer=globex_customer,
        from_identity="AN02000000002",
        allowed_return_hosts="localhost\n127.0.0.1\nprominate-platform.com",
    )
    acme_session = _punchout_session(client, acme, "demo-shared-secret")
    globex_session = _punchout_session(client, globex, "test-shared-secret")
    acme_token = acme_session.rstrip("/").rsplit("/", 1)[1]
    globex_token = globex_session.rstrip("/").rsplit("/", 1)[1]

    from apps.punchout import selectors
    from apps.punchout.models import PunchOutSession

    acme_skus = set(
        selectors.shop_products(session=PunchOutSession.objects.get(connection=acme)).values_list("sku", flat=True)
    )
    globex_skus = set(
        selectors.shop_products(session=PunchOutSession.objects.get(connection=globex)).values_list("sku", flat=True)
    )
    acme_only = sorted(acme_skus - globex_skus)
    assert acme_only, "the demo contracts must differ in assortment"
    sku = acme_only[0]

    staff = _client("admin", demo)
    mismatches = []
    for route in _routes():
        if route.namespace != "punchout":
            continue
        if "token" in _arguments(route.route):
            bogus = _fill(route.route, {"token": "not-a-session-token", "sku": sku})
            for who, visitor in (("anonymous", Client()), ("superuser", staff)):
                response = (
                    visitor.post(bogus, {"sku": sku, "quantity": "1"})
                    if route.name in {"session_cart", "session_return"}
                    else visitor.get(bogus)
                )
                if response.status_code != 404:
                    mismatches.append(f"{who} {bogus}: {response.status_code}, expected 404")
            # The buyer of another connection, in its own valid session, never reaches the other's products.
            foreign = _fill(route.route, {"token": globex_token, "sku": sku})
            if route.name == "session_product":
                response = client.get(foreign)
                if response.status_code != 303 or "sku=" not in response["Location"]:
                    mismatches.append(f"other buyer GET {foreign}: {response.status_code}, expected 303 to search")
            if route.name == "session_search":
                response = client.get(foreign, {"q": sku})
                # The query is echoed in the search box; a hit would be a link to the product page.
                if f"/product/{sku}/".encode() in response.content:
                    mismatches.append(f"other buyer found {sku} by searching")
            if route.name == "session_cart":
                response = client.post(foreign, {"sku": sku, "quantity": "1"})
                if CartLine.objects.filter(session__connection=globex, product__sku=sku).exists():
                    mismatches.append(f"other buyer added {sku} to its cart ({response.status_code})")
            continue
        if route.name in {"cxml", "cxml_other"}:
            path = _fill(route.route, {"subpath": ""}) or "/punchout/cxml/"
            document = setup_document(acme, secret="wrong-secret", selected=False)
            for who, visitor in (("anonymous", Client()), ("superuser", staff)):
                response = visitor.post(CXML_URL, data=document, content_type="text/xml")
                if b'code="401"' not in response.content:
                    mismatches.append(f"{who} with a wrong secret at {path}: no 401 Status")
            # Another connection's valid secret does not open this connection.
            response = client.post(
                CXML_URL, data=setup_document(acme, secret="test-shared-secret"), content_type="text/xml"
            )
            if b'code="401"' not in response.content:
                mismatches.append("globex's shared secret opened acme's connection")
            continue
        if route.name in {"oci", "oci_no_slash"}:
            for who, visitor in (("anonymous", Client()), ("superuser", staff)):
                response = visitor.post("/" + route.route, {"USERNAME": "acme-oci", "PASSWORD": "wrong"})
                if response.status_code != 401:
                    mismatches.append(f"{who} OCI login with a wrong password: {response.status_code}")
            continue
        mismatches.append(f"PunchOut route {route.route} is not in the matrix; add its expectations")

    # The owner's own session still works, so the denials above are not a broken shop.
    assert client.get(acme_session).status_code == 200
    assert client.get(f"{acme_session}product/{sku}/").status_code == 200
    assert acme_token != globex_token
    assert mismatches == [], "\n".join(mismatches)


# Partner API ---------------------------------------------------------------------------------

# Each API view's source must use one of these to read or write partner data; views that handle only
# the supplier's own master data through erp:write pushes are listed with the reason.
SCOPING_CALLS = (
    "customer_for(",
    "customer_and_contract_for(",
    "scoped_orders(",
    "order_for(",
    "scoped_quotes(",
    "scoped_invoices(",
    "quote_for(",
    "partner_customers(",
    "partner=self.client.partner",
)
UNSCOPED_VIEWS = {
    # ERP pushes change the supplier's catalog and stock, which belong to no customer; erp:write gates them.
    "CatalogPushView": "erp:write push of the supplier's own catalog",
    "StockPushView": "erp:write push of the supplier's own stock",
}
DOCUMENTATION_VIEWS = {"SpectacularAPIView", "SpectacularSwaggerView", "SpectacularSwaggerSplitView"}


def _api_routes() -> list[tuple[Route, type]]:
    routes = []
    for route in _routes():
        if route.namespace != "api":
            continue
        view_class = getattr(route.callback, "view_class", None) or getattr(route.callback, "cls", None)
        routes.append((route, view_class))
    return routes


def _view_problems(route: str, view_class) -> list[str]:
    name = getattr(view_class, "__name__", repr(view_class))
    if view_class is None or not issubclass(view_class, PartnerView):
        return [f"{route}: {name} is not a PartnerView, so it skips key authentication"]
    problems = []
    methods = [method.upper() for method in ("get", "post", "put", "patch", "delete") if hasattr(view_class, method)]
    missing = [method for method in methods if method not in view_class.required_scopes]
    if missing:
        problems.append(f"{route}: {name} names no scope for {', '.join(missing)}")
    source = "".join(
        inspect.getsource(klass)
        for klass in view_class.__mro__
        if klass.__module__.startswith(("apps.api.views", __name__))
    )
    if name not in UNSCOPED_VIEWS and not any(call in source for call in SCOPING_CALLS):
        problems.append(
            f"{route}: {name} reads or writes without apps.api.tenancy; scope its queryset to the "
            "key's customers, or list it in UNSCOPED_VIEWS with the reason"
        )
    return problems


def test_api_views_use_partner_scoped_querysets():
    problems = []
    for route, view_class in _api_routes():
        if getattr(view_class, "__name__", "") not in DOCUMENTATION_VIEWS:
            problems += _view_problems(route.route, view_class)
    assert problems == [], "\n".join(problems)


class _UnscopedOrdersView(PartnerView):
    required_scopes = {"GET": "orders:read"}

    def get(self, request):
        return Order.objects.all()


class _ScopeLessView(PartnerView):
    def post(self, request):
        return customer_for(self.client, None)


def test_scoping_check_catches_unscoped_views():
    # The guard above must fail for the views it exists to stop.
    assert _view_problems("v1/x/", _UnscopedOrdersView) == [
        "v1/x/: _UnscopedOrdersView reads or writes without apps.api.tenancy; scope its queryset to the key's "
        "customers, or list it in UNSCOPED_VIEWS with the reason"
    ]
    assert _view_problems("v1/y/", _ScopeLessView) == ["v1/y/: _ScopeLessView names no scope for POST"]
    assert _view_problems("v1/z/", Client) == ["v1/z/: Client is not a PartnerView, so it skips key authentication"]


def _api(key: str | None = None, session: Client | None = None) -> APIClient:
    api = APIClient()
    if session is not None:
        api.cookies = session.cookies
    if key:
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api


def _api_call(api: APIClient, method: str, path: str, *, body: dict, query: dict):
    if method == "GET":
        return api.get(path, query)
    return getattr(api, method.lower())(path, body, format="json")


def test_api_endpoints_for_every_role(demo):
    acme_partner = Partner.objects.get(customers__account_number="ACME-001")
    acme_order = Order.objects.filter(customer__account_number="ACME-001").order_by("pk").first()
    assert acme_order is not None
    subscription, _secret = webhooks.webhook_subscribe(
        partner=acme_partner,
        url="https://hooks.example.com/acme",
        events=["order.confirmed"],
        description="",
        api_key=ApiKey.objects.filter(partner=acme_partner).first(),
    )
    _key, unscoped_key = api_key_create(partner=acme_partner, name="no scopes", scopes=[])
    # The demo partner keys lack the ERP and CRM scopes. A Globex key with every scope shows that
    # tenancy, not a missing scope, keeps ACME's objects from another partner.
    globex_partner = Partner.objects.get(customers__account_number="GLOBEX-002")
    _key, globex_key = api_key_create(partner=globex_partner, name="every scope", scopes=list(Scope.values))
    acme_sku = _acme_only_sku()
    values = {"sku": acme_sku, "number": acme_order.number, "subscription_id": subscription.pk}
    acme_invoice = _acme_invoice(acme_order)
    lines = [{"sku": acme_sku, "quantity": "1"}]
    bodies = {
        "prices": {"customer": "ACME-001", "lines": lines},
        "order-list": {"customer": "ACME-001", "po_number": "MATRIX-1", "lines": lines},
        "quote-list": {"customer": "ACME-001", "lines": lines},
        "webhook-list": {"url": "https://hooks.example.com/x", "events": ["order.confirmed"]},
        "catalog-updates": {"rows": [], "dry_run": True},
        "stock-updates": {"rows": [], "dry_run": True},
        # ERP messages about ACME's order: each would change it, so every response to another partner must be a denial.
        "order-erp-ack": {"erp_reference": "MATRIX-ERP-1"},
        "order-shipments": {"shipment_id": "MATRIX-S-1", "lines": [{"line_number": "1", "quantity": "1"}]},
        "order-invoices": {
            "invoice_number": "MATRIX-I-1",
            "lines": [{"line_number": "1", "quantity": "1"}],
            "tax": "0",
            "total": "1",
            "due_date": "2027-01-31",
        },
        "invoice-payments": {"payment_id": "MATRIX-P-1", "amount": "1"},
        "customer-updates": {"rows": [], "dry_run": True},
        "contract-updates": {"prices": [], "dry_run": True},
    }
    # Endpoints that name no customer object: another customer's partner gets a response about its own data
    # there. The CRM pushes name customers in their rows and reject another customer's row on its own
    # (checked below).
    own_answer = {"catalog-updates", "stock-updates", "webhook-list", "customer-updates", "contract-updates"}

    staff = _client("admin", demo)
    mismatches = []
    for route, view_class in _api_routes():
        if view_class.__name__ in DOCUMENTATION_VIEWS:
            continue
        arguments = {**values, "number": acme_invoice.number} if route.name == "invoice-payments" else values
        path = _fill(route.route, arguments)
        assert path is not None, f"{route.route}: add a value for its URL arguments to the API matrix"
        for method in view_class.required_scopes:
            if not hasattr(view_class, method.lower()) or method == "DELETE":
                # DELETE is checked below, without deleting the owner's subscription.
                continue
            body = bodies.get(route.name, {})
            # List endpoints name the customer; detail endpoints name the object in the path.
            query = {} if _arguments(route.route) else {"customer": "ACME-001"}
            if route.name == "availability":
                query["sku"] = acme_sku
            checks = [
                ("anonymous", _api(), {401}),
                ("staff session", _api(session=staff), {401}),
                ("key without the scope", _api(unscoped_key), {403}),
            ]
            if route.name not in own_answer:
                checks.append(("partner of another customer", _api(globex_key), {404}))
            for who, api, expected in checks:
                response = _api_call(api, method, path, body=body, query=query)
                if response.status_code not in expected:
                    mismatches.append(f"{who} {method} {path}: {response.status_code}, expected {sorted(expected)}")

    other = _api(globex_key)
    if any(item["id"] == subscription.pk for item in other.get("/api/v1/webhooks/").json()["results"]):
        mismatches.append("the partner of another customer lists ACME's webhook subscription")
    if other.delete(f"/api/v1/webhooks/{subscription.pk}/").status_code != 404:
        mismatches.append("the partner of another customer deleted ACME's webhook subscription")
    if acme_order.number in other.get("/api/v1/orders/").content.decode():
        mismatches.append("the partner of another customer lists ACME's orders")
    acme = Customer.objects.get(account_number="ACME-001")
    acme_row = {
        "account": "ACME-001",
        "name": "Taken over",
        "currency": acme.currency,
        "updated_at": (timezone.now() + dt.timedelta(hours=1)).isoformat(),
    }
    pushed = other.post("/api/v1/customers/updates/", {"rows": [acme_row]}, format="json").json()
    if pushed.get("rejected") != 1 or Customer.objects.get(pk=acme.pk).name != acme.name:
        mismatches.append(f"the partner of another customer changed ACME through the CRM push: {pushed}")
    acme_contract = active_contract_for(customer=acme, on_date=today_utc())
    price_row = {"contract": acme_contract.number, "sku": acme_sku, "price": "0.01"}
    pushed = other.post("/api/v1/contracts/updates/", {"prices": [price_row]}, format="json").json()
    if (pushed.get("prices") or {}).get("rejected") != 1:
        mismatches.append(f"the partner of another customer priced ACME's contract through the CRM push: {pushed}")
    # The owner and the ERP key reach the same objects, so the denials above are not a broken API.
    assert _api(DEMO_ACME_KEY).get(f"/api/v1/orders/{acme_order.number}/").status_code == 200
    assert _api(DEMO_ERP_KEY).get(f"/api/v1/orders/{acme_order.number}/").status_code == 200
    assert _api(DEMO_ACME_KEY).get(f"/api/v1/webhooks/{subscription.pk}/").status_code == 200
    # No denied ERP message changed ACME's order or invoice.
    acme_order.refresh_from_db()
    assert acme_order.erp_reference == ""
    assert not acme_order.shipments.filter(shipment_id="MATRIX-S-1").exists()
    assert not acme_invoice.payments.exists()
    assert mismatches == [], "\n".join(mismatches)


def _acme_invoice(order: Order) -> Invoice:
    """Return an invoice of ACME, so that the payments endpoint is checked against an invoice that exists."""
    return Invoice.objects.create(
        number="MATRIX-INV-1",
        customer=order.customer,
        invoice_date=timezone.now(),
        currency=order.currency,
        subtotal=Decimal("10.00"),
        tax=Decimal("0.00"),
        total=Decimal("10.00"),
        due_date=dt.date(2027, 1, 31),
    )


def _acme_only_sku() -> str:
    skus = {}
    for account in ("ACME-001", "GLOBEX-002"):
        customer = Customer.objects.get(account_number=account)
        contract = active_contract_for(customer=customer, on_date=today_utc())
        products = api_selectors.product_queryset(customer=customer, contract=contract)
        skus[account] = set(products.values_list("sku", flat=True))
    only = sorted(skus["ACME-001"] - skus["GLOBEX-002"])
    assert only, "the demo contracts must differ in assortment"
    return only[0]
