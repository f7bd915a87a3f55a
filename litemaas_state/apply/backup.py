"""The pre-upgrade database backup: pg_dump | gzip, verified, before any image change.

Replaces the runbook's ``oc exec … pg_dump -U litellm litellm | gzip > /tmp/litellm-pre-upgrade.sql.gz``
(the rhpds day-2 runbook) and covers every database LiteLLM and LiteMaaS use (docs/deployment-facts.md §2: they may share
one). Each dump is written to a temporary name and renamed only once verified: non-empty, a whole gzip
stream, and pg_dump's completion trailer (``-- PostgreSQL database dump complete``) present. Then only
the newest ``keep`` dumps per environment and database are kept.

Two ways to run pg_dump: by exec in the database pod (the kubernetes path, as the runbook and rhpds's
backup cron do: the server's own pg_dump, no local client needed; stdout streamed into the file), or a
local pg_dump (direct path, or when exec is forbidden: over the port-forward). The local one gets the
password through ``PGPASSWORD`` in its environment, never on its command line; the one in the pod needs
none (the pod's local socket).

Where dumps may go (``check_destination``): never inside a git work tree unless git ignores the path
(``git check-ignore``), so a dump with clear-text keys cannot be committed by accident; the directory
is resolved against the state file's directory by the commands. Unfinished dumps: the ``.partial``
file is removed when pg_dump fails, on Ctrl-C/SIGTERM (the CLI turns both into KeyboardInterrupt, which
unwinds through the dump functions) and at interpreter exit (atexit); one left by a ``kill -9`` is
removed by the next backup of the same database (``remove_stale_partials``, own names only).
"""

from __future__ import annotations

import atexit
import gzip
import os
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from litemaas_state import interrupts
from litemaas_state.errors import BackupFailed
from litemaas_state.live.connect import DatabaseTarget
from litemaas_state.live.kube import KubeConnection
from litemaas_state.live.litemaas_db import tunnel_note
from litemaas_state.live.pgdump import pg_dump_path
from litemaas_state.live.podexec import exec_stream
from litemaas_state.plan.backup import PARTIAL_SUFFIX, dump_name_pattern
from litemaas_state.spec.model import system_directory

TRAILER = b"-- PostgreSQL database dump complete"
CHUNK = 1 << 20

_partials: set[Path] = set()


@atexit.register
def _remove_partials() -> None:
    for p in list(_partials):
        try:
            p.unlink(missing_ok=True)
        except OSError:
            pass


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str] | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        return subprocess.run([git, *args], cwd=cwd, capture_output=True, text=True, timeout=30,
                              env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError):
        return None


def check_destination(dest: Path) -> None:
    """Refuse a dump path inside a git work tree that git does not ignore.

    Without git installed the check is skipped (nothing can be committed either). Symlinks and ``..`` are
    resolved first (``os.path.realpath``), so a link cannot lead the dump into a system directory or an
    unignored part of a work tree (the commands refuse a system directory earlier; this is the last check).

    Raises:
        BackupFailed: naming the system directory, or the work tree and how to fix it.
    """
    dest = Path(os.path.realpath(dest))
    system = system_directory(str(dest))
    if system is not None:
        raise BackupFailed(f"refusing to write the dump {dest}: it is in the system directory {system}")
    anchor = dest.parent
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    top = _git(["rev-parse", "--show-toplevel"], anchor)
    if top is None or top.returncode != 0 or not top.stdout.strip():
        return  # not inside a work tree
    ignored = _git(["check-ignore", "-q", "--no-index", str(dest)], anchor)
    if ignored is not None and ignored.returncode == 0:
        return
    raise BackupFailed(
        f"refusing to write the dump {dest} inside the git work tree {top.stdout.strip()}: git does not ignore "
        "it, and dumps hold clear-text keys. Add its directory to .gitignore or set backup.directory outside "
        "the repository.")


def remove_stale_partials(directory: Path, prefix: str) -> list[Path]:
    """Remove unfinished dumps (``<prefix><stamp>.sql.gz.partial``) a killed backup left; returns them.

    Only regular files with exactly that name shape; the environment's apply lock makes sure none is
    being written by another apply.
    """
    if not directory.is_dir():
        return []
    shape = dump_name_pattern(prefix, partial=True)
    stale = [p for p in directory.iterdir() if shape.fullmatch(p.name) and p.is_file() and not p.is_symlink()]
    for p in stale:
        p.unlink(missing_ok=True)
    return sorted(stale)

TRAILER = b"-- PostgreSQL database dump complete"
CHUNK = 1 << 20



def verify_dump(path: Path) -> int:
    """Check a gzip'd pg_dump file; return its uncompressed size in bytes.

    Raises:
        BackupFailed: empty file, truncated/corrupt gzip stream, or no completion trailer.
    """
    if not path.exists() or path.stat().st_size == 0:
        raise BackupFailed(f"{path}: the dump is empty")
    size = 0
    tail = b""
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                size += len(chunk)
                tail = (tail + chunk)[-4096:]
    except (OSError, EOFError, zlib.error) as exc:
        raise BackupFailed(f"{path}: the gzip stream is not whole ({type(exc).__name__})") from exc
    if TRAILER not in tail:
        raise BackupFailed(f"{path}: pg_dump's completion trailer is missing (the dump is incomplete)")
    return size


