"""Play the supplier's ERP against a running server: from a PunchOut order to its payment, over the partner API.

Start the server with ``make run`` (demo data, SQLite, tasks run in the web
process), then run this script in a second terminal from the repository
root, with the same environment so that it reaches the same database:

    DJANGO_DEBUG=1 .venv/bin/python -m bench.erp_play --base-url http://127.0.0.1:8000

With ``demo-erp-key`` the script subscribes a receiver on 127.0.0.1 to
``order.confirmed``. It shops a PunchOut cart as the demo cXML buyer and
sends the OrderRequest. It then checks the signed webhook, finds the order
in the pull feed, and acknowledges it. It reports a shipment, an invoice
and a payment, each sent twice to show that a replay changes nothing.
The buyer's test endpoint on 127.0.0.1 must receive the ship notice, the
invoice and the payment's status update, each valid against its cXML DTD.
Before the PunchOut step, the CRM push ``/api/v1/contracts/updates/`` lowers
ACME's contract price of NB-0001. The script reads the new price in an open
PunchOut session, and then orders that product.

The script points the demo connection's order documents at its buyer
endpoint through the database while it runs, and puts them back afterwards.
"""

import argparse
import datetime as dt
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

DEMO_ERP_KEY = "demo-erp-key"
DEMO_ACCOUNT = "ACME-001"
# A product of ACME's demo contract with a contract price, which the contract change lowers.
CONTRACT_SKU = "NB-0001"
TIMEOUT_SECONDS = 30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the running server's URL")
    parser.add_argument("--po-number", default=f"ERP-PLAY-{dt.datetime.now():%Y%m%d%H%M%S}", help="PO number")
    options = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from tests.api.receiver import WebhookReceiver
    from tests.orders.buyer_server import BuyerServer
    from tests.orders.round_trip import demo_documents_sent_to

    with BuyerServer() as buyer, WebhookReceiver() as erp_receiver, demo_documents_sent_to(buyer.url):
        _play(options.base_url, options.po_number, buyer, erp_receiver)


def _play(base_url: str, po_number: str, buyer, erp_receiver) -> None:
    from apps.core.xml import parse_xml
    from apps.punchout.cxml.validation import validate_document
    from tests.api.test_webhooks import verify_signature
    from tests.orders.round_trip import place_punchout_order

    api = _Api(base_url, DEMO_ERP_KEY)
    _contract_change(api, base_url, CONTRACT_SKU)

    status, subscription = api.call("POST", "/webhooks/", {"url": erp_receiver.url, "events": ["order.confirmed"]})
    _expect(status, 201, "subscribe to order.confirmed", subscription)
    try:
        trip = place_punchout_order(base_url=base_url, return_url=buyer.url, po_number=po_number, sku=CONTRACT_SKU)
        print(f"OrderRequest {po_number}: {trip.intake_status}")

        headers, body = erp_receiver.received[-1]
        event = json.loads(body)
        if not verify_signature(subscription["secret"], headers["X-Signature"], body):
            raise SystemExit("The order.confirmed webhook's X-Signature does not match its body.")
        order = event["data"]["order"]
        print(f"ERP received {event['type']} for {order['number']} (PO {order['po_number']}), signature valid")

        status, feed = api.call("GET", "/orders/?status=confirmed&erp_acknowledged=false")
        _expect(status, 200, "read the pull feed", feed)
        if order["number"] not in [row["number"] for row in feed["results"]]:
            raise SystemExit(f"Order {order['number']} is missing from the pull feed of unacknowledged orders.")
        print(f"pull feed lists {order['number']} among {len(feed['results'])} unacknowledged orders")

        lines = [{"line_number": line["line_number"], "quantity": line["quantity"]} for line in order["lines"]]
        number = order["number"]
        messages = [
            (f"/orders/{number}/erp-ack/", {"erp_reference": f"ERP-{po_number}", "total": order["total"]}),
            (
                f"/orders/{number}/shipments/",
                {
                    "shipment_id": f"SHP-{po_number}",
                    "lines": lines,
                    "carrier": "DHL",
                    "carrier_scac": "DHLC",
                    "tracking_number": "JD014600006281",
                },
            ),
            (
                f"/orders/{number}/invoices/",
                {
                    "invoice_number": f"INV-{po_number}",
                    "lines": lines,
                    "tax": order["tax_total"],
                    "total": order["total"],
                    "due_date": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
                },
            ),
            (f"/invoices/INV-{po_number}/payments/", {"payment_id": f"PAY-{po_number}", "amount": order["total"]}),
        ]
        for path, message in messages:
            first_status, first = api.call("POST", path, message)
            _expect(first_status, 201, f"POST {path}", first)
            replay_status, replay = api.call("POST", path, message)
            _expect(replay_status, 201, f"POST {path} again", replay)
            if replay != first or not api.replayed:
                raise SystemExit(f"The replay of POST {path} did not return the first result as a replay.")
            print(f"POST {path}: order {first.get('status') or first['orders'][0]['status']}; replay changed nothing")
    finally:
        api.call("DELETE", f"/webhooks/{subscription['id']}/")

    buyer.wait_for(4, timeout=TIMEOUT_SECONDS)
    names = buyer.payload_names()
    for body in buyer.received:
        validate_document(body)
    print(f"buyer endpoint received {', '.join(names)}; each valid against its cXML DTD")
    expected = ["ConfirmationRequest", "ShipNoticeRequest", "InvoiceDetailRequest", "StatusUpdateRequest"]
    if names != expected:
        raise SystemExit(f"The buyer received {names}, expected {expected}.")
    notice = parse_xml(buyer.received[1])
    print(f"ship notice tracking number {notice.findtext('.//ShipmentIdentifier')}")


