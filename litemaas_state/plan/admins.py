"""Plan rules for the admins phase: who holds the LiteMaaS ``admin`` role (promote_admin, demote_admin).

Pure functions of (DesiredState, LiveState): no clock, no database, no environment. The applier writes
``users.roles`` by user id; this module only decides which roles each user should end up with.

Rules (docs/deployment-facts.md §3.1, §6.4; the runbook's admin section):

* Emails match case-insensitively (``str.casefold``); addresses and ids use the case-folded email.
* The LiteMaaS system user (``names.SYSTEM_USER_ID``, ``system@litemaas.internal``) is never touched and
  never counted as an admin.
* Promotion adds ``admin`` and ``user`` to the roles already held (``admin-readonly`` etc. are kept),
  unlike ``promote-admin.sh``, which overwrote them with ``{admin,user}`` (docs/deployment-facts.md §6.4).
* A listed email with no ``users`` row has not logged in via OAuth yet: a NOTE, never an insert (LiteMaaS
  creates the row at first login; docs/deployment-facts.md §3.1, §6.4).
* ``exclusive: true`` demotes every other user holding ``admin``, removing only ``admin``.
* Last-admin guard: a plan whose demotions would leave no user holding ``admin`` is an error.

Must not: import any client, read the clock, or insert users.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from litemaas_state import names
from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import LiteMaaSUser, LiveState
from litemaas_state.plan.model import AdminAction, UserRoles
from litemaas_state.spec.model import DesiredState

SESSION_NOTE = (
    "the new role reaches the user's session at their next login or token refresh "
    "(the JWT carries roles; docs/deployment-facts.md §3.1)"
)
DEMOTE_SESSION_NOTE = (
    "the user's current JWT keeps admin until it is refreshed or expires (JWT_EXPIRES_IN, default 24h; "
    "docs/deployment-facts.md §3.1)"
)
DEMOTE_GROUP_NOTE = (
    "login never removes roles but adds group roles: a member of the OpenShift group litemaas-admins or "
    "administrators gets admin back at the next login"
)


def email_key(email: str) -> str:
    """The form in which emails are compared, sorted and shown in addresses: case-folded.

    Args:
        email: an email address as written in the state file or stored in ``users.email``.
    Returns:
        ``email.casefold()`` (``O'Brien@Example.com`` → ``o'brien@example.com``).
    Raises:
        Nothing.
    Source: docs/deployment-facts.md §3.1 (``users.email`` is UNIQUE but case-sensitive); docs/design.md §10.8.
    """
    return email.casefold()


def admin_address(email: str) -> str:
    """The plan address of one user's admin role: ``admin/<case-folded email>``."""
    return f"admin/{email_key(email)}"


def is_system_user(user: LiteMaaSUser) -> bool:
    """True for the LiteMaaS system user, which no rule touches (docs/deployment-facts.md §3.1)."""
    return user.id == names.SYSTEM_USER_ID or email_key(user.email) == names.SYSTEM_USER_EMAIL


def counts_as_admin(user: LiteMaaSUser) -> bool:
    """True for a user who administers LiteMaaS: holds ``admin``, is active (an inactive user cannot log
    in) and is not the system user. The last-admin guard and ``status`` count these."""
    return names.ROLE_ADMIN in user.roles and user.is_active and not is_system_user(user)


