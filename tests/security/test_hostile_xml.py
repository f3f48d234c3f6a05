"""Hostile XML: parse_xml and the cXML reader either read a document or reject it with their own error."""

from hypothesis import given
from hypothesis import strategies as st

from apps.core.xml import XMLRejected, parse_xml
from apps.punchout.cxml.reader import (
    CXMLBadRequest,
    inbound_oddities,
    read_header,
    read_punchout_setup_request,
    request_type,
)
from apps.punchout.models import BuyerConnection
from tests.security.fuzzing import SEED_SAMPLES, mutate, mutation, seed_document, xml_text

# A connection that is never saved: the reader needs only its credential fields.
_CONNECTION = BuyerConnection(
    from_domain="NetworkID",
    from_identity="AN01000000001",
    to_domain="DUNS",
    to_identity="987654321",
    sender_domain="NetworkID",
    sender_identity="AN01000000001",
)
_SEEDS = {name: seed_document(name, _CONNECTION, "secret") for name in SEED_SAMPLES}

XML_FRAGMENTS = [
    b"<?xml version='1.0'?>",
    b"<?xml version='1.0' encoding='UTF-16'?>",
    b"<!DOCTYPE cXML SYSTEM 'http://xml.cxml.org/schemas/cXML/1.2.069/cXML.dtd'>",
    b"<!DOCTYPE x [<!ENTITY a 'aaaa'>]>",
    b"<!DOCTYPE x [<!ENTITY % p SYSTEM 'file:///etc/passwd'> %p;]>",
    b"<!ENTITY e SYSTEM 'http://127.0.0.1/'>",
    b"&e;",
    b"&#0;",
    b"&#x110000;",
    b"<cXML>",
    b"</cXML>",
    b"<Header/>",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"-->",
    b"<?pi x?>",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\x00",
    b"\xc3\x28",
    b"<a" * 300,
    b"xmlns:x='urn:x'",
]

xml_bytes = st.one_of(
    st.binary(max_size=2000),
    st.lists(st.one_of(st.sampled_from(XML_FRAGMENTS), st.binary(max_size=20)), max_size=30).map(b"".join),
)


@given(xml_bytes)
def test_parse_xml_reads_or_rejects_bytes(data):
    try:
        parse_xml(data)
    except XMLRejected as error:
        assert error.code
        assert error.message


@given(st.text(max_size=2000))
def test_parse_xml_reads_or_rejects_text(data):
    try:
        parse_xml(data)
    except XMLRejected as error:
        assert error.message


@given(st.sampled_from(sorted(SEED_SAMPLES)), st.lists(mutation, max_size=6))
def test_cxml_reader_reads_or_rejects(seed, mutations):
    root = parse_xml(mutate(_SEEDS[seed], mutations))
    try:
        header = read_header(root)
        kind = request_type(root)
        inbound_oddities(root)
        if kind == "PunchOutSetupRequest":
            read_punchout_setup_request(root)
    except CXMLBadRequest as error:
        assert str(error)
    else:
        assert isinstance(header.payload_id, str)


@given(st.lists(st.tuples(st.sampled_from(["cXML", "Header", "Request", "From"]), xml_text), max_size=8))
def test_cxml_reader_rejects_skeletons(parts):
    body = "".join(f"<{tag}>{_escape(text)}" for tag, text in parts) + "".join(
        f"</{tag}>" for tag, _ in reversed(parts)
    )
    try:
        root = parse_xml(body or "<cXML/>")
    except XMLRejected:
        return
    try:
        read_header(root)
        request_type(root)
    except CXMLBadRequest as error:
        assert str(error)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
