"""Schema of the sandbox databases: layouts (docs/deployment-facts.md §2), LiteMaaS constraints (docs/deployment-facts.md §3), LiteLLM DDL (docs/deployment-facts.md §4)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from .conftest import Sandbox

LITEMAAS_TABLES = {"users", "api_keys", "api_key_models", "subscriptions", "audit_logs", "models", "teams"}
LITELLM_TABLES = {"LiteLLM_VerificationToken", "LiteLLM_DeletedVerificationToken", "LiteLLM_UserTable"}


def _tables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    ).fetchall()
    return {r[0] for r in rows}


def test_databases_place_each_schema_in_its_database(sbx: Sandbox) -> None:
    with sbx.litemaas() as a, sbx.litellm() as b:
        ta, tb = _tables(a), _tables(b)
        dbs = {r[0] for r in a.execute("SELECT datname FROM pg_database WHERE NOT datistemplate")}
        owners = dict(a.execute("SELECT datname, pg_get_userbyid(datdba) FROM pg_database").fetchall())
    assert LITEMAAS_TABLES <= ta and LITELLM_TABLES <= tb
    assert sbx.dp.litemaas_database_url.endswith("/litemaas_db?sslmode=disable")
    if sbx.databases == "separate":
        assert sbx.dp.litellm_database_url.endswith("/litellm?sslmode=disable")
        assert not (LITELLM_TABLES & ta) and not (LITEMAAS_TABLES & tb)
        assert {"litemaas_db", "litellm"} <= dbs
    else:
        assert sbx.dp.litellm_database_url == sbx.dp.litemaas_database_url
        assert "litellm" not in dbs
    assert owners["litemaas_db"] == "litellm"


def test_verification_token_has_37_columns_and_only_a_primary_key(sbx: Sandbox) -> None:
    with sbx.litellm() as conn:
        cols = conn.execute(
            "SELECT column_name, data_type, datetime_precision FROM information_schema.columns"
            " WHERE table_name = 'LiteLLM_VerificationToken' ORDER BY ordinal_position"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'LiteLLM_VerificationToken'"
        ).fetchall()
        deleted = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'LiteLLM_DeletedVerificationToken'"
            )
        }
    assert len(cols) == 37
    by_name = {c[0]: c for c in cols}
    for ts in ("expires", "created_at", "updated_at"):
        assert by_name[ts][1:] == ("timestamp without time zone", 3)
    assert [i[0] for i in indexes] == ["LiteLLM_VerificationToken_pkey"]
    assert deleted == set(by_name) | {
        "id",
        "deleted_at",
        "deleted_by",
        "deleted_by_api_key",
        "litellm_changed_by",
    }


def test_server_runs_in_utc(sbx: Sandbox) -> None:
    with sbx.litellm() as conn:
        assert conn.execute("SHOW TimeZone").fetchone() == ("UTC",)


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("UPDATE users SET sync_status = 'done' WHERE username = 'system'", "users_sync_status_check"),
        (
            "UPDATE api_keys SET sync_status = 'deleted' WHERE id = (SELECT min(id::text)::uuid FROM api_keys)",
            "api_keys_sync_status_check",
        ),
        (
            "UPDATE subscriptions SET status = 'revoked' WHERE id = (SELECT min(id::text)::uuid FROM subscriptions)",
            "subscriptions_status_check",
        ),
    ],
)
def test_check_constraints_reject_unknown_values(sbx: Sandbox, statement: str, constraint: str) -> None:
    with sbx.litemaas() as conn, pytest.raises(errors.CheckViolation) as info:
        conn.execute(statement)
    assert info.value.diag.constraint_name == constraint


def test_cleanup_update_is_allowed_by_the_constraints(sbx: Sandbox) -> None:
    """docs/deployment-facts.md §6.2: is_active=false, revoked_at, sync_status='error', sync_error pass the CHECKs."""
    with sbx.litemaas() as conn, conn.transaction(force_rollback=True):
        cur = conn.execute(
            "UPDATE api_keys SET is_active=false, revoked_at=now(), sync_status='error',"
            " sync_error='Key deleted by cleanup cron' WHERE id = (SELECT min(id::text)::uuid FROM api_keys)"
        )
        assert cur.rowcount == 1


def test_key_hash_is_unique(sbx: Sandbox) -> None:
    with sbx.litemaas() as conn, pytest.raises(errors.UniqueViolation):
        conn.execute(
            "INSERT INTO api_keys (user_id, key_hash, key_prefix)"
            " SELECT user_id, key_hash, key_prefix FROM api_keys LIMIT 1"
        )


def test_updated_at_trigger_and_system_user_fk(sbx: Sandbox) -> None:
    with sbx.litemaas() as conn, conn.transaction(force_rollback=True):
        before = conn.execute("SELECT updated_at FROM users WHERE username='system'").fetchone()
        conn.execute("UPDATE users SET full_name = 'System' WHERE username='system'")
        after = conn.execute("SELECT updated_at, now() FROM users WHERE username='system'").fetchone()
        assert before is not None and after is not None
        assert after[0] == after[1] and after[0] > before[0]
        conn.execute(
            "INSERT INTO audit_logs (user_id, action, resource_type) VALUES"
            " ('00000000-0000-0000-0000-000000000001', 'USER_UPDATE', 'USER')"
        )
        with pytest.raises(errors.ForeignKeyViolation):
            conn.execute(
                "INSERT INTO audit_logs (user_id, action, resource_type) VALUES"
                " ('00000000-0000-0000-0000-0000000000ff', 'USER_UPDATE', 'USER')"
            )
