"""Reading inbound cXML documents into dataclasses, leniently.

Children are looked up by name, not position, because real buyers break the DTD's element order
(Coupa's setup request does). Unknown elements, comments and empty Extrinsics are ignored. What a
request cannot do without (the Header credentials, payloadID, BuyerCookie, part IDs, quantities)
raises ``CXMLBadRequest`` naming the missing or invalid part. Amounts are ``Decimal``, never float.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from apps.core.errors import DomainError
from apps.punchout.cxml.documents import Credential
from apps.punchout.cxml.elements import address_fields, description_text, element_text, parse_timestamp
from apps.punchout.cxml.validation import CXMLInvalid, validate_document

PUNCHOUT_OPERATIONS = ("create", "edit", "inspect", "source")
DEPLOYMENT_MODES = ("production", "test")
# The maximum lengths that the back office stores: of payloadIDs in the document log and on orders,
# of an email address (RFC 5321 allows 254 characters) and of a selected item's SupplierPartID.
MAX_PAYLOAD_ID_LENGTH = 250
MAX_EMAIL_LENGTH = 254
MAX_SELECTED_PART_LENGTH = 255

# The version directory in a cXML DOCTYPE system URL, e.g. .../schemas/cXML/1.2.050/cXML.dtd.
_DOCTYPE_VERSION = re.compile(r"/(\d+\.\d+\.\d+)/[^/]*\.dtd$", re.IGNORECASE)


class CXMLBadRequest(DomainError):
    """An inbound cXML document that lacks a part the request needs, or carries an invalid value."""

    code = "bad_request"


@dataclass(frozen=True)
class Header:
    """The envelope and Header of an inbound document. ``sender`` is the first Sender credential."""

    from_credentials: tuple[Credential, ...]
    to_credentials: tuple[Credential, ...]
    sender: Credential
    user_agent: str
    payload_id: str
    timestamp: datetime | None
    deployment_mode: str
    version: str


@dataclass(frozen=True)
class ItemOutLine:
    """One ItemOut line of a request: a line of the buyer's existing cart (edit, inspect) or of an order."""

    supplier_part_id: str
    supplier_part_auxiliary_id: str
    quantity: Decimal
    line_number: str | None
    unit_price: Decimal | None
    currency: str | None
    description: str
    unit_of_measure: str


@dataclass(frozen=True)
class PunchOutSetupRequest:
    """A PunchOutSetupRequest with its Header.

    ``ship_to`` has the keys address_id, name, deliver_to (list), street_lines (list), city,
    state, postal_code, country_code, country_name and email; absent parts are empty strings.
    """

    header: Header
    operation: str
    buyer_cookie: str
    browser_form_post_url: str | None
    supplier_setup_url: str | None
    extrinsics: dict[str, str]
    user_email: str | None
    ship_to: dict | None
    selected_item_part_id: str | None
    items_out: tuple[ItemOutLine, ...]


def request_type(root: etree._Element) -> str:
    """Return the tag of the payload inside Request (or Message), e.g. ``PunchOutSetupRequest``.

    Raises ``CXMLBadRequest`` when the root is not ``cXML`` or contains neither Request nor Message.
    """
    _check_root(root)
    for section in ("Request", "Message"):
        container = root.find(section)
        if container is None:
            continue
        for child in container.iterchildren(etree.Element):
            if child.tag != "Status":
                return child.tag
        raise CXMLBadRequest(f"The cXML {section} element is empty; it must contain a request such as OrderRequest.")
    raise CXMLBadRequest("The cXML document has no Request element; send a cXML request such as OrderRequest.")


def inbound_oddities(root: etree._Element) -> list[str]:
    """List the ways an inbound document departs from the cXML DTD, for the log; none of them rejects it.

    Checks the DOCTYPE, the timestamp (ISO 8601 with an offset), empty
    Extrinsics and validity against the bundled DTD (first few errors).
    """
    oddities = []
    if not root.getroottree().docinfo.doctype:
        oddities.append("no DOCTYPE")
    raw_timestamp = root.get("timestamp")
    if not raw_timestamp:
        oddities.append("no timestamp")
    else:
        try:
            parsed = datetime.fromisoformat(raw_timestamp.strip())
        except ValueError:
            oddities.append(f"timestamp {raw_timestamp[:40]!r} is not ISO 8601")
        else:
            if parsed.tzinfo is None:
                oddities.append(f"timestamp {raw_timestamp[:40]!r} has no offset, read as UTC")
    for element in root.iter("Extrinsic"):
        if not element_text(element).strip():
            oddities.append(f"empty Extrinsic {(element.get('name') or '')[:40]!r}")
    try:
        validate_document(root)
    except CXMLInvalid as error:
        oddities.extend(error.errors[:5])
    return oddities


