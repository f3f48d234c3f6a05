"""Hypothesis strategies and document mutations shared by the hostile-input tests and the fuzz harnesses."""

from hypothesis import strategies as st
from lxml import etree

from apps.core.xml import parse_xml
from apps.punchout.models import BuyerConnection
from tests.standards import SAMPLES

# Values that broke or nearly broke parsers of numbers, dates, URLs and text in real systems.
NASTY_VALUES = [
    "",
    " ",
    "0",
    "-0",
    "-1",
    "1e999999",
    "1E-999999",
    "9" * 60,
    "0." + "0" * 40 + "1",
    "NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "1,5",
    "1.2.3",
    "١٢٣",
    "0x10",
    "2026-02-30",
    "2026-13-01T25:61:61Z",
    "0000-00-00",
    "9999-12-31T23:59:59+14:00",
    "javascript:alert(1)",
    "http://",
    "http://[::1",
    "https://user:pass@evil.example/",
    "https://127.0.0.1:99999/",
    "<script>alert(1)</script>",
    "'; DROP TABLE orders; --",
    "%00",
    "A" * 5000,
    "\u202e\u200b\ufeff",
    "rot13",
    "idna",
    "base64",
    "utf-16",
]

# Text that lxml accepts as element text or attribute values: no control characters or surrogates.
xml_text = st.one_of(
    st.sampled_from(NASTY_VALUES),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40),
)

CXML_TAGS = [
    "cXML", "Header", "From", "To", "Sender", "Credential", "Identity", "SharedSecret", "UserAgent",
    "Request", "Response", "Status", "PunchOutSetupRequest", "OrderRequest", "OrderRequestHeader",
    "StatusUpdateRequest", "ProfileRequest", "BuyerCookie", "BrowserFormPost", "URL", "SelectedItem",
    "ItemOut", "ItemID", "SupplierPartID", "SupplierPartAuxiliaryID", "ItemDetail", "UnitPrice", "Money",
    "Description", "UnitOfMeasure", "ShipTo", "Address", "Name", "Total", "Extrinsic", "Contact",
    "DocumentReference", "OrderReference", "Comments", "Tax", "Shipping",
]  # fmt: skip
CXML_ATTRIBUTES = [
    "payloadID", "timestamp", "version", "deploymentMode", "operation", "orderID", "orderDate", "type",
    "quantity", "lineNumber", "currency", "domain", "name", "code", "text", "requestedDeliveryDate", "xml:lang",
]  # fmt: skip

SEED_SAMPLES = {
    "setup": "cxml-posr-create-shipto-selecteditem-itemout.xml",
    "order": "cxml-orderrequest-new-2items.xml",
    "order-coupa": "cxml-orderrequest-new-coupa-2020.xml",
    "status": "cxml-statusupdaterequest.xml",
    "profile": "cxml-profilerequest.xml",
}


def seed_document(name: str, connection: BuyerConnection, secret: str) -> etree._Element:
    """Return a sample document's root with the connection's From, To and Sender credentials and ``secret``."""
    root = parse_xml((SAMPLES / SEED_SAMPLES[name]).read_bytes())
    for path, domain, identity in [
        ("Header/From/Credential", connection.from_domain, connection.from_identity),
        ("Header/To/Credential", connection.to_domain, connection.to_identity),
        ("Header/Sender/Credential", connection.sender_domain, connection.sender_identity),
    ]:
        credential = root.find(path)
        credential.set("domain", domain)
        credential.find("Identity").text = identity
    sender = root.find("Header/Sender/Credential")
    shared_secret = sender.find("SharedSecret")
    if shared_secret is None:
        shared_secret = etree.SubElement(sender, "SharedSecret")
    shared_secret.text = secret
    return root


# One change to a document: (kind, element index, name, value). The index picks an element of the
# document in document order, modulo its size; the name picks an attribute or a new child's tag.
mutation = st.tuples(
    st.sampled_from(["text", "attribute", "drop", "duplicate", "child", "clear"]),
    st.integers(min_value=0, max_value=10_000),
    st.one_of(st.sampled_from(CXML_ATTRIBUTES), st.sampled_from(CXML_TAGS)),
    xml_text,
)


def mutate(root: etree._Element, mutations) -> bytes:
    """Apply the mutations to a copy of ``root`` and return the serialised document with its DOCTYPE."""
    doctype = root.getroottree().docinfo.doctype
    root = etree.fromstring(etree.tostring(root))
    for kind, index, name, value in mutations:
        elements = list(root.iter(etree.Element))
        element = elements[index % len(elements)]
        parent = element.getparent()
        if kind == "text":
            element.text = value
        elif kind == "attribute":
            element.set(name.replace("xml:", "{http://www.w3.org/XML/1998/namespace}"), value)
        elif kind == "drop" and parent is not None:
            parent.remove(element)
        elif kind == "duplicate" and parent is not None:
            element.addnext(etree.fromstring(etree.tostring(element)))
        elif kind == "child":
            child = etree.SubElement(element, name if ":" not in name else "Extrinsic")
            child.text = value
        elif kind == "clear":
            element.clear()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", doctype=doctype)
