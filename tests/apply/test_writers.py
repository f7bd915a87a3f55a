"""Writers against a real data plane (PostgreSQL + LiteLLM API stand-in): role compare-and-set, orphan
revocation by (id, key_hash), the token read-back that refuses to trust a wrong LiteLLM database, and
backup verification."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from litemaas_state.apply import admins, backup, keys
from litemaas_state.errors import BackupFailed, PreconditionFailed
from litemaas_state.live.connect import DatabaseTarget, describe_database
from litemaas_state.live.tokens import TokenReader
from litemaas_state.sandbox.dataplane import DataPlane, start_data_plane
from litemaas_state.sandbox.secrets import SandboxSecrets


@pytest.fixture(scope="module")
def dp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DataPlane, SandboxSecrets]]:
    secrets = SandboxSecrets.generate()
    plane = start_data_plane(tmp_path_factory.mktemp("writers"), secrets, layout="separate")
    try:
        yield plane, secrets
    finally:
        plane.stop()


def litemaas(plane: DataPlane) -> DatabaseTarget:
    return describe_database(plane.litemaas_database_url, "litemaas", "test")


def test_roles_compare_and_set_handles_null_roles_and_refuses_a_changed_user(dp) -> None:  # type: ignore[no-untyped-def]
    plane, _ = dp
    with psycopg.connect(plane.litemaas_database_url, autocommit=True) as conn:
        uid = conn.execute("SELECT id::text FROM users WHERE email ILIKE 'sean.o''brien@example.com'").fetchone()[0]
        conn.execute("UPDATE users SET roles = NULL WHERE id = %s", (uid,))
    admins.set_roles(litemaas(plane), uid, [], ["admin", "user"], reason="test")
    with psycopg.connect(plane.litemaas_database_url) as conn:
        assert conn.execute("SELECT roles FROM users WHERE id = %s", (uid,)).fetchone()[0] == ["admin", "user"]
        audit = conn.execute("SELECT count(*) FROM audit_logs WHERE resource_id = %s AND action = 'USER_UPDATE'",
                             (uid,)).fetchone()[0]
    assert audit == 1
    with pytest.raises(PreconditionFailed):
        admins.set_roles(litemaas(plane), uid, ["user"], ["user", "admin"], reason="test")


def test_orphan_revocation_leaves_a_row_whose_key_was_rotated_since_the_plan(dp) -> None:  # type: ignore[no-untyped-def]
    plane, _ = dp
    with psycopg.connect(plane.litemaas_database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT id::text, key_hash FROM api_keys WHERE is_active LIMIT 2").fetchall()
        (rotated_id, old_hash), (orphan_id, orphan_hash) = rows
        conn.execute("UPDATE api_keys SET key_hash = %s WHERE id = %s", ("f" * 64, rotated_id))
    n = keys.revoke_rows_by_id(litemaas(plane), [(rotated_id, old_hash), (orphan_id, orphan_hash)],
                               "test orphan", live_tokens=set())
    assert n == 1
    with psycopg.connect(plane.litemaas_database_url) as conn:
        state = dict(conn.execute("SELECT id::text, is_active FROM api_keys WHERE id::text = ANY(%s)",
                                  ([rotated_id, orphan_id],)).fetchall())
    assert state == {rotated_id: True, orphan_id: False}


def test_token_reader_does_not_trust_a_litellm_database_the_api_does_not_use(dp) -> None:  # type: ignore[no-untyped-def]
    plane, secrets = dp
    with psycopg.connect(plane.litellm_database_url) as conn:
        live = [r[0] for r in conn.execute('SELECT token FROM "LiteLLM_VerificationToken" '
                                           "WHERE team_id IS DISTINCT FROM 'litellm-dashboard' LIMIT 7")]
    with psycopg.connect(plane.litemaas_database_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS litellm_stale")
        conn.execute("CREATE DATABASE litellm_stale")
    stale_url = plane.litellm_database_url.replace("/litellm?", "/litellm_stale?")
    with psycopg.connect(stale_url, autocommit=True) as conn:
        conn.execute('CREATE TABLE "LiteLLM_VerificationToken" (token text primary key, expires timestamp(3))')
    with httpx.Client(base_url=plane.litellm_url, headers={"Authorization": f"Bearer {secrets.master_key}"}) as c:
        stale = TokenReader(c, describe_database(stale_url, "litellm", "test"))
        assert stale.existing(live) == set(live) and stale.db_trusted is False
        good = TokenReader(c, describe_database(plane.litellm_database_url, "litellm", "test"))
        assert good.existing(live) == set(live) and good.db_trusted is True


def _dump(path: Path, text: bytes) -> Path:
    with gzip.open(path, "wb") as f:
        f.write(text)
    return path


def test_verify_dump(tmp_path: Path) -> None:
    good = _dump(tmp_path / "good.sql.gz", b"CREATE TABLE x();\n--\n-- PostgreSQL database dump complete\n--\n")
    assert backup.verify_dump(good) > 0
    with pytest.raises(BackupFailed, match="trailer"):
        backup.verify_dump(_dump(tmp_path / "cut.sql.gz", b"CREATE TABLE x();\n"))
    truncated = tmp_path / "trunc.sql.gz"
    truncated.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(BackupFailed, match="gzip stream"):
        backup.verify_dump(truncated)
    (tmp_path / "empty.sql.gz").write_bytes(b"")
    with pytest.raises(BackupFailed, match="empty"):
        backup.verify_dump(tmp_path / "empty.sql.gz")


def test_prune_old_keeps_the_newest(tmp_path: Path) -> None:
    for stamp in ("20261101T000000Z", "20261102T000000Z", "20261103T000000Z"):
        (tmp_path / f"env-litellm-{stamp}.sql.gz").write_bytes(b"x")
    (tmp_path / "env-litellm_db-20261101T000000Z.sql.gz").write_bytes(b"x")  # another database: untouched
    (tmp_path / "env-litellm-prod-20261101T000000Z.sql.gz").write_bytes(b"x")  # another database too
    (tmp_path / "env-litellm-notes.sql.gz").write_bytes(b"x")  # not a dump name: untouched
    (tmp_path / "env-litellm-20200101T000000Z.sql.gz").mkdir()  # not a file: untouched
    removed = backup.prune_old(tmp_path, "env-litellm-", keep=1)
    assert [p.name for p in removed] == ["env-litellm-20261101T000000Z.sql.gz", "env-litellm-20261102T000000Z.sql.gz"]
    for name in ("env-litellm_db-20261101T000000Z.sql.gz", "env-litellm-prod-20261101T000000Z.sql.gz",
                 "env-litellm-notes.sql.gz", "env-litellm-20200101T000000Z.sql.gz", "env-litellm-20261103T000000Z.sql.gz"):
        assert (tmp_path / name).exists()
    # the dump just written is never removed, even if a newer-named file exists
    (tmp_path / "env-litellm-29990101T000000Z.sql.gz").write_bytes(b"x")
    written = tmp_path / "env-litellm-20261103T000000Z.sql.gz"
    assert backup.prune_old(tmp_path, "env-litellm-", keep=1, written=written) == []


def test_dump_of_a_real_database_verifies(dp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plane, _ = dp
    size = backup.dump_database(litemaas(plane), tmp_path / "dumps" / "d.sql.gz")
    assert size > 1000 and not list((tmp_path / "dumps").glob("*.partial"))
    assert (tmp_path / "dumps" / "d.sql.gz").stat().st_mode & 0o777 == 0o600  # holds clear-text keys
    assert (tmp_path / "dumps").stat().st_mode & 0o777 == 0o700
