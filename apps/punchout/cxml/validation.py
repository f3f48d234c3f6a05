"""Validation of cXML documents against the bundled cXML 1.2.069 DTDs, chosen by payload element.

The DTD is picked from the document's payload (the first element inside Request, Message or Response
after Status), never from its DOCTYPE: real documents name cXML.dtd for quotes, private DTDs, or
no DTD at all. DTDs load from ``dtd/1.2.069/`` next to this module, once per process.
"""

import threading
from pathlib import Path

from lxml import etree

from apps.core.errors import DomainError
from apps.core.xml import parse_xml

CXML_VERSION = "1.2.069"

DTD_DIRECTORY = Path(__file__).resolve().parent / "dtd" / CXML_VERSION

# Payloads declared outside cXML.dtd. Fulfill.dtd, InvoiceDetail.dtd and Quote.dtd each declare the
# cXML envelope and the common elements as well as their own documents.
PAYLOAD_DTDS = {
    "ConfirmationRequest": "Fulfill.dtd",
    "ShipNoticeRequest": "Fulfill.dtd",
    "InvoiceDetailRequest": "InvoiceDetail.dtd",
    "QuoteRequest": "Quote.dtd",
    "QuoteMessage": "Quote.dtd",
}
DEFAULT_DTD = "cXML.dtd"

# How many DTD errors the exception message lists; ``CXMLInvalid.errors`` keeps all of them.
_MESSAGE_ERROR_COUNT = 5

_cache_lock = threading.Lock()
# DTD file name -> (parsed DTD, lock). lxml validators keep their error log on the DTD object,
# so one thread at a time validates with each DTD.
_dtd_cache: dict[str, tuple[etree.DTD, threading.Lock]] = {}


class CXMLInvalid(DomainError):
    """A cXML document that does not validate against its DTD; ``errors`` lists libxml2's lines."""

    code = "invalid_cxml"

    def __init__(self, message: str, *, errors: tuple[str, ...] = (), dtd_name: str = "") -> None:
        super().__init__(message)
        self.errors = errors
        self.dtd_name = dtd_name


def payload_name(root: etree._Element) -> str | None:
    """Return the tag of the document's payload element (e.g. ``OrderRequest``), or None when it has none."""
    for section in ("Request", "Message", "Response"):
        container = root.find(section)
        if container is None:
            continue
        for child in container.iterchildren(etree.Element):
            if child.tag != "Status":
                return child.tag
        return None
    return None


def dtd_name_for(root: etree._Element) -> str:
    """Return the file name of the DTD that declares the document's payload."""
    return PAYLOAD_DTDS.get(payload_name(root) or "", DEFAULT_DTD)


def validate_document(data: bytes | etree._Element) -> None:
    """Validate a cXML document against the bundled DTD for its payload, or raise ``CXMLInvalid``.

    Bytes are parsed with ``parse_xml`` first, so its size limit and ``XMLRejected`` apply.
    """
    root = parse_xml(data) if isinstance(data, bytes | str) else data
    if root.tag != "cXML":
        raise CXMLInvalid(f"The document's root element is <{root.tag}>, not <cXML>.", errors=(), dtd_name="")

    dtd_name = dtd_name_for(root)
    dtd, lock = _load_dtd(dtd_name)
    with lock:
        valid = dtd.validate(root)
        errors = tuple(f"line {error.line}: {error.message}" for error in dtd.error_log.filter_from_errors())
    if valid:
        return

    listed = "; ".join(errors[:_MESSAGE_ERROR_COUNT])
    more = f" (and {len(errors) - _MESSAGE_ERROR_COUNT} more)" if len(errors) > _MESSAGE_ERROR_COUNT else ""
    raise CXMLInvalid(
        f"The cXML document is not valid against {dtd_name} {CXML_VERSION}: {listed}{more}.",
        errors=errors,
        dtd_name=dtd_name,
    )


def _load_dtd(name: str) -> tuple[etree.DTD, threading.Lock]:
    with _cache_lock:
        cached = _dtd_cache.get(name)
        if cached is None:
            # The bundled DTDs contain no external references, so loading reads only this file.
            cached = (etree.DTD(str(DTD_DIRECTORY / name)), threading.Lock())
            _dtd_cache[name] = cached
        return cached
