"""The project's only XML parser: lxml with entity expansion, external loads and huge documents turned off.

Every inbound XML document (cXML requests, OCI XML, files) goes through ``parse_xml``. It rejects, before
libxml2 reads a byte, bodies over the size limit, encodings the entity check cannot read, and any
``<!ENTITY`` declaration in the internal DTD subset, so billion-laughs and XXE payloads fail in
microseconds. The parser itself is built per call with entity substitution, DTD loading and network
access off, and libxml2's default (non-huge) limits: 256 levels of nesting and 10,000,000 bytes per
text node. A DOCTYPE that names an external DTD, as every real cXML document does, is accepted and
never fetched.
"""

import codecs
import re

from django.conf import settings
from lxml import etree

from apps.core.errors import DomainError

# Options for every parse. ``collect_ids`` stays at lxml's default (True) on purpose. With
# collect_ids=False, lxml 6.2.0 / libxml2 2.14.6 load the external DTD a DOCTYPE names even with
# load_dtd=False: they read local files (file:// URLs and plain paths such as /etc/passwd) and fail
# every document whose DOCTYPE names an http URL with "Attempt to load network entity".
# test_parse_xml_tripwire_rejects_external_load shows it. The cost of True is that a duplicate
# xml:id value is a parse error, and cXML does not use xml:id.
_PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "attribute_defaults": False,
    "huge_tree": False,
    "recover": False,
    "remove_comments": False,
    "remove_pis": False,
    "collect_ids": True,
}

# Encodings in which every ASCII character is the same single byte as in ASCII, so that the byte
# search for "<!ENTITY" finds every declaration. A declared encoding outside this set is rejected.
_ASCII_COMPATIBLE_ENCODINGS = frozenset(
    {"utf-8", "utf8", "us-ascii", "ascii", "latin1", "latin-1", "iso_8859-1", "iso8859-1"}
    | {f"iso-8859-{part}" for part in (1, 2, 3, 4, 5, 9, 10, 13, 14, 15, 16)}
    | {f"windows-{page}" for page in range(1250, 1259)}
    | {f"cp{page}" for page in range(1250, 1259)}
)

_UTF16_UTF32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

_DECLARED_ENCODING = re.compile(rb"<\?xml[^?>]*?\sencoding\s*=\s*[\"']([^\"']*)[\"']")

# The constructs XML allows in the prolog before the root element, after optional whitespace.
_PROLOG_TOKEN = re.compile(rb"[ \t\r\n]*(<\?|<!--|<!DOCTYPE)")

# Tokens that matter while walking a DOCTYPE declaration: quoted literals, comments, processing
# instructions, the brackets of the internal subset, the closing ">" and entity declarations.
_DOCTYPE_TOKEN = re.compile(rb"<!ENTITY|<!--|<\?|[\"'\[\]>]")


class XMLRejected(DomainError):
    """An XML document that ``parse_xml`` refused to parse or could not parse.

    Codes: ``too_large``, ``empty``, ``unsupported_encoding``, ``entity_declaration``,
    ``external_entity``, ``malformed``, ``not_utf8``, ``too_deep``, ``node_too_large``.
    ``line`` and ``column`` are set when libxml2 reported a position.
    """

    code = "xml_rejected"

    def __init__(self, message: str, *, code: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message, code=code)
        self.line = line
        self.column = column


