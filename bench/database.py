"""Create a benchmark's PostgreSQL database on the local machine when it is missing."""

from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

# The only hosts the benchmarks connect to.
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def create_database_if_missing(database_url: str, *, example_url: str) -> None:
    """Create the database that ``database_url`` names, after checking that it is PostgreSQL on a local host.

    ``example_url`` is the URL the error messages suggest when ``database_url`` is unusable. Each error
    stops the script with ``SystemExit``.
    """
    parts = urlsplit(database_url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise SystemExit(f"DATABASE_URL={database_url!r} is not a PostgreSQL URL; set it to {example_url}.")
    if parts.hostname not in LOCAL_HOSTS:
        raise SystemExit(f"Database host {parts.hostname!r} is not local; this benchmark runs on 127.0.0.1 only.")
    name = unquote(parts.path.lstrip("/"))
    if not name:
        example_name = urlsplit(example_url).path
        raise SystemExit(f"DATABASE_URL={database_url!r} names no database; add one, such as {example_name}.")

    with psycopg.connect(
        host="127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password) if parts.password else None,
        dbname="postgres",
        autocommit=True,
    ) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")