def read_header(root: etree._Element) -> Header:
    """Read the envelope attributes and the Header. Raises ``CXMLBadRequest`` naming what is missing."""
    _check_root(root)
    header = root.find("Header")
    if header is None:
        raise CXMLBadRequest("The cXML document has no Header; it needs From, To and Sender credentials.")

    from_credentials = _credentials(header, "From")
    to_credentials = _credentials(header, "To")
    senders = _credentials(header, "Sender")

    payload_id = (root.get("payloadID") or "").strip()
    if not payload_id:
        raise CXMLBadRequest("The cXML element has no payloadID attribute; every cXML document needs a unique one.")
    _check_length(payload_id, MAX_PAYLOAD_ID_LENGTH, "The payloadID")

    return Header(
        from_credentials=from_credentials,
        to_credentials=to_credentials,
        sender=senders[0],
        user_agent=element_text(header.find("Sender/UserAgent")).strip(),
        payload_id=payload_id,
        timestamp=parse_timestamp(root.get("timestamp")),
        deployment_mode=_deployment_mode(root),
        version=_version(root),
    )


def read_punchout_setup_request(root: etree._Element) -> PunchOutSetupRequest:
    """Read a PunchOutSetupRequest. Raises ``CXMLBadRequest`` when a required part is missing or invalid."""
    header = read_header(root)
    request = root.find("Request/PunchOutSetupRequest")
    if request is None:
        raise CXMLBadRequest(f"The cXML request is {request_type(root)}, not the expected PunchOutSetupRequest.")

    operation = (request.get("operation") or "").strip().lower()
    if operation not in PUNCHOUT_OPERATIONS:
        raise CXMLBadRequest(
            f"PunchOutSetupRequest operation {request.get('operation')!r} is missing or unknown; "
            f"use one of {', '.join(PUNCHOUT_OPERATIONS)}."
        )

    cookie = request.find("BuyerCookie")
    if cookie is None:
        raise CXMLBadRequest("The PunchOutSetupRequest has no BuyerCookie; it is echoed back with the cart.")
    # NOTE: BuyerCookie may hold markup in the DTD; child elements are flattened to their text.
    buyer_cookie = element_text(cookie)

    extrinsics = _extrinsics(request)
    user_email = _user_email(request, extrinsics)
    if user_email:
        _check_length(user_email, MAX_EMAIL_LENGTH, "The user's email address (UserEmail or Contact/Email)")

    selected_part = element_text(request.find("SelectedItem/ItemID/SupplierPartID")).strip()
    _check_length(selected_part, MAX_SELECTED_PART_LENGTH, "SelectedItem's SupplierPartID")

    return PunchOutSetupRequest(
        header=header,
        operation=operation,
        buyer_cookie=buyer_cookie,
        browser_form_post_url=_optional_text(request.find("BrowserFormPost/URL")),
        supplier_setup_url=_optional_text(request.find("SupplierSetup/URL")),
        extrinsics=extrinsics,
        user_email=user_email,
        ship_to=_ship_to(request.find("ShipTo")),
        selected_item_part_id=selected_part or None,
        items_out=tuple(
            _item_out(element, position) for position, element in enumerate(request.findall("ItemOut"), start=1)
        ),
    )


def _check_length(value: str, limit: int, label: str) -> None:
    """Raise CXMLBadRequest when ``value`` is longer than the ``limit`` characters that the back office stores."""
    if len(value) > limit:
        raise CXMLBadRequest(
            f"{label} is {len(value)} characters long, more than the {limit} accepted; "
            f"it starts with {value[:40]!r}. Send a shorter value."
        )


def _check_root(root: etree._Element) -> None:
    if root.tag != "cXML":
        raise CXMLBadRequest(f"The document's root element is <{root.tag}>, not <cXML>.")


def _credentials(header: etree._Element, section: str) -> tuple[Credential, ...]:
    credentials = []
    for position, element in enumerate(header.findall(f"{section}/Credential"), start=1):
        domain = (element.get("domain") or "").strip()
        identity = element_text(element.find("Identity")).strip()
        if not domain or not identity:
            raise CXMLBadRequest(
                f"Header {section} credential {position} lacks a domain attribute or an Identity; both are required."
            )
        secret_element = element.find("SharedSecret")
        shared_secret = element_text(secret_element).strip() if secret_element is not None else None
        credentials.append(Credential(domain=domain, identity=identity, shared_secret=shared_secret))
    if not credentials:
        raise CXMLBadRequest(f"The cXML Header has no {section} credential; Header/{section}/Credential is required.")
    return tuple(credentials)


