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

Where the files are: the cluster is disposable, so with ``$LITEMAAS_SANDBOX_PG_IN_MEMORY=1`` (the test
suite sets it) it goes to memory: a fresh ``/dev/shm/litemaas-sbx-pg-*`` directory (tmpfs, when it is
writable with 512 MiB free; ~40 MB per cluster) with ``<workdir>/pg`` a symlink to it. Not by default: a
user's logout may empty /dev/shm (systemd-logind ``RemoveIPC``) under a detached `sandbox up`. Creating and deleting its ~1,000 files on ext4, with other sandboxes
churning files, costs ~0.5–1 s of kernel CPU per cluster more (measured: one sandbox up and down, 0.97 s
vs 0.43 s of system CPU). Without /dev/shm the cluster is in ``<workdir>/pg`` itself, or, when the
``postgres`` user cannot reach it or the socket path would be too long, in a fresh
``/tmp/litemaas-sbx-pg-*`` directory (symlinked the same way). ``manage.down`` removes the target of
the symlink too, even after a kill -9 of the daemon (``PG_SCRATCH_PREFIX``).

PostgreSQL refuses to run as root. When this process is root, initdb/pg_ctl run as the OS user
``postgres`` (``runuser -u postgres --``), and a directory made for the cluster is chowned to it. No
permission of an existing directory is changed. As a normal user the binaries run directly.

How the data directory is made: a copy of a template cluster (no initdb bootstrap: ~0.6 s less CPU per
cluster), else initdb. The template is one initdb run (``_INITDB_OPTIONS``, a random throwaway password) per
server build (bindir, ``postgres --version``, binary size and mtime) and role, cached as
``pg-template-<major>-<hash>/`` (``data/`` and ``template.json``) in ``$LITEMAAS_SANDBOX_PG_TEMPLATE_DIR``
(``off``: no template), else ``$XDG_CACHE_HOME/litemaas-state``, else ``~/.cache/litemaas-state``. It is
built in a sibling temp dir and published by one ``os.rename`` (concurrent builders: see
:func:`ensure_template`); one that fails validation (``template.json`` not this key, ``PG_VERSION`` not this
major, no ``global/pg_control``) is moved aside and rebuilt, never copied. A sandbox copies ``data/``
(``cp -a``; then owned by ``postgres`` when root, mode 0700) and, before the first start, sets its own
password with ``postgres --single`` reading ``ALTER ROLE ... PASSWORD '<SCRAM-SHA-256 secret>'`` on stdin;
the secret is computed here, as libpq's PQencryptPasswordConn does for psql's password command, and the same
session checks that the server stored exactly it. pg_hba.conf is initdb's (scram-sha-256 for local and host)
on both paths. Any failure of the template path (build, copy, password; a non-ASCII password, which the
server would SASLprep) logs a warning and falls back to initdb; a template whose copy could not take the
password is discarded. Copies share the template's system identifier.

Must not: print or log the password (initdb reads it from a 0600 file that is removed at once; the
template path sends only its SCRAM secret, through stdin).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import functools
import hashlib
import hmac
import json
import logging
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

#: Names the directory of the PostgreSQL server programs (initdb, pg_ctl, postgres), overriding discovery.
BINDIR_ENV = "LITEMAAS_SANDBOX_PG_BINDIR"
#: Names the directory of the cached template clusters; ``off`` makes every cluster with initdb.
TEMPLATE_DIR_ENV = "LITEMAAS_SANDBOX_PG_TEMPLATE_DIR"
DEBIAN_LIB = Path("/usr/lib/postgresql")
OS_USER = "postgres"
ROLE = "litellm"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; ".s.PGSQL.NNNNN" is appended
_INITDB_OPTIONS = (
    "--auth-local=scram-sha-256",
    "--auth-host=scram-sha-256",
    "--encoding=UTF8",
    "--locale=C",
    "--no-sync",
    "--no-instructions",
    "--wal-segsize=1",  # 1 MB WAL segments, not 16: every cluster copies and zero-fills 15 MB less (disposable)
)
_TEMPLATE_FORMAT = 2  # bump when the template's layout or making changes
_TEMPLATE_STALE_S = 3600  # a builder's leftover temp dir older than this is removed
_SCRAM_ITERATIONS = 4096  # PostgreSQL's default scram_iterations

_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_connections": "100",
    "shared_buffers": "32MB",
    "min_wal_size": "32MB",
    "max_wal_size": "64MB",
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


