"""PostgresCluster makes its data directory by copying a cached template cluster (litemaas_state/sandbox/
postgres.py): later clusters are copies (the template's system identifier; initdb gives every cluster a new
one), each with its own password required over TCP and the Unix socket; a corrupt template is rebuilt, not
copied; concurrent builders end with one template; and every failure falls back to plain initdb.

Each test has its own template cache (``$LITEMAAS_SANDBOX_PG_TEMPLATE_DIR`` in tmp_path).
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from litemaas_state.sandbox import postgres
from litemaas_state.sandbox.postgres import TEMPLATE_DIR_ENV, PostgresCluster, ensure_template, scram_secret

Factory = Callable[..., PostgresCluster]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "templates"
    monkeypatch.setenv(TEMPLATE_DIR_ENV, str(root))
    return root


@pytest.fixture
def cluster() -> Iterator[Factory]:
    """Start a PostgresCluster in a fresh 0755 /tmp dir (reachable by `postgres` as root); all stopped and
    removed at teardown."""
    made: list[tuple[PostgresCluster, Path]] = []

    def make(password: str = "pw-Alpha-1234", role: str = "litellm") -> PostgresCluster:
        d = Path(tempfile.mkdtemp(prefix="lms-pgt-", dir="/tmp"))
        os.chmod(d, 0o755)
        pg = PostgresCluster(d, password, role=role)
        made.append((pg, d))
        pg.start()
        return pg

    try:
        yield make
    finally:
        for pg, d in made:
            pg.stop(remove=True)
            shutil.rmtree(d, ignore_errors=True)


def _sysid(pg: PostgresCluster) -> int:
    with pg.connect("postgres", autocommit=True) as conn:
        row = conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
    assert row is not None
    return int(row[0])


def _template_sysid(bindir: Path, template: Path) -> int:
    out = subprocess.run([str(bindir / "pg_controldata"), "-D", str(template / "data")], capture_output=True,
                         text=True, check=True, env={**os.environ, "LC_ALL": "C"}).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("Database system identifier:"))
    return int(line.split(":", 1)[1])


def _connect(pg: PostgresCluster, password: str, *, socket: bool) -> psycopg.Connection:
    return psycopg.connect(host=str(pg.sockdir) if socket else "127.0.0.1", port=pg.port, user=pg.role,
                           password=password, dbname="postgres", sslmode="disable", connect_timeout=5)


def test_later_clusters_are_copies_of_one_template(cache: Path, cluster: Factory) -> None:
    first = cluster()
    template = first.template
    assert template is not None and template.parent == cache and template.name.startswith("pg-template-")
    assert (template / "data" / "PG_VERSION").is_file() and (template / "template.json").is_file()
    inode = template.stat().st_ino
    second = cluster(password="pw-Bravo-5678")
    assert second.template == template and template.stat().st_ino == inode  # not rebuilt
    sysid = _template_sysid(first.bindir, template)
    assert _sysid(first) == _sysid(second) == sysid
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == [template.name]
    assert oct(first.datadir.stat().st_mode & 0o777) == "0o700"
    if os.geteuid() == 0:
        assert first.datadir.owner() == "postgres" and (first.datadir / "PG_VERSION").owner() == "postgres"


def test_each_copy_requires_its_own_password(cache: Path, cluster: Factory) -> None:
    a, b = cluster(password="pw-Alpha-1234"), cluster(password="pw-Bravo-5678")
    assert a.template is not None and b.template == a.template
    for pg, other in ((a, b), (b, a)):
        for socket in (False, True):
            with _connect(pg, pg.password, socket=socket) as conn:
                assert conn.execute("SELECT current_user").fetchone() == (pg.role,)
            for wrong in ("wrong", other.password, ""):
                with pytest.raises(psycopg.OperationalError, match="password"):
                    _connect(pg, wrong, socket=socket)
    with a.connect("postgres") as conn:
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (a.role,)).fetchone()
        assert row is not None and row[0].startswith("SCRAM-SHA-256$4096:")
        # the secret sent by the template path is the one libpq computes (PQencryptPasswordConn)
        libpq = conn.pgconn.encrypt_password(b"p@ss w0rd!", a.role.encode(), b"scram-sha-256").decode()
        iterations, salt = libpq.split("$")[1].split(":")
        assert scram_secret("p@ss w0rd!", salt=base64.b64decode(salt), iterations=int(iterations)) == libpq
        assert conn.execute("SHOW password_encryption").fetchone() == ("scram-sha-256",)
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
    assert a.password not in a.logfile.read_text(encoding="utf-8", errors="replace")
    with pytest.raises(ValueError):
        scram_secret("pässword")


def test_the_template_path_has_initdbs_auth(
    cache: Path, cluster: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied = cluster()
    monkeypatch.setenv(TEMPLATE_DIR_ENV, "off")
    fresh = cluster()
    assert copied.template is not None and fresh.template is None
    assert (copied.datadir / "pg_hba.conf").read_text() == (fresh.datadir / "pg_hba.conf").read_text()
    rules = [ln.split() for ln in (fresh.datadir / "pg_hba.conf").read_text().splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    assert rules and all(r[-1] == "scram-sha-256" for r in rules)
    with pytest.raises(psycopg.OperationalError, match="password"):
        _connect(fresh, "wrong", socket=True)
    monkeypatch.setenv(TEMPLATE_DIR_ENV, str(cache))
    unicode = cluster(password="pässwörd-Ünï")  # the server would SASLprep it: initdb sets it instead
    assert unicode.template is None
    with _connect(unicode, unicode.password, socket=False) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_without_a_usable_cache_initdb_makes_each_cluster(
    tmp_path: Path, cluster: Factory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv(TEMPLATE_DIR_ENV, str(blocker / "templates"))  # cannot be created
    with caplog.at_level(logging.WARNING, logger=postgres.__name__):
        a, b = cluster(), cluster(password="pw-Bravo-5678")
    assert a.template is None and b.template is None
    assert _sysid(a) != _sysid(b)  # two initdb runs
    assert "template unavailable" in caplog.text and a.password not in caplog.text
    with pytest.raises(psycopg.OperationalError, match="password"):
        _connect(b, a.password, socket=False)
    with _connect(b, b.password, socket=False):
        pass


def test_a_corrupt_template_is_rebuilt_not_copied(cache: Path, cluster: Factory) -> None:
    first = cluster()
    old = first.template
    assert old is not None
    old_sysid = _template_sysid(first.bindir, old)
    (old / "data" / "PG_VERSION").unlink()  # half-built
    second = cluster()
    assert second.template == old and (old / "data" / "PG_VERSION").is_file()
    new_sysid = _template_sysid(first.bindir, old)
    assert new_sysid != old_sysid and _sysid(second) == new_sysid
    (old / "template.json").write_text("{}")  # not this key
    third = cluster()
    assert third.template == old and _sysid(third) == _template_sysid(first.bindir, old)
    assert _sysid(third) not in (old_sysid, new_sysid)
    assert not [p for p in cache.iterdir() if p.name.endswith((".tmp", ".trash"))]


def test_a_template_that_cannot_take_a_password_falls_back_and_is_discarded(
    cache: Path, cluster: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    first = cluster()
    template = first.template
    assert template is not None
    (template / "data" / "global" / "pg_control").write_bytes(b"\0" * 8192)  # passes the file check only
    with caplog.at_level(logging.WARNING, logger=postgres.__name__):
        second = cluster(password="pw-Bravo-5678")
    assert second.template is None and "password failed" in caplog.text
    assert not template.exists()  # discarded: the next cluster builds a new one
    assert second.password not in caplog.text
    with _connect(second, second.password, socket=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    third = cluster()
    assert third.template == template and _sysid(third) == _template_sysid(first.bindir, template)


def test_concurrent_builders_end_with_one_template(cache: Path) -> None:
    bindir = postgres.find_bindir()
    results: list[Path] = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            results.append(ensure_template(bindir, "litellm", cache))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1 and len(results) == 3
    template = results[0]
    assert sorted(p.name for p in cache.iterdir()) == [f".{template.name}.lock", template.name]
    # without the lock: a builder whose rename loses keeps the winner's template and leaves nothing behind
    name, key = postgres._template_key(bindir, "litellm")
    sysid = _template_sysid(bindir, template)
    postgres._build_template(bindir, "litellm", key, template)
    assert _template_sysid(bindir, template) == sysid
    assert sorted(p.name for p in cache.iterdir()) == [f".{template.name}.lock", template.name]


def test_memory_placement_is_opt_in_and_needs_room(monkeypatch: pytest.MonkeyPatch) -> None:
    from litemaas_state.sandbox import postgres

    monkeypatch.delenv(postgres.MEMORY_ENV, raising=False)
    assert postgres._memory_dir() is None  # a user's `sandbox up` stays on disk
    monkeypatch.setenv(postgres.MEMORY_ENV, "1")
    if postgres.MEMORY_DIR.is_dir() and os.access(postgres.MEMORY_DIR, os.W_OK):
        st = os.statvfs(postgres.MEMORY_DIR)
        expected = postgres.MEMORY_DIR if st.f_bavail * st.f_frsize >= postgres._MEMORY_FREE_MIN else None
        assert postgres._memory_dir() == expected
    monkeypatch.setattr(postgres, "_MEMORY_FREE_MIN", 1 << 62)  # more than any tmpfs has free
    assert postgres._memory_dir() is None