def parse_xml(data: bytes | str, *, max_bytes: int | None = None) -> etree._Element:
    """Parse an XML document with the hardened parser and return its root element.

    ``max_bytes`` defaults to ``settings.XML_MAX_BYTES``, read at call time. A ``str`` is parsed as
    the text it is, whatever encoding its XML declaration names. Raises ``XMLRejected``.
    """
    limit = settings.XML_MAX_BYTES if max_bytes is None else max_bytes
    is_text = isinstance(data, str)
    raw = data.encode("utf-8") if is_text else bytes(data)

    if len(raw) > limit:
        raise XMLRejected(
            f"The XML document has {len(raw)} bytes, more than the limit of {limit} bytes; send a smaller document.",
            code="too_large",
        )

    body = _check_encoding(raw, is_text=is_text)

    entity_offset = _find_entity_declaration(body)
    if entity_offset is not None:
        raise XMLRejected(
            f"The XML document declares an entity (<!ENTITY at byte {entity_offset}); "
            "entity declarations are not accepted, send the document without an internal DTD subset.",
            code="entity_declaration",
        )

    tripwire = _ExternalLoadTripwire()
    parser = etree.XMLParser(**_PARSER_OPTIONS, encoding="utf-8" if is_text else None)
    parser.resolvers.add(tripwire)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as error:
        tripwire.raise_if_triggered()
        utf8 = is_text or _declared_encoding(body) in (None, "utf-8", "utf8")
        raise _rejection_from_syntax_error(error, utf8=utf8) from error
    tripwire.raise_if_triggered()

    _check_parsed_doctype(root.getroottree())
    return root


class _ExternalLoadTripwire(etree.Resolver):
    """A resolver that hands libxml2 an empty document for every external load and records the request.

    With the options above libxml2 requests nothing. A recorded URL therefore means that an option or
    library change re-enabled external loading, and ``parse_xml`` rejects the document.
    """

    def __init__(self) -> None:
        super().__init__()
        self.requested: list[str] = []

    def resolve(self, system_url, public_id, context):
        self.requested.append(system_url or public_id or "")
        return self.resolve_string("", context)

    def raise_if_triggered(self) -> None:
        if self.requested:
            raise XMLRejected(
                f"The XML parser was asked to load the external resource {self.requested[0]!r}; "
                "external resources are never loaded, so the document was rejected.",
                code="external_entity",
            )


def _check_encoding(raw: bytes, *, is_text: bool) -> bytes:
    """Return the document without a UTF-8 byte order mark, or raise if it is empty or not ASCII-compatible."""
    if raw.startswith(_UTF16_UTF32_BOMS):
        raise XMLRejected(
            "The XML document is encoded in UTF-16 or UTF-32; send it as UTF-8.", code="unsupported_encoding"
        )
    body = raw.removeprefix(codecs.BOM_UTF8)
    if not body.strip():
        raise XMLRejected("The XML document is empty; send a cXML or XML document in the request body.", code="empty")
    if b"\x00" in body[:4]:
        raise XMLRejected(
            "The XML document contains NUL bytes at its start, as UTF-16 or UTF-32 text does; send it as UTF-8.",
            code="unsupported_encoding",
        )
    if not is_text:
        encoding = _declared_encoding(body)
        if encoding is not None and encoding not in _ASCII_COMPATIBLE_ENCODINGS:
            raise XMLRejected(
                f"The XML declaration names the encoding {encoding!r}, which is not accepted; "
                "send the document as UTF-8 (ISO-8859-1 and windows-125x are accepted too).",
                code="unsupported_encoding",
            )
    return body


def _declared_encoding(body: bytes) -> str | None:
    """Return the lower-cased encoding named in the XML declaration, or None when there is none."""
    if not body.startswith(b"<?xml"):
        return None
    match = _DECLARED_ENCODING.match(body, 0, 200)
    return match.group(1).decode("ascii", "replace").strip().lower() if match else None


def _find_entity_declaration(body: bytes) -> int | None:
    """Return the byte offset of an ``<!ENTITY`` declaration in the document's DOCTYPE, or None.

    Walks the prolog the way the XML grammar allows it (XML declaration, comments, processing
    instructions and whitespace before one DOCTYPE), so a "<!DOCTYPE" written inside a comment is
    not taken for the real one. Anything else ends the prolog, and the parser judges it.
    """
    position = 0
    while True:
        token = _PROLOG_TOKEN.match(body, position)
        if token is None:
            return None
        kind = token.group(1)
        if kind == b"<!DOCTYPE":
            return _scan_doctype(body, token.end())
        position = _skip_past(body, b"-->" if kind == b"<!--" else b"?>", token.end())
        if position == -1:
            return None


