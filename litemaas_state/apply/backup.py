"""The pre-upgrade database backup: pg_dump | gzip, verified, before any image change.

Replaces the runbook's ``oc exec … pg_dump -U litellm litellm | gzip > /tmp/litellm-pre-upgrade.sql.gz``
(shared/seed) and covers every database LiteLLM and LiteMaaS use (litemaas-facts.md §2: they may share
one). Each dump is written to a temporary name and renamed only once verified: non-empty, a whole gzip
stream, and pg_dump's completion trailer (``-- PostgreSQL database dump complete``) present. Then only
the newest ``keep`` dumps per environment and database are kept. The password reaches pg_dump through
``PGPASSWORD`` in its environment, never on its command line.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import tempfile
import zlib
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from litemaas_state.errors import BackupFailed
from litemaas_state.live.connect import DatabaseTarget
from litemaas_state.live.pgdump import pg_dump_path

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
        raise BackupFailed(f"{path}: the gzip stream is not whole ({type(exc).__name__})") from None
    if TRAILER not in tail:
        raise BackupFailed(f"{path}: pg_dump's completion trailer is missing (the dump is incomplete)")
    return size


def dump_database(db: DatabaseTarget, dest: Path) -> int:
    """Run pg_dump for one database into ``dest`` (gzip), verify it, and return the uncompressed size.

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
    tmp = dest.with_name(dest.name + ".partial")
    try:
        # dumps hold every virtual key LiteMaaS stores in clear (api_keys.lite_llm_key_value): owner-only
        dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if dest.exists():
            raise BackupFailed(f"{dest} already exists; refusing to overwrite it")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw_out, gzip.GzipFile(fileobj=raw_out, mode="wb") as out, \
                tempfile.TemporaryFile() as errfile:
            # stderr goes to a file, so a chatty pg_dump can never block on a full pipe
            proc = subprocess.Popen([exe, "--no-password", "--dbname", make_conninfo("", **params)],
                                    stdout=subprocess.PIPE, stderr=errfile, env=env)
            assert proc.stdout is not None
            shutil.copyfileobj(proc.stdout, out, CHUNK)
            code = proc.wait()
            errfile.seek(0)
            err = errfile.read().decode(errors="replace")
        if code != 0:
            raise BackupFailed(f"pg_dump of {db.info.database} failed (exit {code}): {err.strip()[:300]}")
        size = verify_dump(tmp)
        tmp.rename(dest)
        return size
    except OSError as exc:
        raise BackupFailed(f"cannot write {dest}: {exc.strerror or exc}") from None
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def prune_old(directory: Path, prefix: str, keep: int, *, written: Path | None = None) -> list[Path]:
    """Remove all but the newest ``keep`` dumps named exactly ``<prefix><YYYYmmddTHHMMSSZ>.sql.gz``.

    Only regular files with exactly that name shape count (so ``<prefix>notes.sql.gz`` or another
    database whose name starts the same is never touched), and ``written`` — the dump just made — is
    never removed. Returns the removed files.
    """
    shape = re.compile(re.escape(prefix) + r"\d{8}T\d{6}Z\.sql\.gz")
    files = sorted(p for p in directory.iterdir() if shape.fullmatch(p.name) and p.is_file() and not p.is_symlink())
    keep_set = set(files[-keep:]) if keep > 0 else set()
    if written is not None:
        keep_set.add(written)
    removed = [f for f in files if f not in keep_set]
    for f in removed:
        f.unlink(missing_ok=True)
    return removed
