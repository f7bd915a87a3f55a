"""Admin rules (plan/admins.py): promotion, pending users, exclusive demotion, the last-admin guard.

Sources for the expectations: docs/deployment-facts.md §3.1 (roles, system user, JWT carries roles), §6.4
(promote-admin.sh: the user must log in first; the script overwrote roles).
"""

from __future__ import annotations

from typing import Any

import pytest

from litemaas_state import names
from litemaas_state.errors import Severity
from litemaas_state.live.model import LiteMaaSUser
from litemaas_state.plan.admins import SESSION_NOTE, plan_admins, roles_with_admin, roles_without_admin
from litemaas_state.plan.model import AdminAction, Phase, UserRoles

from .factories import desired, live

SYSTEM = LiteMaaSUser(
    id=names.SYSTEM_USER_ID, email="system@litemaas.internal", username="system", roles=(), is_active=False
)


def user(uid: str, email: str, *roles: str, active: bool = True) -> LiteMaaSUser:
    return LiteMaaSUser(id=uid, email=email, username=email.split("@")[0], roles=roles, is_active=active)


def admins(*emails: str, exclusive: bool = False) -> dict[str, Any]:
    return {"admins": {"emails": list(emails), "exclusive": exclusive}}


def summaries(diags: list[Any]) -> list[tuple[Severity, str | None, str]]:
    return [(d.severity, d.address, d.summary) for d in diags]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ((), ("admin", "user")),
        (("user",), ("user", "admin")),
        (("admin-readonly", "user"), ("admin-readonly", "user", "admin")),
        (("readonly",), ("readonly", "admin", "user")),
        (("user", "user"), ("user", "admin")),
        (("admin",), ("admin", "user")),
    ],
)
def test_roles_with_admin(before: tuple[str, ...], after: tuple[str, ...]) -> None:
    assert roles_with_admin(before) == after


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (("admin", "user"), ("user",)),
        (("admin", "admin-readonly", "user"), ("admin-readonly", "user")),
        (("user", "admin", "readonly"), ("user", "readonly")),
        (("admin",), ()),
    ],
)
def test_roles_without_admin(before: tuple[str, ...], after: tuple[str, ...]) -> None:
    assert roles_without_admin(before) == after


def test_no_policy_no_actions() -> None:
    assert plan_admins(desired(), live(users=(user("u1", "a@example.com", "user"),))) == ([], [])


def test_users_not_observed_is_an_error() -> None:
    actions, diags = plan_admins(desired(**admins("a@example.com")), live())
    assert actions == []
    assert summaries(diags) == [
        (Severity.ERROR, "admin", "LiteMaaS users were not observed: cannot plan admin roles")
    ]


def test_promote_keeps_other_roles_and_carries_a_precondition() -> None:
    current = user("u-alice", "alice@example.com", "admin", "user")
    alice_ro = user("u-bob", "bob@example.com", "admin-readonly", "user")
    actions, diags = plan_admins(
        desired(**admins("alice@example.com", "bob@example.com")), live(users=(SYSTEM, current, alice_ro))
    )
    assert diags == []
    (a,) = actions
    assert isinstance(a, AdminAction)
    assert (a.kind, a.id, a.phase, a.address, a.email, a.user_id) == (
        "promote_admin",
        "admins/bob@example.com",
        Phase.ADMINS,
        "admin/bob@example.com",
        "bob@example.com",
        "u-bob",
    )
    assert a.roles_after == ("admin-readonly", "user", "admin")
    assert [(c.field, c.before, c.after) for c in a.changes] == [
        ("roles", ["admin-readonly", "user"], ["admin-readonly", "user", "admin"])
    ]
    assert a.notes == (SESSION_NOTE,)
    assert "next login or token refresh" in a.notes[0]
    assert a.preconditions == (UserRoles(user_id="u-bob", email="bob@example.com", roles=("admin-readonly", "user")),)
    assert a.destructive is False


@pytest.mark.parametrize(
    ("listed", "stored"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("alice@example.com", "ALICE@Example.com"),
        ("O'Brien@Example.com", "o'brien@example.com"),
        ("o'brien@example.com", "o'brien@example.com"),
    ],
)
def test_emails_match_case_insensitively(listed: str, stored: str) -> None:
    actions, diags = plan_admins(desired(**admins(listed)), live(users=(user("u1", stored, "user"),)))
    assert diags == []
    (a,) = actions
    lower = stored.casefold()
    assert (a.email, a.id, a.address, a.user_id) == (stored, f"admins/{lower}", f"admin/{lower}", "u1")


def test_already_admin_is_no_change() -> None:
    users = (user("u1", "alice@example.com", "admin", "user"),)
    assert plan_admins(desired(**admins("ALICE@example.com")), live(users=users)) == ([], [])


def test_user_who_never_logged_in_is_a_pending_note() -> None:
    users = (user("u1", "alice@example.com", "admin", "user"),)
    actions, diags = plan_admins(
        desired(**admins("alice@example.com", "New.Hire@Example.com")), live(users=users)
    )
    assert actions == []
    assert summaries(diags) == [
        (
            Severity.NOTE,
            "admin/new.hire@example.com",
            "New.Hire@Example.com has not logged in via OAuth yet; promotion is pending",
        )
    ]


