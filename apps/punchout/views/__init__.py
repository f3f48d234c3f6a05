"""PunchOut HTTP entry points: the cXML endpoint (cxml), the OCI entry (oci) and the shop pages (shop)."""