def _contract_change(api: "_Api", base_url: str, sku: str) -> None:
    """Lower ACME's contract price of ``sku`` by a tenth through the CRM push, and read it in a PunchOut session."""
    from apps.contracts.models import ContractPrice
    from tests.orders.round_trip import _get, _open_session

    price = (
        ContractPrice.objects.filter(
            contract__customer__account_number=DEMO_ACCOUNT, product__sku=sku, price__isnull=False
        )
        .select_related("contract")
        .order_by("min_quantity")
        .first()
    )
    if price is None:
        print(f"contract change skipped: ACME's contract has no price of its own for {sku}")
        return
    session_url = _open_session(base_url, return_url="http://127.0.0.1:9/return")
    before = _get(f"{session_url}search/?q={urllib.parse.quote(sku)}").decode()
    new_price = (price.price * Decimal("0.9")).quantize(Decimal("0.01"))
    row = {
        "contract": price.contract.number,
        "sku": sku,
        "min_quantity": format(price.min_quantity, "f"),
        "price": format(new_price, "f"),
        "valid_from": price.valid_from.isoformat() if price.valid_from else "",
        "valid_to": price.valid_to.isoformat() if price.valid_to else "",
        "updated_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    status, answer = api.call("POST", "/contracts/updates/", {"prices": [row]})
    _expect(status, 200, "push the contract price change", answer)
    print(f"contract {price.contract.number}: {sku} from {price.price} to {new_price} through the CRM push")
    after = _get(f"{session_url}search/?q={urllib.parse.quote(sku)}").decode()
    shown = format(new_price, "f") in after and format(new_price, "f") not in before
    print(f"PunchOut session shows the new price {new_price}: {'yes' if shown else 'NO'}")
    if not shown:
        raise SystemExit(f"The PunchOut session does not show the new price {new_price} of {sku}.")


def _expect(status: int, expected: int, what: str, answer) -> None:
    if status != expected:
        raise SystemExit(f"{what} failed: HTTP {status} {answer}")


class _Api:
    """A client of the partner API with one key; ``replayed`` is whether the last response was a replay."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base = urllib.parse.urljoin(base_url, "/api/v1")
        self.key = key
        self.replayed = False

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(  # noqa: S310 - the base URL is the local server the user named
            self.base + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - as above
                self.replayed = response.headers.get("Idempotent-Replayed") == "true"
                text = response.read()
                return response.status, json.loads(text) if text else {}
        except urllib.error.HTTPError as error:
            self.replayed = False
            text = error.read()
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, {"detail": text[:300].decode("utf-8", "replace")}


if __name__ == "__main__":
    main()
