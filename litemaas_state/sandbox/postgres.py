"""A throwaway PostgreSQL cluster (any installed major version, see ``find_bindir``) for the sandbox's data plane.

What it stands in for: one environment's PostgreSQL StatefulSet (`litellm-postgres` in rhpds, `postgres`
in the upstream Kustomize layout, docs/deployment-facts.md §1.3–§1.4), whose superuser is the role
POSTGRES_USER of the official image (`litellm` in rhpds, `litemaas_admin` in Kustomize; ``role``) with
password authentication. :meth:`PostgresCluster.create_databases` makes the LiteMaaS database
(docs/deployment-facts.md §3 schema) and the LiteLLM database (§4 schema), or one database holding both
(the ``shared`` arrangement of docs/deployment-facts.md §2); the names come from ``layouts.py``.

The cluster lives in ``<workdir>/pg`` (data in ``data/``, unix socket in ``sock/``, server log in
``postgres.log``), listens on a free port of 127.0.0.1 only, uses scram-sha-256 for every connection,
and runs with durability off (fsync, full_page_writes, synchronous_commit) because it is disposable.
The server's TimeZone is UTC, as in the official postgres image (docs/deployment-facts.md §4 "SQL caveat").

PostgreSQL refuses to run as root. When this process is root, initdb/pg_ctl run as the OS user
``postgres`` (``runuser -u postgres --``); if that user cannot reach ``<workdir>/pg`` (e.g. a pytest
tmp dir under a 0700 parent) or the socket path would be too long, the cluster is placed in a fresh
``/tmp/litemaas-sbx-pg-*`` directory and ``<workdir>/pg`` becomes a symlink to it. No permission of an
existing directory is changed. As a normal user the binaries run directly.

Must not: print or log the password (it goes to initdb through a 0600 file that is removed at once).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

#: Names the directory of the PostgreSQL server programs (initdb, pg_ctl, postgres), overriding discovery.
BINDIR_ENV = "LITEMAAS_SANDBOX_PG_BINDIR"
DEBIAN_LIB = Path("/usr/lib/postgresql")
OS_USER = "postgres"
ROLE = "litellm"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; ".s.PGSQL.NNNNN" is appended

_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_connections": "100",
    "shared_buffers": "32MB",
    "timezone": "'UTC'",
    "log_timezone": "'UTC'",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "password_encryption": "'scram-sha-256'",
}


def find_bindir(environ: dict[str, str] | None = None, *, lib_root: Path = DEBIAN_LIB,
                pg_config: str = "pg_config") -> Path:
    """The directory holding the PostgreSQL server programs: ``$LITEMAAS_SANDBOX_PG_BINDIR`` if set; else
    ``pg_config --bindir`` when ``initdb`` is there (pg_config may come from a client-only package);
    else the newest ``/usr/lib/postgresql/<major>/bin`` with ``initdb`` (Debian/Ubuntu's layout, one
    directory per installed major version); else ``initdb`` on PATH.

    Raises:
        PostgresError: none found (the message says what was tried and how to override), or the
            override has no ``initdb``.
    """
    env = os.environ if environ is None else environ
    override = env.get(BINDIR_ENV)
    if override:
        if not (Path(override) / "initdb").is_file():
            raise PostgresError(f"{BINDIR_ENV}={override} has no initdb; point it at the PostgreSQL server's bin "
                                "directory (e.g. /usr/lib/postgresql/16/bin)")
        return Path(override)
    tried = []
    exe = shutil.which(pg_config, path=env.get("PATH"))
    if exe is not None:
        try:
            out = subprocess.run([exe, "--bindir"], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and (Path(out) / "initdb").is_file():
            return Path(out)
        tried.append(f"pg_config --bindir ({out or 'no answer'})")

    def major(p: Path) -> tuple[int, ...]:
        try:
            return tuple(int(x) for x in p.parent.name.split("."))
        except ValueError:
            return (-1,)

    candidates = sorted((p for p in lib_root.glob("*/bin") if (p / "initdb").is_file()), key=major, reverse=True)
    if candidates:
        return candidates[0]
    tried.append(f"{lib_root}/*/bin")
    on_path = shutil.which("initdb", path=env.get("PATH"))
    if on_path is not None:
        return Path(on_path).parent
    tried.append("initdb on PATH")
    raise PostgresError(f"no PostgreSQL server programs (initdb) found; tried {', '.join(tried)}. Install the "
                        f"PostgreSQL server or set {BINDIR_ENV} to its bin directory")


class PostgresError(RuntimeError):
    """initdb, pg_ctl or schema setup failed; the message carries the tail of the server log."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _is_root() -> bool:
    return os.geteuid() == 0


def _as_pg_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", OS_USER, "--", *argv] if _is_root() else argv


def _sql_text(name: str) -> str:
    return (resources.files("litemaas_state.sandbox") / "sql" / name).read_text(encoding="utf-8")


