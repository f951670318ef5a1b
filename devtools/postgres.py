"""A throwaway PostgreSQL server on loopback, for tests and benchmarks.

Uses the server binaries of the machine's packages (``/usr/lib/postgresql/<version>/bin``, or
``CIVIC_PG_BIN``). A server refuses to run as root, so when the process is root the server runs as
the ``postgres`` user (``runuser``). The data directory lives in a temporary folder and is removed
on stop; durability settings are off (the data is thrown away).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .node import free_port

__all__ = ["PostgresServer", "postgres_binaries"]


def postgres_binaries() -> Path | None:
    configured = os.environ.get("CIVIC_PG_BIN")
    if configured:
        return Path(configured)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """``with PostgresServer() as pg: pg.url`` — a server with one database, ``civic``."""

    def __init__(self, *, port: int | None = None) -> None:
        binaries = postgres_binaries()
        if binaries is None:
            raise RuntimeError("no PostgreSQL server binaries: install postgresql (initdb, pg_ctl)")
        self.binaries = binaries
        self.port = port or free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="civic-pg-"))
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the ``civic`` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/civic"

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresServer:
        if self._as_postgres:
            shutil.chown(self.directory, "postgres", "postgres")
        data = self.directory / "data"
        self._run(
            str(self.binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            str(self.binaries / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self.directory / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
        self._run(str(self.binaries / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "civic")
        return self

    def stop(self) -> None:
        data = self.directory / "data"
        if data.exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(str(self.binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
