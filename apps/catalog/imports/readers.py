"""Streaming readers of import files: CSV as ERP systems write it, and JSON Lines.

Memory stays flat whatever the file size: the CSV reader works on one record at a time, and the
encoding check before it reads the file line by line. The CSV reader accepts a UTF-8 byte-order
mark and ``,``, ``;`` or tab as delimiter (detected from the header line, or given). It also
accepts Windows line endings, quoted fields with line breaks, and empty trailing columns without
a header. A file that is not valid in its declared encoding is rejected with the first
bad line, because decoding it anyway would store garbled names.
"""

import csv
import functools
import io
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, BinaryIO, NamedTuple

from apps.catalog.imports.errors import FileRejected, InvalidImportOptions
from apps.core.nul import printable_name

ENCODINGS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
    "cp1252": "cp1252",
    "windows-1252": "cp1252",
}
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\t": "\t"}
FORMATS = ("csv", "jsonl")

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Bytes 0x80 to 0x9F are control characters in Latin-1 but letters and signs (such as the euro sign) in
# Windows-1252, so finding one in a "Latin-1" file means the file is really Windows-1252.
_C1_CONTROLS = frozenset(range(0x80, 0xA0))
# Large enough for a long description, small enough that a file without line breaks cannot
# make one CSV field hold the whole file in memory.
_MAX_FIELD_CHARACTERS = 1_000_000
# The bytes that the encoding check reads at once, extended to the end of the line.
_CHECK_BLOCK_BYTES = 1 << 20


class SourceRow(NamedTuple):
    """One record as read: the line it starts on, its values by column name, and a structural problem if any.

    ``values`` maps each named column to its text ("" when empty). ``problem`` is set when the record
    cannot be read as a row at all (too many or too few values, a JSON line that is not an object),
    and ``problem_column`` names the column it concerns, when one does. ``record`` is the parsed
    record when the reader's cell parser accepted the row, and then ``values`` is empty. A named
    tuple, because one is made for every row of a file and a tuple is built several times faster
    than a frozen dataclass.
    """

    line: int
    values: Mapping[str, str]
    problem: str = ""
    problem_column: str = ""
    record: dict[str, Any] | None = None


# The values of a row that the cell parser has parsed: read-only, because every such row shares it.
_PARSED_VALUES: Mapping[str, str] = MappingProxyType({})
# Builds a SourceRow from a tuple of all its fields without the Python-level __new__ of named tuples.
_new_row = functools.partial(tuple.__new__, SourceRow)


@dataclass(frozen=True)
class ReaderOptions:
    """How to read a file; ``None`` means detect."""

    encoding: str = "utf-8"
    delimiter: str | None = None
    format: str | None = None


def normalise_encoding(name: str | None) -> str:
    """Return the codec name for an encoding option, or raise InvalidImportOptions naming the choices."""
    key = (name or "utf-8").strip().lower()
    if key not in ENCODINGS:
        raise InvalidImportOptions(
            f"Encoding {name!r} is not supported; use utf-8, latin-1 (ISO 8859-1) or cp1252 (Windows-1252)."
        )
    return ENCODINGS[key]


def normalise_delimiter(value: str | None) -> str | None:
    """Return the delimiter character for a delimiter option, or None to detect it."""
    if value is None or value == "":
        return None
    if value not in DELIMITERS:
        raise InvalidImportOptions(f"Delimiter {value!r} is not supported; use ',', ';' or 'tab'.")
    return DELIMITERS[value]


