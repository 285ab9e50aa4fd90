"""A real PostgreSQL server (Debian's package, installed by `make setup`): a throwaway
cluster in a temporary directory on a free loopback port, started and stopped by the test
session, never the system's own cluster. initdb refuses to run as root, so the cluster
belongs to the `postgres` user when the tests run as root."""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pyarrow as pa

from tests.system.harness import free_port

USER, PASSWORD, DATABASE = "saeta", "s3cret-pg-pass", "saeta"


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `make setup` (it installs Debian's postgresql)")
    return Path(found[-1]).parent


class PostgresServer:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        # Its own directory, not pytest's (0700 and root's: the postgres user could not
        # reach a cluster inside it).
        self.root = Path(tempfile.mkdtemp(prefix="saeta-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def uri(self) -> str:
        """Without the password: sources take it from an environment variable or a file."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def admin_uri(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed ({done.returncode}): {done.stderr or done.stdout}")

    def start(self) -> None:
        if self._as:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._as:
            os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile),
                  "-A", "scram-sha-256", "-E", "UTF8", "--locale", "C.UTF-8")  # fmt: skip
        pwfile.unlink()
        # Every statement is logged, so tests can tell what reached the database.
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c log_statement=all"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"),
                  "-w", "-t", "60", "start")  # fmt: skip
        import adbc_driver_postgresql.dbapi as pg

        admin = f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/postgres"
        with pg.connect(admin, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DATABASE}")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def statements(self) -> list[str]:
        """The statements the server has run so far (log_statement=all), oldest first."""
        found = []
        for line in self.log().splitlines():
            # Simple queries log "statement: SQL"; prepared ones "execute <name>: SQL".
            match = re.search(r"LOG:  (?:statement|execute [^:]*): (.*)", line)
            if match:
                found.append(match.group(1))
        return found

    def ingest(self, name: str, table: pa.Table) -> None:
        """Creates table ``name`` from an Arrow table (through the driver's bulk ingest)."""
        import adbc_driver_postgresql.dbapi as pg

        with pg.connect(self.admin_uri) as conn, conn.cursor() as cur:
            cur.adbc_ingest(name, table, mode="create")
            conn.commit()

    def execute(self, *statements: str) -> None:
        import adbc_driver_postgresql.dbapi as pg

        with pg.connect(self.admin_uri) as conn, conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
            conn.commit()
