"""Locust users of the load test: buyers doing PunchOut round trips and orders, and partners reading the API.

Run through ``python -m bench.load.run``, which starts the stack, sets
DJANGO_SETTINGS_MODULE (the cXML helpers read the XML size limit) and writes
each accepted order's PO number to LOAD_ORDERS_FILE for the lost-order check.
"""

import html
import os
import random
import re
import threading
import uuid
from urllib.parse import urlsplit

import django
from locust import HttpUser, between, task

django.setup()

from tests.integrations.documents import order_request_from_cart, setup_request  # noqa: E402

PARTNER_KEY = "demo-partner-key-acme"
# Share of returned carts that the buyer's system turns into an OrderRequest.
ORDER_SHARE = 0.5
SEARCH_TERMS = ["chair", "desk", "lamp", "cable", "a", "e", "bolt", "paper"]
_orders_lock = threading.Lock()
_SKU = re.compile(rb'<tr data-sku="([^"]+)"')
_CART_FIELD = re.compile(rb'name="cxml-urlencoded" value="([^"]*)"')


class Buyer(HttpUser):
    """A procurement system and its user: setup, shop pages, cart, cart return and, for half the carts, the order."""

    weight = 3
    wait_time = between(0.5, 2)

    @task
    def punchout_round_trip(self) -> None:
        setup = self.client.post(
            "/punchout/cxml/",
            data=setup_request(payload_id=f"load-{uuid.uuid4().hex}@buyer.test"),
            headers={"Content-Type": "text/xml"},
            name="cXML PunchOutSetupRequest",
        )
        if b'<Status code="200"' not in setup.content:
            setup.failure("setup not accepted")
            return
        start = urlsplit(re.search(rb"<URL>([^<]+)</URL>", setup.content).group(1).decode()).path
        catalog = self.client.get(start, name="shop start page (redirect + catalog)")
        session = re.search(r"/punchout/session/[^/]+/", catalog.url)
        if session is None:
            catalog.failure("no session page")
            return
        base = session.group(0)
        self.client.get(base + "search/", params={"q": random.choice(SEARCH_TERMS)}, name="shop search")
        skus = _SKU.findall(catalog.content)
        if not skus:
            return
        sku = random.choice(skus).decode()
        self.client.get(f"{base}product/{sku}/", name="shop product page")
        self.client.post(base + "cart/", data={"sku": sku, "quantity": "2"}, name="shop cart add")
        returned = self.client.post(base + "return/", name="shop cart return")
        field = _CART_FIELD.search(returned.content)
        if field is None:
            returned.failure("no cart document in the return page")
            return
        if random.random() < ORDER_SHARE:
            self._order(html.unescape(field.group(1).decode()).encode())

    def _order(self, cart: bytes) -> None:
        po_number = f"PO-LOAD-{uuid.uuid4().hex[:10].upper()}"
        document = order_request_from_cart(cart, po_number=po_number, payload_id=f"{po_number}@buyer.test")
        with self.client.post(
            "/punchout/cxml/",
            data=document,
            headers={"Content-Type": "text/xml"},
            name="cXML OrderRequest",
            catch_response=True,
        ) as answer:
            if b'<Status code="200"' in answer.content:
                with _orders_lock, open(os.environ["LOAD_ORDERS_FILE"], "a") as orders:
                    orders.write(po_number + "\n")
                answer.success()
            else:
                answer.failure(f"OrderRequest not accepted: {answer.content[:300]!r}")


class Partner(HttpUser):
    """A partner's system reading products, prices and its orders with its API key."""

    weight = 1
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {PARTNER_KEY}"

    @task(3)
    def products(self) -> None:
        self.client.get("/api/v1/products/", params={"search": random.choice(SEARCH_TERMS)}, name="API products")

    @task(1)
    def orders(self) -> None:
        self.client.get("/api/v1/orders/", name="API orders")
