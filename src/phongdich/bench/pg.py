"""A throw-away PostgreSQL server in a temporary directory (initdb / pg_ctl), for benchmarks and
tests that need a real server.

Runs the binaries as the ``postgres`` system user when started as root (initdb refuses root).
``durable=True`` keeps PostgreSQL's crash-safe defaults (fsync, synchronous commit, full page
writes), which is what a benchmark of *durable* writes must measure; ``durable=False`` turns them
off, as the test suite does for speed.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

_FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
_DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def pg_bin(name: str) -> str:
    """The path of a PostgreSQL program (``initdb``, ``pg_ctl``...), newest version first."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if not candidates:
        raise RuntimeError(
            f"{name} not found: install PostgreSQL (Debian: apt-get install postgresql)"
        )
    return candidates[0]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """``start()``, ``url(db)``, ``create_database(db)``, ``stop()``; also a context manager."""

    def __init__(
        self,
        durable: bool = False,
        max_connections: int = 100,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="phongdich-pg-"))
        self.data = self.tmp / "data"
        self.port = free_port()
        self.durable = durable
        self.settings = {
            **(_DURABLE if durable else _FAST),
            "max_connections": str(max_connections),
            **(settings or {}),
        }
        self.user: str | None = None
        self.started = False
        if os.geteuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam(self.user)
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, cwd=self.tmp)  # noqa: S603

    def start(self) -> None:
        self._run(
            pg_bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        options = " ".join(
            [f"-p {self.port}", f"-k {self.tmp}", "-c listen_addresses=127.0.0.1"]
            + [f"-c {key}={value}" for key, value in self.settings.items()]
        )
        self._run(
            pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.tmp / "server.log"),
            "-w",
            "start",
        )
        self.started = True

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres").replace("+psycopg", ""), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        try:
            if self.started:
                self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            self.started = False
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> PgServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
