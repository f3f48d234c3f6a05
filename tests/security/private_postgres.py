"""A PostgreSQL cluster of the test's own, on a free 127.0.0.1 port, which a fault test may stop and start.

The machine's shared PostgreSQL on port 5432 serves other tests and CI, so
it is never stopped. This cluster lives in a temporary folder and is
removed afterwards. PostgreSQL refuses to run as root, so when the tests run
as root the cluster's folder belongs to the ``postgres`` user and its
commands run as that user through ``runuser``.
"""

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

# Seconds that pg_ctl waits for the server to start or stop.
PG_CTL_WAIT_SECONDS = 60


def postgres_bin_dir() -> Path | None:
    """Return the newest /usr/lib/postgresql/<version>/bin that has initdb and pg_ctl, or None."""
    candidates = [Path(path).parent for path in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    candidates = [folder for folder in candidates if (folder / "pg_ctl").exists()]
    if not candidates:
        return None
    return max(candidates, key=lambda folder: int(folder.parent.name) if folder.parent.name.isdigit() else 0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivatePostgres:
    """initdb, start, stop (immediate, as a crash does) and start again, on a free 127.0.0.1 port.

    Authentication is ``trust`` for the ``postgres`` user on 127.0.0.1 only,
    and Unix sockets are off, so nothing outside this machine's loopback
    reaches it.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="bo-private-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        result = subprocess.run(  # noqa: S603 - PostgreSQL's own programs on a folder of the test's own
            [*self.run_as, *command], capture_output=True, text=True, timeout=PG_CTL_WAIT_SECONDS + 30, check=False
        )
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise AssertionError(
                f"{command[0]} failed with exit status {result.returncode}:\n{result.stdout}{result.stderr}\n{log}"
            )

    def init(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"),
            "--pgdata",
            str(self.data),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c fsync=off -c full_page_writes=off -c max_connections=50"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "--pgdata",
            str(self.data),
            "--log",
            str(self.log),
            "--options",
            options,
            "--wait",
            f"--timeout={PG_CTL_WAIT_SECONDS}",
            "start",
        )

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server; ``immediate`` ends every backend at once without a checkpoint, as a crash does."""
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "--pgdata",
            str(self.data),
            "--mode",
            mode,
            "--wait",
            f"--timeout={PG_CTL_WAIT_SECONDS}",
            "stop",
        )

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def remove(self) -> None:
        if self.is_running():
            # A server that already died leaves only its folder to remove.
            with contextlib.suppress(AssertionError):
                self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def wait_for_port(port: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")
