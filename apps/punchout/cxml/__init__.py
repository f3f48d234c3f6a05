"""cXML for the PunchOut app: builders for outbound documents, a lenient reader for inbound ones, DTD validation."""