def _deployment_mode(root: etree._Element) -> str:
    container = root.find("Request")
    if container is None:
        container = root.find("Message")
    raw = container.get("deploymentMode") if container is not None else None
    if raw is None:
        return "production"
    mode = raw.strip().lower()
    if mode not in DEPLOYMENT_MODES:
        raise CXMLBadRequest(f"deploymentMode {raw!r} is unknown; use production or test.")
    return mode


def _version(root: etree._Element) -> str:
    """Return the cXML version from the version attribute, else from the DOCTYPE URL, else ""."""
    declared = (root.get("version") or "").strip()
    if declared:
        return declared
    system_url = root.getroottree().docinfo.system_url or ""
    match = _DOCTYPE_VERSION.search(system_url)
    return match.group(1) if match else ""


def _extrinsics(request: etree._Element) -> dict[str, str]:
    """Return the request's Extrinsics by name, first one winning; empty values are kept as ""."""
    values: dict[str, str] = {}
    for element in request.findall("Extrinsic"):
        name = (element.get("name") or "").strip()
        if name and name not in values:
            values[name] = element_text(element).strip()
    return values


def _user_email(request: etree._Element, extrinsics: dict[str, str]) -> str | None:
    """Return the UserEmail Extrinsic (name matched ignoring case), else the first Contact's Email."""
    for name, value in extrinsics.items():
        if name.casefold() == "useremail" and value:
            return value
    contact_email = element_text(request.find("Contact/Email")).strip()
    return contact_email or None


def _ship_to(element: etree._Element | None) -> dict | None:
    if element is None:
        return None
    address = element.find("Address")
    if address is None:
        return None
    return address_fields(address)


def _item_out(element: etree._Element, position: int) -> ItemOutLine:
    line_number = (element.get("lineNumber") or "").strip() or None
    label = f"ItemOut {position}" + (f" (lineNumber {line_number})" if line_number else "")

    supplier_part_id = element_text(element.find("ItemID/SupplierPartID")).strip()
    if not supplier_part_id:
        raise CXMLBadRequest(f"{label} has no ItemID/SupplierPartID.")
    auxiliary = element.find("ItemID/SupplierPartAuxiliaryID")

    quantity = _decimal(element.get("quantity"), field_name=f"quantity of {label}")
    if quantity is None:
        raise CXMLBadRequest(f"{label} has no quantity attribute.")
    if quantity <= 0:
        raise CXMLBadRequest(f"The quantity of {label} is {quantity}; it must be greater than zero.")

    money = element.find("ItemDetail/UnitPrice/Money")
    unit_price = None
    currency = None
    if money is not None:
        unit_price = _decimal(money.text, field_name=f"unit price of {label}")
        currency = (money.get("currency") or "").strip().upper() or None

    return ItemOutLine(
        supplier_part_id=supplier_part_id,
        # Kept verbatim: it is often a reference this supplier issued and must match byte for byte.
        supplier_part_auxiliary_id=element_text(auxiliary) if auxiliary is not None else "",
        quantity=quantity,
        line_number=line_number,
        unit_price=unit_price,
        currency=currency,
        description=description_text(element.find("ItemDetail/Description")),
        unit_of_measure=element_text(element.find("ItemDetail/UnitOfMeasure")).strip(),
    )


# Powers of ten a cXML quantity or amount may reach: up to 10^17 and down to 10^-18.
_MAX_DECIMAL_EXPONENT = 17
_MIN_DECIMAL_EXPONENT = -18


def _decimal(raw: str | None, *, field_name: str) -> Decimal | None:
    """Parse a cXML number ("8.1", "1505.0", "3") as Decimal; None when absent, CXMLBadRequest when invalid."""
    if raw is None or not raw.strip():
        return None
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise CXMLBadRequest(f"The {field_name} is {raw!r}, which is not a decimal number such as 12.50.") from None
    if not value.is_finite():
        raise CXMLBadRequest(f"The {field_name} is {raw!r}, which is not a finite number.")
    # Quantities and prices fit in 18 digits; "1E999999999" would otherwise
    # expand to a gigabyte of digits wherever it is formatted.
    if value and not _MIN_DECIMAL_EXPONENT <= value.adjusted() <= _MAX_DECIMAL_EXPONENT:
        raise CXMLBadRequest(
            f"The {field_name} is {raw!r}, which is out of range; send a plain decimal number such as 12.50."
        )
    return value


def _optional_text(element: etree._Element | None) -> str | None:
    return element_text(element).strip() or None
