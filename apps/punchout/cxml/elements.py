"""Text, address and time readers for inbound cXML elements, shared by the setup request and OrderRequest readers."""

from datetime import UTC, datetime

from lxml import etree


def element_text(element: etree._Element | None) -> str:
    """Return the text content of an element and its descendants, without comments or processing instructions."""
    if element is None:
        return ""
    parts = [element.text or ""]
    for child in element:
        if isinstance(child.tag, str):
            parts.append(element_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def element_texts(parent: etree._Element | None, tag: str) -> list[str]:
    """Return the stripped, non-empty texts of the parent's ``tag`` children, in document order."""
    if parent is None:
        return []
    return [value for value in (element_text(child).strip() for child in parent.findall(tag)) if value]


def child_text(parent: etree._Element | None, tag: str) -> str:
    """Return the stripped text of the parent's first ``tag`` child, or "" when either is missing."""
    return element_text(parent.find(tag)).strip() if parent is not None else ""


def description_text(element: etree._Element | None) -> str:
    """Return a Description's own text, or its ShortName when it has no other text."""
    if element is None:
        return ""
    own = "".join([element.text or ""] + [child.tail or "" for child in element]).strip()
    if own:
        return own
    return element_text(element.find("ShortName")).strip()


def address_fields(address: etree._Element) -> dict:
    """Read a cXML Address into a dict of its id, name, postal lines, country and email, with "" for what is missing."""
    postal = address.find("PostalAddress")
    country = postal.find("Country") if postal is not None else None
    country_code = (country.get("isoCountryCode") if country is not None else None) or address.get("isoCountryCode")
    return {
        "address_id": (address.get("addressID") or "").strip(),
        "name": element_text(address.find("Name")).strip(),
        "deliver_to": element_texts(postal, "DeliverTo"),
        "street_lines": element_texts(postal, "Street"),
        "city": child_text(postal, "City"),
        "state": child_text(postal, "State"),
        "postal_code": child_text(postal, "PostalCode"),
        "country_code": (country_code or "").strip().upper(),
        "country_name": element_text(country).strip(),
        "email": element_text(address.find("Email")).strip(),
    }


def parse_timestamp(raw: str | None) -> datetime | None:
    """Parse an ISO 8601 timestamp. One without an offset is taken as UTC; an unreadable one gives None."""
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
