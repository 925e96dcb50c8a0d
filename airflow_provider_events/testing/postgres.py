"""A private PostgreSQL cluster for tests and benchmarks: the OS server binaries, loopback only, a free port.

:class:`PostgresCluster` runs ``initdb`` in a fresh temporary directory, starts ``postgres`` on
``127.0.0.1:<free port>`` (its Unix socket in that directory, so concurrent clusters never collide) and stops
it and deletes the directory on :meth:`~PostgresCluster.stop` / leaving the ``with`` block, also when the
test failed. The server refuses to run as root, so when the caller is root the binaries run as the
``postgres`` OS user (the Debian ``postgresql`` package creates it).

Every SQL statement the server runs is written to :attr:`~PostgresCluster.log_path` when ``log_statements`` is
on: that is how the tests prove the sync streamed through a named (server-side) cursor.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from airflow_provider_events.testing.emulator.server import HOST, free_port

#: the start of a server log entry: ``2026-01-01 12:00:00.000 UTC [pid] ...``.
_LOG_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
#: what precedes the SQL: ``statement: `` (simple protocol, psycopg2) or ``execute <name>: `` (psycopg 3).
_STATEMENT = re.compile(r"LOG:  (?:statement|execute [^:]*): ")
#: where Debian/Ubuntu put the server binaries (newest version first).
BIN_GLOB = "/usr/lib/postgresql/*/bin"


def find_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<ver>/bin`` holding ``initdb``, or ``None`` when none is installed."""
    found = [Path(p) for p in glob.glob(BIN_GLOB) if (Path(p) / "initdb").exists()]
    found.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    return found[0] if found else None


class PostgresCluster:
    """A throw-away PostgreSQL server on loopback.

    :param database: a database created after start-up (the connection's schema).
    :param log_statements: log every statement to :attr:`log_path` (``log_statement = all``).
    :param settings: extra ``-c name=value`` server settings.
    """

    def __init__(
        self,
        database: str = "events",
        *,
        log_statements: bool = False,
        settings: dict[str, str] | None = None,
    ) -> None:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install -y postgresql)")
        self.bin_dir = bin_dir
        self.database = database
        self.log_statements = log_statements
        self.settings = dict(settings or {})
        self.port = 0
        self.root: Path | None = None
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "cluster not started"
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        """The server log (statements included when ``log_statements`` is on)."""
        assert self.root is not None, "cluster not started"
        return self.root / "server.log"

    def _as_server_user(self, *cmd: str) -> list[str]:
        if os.geteuid() != 0:
            return list(cmd)
        return ["runuser", "-u", "postgres", "--", *cmd]

    def _run(self, *cmd: str, timeout: float = 120) -> None:
        done = subprocess.run(  # noqa: S603 - fixed binaries, arguments built here
            self._as_server_user(*cmd), capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{Path(cmd[0]).name} failed ({done.returncode}): {done.stderr[-1500:]}")

    def start(self) -> PostgresCluster:
        """``initdb`` then ``pg_ctl start`` on a free loopback port (a few tries if the port is taken)."""
        self.root = Path(tempfile.mkdtemp(prefix="ape-postgres-"))
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.root.chmod(0o700)
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = {
            "listen_addresses": HOST,
            "unix_socket_directories": str(self.root),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            **({"log_statement": "all"} if self.log_statements else {}),
            **self.settings,
        }
        last_error: Exception | None = None
        for _ in range(5):
            self.port = free_port()
            opts = " ".join(f"-c {k}={v}" for k, v in options.items()) + f" -p {self.port}"
            try:
                self._run(
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_path),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "120",
                    "start",
                    timeout=180,
                )
                self._started = True
                break
            except RuntimeError as err:  # e.g. another process took the port in between
                last_error = err
                time.sleep(0.5)
        if not self._started:
            self.stop()
            raise RuntimeError(f"PostgreSQL did not start: {last_error}")
        try:
            conn = self.connect("postgres")
            try:
                conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
                with conn.cursor() as cur:
                    cur.execute(f'CREATE DATABASE "{self.database}"')
            finally:
                conn.close()
        except BaseException:
            self.stop()  # __exit__ does not run when __enter__ raises
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory; safe to call twice."""
        if self.root is None:
            return
        if self._started:
            subprocess.run(  # noqa: S603 - fixed binaries, arguments built here
                self._as_server_user(
                    str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "stop"
                ),
                capture_output=True,
                timeout=120,
                check=False,
            )
            self._started = False
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ use
    def connect(self, database: str | None = None) -> Any:
        """A psycopg2 connection to ``database`` (default: :attr:`database`) as ``postgres``."""
        import psycopg2  # type: ignore[import-untyped]

        return psycopg2.connect(host=HOST, port=self.port, user="postgres", dbname=database or self.database)

    def connection(self) -> dict[str, Any]:
        """The Airflow connection (JSON form) to :attr:`database`."""
        return {
            "conn_type": "postgres",
            "host": HOST,
            "port": self.port,
            "login": "postgres",
            "schema": self.database,
        }

    def connection_env(self, conn_id: str) -> dict[str, str]:
        """``{AIRFLOW_CONN_<ID>: <JSON>}`` for :meth:`connection`."""
        return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(self.connection())}

    def statements(self) -> list[str]:
        """The statements the server logged so far, whole (needs ``log_statements=True``)."""
        entries: list[str] = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if _LOG_ENTRY.match(line):
                entries.append(line)
            elif entries:  # a multi-line statement continues on lines without a log prefix
                entries[-1] += "\n" + line
        found = (_STATEMENT.search(entry) for entry in entries)
        return [entry.string[entry.end() :].strip() for entry in found if entry]


#: the ``events`` table: one row per customer event, in id order (the shape of tests/sync's SQLite one).
CREATE_EVENTS = """
CREATE TABLE events (
    id bigint PRIMARY KEY,
    user_id text,
    event text NOT NULL,
    amount double precision,
    plan text,
    ts_ms bigint,
    pad text
)
"""
#: ``rows`` rows generated by the server (fast even for 1,000,000); ``user_id`` is NULL for ids divisible
#: by ``bad_every`` (0: never), which Gainsight PX refuses (``identifyId`` is required).
FILL_EVENTS = """
INSERT INTO events
SELECT i,
       CASE WHEN %(bad_every)s > 0 AND i %% %(bad_every)s = 0 THEN NULL
            ELSE 'user-' || lpad(i::text, 7, '0') END,
       'feature_used',
       i * 1.5,
       CASE WHEN i %% 2 = 1 THEN 'pro' ELSE 'starter' END,
       1704067200000 + i * 1000,
       repeat('x', %(pad)s)
FROM generate_series(1, %(rows)s) AS i
"""


def fill_events(cluster: PostgresCluster, rows: int, *, pad: int = 0, bad_every: int = 0) -> None:
    """(Re)create ``events(id, user_id, event, amount, plan, ts_ms, pad)`` with ``rows`` rows, made by the
    server (``generate_series``): row ``i`` has ``user_id`` ``user-<i, 7 digits>``, ``amount`` ``1.5 * i``,
    ``plan`` ``pro``/``starter`` (odd/even), ``ts_ms`` 2024-01-01 + ``i`` seconds and ``pad`` x ``pad``."""
    with cluster.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS events")
        cur.execute(CREATE_EVENTS)
        cur.execute(FILL_EVENTS, {"rows": rows, "pad": pad, "bad_every": bad_every})
        cur.execute("ANALYZE events")
    conn.close()