#: The name prefix of a cluster directory made outside its workdir (tmpfs or /tmp); manage.down removes it.
PG_SCRATCH_PREFIX = "litemaas-sbx-pg-"
MEMORY_DIR = Path("/dev/shm")
#: ``1``: put the cluster in MEMORY_DIR (opt-in: the test suite sets it; a user's logout may empty /dev/shm,
#: systemd-logind ``RemoveIPC``, so a long-lived `sandbox up` stays on disk by default).
MEMORY_ENV = "LITEMAAS_SANDBOX_PG_IN_MEMORY"
_MEMORY_FREE_MIN = 512 * 1024 * 1024  # bytes free in MEMORY_DIR, else disk (a container's /dev/shm is 64 MB)


def _memory_dir() -> Path | None:
    """MEMORY_DIR when ``$LITEMAAS_SANDBOX_PG_IN_MEMORY=1`` and it is a writable directory with at least
    512 MiB free, else None."""
    if os.environ.get(MEMORY_ENV) != "1":
        return None
    try:
        st = os.statvfs(MEMORY_DIR)
    except OSError:
        return None
    if os.access(MEMORY_DIR, os.W_OK | os.X_OK) and st.f_bavail * st.f_frsize >= _MEMORY_FREE_MIN:
        return MEMORY_DIR
    return None


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


def _initdb_argv(bindir: Path, datadir: Path, role: str, pwfile: Path) -> list[str]:
    return [str(bindir / "initdb"), "-D", str(datadir), "-U", role, f"--pwfile={pwfile}", *_INITDB_OPTIONS]