def check_encoding(stream: BinaryIO, encoding: str) -> None:
    """Read a seekable binary stream once and raise FileRejected at the first line invalid in ``encoding``.

    A file declared Latin-1 or Windows-1252 is also rejected when all its non-ASCII text is valid
    UTF-8, because it was saved as UTF-8 and decoding it as Latin-1 would turn "é" into "Ã©". A file
    declared Latin-1 is rejected when it contains Windows-1252 bytes. The stream is rewound afterwards.
    """
    start = stream.tell()
    head = stream.read(4)
    if head.startswith(_UTF16_BOMS):
        raise FileRejected("The file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8 and retry.")
    stream.seek(start)

    non_ascii_lines = 0
    utf8_lines = 0
    first_non_ascii_line = 0
    for line_number, raw in _lines_to_check(stream):
        if b"\x00" in raw:
            # PostgreSQL text cannot store NUL, and no CSV or JSON Lines text file contains one.
            raise FileRejected(
                f"Line {line_number} contains a NUL byte (0x00), which a text file never contains; "
                "check that the file is CSV or JSON Lines text and not a binary or UTF-16 file."
            )
        if raw.isascii():
            continue
        non_ascii_lines += 1
        first_non_ascii_line = first_non_ascii_line or line_number
        if encoding == "utf-8":
            _check_utf8_line(raw, line_number)
            continue
        try:
            raw.decode("utf-8")
            utf8_lines += 1
        except UnicodeDecodeError:
            pass
        if encoding == "latin-1":
            c1 = next((byte for byte in raw if byte in _C1_CONTROLS), None)
            if c1 is not None:
                raise FileRejected(
                    f"Line {line_number} contains byte 0x{c1:02X}, a control character in Latin-1 that "
                    "Windows-1252 uses for a letter or sign; rerun with --encoding cp1252."
                )
        elif encoding == "cp1252":
            try:
                raw.decode("cp1252")
            except UnicodeDecodeError as error:
                raise FileRejected(
                    f"Line {line_number} is not valid Windows-1252 (byte 0x{raw[error.start]:02X}); "
                    "check the file's encoding and rerun with the right --encoding."
                ) from None
    stream.seek(start)

    if encoding != "utf-8" and non_ascii_lines and utf8_lines == non_ascii_lines:
        raise FileRejected(
            f"The file was declared {encoding}, but its non-ASCII text (first on line {first_non_ascii_line}) "
            "is valid UTF-8, so it was saved as UTF-8; rerun without --encoding."
        )


