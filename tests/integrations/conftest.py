"""Fixtures of the document log tests: the demo data, a buyer's server for outbound documents, log capture."""

import logging
from io import StringIO

import pytest
from django.core.management import call_command

from apps.core.json_logging import JSONFormatter
from apps.core.log_context import ContextFilter
from apps.orders.models import OutboundEndpoint
from apps.punchout.models import BuyerConnection
from apps.punchout.order_request import connection_source
from tests.orders.buyer_server import BuyerServer


@pytest.fixture(autouse=True)
def _plain_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Webhook subscriptions are the partner API's; these tests follow the buyer documents only.
    settings.ORDER_EVENT_LISTENERS = []


@pytest.fixture
def demo(db):
    """The demo data of seed_demo, with its published connection secrets."""
    call_command("seed_demo", stdout=StringIO())


@pytest.fixture
def demo_connection(demo) -> BuyerConnection:
    return BuyerConnection.objects.get(protocol=BuyerConnection.Protocol.CXML, from_identity="AN01000000001")


@pytest.fixture
def buyer(demo_connection, settings):
    """A buyer's system on 127.0.0.1 that accepts every order document, set as the demo connection's endpoint."""
    source = connection_source(demo_connection)
    # Our own SharedSecret at the buyer goes out in every document; the log must mask it like the buyer's.
    settings.CXML_OUTBOUND_SHARED_SECRETS = {source: "demo-shared-secret"}
    with BuyerServer() as server:
        OutboundEndpoint.objects.update_or_create(source=source, defaults={"url": server.url, "is_active": True})
        yield server


@pytest.fixture
def json_log():
    """Every log line written during the test, as the production JSON formatter with the context filter writes it."""
    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous_level)
