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
from litemaas_state.live import litellm_api
from litemaas_state.live.connect import DatabaseTarget, describe_database
from litemaas_state.live.model import VirtualKey
from litemaas_state.live.tokens import TokenReader, check_trust, read_keys
from litemaas_state.sandbox.dataplane import DataPlane, start_data_plane
from litemaas_state.sandbox.secrets import SandboxSecrets


@pytest.fixture(scope="module")
def dp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DataPlane, SandboxSecrets]]:
    secrets = SandboxSecrets.generate()
    plane = start_data_plane(tmp_path_factory.mktemp("writers"), secrets, databases="separate")
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


def _schema_copy(plane: DataPlane, name: str, *, rows_from_live: bool) -> str:
    """A database with LiteLLM's token table (same columns), empty or holding a copy of today's rows."""
    with psycopg.connect(plane.litemaas_database_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    url = plane.litellm_database_url.replace("/litellm?", f"/{name}?")
    with psycopg.connect(plane.litellm_database_url) as src:
        cols = src.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                           "'\"LiteLLM_VerificationToken\"'::regclass AND attnum > 0 AND NOT attisdropped "
                           "ORDER BY attnum").fetchall()
    with psycopg.connect(url, autocommit=True) as conn:
        ddl = ", ".join(f'"{c}" {t}' for c, t in cols)
        conn.execute(f'CREATE TABLE "LiteLLM_VerificationToken" ({ddl})')
    if rows_from_live:
        _copy_tokens(plane.litellm_database_url, url, "true")
    return url


def _copy_tokens(src_url: str, dst_url: str, where: str, *params: str) -> None:
    """COPY the token rows matching ``where`` from one database to another."""
    with psycopg.connect(src_url) as src, psycopg.connect(dst_url, autocommit=True) as dst:
        query = psycopg.sql.SQL("COPY (SELECT * FROM {} WHERE {}) TO STDOUT").format(
            psycopg.sql.Identifier("LiteLLM_VerificationToken"), psycopg.sql.SQL(where))  # type: ignore[arg-type]
        with src.cursor().copy(query, params or None) as out, \
                dst.cursor().copy('COPY "LiteLLM_VerificationToken" FROM STDIN') as into:
            for data in out:
                into.write(data)


def test_trust_is_given_only_to_the_database_litellm_serves(dp) -> None:  # type: ignore[no-untyped-def]
    plane, secrets = dp
    empty = _schema_copy(plane, "litellm_empty", rows_from_live=False)
    old = _schema_copy(plane, "litellm_old", rows_from_live=True)
    with httpx.Client(base_url=plane.litellm_url, headers={"Authorization": f"Bearer {secrets.master_key}"}) as c:
        good = describe_database(plane.litellm_database_url, "litellm", "test")
        assert check_trust(c, good).trusted
        # an empty copy of the schema: the API lists keys, the database has none
        verdict = check_trust(c, describe_database(empty, "litellm", "test"))
        assert not verdict.trusted and "newest keys LiteLLM lists are not in litellm_empty" in verdict.reason
        # a stale copy: same rows today, then a key is created through the API (only LiteLLM's DB has it)
        assert check_trust(c, describe_database(old, "litellm", "test")).trusted
        resp = c.post("/key/generate", json={"key_alias": "trust-probe"})
        assert resp.status_code == 200
        verdict = check_trust(c, describe_database(old, "litellm", "test"))
        assert not verdict.trusted and "1 of the" in verdict.reason
        # the stale copy catches up with that key: trusted again
        _copy_tokens(plane.litellm_database_url, old, "token = %s", resp.json()["token"])
        assert check_trust(c, describe_database(old, "litellm", "test")).trusted
        # an older key deleted through the API, which the stale copy still holds: the count gives it away
        oldest = c.get("/key/list", params={"size": 1, "sort_by": "created_at", "sort_order": "asc"}).json()
        assert c.post("/key/delete", json={"keys": oldest["keys"]}).status_code == 200
        verdict = check_trust(c, describe_database(old, "litellm", "test"))
        assert not verdict.trusted and "where LiteLLM counts" in verdict.reason, verdict.reason
        assert check_trust(c, good).trusted


def test_the_database_read_equals_the_key_list_read(dp) -> None:  # type: ignore[no-untyped-def]
    plane, secrets = dp
    db = describe_database(plane.litellm_database_url, "litellm", "test")
    with httpx.Client(base_url=plane.litellm_url, headers={"Authorization": f"Bearer {secrets.master_key}"}) as c:
        keys, source = read_keys(c, db)
        listed = litellm_api.list_keys(c)
    assert source.origin == "litellm-db" and source.count == len(keys) == len(listed) > 0

    def fields(k: VirtualKey) -> tuple[object, ...]:
        return k.token_hash, k.alias, k.user_id, k.team_id, k.created_at, k.expires, k.duration

    assert sorted(map(fields, keys), key=str) == sorted(map(fields, listed), key=str)
    assert not any(k.team_id == "litellm-dashboard" for k in keys)
    with psycopg.connect(plane.litellm_database_url) as conn:
        dashboard = conn.execute('SELECT count(*) FROM "LiteLLM_VerificationToken" '
                                 "WHERE team_id = 'litellm-dashboard'").fetchone()[0]
    assert dashboard > 0  # the seed has UI session keys, left out by both reads


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