def _lines_to_check(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Yield the lines of a binary stream with their numbers from 1, leaving out blocks of plain ASCII.

    Most import files are ASCII, and a block of ASCII lines without a NUL byte is valid in every
    accepted encoding, so it is counted and skipped without a pass over each line.
    """
    line_number = 0
    while block := stream.read(_CHECK_BLOCK_BYTES):
        if not block.endswith(b"\n"):
            # Complete the last line, so that a multi-byte character or a line is never split.
            block += stream.readline()
        if block.isascii() and b"\x00" not in block:
            line_number += block.count(b"\n")
            continue
        for raw in io.BytesIO(block):
            line_number += 1
            yield line_number, raw


def read_file(
    stream: BinaryIO,
    *,
    options: ReaderOptions,
    columns: tuple[str, ...],
    required: tuple[str, ...],
    file_name: str = "",
    cell_parser: Callable[[list[str]], Callable[[Sequence[str]], dict[str, Any] | None] | None] | None = None,
) -> Iterator[SourceRow]:
    """Yield the rows of a binary stream positioned at its start, as CSV or JSON Lines.

    ``cell_parser``, given a CSV header's column names, may return a parser of the records' values,
    which skips building a dict per row: a row it returns a record for comes with that ``record``.
    Raises FileRejected before yielding the first row when the header cannot be used.
    """
    file_format = options.format or _detect_format(stream, file_name)
    if file_format not in FORMATS:
        raise InvalidImportOptions(f"Format {file_format!r} is not supported; use csv or jsonl.")
    start = stream.tell()
    if stream.read(3) != _UTF8_BOM:
        stream.seek(start)
    text = io.TextIOWrapper(stream, encoding=options.encoding, errors="strict", newline="")
    try:
        if file_format == "jsonl":
            yield from _read_jsonl(text, columns=columns)
        else:
            yield from _read_csv(
                text, delimiter=options.delimiter, columns=columns, required=required, cell_parser=cell_parser
            )
    finally:
        # Leave the caller's stream open: the wrapper would close it when collected.
        text.detach()


def rows_from_dicts(rows: Iterable[object], *, columns: tuple[str, ...]) -> Iterator[SourceRow]:
    """Yield API-pushed rows (dicts) as SourceRows numbered from 1, converting JSON values to text."""
    for position, item in enumerate(rows, start=1):
        yield _row_from_mapping(item, position, columns)


def _check_utf8_line(raw: bytes, line_number: int) -> None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        column = len(raw[: error.start].decode("utf-8", errors="replace")) + 1
        raise FileRejected(
            f"Line {line_number} is not valid UTF-8 (byte 0x{raw[error.start]:02X} at character {column}). "
            "The file is probably Latin-1 or Windows-1252: rerun with --encoding latin-1 or --encoding cp1252, "
            "or save the file as UTF-8."
        ) from None


def _detect_format(stream: BinaryIO, file_name: str) -> str:
    lowered = file_name.lower()
    if lowered.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if lowered.endswith((".csv", ".txt", ".tsv")):
        return "csv"
    start = stream.tell()
    head = stream.read(512).lstrip(_UTF8_BOM).lstrip()
    stream.seek(start)
    return "jsonl" if head.startswith(b"{") else "csv"


def _read_csv(
    text: io.TextIOBase, *, delimiter: str | None, columns: tuple[str, ...], required: tuple[str, ...], cell_parser=None
) -> Iterator[SourceRow]:
    header_line = text.readline()
    while header_line and not header_line.strip():
        header_line = text.readline()
    if not header_line:
        raise FileRejected("The file is empty; it needs a header row naming the columns.")
    delimiter = delimiter or _detect_delimiter(header_line, columns)
    header = next(csv.reader([header_line], delimiter=delimiter))
    names = _check_header(header, columns, required, delimiter)

    csv.field_size_limit(_MAX_FIELD_CHARACTERS)
    reader = csv.reader(itertools.chain((header_line,), text), delimiter=delimiter, strict=True)
    next(reader)
    return _iter_csv_records(reader, names, cell_parser(names) if cell_parser is not None else None)


def _iter_csv_records(reader, names: list[str], parse_cells=None) -> Iterator[SourceRow]:
    """Yield the records of ``reader`` as SourceRows, each numbered with the line it starts on.

    The loop over well-formed rows runs once per row of files of 100,000 rows and more, so it does
    as little as it can: one length check, one blank check, and ``parse_cells`` or one ``zip``. A
    record that the csv module cannot read ends the inner loop; it is reported, and reading goes on
    after it.
    """
    width = len(names)
    all_named = all(names)
    last_line = reader.line_num
    while True:
        try:
            for record in reader:
                line = last_line + 1
                last_line = reader.line_num
                if len(record) == width and all_named and record[0].strip():
                    parsed = parse_cells(record) if parse_cells is not None else None
                    if parsed is not None:
                        yield _new_row((line, _PARSED_VALUES, "", "", parsed))
                    else:
                        yield SourceRow(line, dict(zip(names, record, strict=True)))
                elif not _is_blank(record):
                    yield _irregular_record(line, record, names)
            return
        except csv.Error as error:
            line = last_line + 1
            last_line = reader.line_num
            yield SourceRow(line, {}, f"The row cannot be read as CSV: {error}.")


def _is_blank(record: list[str]) -> bool:
    return not any(value.strip() for value in record)


def _irregular_record(line: int, record: list[str], names: list[str]) -> SourceRow:
    """Return the SourceRow of a record with a blank first value, unnamed columns or a different length."""
    width = len(names)
    if len(record) > width:
        if any(value.strip() for value in record[width:]):
            return SourceRow(
                line=line,
                values={},
                problem=(
                    f"The row has {len(record)} values but the header names {width} columns; "
                    "quote values that contain the delimiter."
                ),
            )
    elif len(record) < width:
        return SourceRow(
            line=line,
            values={},
            problem=(
                f"The row has {len(record)} values but the header names {width} columns; "
                "check for a missing value or a line break outside quotes."
            ),
        )
    values = {name: record[index] for index, name in enumerate(names) if name}
    unnamed = next((index for index, name in enumerate(names) if not name and record[index].strip()), None)
    if unnamed is not None:
        return SourceRow(
            line=line,
            values=values,
            problem=f"Column {unnamed + 1} has no name in the header but holds {record[unnamed]!r}.",
        )
    return SourceRow(line=line, values=values)


def _detect_delimiter(header_line: str, columns: tuple[str, ...]) -> str:
    known = set(columns)
    best, best_score = ",", 0
    for candidate in (",", ";", "\t"):
        names = next(csv.reader([header_line], delimiter=candidate))
        score = sum(1 for name in names if _normalise_name(name) in known)
        if score > best_score:
            best, best_score = candidate, score
    if best_score == 0:
        raise FileRejected(
            f"The header row {header_line.strip()[:200]!r} names none of the expected columns "
            f"({', '.join(columns)}), with ',', ';' or tab as delimiter."
        )
    return best


def _normalise_name(name: str) -> str:
    return name.strip().strip("\ufeff").strip().lower()


def _check_header(header: list[str], columns: tuple[str, ...], required: tuple[str, ...], delimiter: str) -> list[str]:
    names = [_normalise_name(name) for name in header]
    # Trailing columns without a name are accepted (spreadsheets add them); their values must be empty.
    unknown = [name for name in names if name and name not in columns]
    if unknown:
        raise FileRejected(
            f"The header names unknown columns: {', '.join(unknown)}. Expected columns: {', '.join(columns)}."
        )
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        raise FileRejected(f"The header names these columns more than once: {', '.join(repeated)}.")
    missing = [name for name in required if name not in names]
    if missing:
        shown = "tab" if delimiter == "\t" else repr(delimiter)
        raise FileRejected(
            f"The header lacks the required columns {', '.join(missing)} (read with delimiter {shown}); "
            f"required: {', '.join(required)}."
        )
    return names


def _read_jsonl(text: io.TextIOBase, *, columns: tuple[str, ...]) -> Iterator[SourceRow]:
    for line_number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line, parse_float=str, parse_int=str)
        except json.JSONDecodeError as error:
            yield SourceRow(line=line_number, values={}, problem=f"The line is not valid JSON: {error.msg}.")
            continue
        yield _row_from_mapping(item, line_number, columns)


def _row_from_mapping(item: object, line: int, columns: tuple[str, ...]) -> SourceRow:
    if not isinstance(item, dict):
        return SourceRow(line=line, values={}, problem=f"The row is a JSON {type(item).__name__}, not an object.")
    values = {}
    for key, value in item.items():
        name = _normalise_name(str(key))
        if name not in columns:
            # The report's column stores at most 64 characters and no NUL, but an unknown key may have either.
            return SourceRow(
                line=line,
                values={},
                problem=f"Unknown key {str(key)[:60]!r}; expected keys: {', '.join(columns)}.",
                problem_column=printable_name(str(key)),
            )
        text = _json_value_text(value)
        if text is None:
            return SourceRow(
                line=line,
                values={},
                problem=f"Key {key!r} holds a JSON {type(value).__name__}; give a string or a number.",
                problem_column=name,
            )
        if "\x00" in text:
            return SourceRow(
                line=line,
                values={},
                problem=f"Key {key!r} contains a NUL character (\\u0000), which the database cannot store; remove it.",
                problem_column=name,
            )
        values[name] = text
    return SourceRow(line=line, values=values)


def _json_value_text(value: object) -> str | None:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, float):
        # Pushed rows parsed by a JSON library may carry floats; repr gives the shortest exact decimal text.
        return repr(value)
    return None
