"""The partner API's JSON parser: numbers with a fraction become Decimal, and a NUL in any string is a 400.

Reading fractions as Decimal means that 2.5 never passes through a float.
"""

import json
from decimal import Decimal

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

from apps.core.nul import nul_message, nul_path

# Largest request body the API parses, in bytes: an ERP push of API_PUSH_MAX_ROWS
# catalog rows stays well below it.
MAX_BODY_BYTES = 20 * 1024 * 1024


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


_TOO_DEEP = "The request body nests arrays or objects too deeply to read; no API body needs more than a few levels."


class _ExponentNumber(ValueError):
    pass


def _plain_decimal(text: str) -> Decimal:
    # The order and ERP services reject strings such as "1e3". A JSON number in scientific notation is
    # rejected here, because the Decimal it becomes no longer shows how it was written.
    if "e" in text or "E" in text:
        raise _ExponentNumber(
            f"The request body has the number {text} in scientific notation; write it out, such as 1000 for 1e3."
        )
    return Decimal(text)


class DecimalJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            text = stream.read(MAX_BODY_BYTES + 1) if stream is not None else b""
        except OSError as error:
            raise ParseError(f"The request body could not be read: {error}.") from None
        if len(text) > MAX_BODY_BYTES:
            raise ParseError(f"The request body is larger than {MAX_BODY_BYTES} bytes; send fewer rows per request.")
        try:
            data = json.loads(text.decode(encoding), parse_float=_plain_decimal, parse_constant=_reject_constant)
        except _ExponentNumber as error:
            raise ParseError(str(error)) from None
        except (ValueError, UnicodeDecodeError) as error:
            raise ParseError(f"The request body is not valid JSON: {error}.") from None
        except RecursionError:
            raise ParseError(_TOO_DEEP) from None
        # Every API view reads its body through this parser, so one check covers every field of every body.
        try:
            path = nul_path(data)
        except RecursionError:
            raise ParseError(_TOO_DEEP) from None
        if path is not None:
            field = path or "body"
            raise ValidationError({field: [nul_message(f"The field {field!r}")]})
        return data