@dataclass
class PostgresCluster:
    """One disposable cluster. Call :meth:`start`, then :meth:`create_databases`; :meth:`stop` at the end.

    ``password`` is the password of the superuser ``role`` (default ``litellm``, rhpds); ``port`` is chosen
    by :meth:`start`.
    """

    workdir: Path
    password: str = field(repr=False)
    port: int = 0
    role: str = ROLE
    root: Path = field(init=False)
    bindir: Path = field(init=False)
    _tmp_root: Path | None = field(init=False, default=None, repr=False)
    _running: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.root = self.workdir / "pg"
        self.bindir = find_bindir()

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def sockdir(self) -> Path:
        return self.root / "sock"

    @property
    def logfile(self) -> Path:
        return self.root / "postgres.log"

    # -- lifecycle -------------------------------------------------------------------------------

    def _prepare_root(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        link = self.workdir / "pg"
        if link.is_symlink() or link.exists():
            raise PostgresError(f"{link} already exists; use a fresh workdir")
        link.mkdir(mode=0o700)
        self.root = link
        reachable = len(str(link / "sock" / ".s.PGSQL.65535")) <= _SOCKET_PATH_MAX
        if reachable and _is_root():
            shutil.chown(link, OS_USER, OS_USER)
            probe = subprocess.run(_as_pg_user(["test", "-w", str(link), "-a", "-x", str(link)]), check=False)
            reachable = probe.returncode == 0
        if not reachable:
            link.rmdir()
            real = Path(tempfile.mkdtemp(prefix="litemaas-sbx-pg-", dir="/tmp"))
            if _is_root():
                shutil.chown(real, OS_USER, OS_USER)
            link.symlink_to(real)
            self._tmp_root = real
            self.root = real

    def _run(self, argv: list[str], what: str) -> None:
        proc = subprocess.run(_as_pg_user(argv), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise PostgresError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")

    def _initdb(self) -> None:
        pwfile = self.root / ".pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.password + "\n")
        if _is_root():
            shutil.chown(pwfile, OS_USER, OS_USER)
        try:
            self._run(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    self.role,
                    f"--pwfile={pwfile}",
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
                "initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self.sockdir.mkdir(mode=0o700, exist_ok=True)
        if _is_root():
            shutil.chown(self.sockdir, OS_USER, OS_USER)

    def _write_conf(self) -> None:
        lines = [f"{k} = {v}" for k, v in _SETTINGS.items()]
        lines += [f"port = {self.port}", f"unix_socket_directories = '{self.sockdir}'"]
        conf = self.datadir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as fh:
            fh.write("\n# litemaas-state sandbox\n" + "\n".join(lines) + "\n")

    def _set_port(self, port: int) -> None:
        conf = self.datadir / "postgresql.conf"
        text = conf.read_text(encoding="utf-8")
        text = text.replace(f"port = {self.port}\n", f"port = {port}\n")
        conf.write_text(text, encoding="utf-8")
        self.port = port

    def start(self, timeout_s: float = 30.0) -> None:
        """Create (first call only) and start the cluster; return once it accepts connections.

        Raises:
            PostgresError: initdb or pg_ctl failed (three attempts at a free port).
        """
        if self._running:
            return
        if not self.datadir.exists():
            self._prepare_root()
            self._initdb()
            self.port = self.port or free_port()
            self._write_conf()
        last = ""
        for attempt in range(3):
            proc = subprocess.run(
                _as_pg_user(
                    [
                        str(self.bindir / "pg_ctl"),
                        "-D",
                        str(self.datadir),
                        "-l",
                        str(self.logfile),
                        "-w",
                        "-t",
                        str(int(timeout_s)),
                        "start",
                    ]
                ),
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode == 0:
                self._running = True
                return
            last = proc.stderr.strip() + "\n" + self._log_tail()
            if attempt < 2:
                self._set_port(free_port())
        raise PostgresError(f"pg_ctl start failed: {last[-2000:]}")

    def stop(self, remove: bool = False) -> None:
        """Stop the server (fast shutdown). With ``remove``, also delete the cluster's files."""
        if self._running:
            subprocess.run(
                _as_pg_user([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"]),
                capture_output=True,
                check=False,
            )
            self._running = False
        if remove:
            if self._tmp_root is not None:
                shutil.rmtree(self._tmp_root, ignore_errors=True)
                (self.workdir / "pg").unlink(missing_ok=True)
            else:
                shutil.rmtree(self.root, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._running

    @property
    def external(self) -> bool:
        """True when the files live in a /tmp/litemaas-sbx-pg-* directory outside the workdir."""
        return self._tmp_root is not None

    def _log_tail(self) -> str:
        try:
            return self.logfile.read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return ""

    # -- databases -------------------------------------------------------------------------------

    def url(self, dbname: str) -> str:
        """``postgresql://<role>:<pw>@127.0.0.1:<port>/<db>?sslmode=disable`` (docs/deployment-facts.md §1.6, litemaas-db shape)."""
        return f"postgresql://{self.role}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{dbname}?sslmode=disable"

    def connect(self, dbname: str, autocommit: bool = False) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.role,
            password=self.password,
            dbname=dbname,
            sslmode="disable",
            autocommit=autocommit,
            connect_timeout=5,
        )

    def create_databases(self, litemaas_db: str, litellm_db: str) -> tuple[str, str]:
        """Create the databases owned by ``role`` and load the LiteMaaS schema into ``litemaas_db`` and the
        LiteLLM schema into ``litellm_db`` (the same name: one database holds both, ``shared``).

        Returns:
            (litemaas_db, litellm_db).
        Raises:
            psycopg.Error: a schema file failed to load.
        """
        with self.connect("postgres", autocommit=True) as conn:
            for db in dict.fromkeys((litemaas_db, litellm_db)):
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), sql.Identifier(self.role))
                )
        with self.connect(litemaas_db) as conn:
            conn.execute(_sql_text("litemaas.sql").encode())
        with self.connect(litellm_db) as conn:
            conn.execute(_sql_text("litellm.sql").encode())
        return litemaas_db, litellm_db

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with self.connect("postgres", autocommit=True) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
