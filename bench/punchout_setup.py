"""Load the cXML PunchOutSetupRequest endpoint beside a trivial view, on gunicorn with production settings.

Run from the repository root:

    .venv/bin/python -m bench.punchout_setup

It creates the PostgreSQL database in DATABASE_URL when missing (default
postgres://postgres@127.0.0.1:5432/backoffice_bench_punchout, local hosts
only), migrates it and runs seed_demo for the demo cXML connection. Then it
starts ``gunicorn config.wsgi`` the way docs/operations.md runs production
(DJANGO_DEBUG unset, SECRET_KEY, PUBLIC_BASE_URL, ALLOWED_HOSTS, plain HTTP on
127.0.0.1 with SECURE_SSL_REDIRECT=0), with DJANGO_SETTINGS_MODULE set to
``bench.punchout_settings``, which adds only the trivial view
``/bench/trivial``. Each target gets the same concurrent load (``wrk`` when
installed, else ``bench.punchout_load``), and the script prints throughput,
p50 and p99 latency as Markdown table rows. After the setup run it counts
the sessions opened, because a rejected setup request is also HTTP 200.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from bench.database import create_database_if_missing

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/backoffice_bench_punchout"
SETUP_REQUEST = REPOSITORY / "docs" / "examples" / "punchout-setup-request.xml"


def main() -> None:
    options = _parse_arguments()
    database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    create_database_if_missing(database_url, example_url=DEFAULT_DATABASE_URL)
    base_url = f"http://127.0.0.1:{options.port}"
    environment = _server_environment(database_url, base_url)

    _manage(environment, "migrate", "--no-input", "-v", "0")
    _manage(environment, "seed_demo")

    log = tempfile.NamedTemporaryFile(prefix="punchout-bench-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115
    server = subprocess.Popen(  # noqa: S603 -- fixed argument list, local server
        [
            str(REPOSITORY / ".venv" / "bin" / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{options.port}",
            "--workers",
            str(options.workers),
            "--worker-class",
            options.worker_class,
            "--threads",
            str(options.threads),
        ],
        cwd=REPOSITORY,
        env=environment,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        _wait_until_up(base_url)
        body = SETUP_REQUEST.read_bytes()
        _check_setup_answer(base_url, body)
        tool = "wrk" if options.tool == "wrk" or (options.tool == "auto" and shutil.which("wrk")) else "python"
        print(
            f"gunicorn {options.workers} workers ({options.worker_class}, {options.threads} threads), "
            f"{options.concurrency} concurrent, {options.seconds} s per run, load tool {tool}, "
            f"{os.cpu_count()} CPUs shared by server, database and load tool"
        )
        print("| target | requests/s | p50 ms | p99 ms | errors |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for round_number in range(options.rounds):
            trivial = _load(tool, base_url, "GET", "/bench/trivial", b"", options)
            sessions_before = _session_count(environment)
            setup = _load(tool, base_url, "POST", "/punchout/cxml/", body, options)
            opened = _session_count(environment) - sessions_before
            for name, result in (("trivial view", trivial), ("PunchOutSetupRequest", setup)):
                print(
                    f"| {name} (round {round_number + 1}) | {result['throughput']:.0f} | "
                    f"{result['p50']:.1f} | {result['p99']:.1f} | {result['errors']} |"
                )
            # Every completed setup request opens one session; a shortfall means cXML errors inside HTTP 200.
            print(f"setup requests completed {setup['requests']}, sessions opened {opened}")
            ratio = setup["throughput"] / trivial["throughput"]
            print(f"setup throughput / trivial throughput = {ratio:.2f}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        print(f"gunicorn log: {log.name}")


def _parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765, help="port gunicorn listens on, on 127.0.0.1")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes (operations.md uses 3)")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent connections")
    parser.add_argument("--seconds", type=int, default=15, help="seconds per load run")
    parser.add_argument("--rounds", type=int, default=2, help="trivial-then-setup rounds")
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto", help="load generator")
    return parser.parse_args()


def _server_environment(database_url: str, base_url: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key != "DJANGO_DEBUG"}
    environment.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.punchout_settings",
            "SECRET_KEY": environment.get("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789"),
            "PUBLIC_BASE_URL": base_url,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "DATABASE_URL": database_url,
            "LOG_LEVEL": environment.get("LOG_LEVEL", "INFO"),
        }
    )
    return environment


def _manage(environment: dict[str, str], *arguments: str) -> None:
    command = [sys.executable, "manage.py", *arguments]
    subprocess.run(command, cwd=REPOSITORY, env=environment, check=True, stdout=subprocess.DEVNULL)  # noqa: S603


def _session_count(environment: dict[str, str]) -> int:
    output = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from apps.punchout.models import PunchOutSession; print(PunchOutSession.objects.count())",
        ],
        cwd=REPOSITORY,
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(output.strip().splitlines()[-1])


def _wait_until_up(base_url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url}/bench/trivial", timeout=2) as response:  # noqa: S310 -- local
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not respond at {base_url} within 30 seconds; see its log.")


def _check_setup_answer(base_url: str, body: bytes) -> None:
    request = urllib.request.Request(  # noqa: S310 -- local
        f"{base_url}/punchout/cxml/", data=body, headers={"Content-Type": "text/xml"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 -- local
        answer = response.read()
    if b'<Status code="200"' not in answer or b"<StartPage>" not in answer:
        raise SystemExit(f"The setup request was rejected; the server responded:\n{answer.decode()[:2000]}")


def _load(tool: str, base_url: str, method: str, path: str, body: bytes, options) -> dict:
    if tool == "wrk":
        return _load_with_wrk(base_url, method, path, body, options)
    from bench.punchout_load import run_load

    parts = urlsplit(base_url)
    result = run_load(
        host=parts.hostname,
        port=parts.port,
        method=method,
        path=path,
        body=body,
        headers={"Content-Type": "text/xml"} if body else {},
        threads=options.concurrency,
        seconds=options.seconds,
    )
    return {
        "throughput": result.throughput,
        "p50": result.percentile(0.50),
        "p99": result.percentile(0.99),
        "errors": result.errors,
        "requests": result.requests,
    }


def _load_with_wrk(base_url: str, method: str, path: str, body: bytes, options) -> dict:
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
    with script:
        script.write(f'wrk.method = "{method}"\n')
        if body:
            script.write('wrk.headers["Content-Type"] = "text/xml"\n')
            script.write(f"wrk.body = [==[{body.decode('utf-8')}]==]\n")
    output = subprocess.run(  # noqa: S603 -- fixed argument list
        [
            shutil.which("wrk"),
            "-t",
            "2",
            "-c",
            str(options.concurrency),
            "-d",
            f"{options.seconds}s",
            "--latency",
            "-s",
            script.name,
            base_url + path,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    os.unlink(script.name)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "throughput": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": _wrk_milliseconds(re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE).group(1)),
        "p99": _wrk_milliseconds(re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1)),
        "errors": (int(errors.group(1)) if errors else 0)
        + (sum(int(value) for value in socket_errors.groups()) if socket_errors else 0),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
    }


def _wrk_milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


if __name__ == "__main__":
    main()