def _run_pg(argv: list[str], what: str) -> None:
    proc = subprocess.run(_as_pg_user(argv), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PostgresError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")


def _write_pwfile(path: Path, password: str) -> None:
    """``password`` and a newline into a new 0600 file (owned by ``postgres`` when root), for initdb --pwfile."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    if _is_root():
        shutil.chown(path, OS_USER, OS_USER)


def _chown_tree(top: Path, user: str) -> None:
    """Give ``top`` and everything under it (symlinks themselves, not their targets) to ``user`` and its group."""
    pw = pwd.getpwnam(user)
    os.chown(top, pw.pw_uid, pw.pw_gid)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), pw.pw_uid, pw.pw_gid, follow_symlinks=False)


def scram_secret(password: str, *, salt: bytes | None = None, iterations: int = _SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 secret PostgreSQL stores in ``pg_authid.rolpassword`` for ``password`` (RFC 5802/7677,
    the ``SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`` form of PostgreSQL's scram_build_secret),
    with a random 16-byte salt unless given.

    Raises:
        ValueError: ``password`` is not ASCII (the server would SASLprep it first; that is not done here).
    """
    if not password.isascii():
        raise ValueError("only ASCII passwords are hashed here")
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(b: bytes) -> str:
        return base64.b64encode(b).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def template_root(environ: dict[str, str] | None = None) -> Path | None:
    """Where template clusters are cached: ``$LITEMAAS_SANDBOX_PG_TEMPLATE_DIR`` (``off``: None, no template),
    else ``$XDG_CACHE_HOME/litemaas-state``, else ``~/.cache/litemaas-state``."""
    env = os.environ if environ is None else environ
    override = env.get(TEMPLATE_DIR_ENV)
    if override:
        return None if override == "off" else Path(override)
    xdg = env.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "litemaas-state"


@functools.lru_cache(maxsize=8)
def _server_build(bindir: Path) -> tuple[str, str, tuple[int, int]]:
    """(major as in PG_VERSION, ``postgres --version`` line, (size, mtime_ns) of the ``postgres`` binary)."""
    exe = bindir / "postgres"
    st = exe.stat()
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True, timeout=30)
    line = proc.stdout.strip()
    m = re.search(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?", line)
    if m is None:
        raise PostgresError(f"cannot read the major version from {exe} --version: {line[:200]!r}")
    major = m.group(1) if int(m.group(1)) >= 10 or m.group(2) is None else f"{m.group(1)}.{m.group(2)}"
    return major, line, (st.st_size, st.st_mtime_ns)


def _template_key(bindir: Path, role: str) -> tuple[str, dict[str, object]]:
    """(directory name ``pg-template-<major>-<hash>``, the key its template.json must hold)."""
    major, version, (size, mtime_ns) = _server_build(bindir)
    key: dict[str, object] = {
        "format": _TEMPLATE_FORMAT,
        "bindir": str(bindir.resolve()),
        "version": version,
        "postgres": [size, mtime_ns],
        "major": major,
        "role": role,
        "initdb": list(_INITDB_OPTIONS),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return f"pg-template-{major}-{digest}", key


def _template_valid(path: Path, key: dict[str, object]) -> bool:
    """``path`` is a finished template of ``key``: template.json equals it, data/PG_VERSION is its major,
    data/global/pg_control exists. Unreadable counts as not valid."""
    try:
        meta = json.loads((path / "template.json").read_text(encoding="utf-8"))
        pg_version = (path / "data" / "PG_VERSION").read_text(encoding="utf-8").strip()
        return meta == key and pg_version == key["major"] and (path / "data" / "global" / "pg_control").is_file()
    except (OSError, ValueError):
        return False


def _discard(path: Path) -> None:
    """Move ``path`` aside (one rename, so no reader sees it half-deleted) and delete it; gone already is fine."""
    trash = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.trash")
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


@contextlib.contextmanager
def _build_lock(path: Path, timeout_s: float = 120.0) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` so concurrent builders wait for one build instead of each running
    initdb. Past ``timeout_s``, or where flock fails, go on without it (publishing stays safe, see
    :func:`ensure_template`)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            except OSError:
                break
        yield
    finally:
        os.close(fd)  # releases the lock


def ensure_template(bindir: Path, role: str, root: Path) -> Path:
    """The template cluster for ``bindir``'s server and superuser ``role`` under ``root``, built first if there is
    no valid one (an invalid one is discarded). Concurrent callers (pytest-xdist workers) wait on one
    builder through ``.pg-template-*.lock``; without the lock it is still safe: each builds in its own
    ``.pg-template-*.tmp`` sibling and publishes with ``os.rename``, and the loser takes the winner's. As
    root, initdb runs as ``postgres`` in a ``/tmp/litemaas-pg-template-*`` scratch dir (the cache, e.g.
    under /root, need not be reachable by it) and the result is moved in.

    Returns:
        ``root/pg-template-<major>-<hash>``, holding ``data/`` (a stopped cluster) and ``template.json``.
    Raises:
        PostgresError: initdb failed, or no valid template after building. OSError: the cache is not writable.
    """
    name, key = _template_key(bindir, role)
    final = root / name
    if _template_valid(final, key):
        return final
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _build_lock(root / f".{name}.lock"):
        if _template_valid(final, key):
            return final  # built while we waited
        now = time.time()
        for old in [*root.glob(f".{name}.*.tmp"), *root.glob(f".{name}.*.trash")]:
            with contextlib.suppress(OSError):
                if now - old.stat().st_mtime > _TEMPLATE_STALE_S:
                    shutil.rmtree(old, ignore_errors=True)
        if final.exists() or final.is_symlink():
            _discard(final)
        _build_template(bindir, role, key, final)
    if not _template_valid(final, key):
        raise PostgresError(f"template {final} is not valid after building it")
    return final


def _build_template(bindir: Path, role: str, key: dict[str, object], final: Path) -> None:
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    scratch: Path | None = None
    try:
        work = stage
        if _is_root():
            scratch = Path(tempfile.mkdtemp(prefix="litemaas-pg-template-", dir="/tmp"))
            shutil.chown(scratch, OS_USER, OS_USER)
            work = scratch
        pwfile = work / ".pwfile"
        _write_pwfile(pwfile, secrets.token_urlsafe(24))  # replaced in every copy before its first start
        try:
            _run_pg(_initdb_argv(bindir, work / "data", role, pwfile), "initdb (template)")
        finally:
            pwfile.unlink(missing_ok=True)
        if work != stage:
            shutil.move(work / "data", stage / "data")
        (stage / "template.json").write_text(json.dumps(key, sort_keys=True, indent=1) + "\n", encoding="utf-8")
        with contextlib.suppress(OSError):  # lost the race: a concurrent builder published first
            os.rename(stage, final)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


@dataclass
class PostgresCluster:
    """One disposable cluster. Call :meth:`start`, then :meth:`create_databases`; :meth:`stop` at the end.

    ``password`` is the password of the superuser ``role`` (default ``litellm``, rhpds); ``port`` is chosen
    by :meth:`start`; ``template`` is the template the data directory was copied from (None: made by initdb).
    """

    workdir: Path
    password: str = field(repr=False)
    port: int = 0
    role: str = ROLE
    root: Path = field(init=False)
    template: Path | None = field(init=False, default=None)
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
        memory = _memory_dir()
        if memory is not None:
            self._place_outside(link, memory)
            return
        link.mkdir(mode=0o700)
        self.root = link
        reachable = len(str(link / "sock" / ".s.PGSQL.65535")) <= _SOCKET_PATH_MAX
        if reachable and _is_root():
            shutil.chown(link, OS_USER, OS_USER)
            probe = subprocess.run(_as_pg_user(["test", "-w", str(link), "-a", "-x", str(link)]), check=False)
            reachable = probe.returncode == 0
        if not reachable:
            link.rmdir()
            self._place_outside(link, Path("/tmp"))

    def _place_outside(self, link: Path, parent: Path) -> None:
        """Put the cluster in a fresh ``parent/PG_SCRATCH_PREFIX*`` directory, ``link`` a symlink to it."""
        real = Path(tempfile.mkdtemp(prefix=PG_SCRATCH_PREFIX, dir=parent))
        if _is_root():
            shutil.chown(real, OS_USER, OS_USER)
        link.symlink_to(real)
        self._tmp_root = real
        self.root = real

    def _initdb(self) -> None:
        pwfile = self.root / ".pwfile"
        _write_pwfile(pwfile, self.password)
        try:
            _run_pg(_initdb_argv(self.bindir, self.datadir, self.role, pwfile), "initdb")
        finally:
            pwfile.unlink(missing_ok=True)

    def _from_template(self) -> bool:
        """Make the data directory from the cached template (module docstring); False, with a warning logged
        and nothing left in ``datadir``, when that path is off or fails, so the caller runs initdb."""
        cache = template_root()
        if cache is None:
            return False
        if not self.password.isascii() or not self.role.isprintable():
            log.warning("PostgreSQL template not used (non-ASCII password or unprintable role); running initdb")
            return False
        try:
            template = ensure_template(self.bindir, self.role, cache)
        except (OSError, PostgresError, subprocess.SubprocessError) as e:
            log.warning("PostgreSQL template unavailable (%s); running initdb", str(e)[-500:])
            return False
        step = "copy"
        try:
            subprocess.run(["cp", "-a", str(template / "data"), str(self.datadir)], capture_output=True,
                           text=True, check=True)
            if _is_root():
                _chown_tree(self.datadir, OS_USER)
            self.datadir.chmod(0o700)
            step = "password"
            self._set_password()
        except (OSError, PostgresError, subprocess.SubprocessError) as e:
            detail = e.stderr if isinstance(e, subprocess.CalledProcessError) else e
            log.warning("PostgreSQL template %s: %s failed (%s); running initdb", template, step,
                        str(detail).strip()[-500:])
            shutil.rmtree(self.datadir, ignore_errors=True)
            if step == "password":
                _discard(template)  # a copy that cannot take a password: rebuild the template next time
            return False
        self.template = template
        return True

    def _set_password(self) -> None:
        """Set ``role``'s password in the stopped cluster with ``postgres --single``: the statement on stdin
        carries only its SCRAM-SHA-256 secret, and the same session checks the server stored exactly it.

        Raises:
            PostgresError: postgres --single failed or the secret was not stored (the stderr tail, secret
                masked).
        """
        secret = scram_secret(self.password)
        ident = '"' + self.role.replace('"', '""') + '"'
        literal = "'" + self.role.replace("'", "''") + "'"
        stdin = (
            f"ALTER ROLE {ident} PASSWORD '{secret}'\n"
            f"SELECT rolpassword = '{secret}' AS litemaas_secret_stored FROM pg_authid WHERE rolname = {literal}\n"
        )
        argv = [str(self.bindir / "postgres"), "--single", "-D", str(self.datadir), "-F",
                "-c", "log_min_error_statement=panic", "-c", "log_checkpoints=off", "postgres"]
        proc = subprocess.run(_as_pg_user(argv), input=stdin, capture_output=True, text=True, check=False,
                              timeout=120)
        if proc.returncode != 0 or 'litemaas_secret_stored = "t"' not in proc.stdout:
            tail = proc.stderr.replace(secret, "<secret>").strip()[-2000:]
            raise PostgresError(
                f"postgres --single (ALTER ROLE ... PASSWORD) failed (exit {proc.returncode}): {tail}"
            )

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
        """Create (first call only: a copy of the template, else initdb) and start the cluster; return once it
        accepts connections.

        Raises:
            PostgresError: initdb or pg_ctl failed (three attempts at a free port). A failed template is not
                an error: initdb runs instead.
        """
        if self._running:
            return
        if not self.datadir.exists():
            self._prepare_root()
            if not self._from_template():
                self._initdb()
            self.sockdir.mkdir(mode=0o700, exist_ok=True)
            if _is_root():
                shutil.chown(self.sockdir, OS_USER, OS_USER)
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
