"""Coverage-guided fuzzing (atheris) of the parsers that read input from outside, without a database.

Targets:
  xml  parse_xml, then the cXML reader (header, request type, oddities, PunchOutSetupRequest)
  oci  the OCI parameter checks: quantity, charset, HOOK_URL against a connection's allowed hosts
  csv  the import readers (encoding check, CSV and JSON Lines) and every row kind's parser

Each target calls the code the way the endpoints and the import service do and lets only the
project's own expected errors through; any other exception is a crash, which atheris reports with
the input that caused it (saved as crash-<hash> in the working folder).

    .venv/bin/python fuzz/harness.py xml -max_total_time=60 fuzz/corpus/xml
    .venv/bin/python fuzz/harness.py --all --seconds 10     # what CI runs

Other arguments go to libFuzzer (-runs=, -max_len=, a corpus folder).
"""

import contextlib
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("xml", "oci", "csv")
# libFuzzer's input size cap: large enough for a real cXML document, small enough to stay fast.
MAX_INPUT_BYTES = 20_000

sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "fuzz-only")
os.environ.setdefault("PUBLIC_BASE_URL", "http://testserver")
# The parsers under test log every rejection; at INFO that is most of the run's time.
os.environ.setdefault("LOG_LEVEL", "ERROR")

with atheris.instrument_imports(include=["apps"]):
    import django

    django.setup()

    from apps.catalog.imports.errors import CatalogImportError
    from apps.catalog.imports.kinds import SPECS
    from apps.catalog.imports.readers import ReaderOptions, check_encoding, read_file
    from apps.core.xml import XMLRejected, parse_xml
    from apps.punchout import oci
    from apps.punchout.cxml.reader import (
        CXMLBadRequest,
        inbound_oddities,
        read_header,
        read_punchout_setup_request,
        request_type,
    )
    from apps.punchout.errors import PunchOutError
    from apps.punchout.models import BuyerConnection
    from apps.punchout.services import check_return_url, parse_quantity

_CONNECTION = BuyerConnection(allowed_return_hosts="localhost\n127.0.0.1:8443\n*.ariba.com:443\n[::1]")


def fuzz_xml(data: bytes) -> None:
    try:
        root = parse_xml(data)
    except XMLRejected:
        return
    try:
        read_header(root)
        kind = request_type(root)
        inbound_oddities(root)
        if kind == "PunchOutSetupRequest":
            read_punchout_setup_request(root)
    except CXMLBadRequest:
        return


def fuzz_oci(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    quantity = provider.ConsumeUnicodeNoSurrogates(30)
    charset = provider.ConsumeUnicodeNoSurrogates(20)
    hook_url = provider.ConsumeUnicodeNoSurrogates(200)
    with contextlib.suppress(PunchOutError):
        parse_quantity(quantity)
    # The return page is encoded in the chosen charset; it must always be able to.
    "<p>Stühle €5 \u4e2d</p>".encode(oci.charset_or_default(charset), errors="xmlcharrefreplace")
    try:
        check_return_url(connection=_CONNECTION, url=hook_url, label="HOOK_URL")
    except PunchOutError:
        return
    oci.split_hook_url(hook_url)


def fuzz_csv(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    kind = provider.PickValueInList(sorted(SPECS))
    file_format = provider.PickValueInList(["csv", "jsonl"])
    encoding = provider.PickValueInList(["utf-8", "latin-1", "cp1252"])
    decimal_comma = provider.ConsumeBool()
    body = provider.ConsumeBytes(MAX_INPUT_BYTES)
    spec = SPECS[kind]
    stream = io.BytesIO(body)
    try:
        check_encoding(stream, encoding)
        rows = read_file(
            stream,
            options=ReaderOptions(encoding=encoding, format=file_format),
            columns=spec.columns,
            required=spec.required,
        )
        for row in rows:
            if not row.problem:
                spec.parse(row, decimal_comma)
    except CatalogImportError:
        return


FUZZERS = {"xml": fuzz_xml, "oci": fuzz_oci, "csv": fuzz_csv}


def run_all(seconds: int) -> int:
    """Run every target for ``seconds`` each in its own process, with the seed corpus; return the worst exit code."""
    status = 0
    for target in TARGETS:
        seeds = [folder for folder in _seed_folders(target) if folder.is_dir()]
        arguments = [sys.executable, __file__, target, f"-max_total_time={seconds}", f"-max_len={MAX_INPUT_BYTES}"]
        arguments += ["-print_final_stats=1", "-artifact_prefix=" + str(Path.cwd()) + "/"]
        if seeds:
            # libFuzzer writes new inputs to the first folder: a scratch one, so the repository stays unchanged.
            scratch = Path(tempfile.mkdtemp(prefix=f"fuzz-{target}-"))
            arguments += [str(scratch), *map(str, seeds)]
        print(f"fuzz: {target} for {seconds}s", flush=True)
        result = subprocess.run(arguments, check=False)  # noqa: S603 -- our own interpreter and harness
        status = max(status, result.returncode)
    return status


def _seed_folders(target: str) -> list[Path]:
    folders = [ROOT / "fuzz" / "corpus" / target]
    if target == "xml":
        # The real procurement documents beside the checkout, where the tests read them too.
        standards = Path(os.environ.get("STANDARDS_DIR") or ROOT.parent / "shared" / "standards")
        folders.append(standards / "samples")
    return folders


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "--all":
        seconds = int(sys.argv[3]) if len(sys.argv) >= 4 and sys.argv[2] == "--seconds" else 10
        sys.exit(run_all(seconds))
    if len(sys.argv) < 2 or sys.argv[1] not in FUZZERS:
        sys.exit(f"usage: harness.py {{{','.join(TARGETS)}}} [libFuzzer options] | --all [--seconds N]")
    target = sys.argv.pop(1)
    atheris.Setup(sys.argv, FUZZERS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
