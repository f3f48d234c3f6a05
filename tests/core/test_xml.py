"""Tests for apps.core.xml: the hardened parser every XML document goes through."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from lxml import etree

from apps.core import xml as xml_module
from apps.core.xml import XMLRejected, parse_xml

CXML_DOCTYPE = b'<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.069/cXML.dtd">'

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (level, (b"&lol%d;" % (level - 1) if level > 1 else b"&lol;") * 10)
        for level in range(1, 10)
    )
    + b"]>\n<lolz>&lol9;</lolz>"
)


@pytest.fixture
def recording_server():
    """An HTTP server on 127.0.0.1 that records every request path and serves a tiny DTD."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = b'<!ENTITY leaked "from-server">'
            self.send_response(200)
            self.send_header("Content-Type", "application/xml-dtd")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.hits = hits
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _reject(data, **kwargs) -> XMLRejected:
    with pytest.raises(XMLRejected) as caught:
        parse_xml(data, **kwargs)
    return caught.value


def test_parse_xml_accepts_cxml_doctype():
    # given a document with the DOCTYPE real cXML carries
    data = b'<?xml version="1.0" encoding="UTF-8"?>\n' + CXML_DOCTYPE + b'\n<cXML payloadID="1@x"><Header/></cXML>'

    # when it is parsed
    root = parse_xml(data)

    # then the root element comes back and the DTD was not loaded
    assert root.tag == "cXML"
    assert root.get("payloadID") == "1@x"
    assert root.getroottree().docinfo.system_url == "http://xml.cxml.org/schemas/cXML/1.2.069/cXML.dtd"
    assert root.getroottree().docinfo.externalDTD is None


def test_parse_xml_never_fetches_doctype_url(recording_server):
    # given a DOCTYPE pointing at a live local server
    data = b'<!DOCTYPE cXML SYSTEM "%s/cXML.dtd"><cXML>text</cXML>' % recording_server.url.encode()

    # when it is parsed
    root = parse_xml(data)

    # then the document parses and the server saw no request
    assert root.text == "text"
    assert recording_server.hits == []


def test_parse_xml_never_reads_local_doctype_file(tmp_path):
    # given a DOCTYPE naming a local DTD that would add a default attribute
    dtd = tmp_path / "local.dtd"
    dtd.write_text('<!ATTLIST cXML injected CDATA "from-local-dtd">')
    data = f'<!DOCTYPE cXML SYSTEM "{dtd.as_uri()}"><cXML/>'.encode()

    # when it is parsed
    root = parse_xml(data)

    # then nothing from the file reached the tree
    assert root.attrib == {}
    assert root.getroottree().docinfo.externalDTD is None


def test_parse_xml_rejects_billion_laughs_in_microseconds():
    # given the classic exponential entity expansion payload
    started = time.perf_counter()

    # when it is parsed
    error = _reject(BILLION_LAUGHS)
    elapsed = time.perf_counter() - started

    # then the byte scan rejects it before libxml2 runs
    assert error.code == "entity_declaration"
    assert elapsed < 0.01


def test_parse_xml_rejects_xxe_without_reading_file(tmp_path):
    # given external entities pointing at /etc/passwd and at a file with a marker
    secret = tmp_path / "secret.txt"
    secret.write_text("MARKER-9f3c")
    payloads = [
        b'<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><a>&xxe;</a>',
        f'<!DOCTYPE a [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]><a>&xxe;</a>'.encode(),
    ]

    for payload in payloads:
        # when each is parsed
        error = _reject(payload)

        # then it is rejected and no file content appears in the message
        assert error.code == "entity_declaration"
        assert "root:" not in error.message
        assert "MARKER-9f3c" not in error.message


def test_parse_xml_rejects_external_parameter_entity_unfetched(recording_server):
    # given an external parameter entity referenced inside the internal subset
    data = b'<!DOCTYPE a [<!ENTITY %% ext SYSTEM "%s/ext.dtd"> %%ext;]><a>&leaked;</a>' % recording_server.url.encode()

    # when it is parsed
    error = _reject(data)

    # then it is rejected and the server saw no request
    assert error.code == "entity_declaration"
    assert recording_server.hits == []


def test_parse_xml_finds_entity_behind_doctype_decoys():
    # given "]>" inside a comment and a quoted default value ahead of the declaration
    data = b'<!DOCTYPE a [<!-- ]> --> <!ATTLIST a b CDATA "]>"> <!ENTITY x "y">]><a>&x;</a>'

    # when it is parsed
    error = _reject(data)

    # then the scan walked past the decoys to the declaration
    assert error.code == "entity_declaration"
    assert error.message.startswith("The XML document declares an entity (<!ENTITY at byte 51)")


def test_parse_xml_skips_doctype_decoy_in_comment():
    # given a fake DOCTYPE with an unterminated quote inside a prolog comment, then billion laughs
    data = b'<?xml version="1.0"?><!-- <!DOCTYPE x " --><?pi ]> ?>\n' + BILLION_LAUGHS.split(b"?>\n", 1)[1]

    # when it is parsed
    error = _reject(data)

    # then the byte scan found the real DOCTYPE's declaration
    assert error.code == "entity_declaration"
    assert error.message.startswith(f"The XML document declares an entity (<!ENTITY at byte {data.index(b'<!ENTITY')})")


def test_parse_xml_accepts_internal_subset_without_entities():
    # given an internal subset with only an element declaration
    data = b"<!DOCTYPE a [<!ELEMENT a (#PCDATA)>]><a>ok</a>"

    # when it is parsed
    root = parse_xml(data)

    # then it is accepted
    assert root.text == "ok"