def _scan_doctype(body: bytes, position: int) -> int | None:
    """Return the offset of the first ``<!ENTITY`` in the DOCTYPE whose keyword ends at ``position``, or None.

    Skips quoted literals, comments and processing instructions token by token, so "]" or ">"
    inside them does not end the scan early. A "<!ENTITY" inside a comment of the internal subset
    is reported too, because no cXML document needs one.
    """
    in_subset = False
    while True:
        token = _DOCTYPE_TOKEN.search(body, position)
        if token is None:
            return None
        kind = token.group()
        position = token.end()
        if kind == b"<!ENTITY":
            return token.start()
        if kind in (b'"', b"'"):
            position = _skip_past(body, kind, position)
        elif kind == b"<!--":
            position = _skip_past(body, b"-->", position)
        elif kind == b"<?":
            position = _skip_past(body, b"?>", position)
        elif kind == b"[":
            in_subset = True
        elif kind == b"]":
            in_subset = False
        elif kind == b">" and not in_subset:
            return None
        if position == -1:
            return None


def _skip_past(body: bytes, terminator: bytes, position: int) -> int:
    end = body.find(terminator, position)
    return -1 if end == -1 else end + len(terminator)


def _rejection_from_syntax_error(error: etree.XMLSyntaxError, *, utf8: bool) -> XMLRejected:
    line, column = error.position
    last = error.error_log.last_error
    detail = last.message.strip() if last is not None else str(error)
    if error.code == etree.ErrorTypes.ERR_RESOURCE_LIMIT and "depth" in detail.lower():
        return XMLRejected(
            f"The XML document nests elements more than 256 levels deep (line {line}, column {column}).",
            code="too_deep",
            line=line,
            column=column,
        )
    if error.code == etree.ErrorTypes.ERR_RESOURCE_LIMIT and "entity" in detail.lower():
        # libxml2's own guard against entity expansion ("Maximum entity amplification factor exceeded").
        return XMLRejected(
            "The XML document declares entities that expand beyond the parser's amplification limit; "
            "entity declarations are not accepted.",
            code="entity_declaration",
            line=line,
            column=column,
        )
    if error.code == etree.ErrorTypes.ERR_RESOURCE_LIMIT:
        return XMLRejected(
            f"A text node, attribute or name in the XML document exceeds the parser's limit of "
            f"10,000,000 bytes (line {line}, column {column}).",
            code="node_too_large",
            line=line,
            column=column,
        )
    if error.code == etree.ErrorTypes.ERR_INVALID_ENCODING and utf8:
        return XMLRejected(
            f"The XML document is not valid UTF-8 at line {line}, column {column}; send UTF-8, "
            'or name the real encoding in the XML declaration (<?xml version="1.0" encoding="ISO-8859-1"?>).',
            code="not_utf8",
            line=line,
            column=column,
        )
    return XMLRejected(
        f"The XML document is malformed at line {line}, column {column}: {detail}.",
        code="malformed",
        line=line,
        column=column,
    )


def _check_parsed_doctype(tree: etree._ElementTree) -> None:
    """Reject a parsed document whose DTD declares entities or was loaded from outside.

    The byte scan in ``parse_xml`` already rejects these documents. This check reads the DTD that
    libxml2 built, so that a gap in the scan cannot let a declaration through.
    """
    internal = tree.docinfo.internalDTD
    if internal is not None:
        names = [entity.name for entity in internal.iterentities()]
        if names:
            raise XMLRejected(
                f"The XML document declares the entities {', '.join(names)}; entity declarations are not accepted.",
                code="entity_declaration",
            )
    if tree.docinfo.externalDTD is not None:
        raise XMLRejected(
            f"The XML parser loaded the external DTD {tree.docinfo.system_url!r}; the document was rejected.",
            code="external_entity",
        )