class _Dump:
    """Writes one dump to ``<dest>.partial`` (gzip, 0600 in a 0700 directory), verifies it and renames it
    to ``dest``; on any failure nothing is left at either name."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.tmp = dest.with_name(dest.name + PARTIAL_SUFFIX)

    def write(self, produce: Callable[[BinaryIO], None]) -> int:
        """``produce(out)`` writes the uncompressed dump to ``out`` (raising BackupFailed on failure)."""
        try:
            # dumps hold every virtual key LiteMaaS stores in clear (api_keys.lite_llm_key_value): owner-only
            self.dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.dest.exists():
                raise BackupFailed(f"{self.dest} already exists; refusing to overwrite it")
            fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            _partials.add(self.tmp)
            with os.fdopen(fd, "wb") as raw_out, gzip.GzipFile(fileobj=raw_out, mode="wb") as out:
                produce(out)  # type: ignore[arg-type]
            size = verify_dump(self.tmp)
            self.tmp.rename(self.dest)
            return size
        except OSError as exc:
            raise BackupFailed(f"cannot write {self.dest}: {exc.strerror or exc}") from exc
        finally:
            try:
                self.tmp.unlink(missing_ok=True)
            except OSError:
                pass
            _partials.discard(self.tmp)


def dump_database(db: DatabaseTarget, dest: Path) -> int:
    """Run a local pg_dump for one database into ``dest`` (gzip), verify it, and return the uncompressed size.

    ``db.url`` may be a port-forward's local address (the exec-forbidden fallback).

    Raises:
        BackupFailed: pg_dump missing or failing (its stderr, scrubbed by the CLI, is included), or the
            result does not verify. No file is left at ``dest`` on failure.
    """
    exe = pg_dump_path()
    if exe is None:
        raise BackupFailed("pg_dump is not installed (install the PostgreSQL client matching the server)")
    params = conninfo_to_dict(db.url)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)

    def produce(out: BinaryIO) -> None:
        with tempfile.TemporaryFile() as errfile:
            proc: subprocess.Popen[bytes] | None = None
            try:
                with interrupts.held():  # an interrupt inside Popen would leave pg_dump running, unowned
                    # stderr goes to a file, so a chatty pg_dump can never block on a full pipe
                    proc = subprocess.Popen([exe, "--no-password", "--dbname", make_conninfo("", **params)],
                                            stdout=subprocess.PIPE, stderr=errfile, env=env)
                assert proc.stdout is not None
                shutil.copyfileobj(proc.stdout, out, CHUNK)
                code = proc.wait()
            finally:
                if proc is not None and proc.poll() is None:  # interrupted: pg_dump must not outlive us
                    proc.kill()
                    proc.wait()
            errfile.seek(0)
            err = errfile.read().decode(errors="replace")
        if code != 0:
            raise BackupFailed(f"pg_dump of {db.info.database} failed (exit {code}): {err.strip()[:300]}"
                               f"{tunnel_note(db)}")

    return _Dump(dest).write(produce)


def pg_dump_command(db: DatabaseTarget) -> list[str]:
    """pg_dump as the runbook runs it in the database pod (``oc exec litellm-postgres-0 -- pg_dump -U
    litellm litellm``): over the pod's local socket as the URL's user, so no password is passed at all."""
    return ["pg_dump", "--no-password", "--username", db.user or "postgres", "--dbname", db.info.database]


def dump_database_exec(kube: KubeConnection, db: DatabaseTarget, dest: Path) -> int:
    """Run pg_dump in the database pod by exec (the server's own pg_dump), stream its stdout into ``dest``
    (gzip), verify it, and return the uncompressed size.

    Raises:
        Forbidden: the token may not ``create pods/exec`` (the caller falls back to a local pg_dump over
            the port-forward). Nothing is written then.
        BackupFailed: pg_dump exits non-zero (its stderr is included) or the stream is cut off, or the
            result does not verify. No file is left at ``dest`` on failure.
    """
    assert db.pod is not None
    pod = db.pod
    alternative = "the backup falls back to a local pg_dump over the port-forward"

    def produce(out: BinaryIO) -> None:
        def write(chunk: bytes) -> None:
            out.write(chunk)

        result = exec_stream(kube, pod.name, pod.container, pg_dump_command(db), write, alternative=alternative)
        if result.exit_code is None:
            raise BackupFailed(f"pg_dump of {db.info.database} in pod/{pod.name} was cut off: {result.message}"
                               + (f"; stderr: {result.stderr.strip()[:300]}" if result.stderr.strip() else ""))
        if result.exit_code != 0:
            raise BackupFailed(f"pg_dump of {db.info.database} in pod/{pod.name} failed (exit {result.exit_code}): "
                               f"{result.stderr.strip()[:300] or result.message}")

    return _Dump(dest).write(produce)


def prune_old(directory: Path, prefix: str, keep: int, *, written: Path | None = None) -> list[Path]:
    """Remove all but the newest ``keep`` dumps named exactly ``<prefix><YYYYmmddTHHMMSSZ>.sql.gz``.

    Only regular files with exactly that name shape count (so ``<prefix>notes.sql.gz`` or another
    database whose name starts the same is never touched), and ``written`` — the dump just made — is
    never removed. Returns the removed files.
    """
    shape = dump_name_pattern(prefix)
    files = sorted(p for p in directory.iterdir() if shape.fullmatch(p.name) and p.is_file() and not p.is_symlink())
    keep_set = set(files[-keep:]) if keep > 0 else set()
    if written is not None:
        keep_set.add(written)
    removed = [f for f in files if f not in keep_set]
    for f in removed:
        f.unlink(missing_ok=True)
    return removed