def test_exclusive_demotes_others_keeping_their_other_roles() -> None:
    users = (
        SYSTEM,
        user("u-alice", "alice@example.com", "user"),
        user("u-bob", "bob@example.com", "admin", "admin-readonly", "user"),
        user("u-carol", "carol@example.com", "admin-readonly", "user"),
        user("u-dave", "Dave@Example.com", "user", "admin"),
    )
    actions, diags = plan_admins(desired(**admins("alice@example.com", exclusive=True)), live(users=users))
    assert diags == []
    assert [(a.kind, a.address, a.roles_after) for a in actions] == [
        ("promote_admin", "admin/alice@example.com", ("user", "admin")),
        ("demote_admin", "admin/bob@example.com", ("admin-readonly", "user")),
        ("demote_admin", "admin/dave@example.com", ("user",)),
    ]
    bob = actions[1]
    assert [(c.before, c.after) for c in bob.changes] == [
        (["admin", "admin-readonly", "user"], ["admin-readonly", "user"])
    ]
    assert bob.preconditions == (UserRoles(user_id="u-bob", email="bob@example.com",
                                           roles=("admin", "admin-readonly", "user")),)
    assert any("litemaas-admins" in n for n in bob.notes)


def test_exclusive_keeps_listed_admins() -> None:
    users = (user("u-alice", "Alice@example.com", "admin", "user"), user("u-bob", "bob@example.com", "admin"))
    actions, diags = plan_admins(desired(**admins("alice@EXAMPLE.com", exclusive=True)), live(users=users))
    assert diags == []
    assert [(a.kind, a.user_id) for a in actions] == [("demote_admin", "u-bob")]


def test_system_user_is_never_touched_or_counted() -> None:
    system_admin = SYSTEM.model_copy(update={"roles": ("admin",)})
    users = (system_admin, user("u-alice", "alice@example.com", "admin", "user"))
    actions, diags = plan_admins(desired(**admins("alice@example.com", exclusive=True)), live(users=users))
    assert (actions, diags) == ([], [])
    # the system user's admin role does not count: demoting alice would leave no admin
    actions, diags = plan_admins(desired(**admins("new@example.com", exclusive=True)), live(users=users))
    assert [a.user_id for a in actions] == ["u-alice"]
    assert (Severity.ERROR, "admin", "this plan would leave LiteMaaS with no admin") in summaries(diags)


def test_system_user_cannot_be_listed() -> None:
    users = (SYSTEM, user("u-alice", "alice@example.com", "admin", "user"))
    actions, diags = plan_admins(desired(**admins("System@LiteMaaS.internal")), live(users=users))
    assert actions == []
    assert summaries(diags) == [
        (
            Severity.ERROR,
            "admin/system@litemaas.internal",
            "System@LiteMaaS.internal is the LiteMaaS system user; it cannot be an admin",
        )
    ]


def test_last_admin_guard_exclusive_list_all_pending() -> None:
    users = (user("u-bob", "bob@example.com", "admin", "user"),)
    actions, diags = plan_admins(desired(**admins("new@example.com", exclusive=True)), live(users=users))
    assert [(a.kind, a.user_id) for a in actions] == [("demote_admin", "u-bob")]
    assert summaries(diags) == [
        (
            Severity.NOTE,
            "admin/new@example.com",
            "new@example.com has not logged in via OAuth yet; promotion is pending",
        ),
        (Severity.ERROR, "admin", "this plan would leave LiteMaaS with no admin"),
    ]
    assert "new@example.com pending first login" in diags[1].detail


def test_last_admin_guard_passes_when_a_listed_user_is_promoted() -> None:
    users = (user("u-bob", "bob@example.com", "admin", "user"), user("u-alice", "alice@example.com", "user"))
    actions, diags = plan_admins(desired(**admins("alice@example.com", exclusive=True)), live(users=users))
    assert [a.kind for a in actions] == ["promote_admin", "demote_admin"]
    assert diags == []


def test_no_admin_before_or_after_without_demotion_is_a_warning() -> None:
    # a fresh install: nobody has logged in yet; the plan does not cause the situation, so it is not blocked
    actions, diags = plan_admins(desired(**admins("first@example.com")), live(users=(SYSTEM,)))
    assert actions == []
    assert [d.severity for d in diags] == [Severity.NOTE, Severity.WARNING]
    assert (
        diags[1].summary
        == "LiteMaaS has no admin, before or after this plan (first@example.com pending first login)"
    )


def test_duplicate_accounts_differing_in_case_are_an_error() -> None:
    users = (user("u1", "alice@example.com", "user"), user("u2", "Alice@example.com", "admin"))
    actions, diags = plan_admins(desired(**admins("alice@example.com")), live(users=users))
    assert actions == []
    assert [d.severity for d in diags] == [Severity.ERROR]
    assert "matches 2 LiteMaaS users (u1, u2)" in diags[0].summary


def test_inactive_listed_user_is_promoted_with_a_note() -> None:
    users = (user("u1", "alice@example.com", "user", active=False), user("u2", "bob@example.com", "admin"))
    actions, diags = plan_admins(desired(**admins("alice@example.com")), live(users=users))
    assert [a.kind for a in actions] == ["promote_admin"]
    assert summaries(diags) == [
        (
            Severity.NOTE,
            "admin/alice@example.com",
            "alice@example.com is not active (users.is_active is false)",
        )
    ]


def test_actions_sorted_by_address() -> None:
    users = tuple(user(f"u{i}", f"{n}@example.com", "user") for i, n in enumerate(["zed", "amy", "Mia"]))
    actions, _ = plan_admins(
        desired(**admins("zed@example.com", "mia@example.com", "AMY@example.com")), live(users=users)
    )
    assert [a.address for a in actions] == [
        "admin/amy@example.com",
        "admin/mia@example.com",
        "admin/zed@example.com",
    ]