def test_parse_xml_checks_parsed_dtd_when_scan_misses(monkeypatch, recording_server):
    # given the byte scan disabled, as if it had a gap
    monkeypatch.setattr(xml_module, "_find_entity_declaration", lambda body: None)
    internal = b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'
    server_url = recording_server.url.encode()
    external_parameter = b'<!DOCTYPE a [<!ENTITY %% ext SYSTEM "%s/ext.dtd"> %%ext;]><a/>' % server_url

    for payload in (internal, external_parameter, BILLION_LAUGHS):
        # when each is parsed
        error = _reject(payload)

        # then the check of the parsed DTD still rejects it, with nothing fetched
        assert error.code == "entity_declaration"
    assert recording_server.hits == []


def test_parse_xml_tripwire_rejects_external_load(monkeypatch, tmp_path):
    # given the parser option that makes libxml2 load a DOCTYPE's DTD (collect_ids=False)
    monkeypatch.setitem(xml_module._PARSER_OPTIONS, "collect_ids", False)
    dtd = tmp_path / "local.dtd"
    dtd.write_text('<!ATTLIST cXML injected CDATA "from-local-dtd">')
    data = f'<!DOCTYPE cXML SYSTEM "{dtd.as_uri()}"><cXML/>'.encode()

    # when a document naming a local DTD is parsed
    error = _reject(data)

    # then the resolver tripwire rejects it
    assert error.code == "external_entity"
    assert dtd.as_uri() in error.message


def test_parse_xml_rejects_body_over_max_bytes():
    # given a 101-byte document and a 100-byte limit
    data = b"<a>" + b"x" * 94 + b"</a>"

    # when it is parsed
    error = _reject(data, max_bytes=100)

    # then it is rejected before parsing
    assert error.code == "too_large"
    assert error.message == "The XML document has 101 bytes, more than the limit of 100 bytes; send a smaller document."


def test_parse_xml_reads_limit_per_call(settings):
    # given a small limit set after import
    settings.XML_MAX_BYTES = 10

    # when an 11-byte document is parsed
    error = _reject(b"<a>xxxx</a>")

    # then the setting applied
    assert error.code == "too_large"


@pytest.mark.parametrize("data", [b"", b"  \n\t", b"\xef\xbb\xbf", ""])
def test_parse_xml_rejects_empty_document(data):
    error = _reject(data)

    assert error.code == "empty"


def test_parse_xml_rejects_nesting_over_256_levels():
    # given 256 and 257 levels of nesting
    allowed = b"<a>" * 256 + b"</a>" * 256
    too_deep = b"<a>" * 257 + b"</a>" * 257

    # when both are parsed
    root = parse_xml(allowed)
    error = _reject(too_deep)

    # then libxml2's default depth limit applies
    assert root.tag == "a"
    assert error.code == "too_deep"
    assert error.line == 1


def test_parse_xml_rejects_huge_text_node():
    # given a text node one byte over libxml2's 10,000,000-byte limit
    data = b"<a>" + b"x" * 10_000_001 + b"</a>"

    # when it is parsed under a limit that lets the body through
    error = _reject(data, max_bytes=11_000_000)

    # then the huge_tree=False limit rejects it
    assert error.code == "node_too_large"


def test_parse_xml_malformed_reports_position():
    # given a mismatched end tag on line 2
    data = b"<a>\n  <b></a>"

    # when it is parsed
    error = _reject(data)

    # then the position libxml2 reports is kept
    assert error.code == "malformed"
    assert (error.line, error.column) == (2, 10)
    assert error.message == (
        "The XML document is malformed at line 2, column 10: Opening and ending tag mismatch: b line 2 and a."
    )


def test_parse_xml_rejects_undeclared_entity_reference():
    error = _reject(b"<a>&nbsp;</a>")

    assert error.code == "malformed"
    assert "Entity 'nbsp' not defined" in error.message


def test_parse_xml_accepts_utf8_bom():
    root = parse_xml(b"\xef\xbb\xbf<a>\xc3\xa9</a>")

    assert root.text == "é"


def test_parse_xml_accepts_iso_8859_1_declared_document():
    # given Latin-1 bytes with a matching declaration
    data = '<?xml version="1.0" encoding="ISO-8859-1"?><a>Café</a>'.encode("latin-1")

    # when it is parsed
    root = parse_xml(data)

    # then the text is decoded as Latin-1
    assert root.text == "Café"


def test_parse_xml_parses_str_whatever_its_declaration_says():
    root = parse_xml('<?xml version="1.0" encoding="ISO-8859-1"?><a>Café \u2019</a>')

    assert root.text == "Café \u2019"


def test_parse_xml_rejects_latin1_bytes_without_declaration():
    # given Latin-1 bytes without a declaration, so they are read as UTF-8
    error = _reject(b"<a>caf\xe9</a>")

    assert error.code == "not_utf8"
    assert (error.line, error.column) == (1, 7)


@pytest.mark.parametrize(
    "data",
    [
        "<a/>".encode("utf-16"),
        "<a/>".encode("utf-16-be"),
        b'<?xml version="1.0" encoding="UTF-16"?><a/>',
        b'<?xml version="1.0" encoding="EBCDIC-US"?><a/>',
    ],
)
def test_parse_xml_rejects_non_ascii_encodings(data):
    error = _reject(data)

    assert error.code == "unsupported_encoding"


def test_parse_xml_keeps_comments():
    root = parse_xml(b"<a><!-- note --><b/></a>")

    assert [child.tag for child in root] == [etree.Comment, "b"]
