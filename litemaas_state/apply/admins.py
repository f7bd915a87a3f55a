"""Writes of LiteMaaS roles: one compare-and-set UPDATE per user, plus an audit_logs row.

Replaces ``promote-admin.sh`` (docs/deployment-facts.md §6.4), which overwrote roles with ARRAY['admin','user']
and interpolated the email into SQL: here roles are computed by the planner (other roles kept), the
statement is parameterised, and it only applies if the user's roles are still what the plan saw
(``WHERE roles = %s``), so a concurrent change is refused instead of overwritten. Audit rows use a NULL
user_id, as the backend does for admin-API-key callers (docs/deployment-facts.md §3.6).
"""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb

from litemaas_state.errors import ApplyError, PreconditionFailed
from litemaas_state.live.connect import DatabaseTarget
from litemaas_state.live.litemaas_db import connection

UPDATE_ROLES = (
    "UPDATE users SET roles = %s, updated_at = now() WHERE id::text = %s AND coalesce(roles, '{}') = %s::text[]"
)
INSERT_AUDIT = (
    "INSERT INTO audit_logs (user_id, action, resource_type, resource_id, old_values, new_values, success, "
    "metadata) VALUES (NULL, 'USER_UPDATE', 'USER', %s, %s, %s, true, %s)"
)


def set_roles(db: DatabaseTarget, user_id: str, before: list[str], after: list[str], reason: str) -> None:
    """Set one user's roles from ``before`` to ``after`` atomically.

    Raises:
        PreconditionFailed: the roles are no longer ``before``. ApplyError: the database refused.
    """
    try:
        with connection(db, autocommit=False) as conn, conn.transaction():
            cur = conn.execute(UPDATE_ROLES, (after, user_id, before))
            if cur.rowcount != 1:
                raise PreconditionFailed(f"users[{user_id}].roles changed since the plan (expected {before})")
            conn.execute(INSERT_AUDIT, (user_id, Jsonb({"roles": before}), Jsonb({"roles": after}),
                                        Jsonb({"source": "litemaas-state", "reason": reason})))
    except psycopg.Error as exc:
        raise ApplyError(f"updating roles of user {user_id} failed: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200]}") from exc