def _merge_roles(roles: Iterable[str], added: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for role in (*roles, *added):
        if role not in out:
            out.append(role)
    return tuple(out)


def roles_with_admin(roles: Iterable[str]) -> tuple[str, ...]:
    """Roles after promotion: the existing ones in order, then ``admin`` and ``user`` if missing.

    Args:
        roles: ``users.roles`` as stored (may be empty, may hold ``admin-readonly``, ``readonly``).
    Returns:
        A tuple without duplicates, e.g. ``("admin-readonly", "user")`` → ``("admin-readonly", "user",
        "admin")``.
    Raises:
        Nothing.
    Source: docs/deployment-facts.md §3.1 (role names; login adds ``user`` always), §6.4 (the script's overwrite
    dropped ``admin-readonly``; we do not).
    """
    return _merge_roles(roles, (names.ROLE_ADMIN, names.ROLE_USER))


def roles_without_admin(roles: Iterable[str]) -> tuple[str, ...]:
    """Roles after demotion: every role except ``admin``, order kept, duplicates dropped.

    Args:
        roles: ``users.roles`` as stored.
    Returns:
        The remaining roles, e.g. ``("admin", "admin-readonly", "user")`` → ``("admin-readonly", "user")``.
    Raises:
        Nothing.
    Source: docs/deployment-facts.md §3.1.
    """
    return _merge_roles((r for r in roles if r != names.ROLE_ADMIN), ())


AdminKind = Literal["promote_admin", "demote_admin"]


def _action(
    kind: AdminKind, user: LiteMaaSUser, after: tuple[str, ...], reason: str, notes: tuple[str, ...]
) -> AdminAction:
    addr = admin_address(user.email)
    return AdminAction(
        kind=kind,
        id=f"admins/{email_key(user.email)}",
        address=addr,
        email=user.email,
        user_id=user.id,
        roles_after=after,
        reason=reason,
        notes=notes,
        preconditions=(UserRoles(user_id=user.id, email=user.email, roles=tuple(user.roles)),),
    )


def plan_admins(desired: DesiredState, live: LiveState) -> tuple[list[AdminAction], list[Diagnostic]]:
    """Promote listed users to admin; with ``exclusive``, demote everyone else; guard the last admin.

    Args:
        desired: the state file; only ``desired.admins`` is read (None → nothing to do).
        live: ``live.users`` (LiteMaaS ``users`` rows; None when not observed).
    Returns:
        (actions, diagnostics). Actions are promote_admin / demote_admin, sorted by case-folded email.
        Diagnostics: ERROR when users were not observed, when a listed email is the system user or
        matches several rows, or when demotions would leave no admin; NOTE for each listed email that
        has no row yet (pending first OAuth login); NOTE for an inactive listed user; WARNING when the
        deployment has no admin before or after the plan and the plan does not cause it.
    Raises:
        Nothing: findings are Diagnostics.
    Source: docs/deployment-facts.md §3.1 (roles, login union, JWT carries roles), §6.4 (promote-admin.sh: the
    user must log in first, never insert users); docs/design.md §10.7.
    """
    policy = desired.admins
    if policy is None:
        return [], []
    if live.users is None:
        return [], [
            Diagnostic(
                severity=Severity.ERROR,
                address="admin",
                summary="LiteMaaS users were not observed: cannot plan admin roles",
                detail="The LiteMaaS database (users table) could not be read; set its URL or remove "
                "`admins` from the state file.",
            )
        ]

    users = [u for u in live.users if not is_system_user(u)]
    by_email: dict[str, list[LiteMaaSUser]] = {}
    for u in users:
        by_email.setdefault(email_key(u.email), []).append(u)

    actions: list[AdminAction] = []
    diags: list[Diagnostic] = []
    wanted = {email_key(e) for e in policy.emails}
    promoted: set[str] = set()
    for email in sorted(policy.emails, key=email_key):
        key = email_key(email)
        addr = admin_address(email)
        if key == names.SYSTEM_USER_EMAIL:
            diags.append(
                Diagnostic(
                    severity=Severity.ERROR,
                    address=addr,
                    summary=f"{email} is the LiteMaaS system user; it cannot be an admin",
                    detail="The system user is internal (is_active false) and never reconciled.",
                )
            )
            continue
        matches = by_email.get(key, [])
        if not matches:
            diags.append(
                Diagnostic(
                    severity=Severity.NOTE,
                    address=addr,
                    summary=f"{email} has not logged in via OAuth yet; promotion is pending",
                    detail="LiteMaaS creates the user at their first login and litemaas-state never inserts "
                    "users. Plan again after they have logged in.",
                )
            )
            continue
        if len(matches) > 1:
            ids = ", ".join(sorted(u.id for u in matches))
            diags.append(
                Diagnostic(
                    severity=Severity.ERROR,
                    address=addr,
                    summary=f"{email} matches {len(matches)} LiteMaaS users ({ids}) when compared "
                    "case-insensitively",
                    detail="users.email is unique only case-sensitively; resolve the duplicates first.",
                )
            )
            continue
        user = matches[0]
        if not user.is_active:
            diags.append(
                Diagnostic(
                    severity=Severity.NOTE,
                    address=addr,
                    summary=f"{email} is not active (users.is_active is false)",
                )
            )
        if names.ROLE_ADMIN in user.roles:
            promoted.add(user.id)
            continue
        actions.append(
            _action(
                "promote_admin",
                user,
                roles_with_admin(user.roles),
                reason=f"{email} is listed in admins.emails",
                notes=(SESSION_NOTE,),
            )
        )
        promoted.add(user.id)

    demoted: set[str] = set()
    if policy.exclusive:
        for user in sorted(users, key=lambda u: (email_key(u.email), u.id)):
            if names.ROLE_ADMIN not in user.roles or email_key(user.email) in wanted:
                continue
            actions.append(
                _action(
                    "demote_admin",
                    user,
                    roles_without_admin(user.roles),
                    reason="admins.exclusive is true and this user is not listed in admins.emails",
                    notes=(DEMOTE_SESSION_NOTE, DEMOTE_GROUP_NOTE),
                )
            )
            demoted.add(user.id)

    # only active users can log in and use the role (an inactive admin does not keep LiteMaaS administrable)
    active = {u.id for u in users if u.is_active}
    admins_before = {u.id for u in users if counts_as_admin(u)}
    admins_after = ((admins_before - demoted) | promoted) & active
    if not admins_after:
        known = set(by_email) | {names.SYSTEM_USER_EMAIL}
        pending = sorted((e for e in policy.emails if email_key(e) not in known), key=email_key)
        waiting = f" ({', '.join(pending)} pending first login)" if pending else ""
        if demoted:
            diags.append(
                Diagnostic(
                    severity=Severity.ERROR,
                    address="admin",
                    summary="this plan would leave LiteMaaS with no admin",
                    detail=f"admins.exclusive would remove admin from {len(demoted)} user(s) and no "
                    f"listed user holds it yet{waiting}. Wait until a listed user has logged in, or list "
                    "a current admin.",
                )
            )
        else:
            diags.append(
                Diagnostic(
                    severity=Severity.WARNING,
                    address="admin",
                    summary=f"LiteMaaS has no admin, before or after this plan{waiting}",
                )
            )
    actions.sort(key=lambda a: (a.address, a.id))
    return actions, diags
