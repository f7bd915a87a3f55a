"""Backup rules (plan/backup.py) and their wiring into make_plan.

Sources for the expectations: docs/deployment-facts.md §2 (shared vs separate databases; LiteLLM's start-up
migration), the README (file naming), pg_dump (cannot dump a newer major server).
"""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest

from litemaas_state import names
from litemaas_state.errors import Severity
from litemaas_state.live.model import ContainerImage, DatabaseInfo, LiteMaaSUser, VirtualKey, Workload
from litemaas_state.names import Component
from litemaas_state.plan.backup import backup_file, distinct_databases, guard, plan_backup
from litemaas_state.plan.model import BackupAction, Phase, SetImageAction
from litemaas_state.plan.planner import make_plan

from .factories import ENV, NOW, desired, live

LITEMAAS = DatabaseInfo(
    role="litemaas", database="litemaas_db", host="litellm-postgres", port=5432, server_version_num=160004
)
LITELLM_SHARED = LITEMAAS.model_copy(update={"role": "litellm"})
LITELLM_OWN = DatabaseInfo(
    role="litellm", database="litellm_db", host="litellm-postgres", port=5432, server_version_num=160004
)
PG_DUMP_16 = 160004
STAMP = "20261129T100000Z"


def set_image(component: str, image: str = "quay.io/x/y:2") -> SetImageAction:
    name = names.layout().deployment(Component(component))
    return SetImageAction(
        id=f"images/{component}",
        address=f"deployment/{name}",
        component=component,
        deployment=name,
        image=image,
        main_container="main",
        containers=("main",),
    )


def targets(action: BackupAction) -> list[tuple[str, str, str]]:
    return [(t.role, t.database, t.file) for t in action.targets]


def test_shared_layout_is_dumped_once() -> None:
    actions, diags = plan_backup(
        desired(),
        live(databases=(LITEMAAS, LITELLM_SHARED), pg_dump_version_num=PG_DUMP_16),
        [set_image("litellm")],
        NOW,
    )
    assert diags == []
    (a,) = actions
    assert (a.id, a.phase, a.address, a.kind) == (f"backup/{ENV}", Phase.BACKUP, f"backup/{ENV}", "backup")
    assert targets(a) == [("shared", "litemaas_db", f"backups/{ENV}-litemaas_db-{STAMP}.sql.gz")]
    assert (a.directory, a.keep) == ("backups", 5)
    assert [(c.field, c.before, c.after) for c in a.changes] == [
        ("files", None, [f"backups/{ENV}-litemaas_db-{STAMP}.sql.gz"])
    ]


def test_separate_layout_dumps_both_sorted_by_role() -> None:
    actions, diags = plan_backup(
        desired(backup={"directory": "/var/backups/litemaas/", "keep": 3}),
        live(databases=(LITEMAAS, LITELLM_OWN), pg_dump_version_num=PG_DUMP_16),
        [set_image("litellm")],
        NOW,
    )
    assert diags == []
    (a,) = actions
    assert targets(a) == [
        ("litellm", "litellm_db", f"/var/backups/litemaas/{ENV}-litellm_db-{STAMP}.sql.gz"),
        ("litemaas", "litemaas_db", f"/var/backups/litemaas/{ENV}-litemaas_db-{STAMP}.sql.gz"),
    ]
    assert a.keep == 3


def test_same_name_on_two_servers_gets_distinct_files() -> None:
    other = LITELLM_OWN.model_copy(update={"database": "litemaas_db", "host": "other-pg"})
    dbs = distinct_databases((LITEMAAS, other))
    assert [(r, d.host) for r, d in dbs] == [("litellm", "other-pg"), ("litemaas", "litellm-postgres")]
    (a,), _ = plan_backup(
        desired(),
        live(databases=(LITEMAAS, other), pg_dump_version_num=PG_DUMP_16),
        [set_image("litellm")],
        NOW,
    )
    assert len({t.file for t in a.targets}) == 2


@pytest.mark.parametrize(
    ("directory", "database", "now", "expected"),
    [
        ("backups", "litellm", NOW, f"backups/{ENV}-litellm-{STAMP}.sql.gz"),
        ("backups/", "litellm", NOW, f"backups/{ENV}-litellm-{STAMP}.sql.gz"),
        ("/", "litellm", NOW, f"/{ENV}-litellm-{STAMP}.sql.gz"),
        ("b", "we/ird db", NOW, f"b/{ENV}-we_ird_db-{STAMP}.sql.gz"),
        ("b", "litellm", NOW.astimezone(timezone(timedelta(hours=-5))), f"b/{ENV}-litellm-{STAMP}.sql.gz"),
        ("b", "litellm", NOW.replace(tzinfo=None), f"b/{ENV}-litellm-{STAMP}.sql.gz"),
    ],
)
def test_backup_file(directory: str, database: str, now: Any, expected: str) -> None:
    assert backup_file(directory, ENV, database, now) == expected


@pytest.mark.parametrize(
    ("backup", "images"),
    [
        pytest.param({"enabled": False}, ["litellm"], id="disabled"),
        pytest.param({}, [], id="no-image-change"),
        pytest.param({}, ["frontend", "backend"], id="unprotected-deployments"),
    ],
)
def test_no_backup_needed(backup: dict[str, Any], images: list[str]) -> None:
    result = plan_backup(
        desired(backup=backup),
        live(databases=(LITEMAAS,), pg_dump_version_num=PG_DUMP_16),
        [set_image(c) for c in images],
        NOW,
    )
    assert result == ([], [])


def test_every_protected_image_change_requires_the_backup() -> None:
    state = desired(backup={"before_image_change_of": ["backend", "litellm"]})
    images = guard(state, [set_image("frontend"), set_image("backend"), set_image("litellm")])
    assert [(a.id, a.requires) for a in images] == [
        ("images/frontend", ()),
        ("images/backend", (f"backup/{ENV}",)),
        ("images/litellm", (f"backup/{ENV}",)),
    ]
    assert guard(desired(backup={"enabled": False}), [set_image("litellm")])[0].requires == ()


def test_unknown_database_is_an_error_without_action() -> None:
    actions, diags = plan_backup(desired(), live(pg_dump_version_num=PG_DUMP_16), [set_image("litellm")], NOW)
    assert actions == []
    assert [(d.severity, d.address, d.summary) for d in diags] == [
        (
            Severity.ERROR,
            f"backup/{ENV}",
            "cannot back up before deployment/litellm: the database URL is unknown",
        )
    ]


def test_one_role_unknown_is_a_warning() -> None:
    actions, diags = plan_backup(
        desired(), live(databases=(LITEMAAS,), pg_dump_version_num=PG_DUMP_16), [set_image("litellm")], NOW
    )
    assert len(actions) == 1
    assert [(d.severity, d.summary) for d in diags] == [
        (Severity.WARNING, "the litellm database is not known: it will not be backed up")
    ]


@pytest.mark.parametrize(
    ("pg_dump", "server", "error"),
    [
        (150020, 160004, "pg_dump 15 is older than the server (16): install a matching PostgreSQL client"),
        (160000, 160004, None),
        (170002, 160004, None),
        (160004, 0, None),  # server version unknown: nothing to compare
        (
            0,
            160004,
            "pg_dump was not found: install the PostgreSQL client to back up before the image change",
        ),
    ],
)
def test_pg_dump_version(pg_dump: int, server: int, error: str | None) -> None:
    db = LITEMAAS.model_copy(update={"server_version_num": server})
    actions, diags = plan_backup(
        desired(),
        live(
            databases=(db, LITELLM_SHARED.model_copy(update={"server_version_num": server})),
            pg_dump_version_num=pg_dump,
        ),
        [set_image("litellm")],
        NOW,
    )
    assert len(actions) == 1  # kept so the plan shows what would run
    assert [d.summary for d in diags if d.severity == Severity.ERROR] == ([error] if error else [])


def test_pg_dump_compared_with_the_newest_server() -> None:
    old = LITEMAAS.model_copy(update={"server_version_num": 150004})
    new = LITELLM_OWN.model_copy(update={"server_version_num": 170001})
    _, diags = plan_backup(
        desired(), live(databases=(old, new), pg_dump_version_num=160004), [set_image("litellm")], NOW
    )
    assert [d.summary for d in diags] == [
        "pg_dump 16 is older than the server (17): install a matching PostgreSQL client"
    ]


@pytest.mark.parametrize("pg_dump", [0, 150004])
def test_dump_by_exec_needs_no_local_pg_dump(pg_dump: int) -> None:
    """On the kubernetes path pg_dump runs in the database pod (the server's own version): no local
    pg_dump, or an older one, is no error; the plan says where pg_dump runs."""
    in_pod = {"exec_pod": "litellm-postgres-0"}
    dbs = (LITEMAAS.model_copy(update=in_pod), LITELLM_OWN.model_copy(update=in_pod))
    actions, diags = plan_backup(desired(), live(databases=dbs, pg_dump_version_num=pg_dump), [set_image("litellm")],
                                 NOW)
    assert diags == []
    (a,) = actions
    assert any("runs in pod/litellm-postgres-0 by exec" in n for n in a.notes)


def test_local_pg_dump_still_checked_for_a_direct_database() -> None:
    dbs = (LITEMAAS.model_copy(update={"exec_pod": "litellm-postgres-0"}), LITELLM_OWN)
    _, diags = plan_backup(desired(), live(databases=dbs, pg_dump_version_num=0), [set_image("litellm")], NOW)
    assert [d.summary for d in diags] == [
        "pg_dump was not found: install the PostgreSQL client to back up before the image change"
    ]


# --- make_plan wiring ------------------------------------------------------------------------------


def _workload(name: str, image: str) -> Workload:
    return Workload(
        name=name,
        uid=f"uid-{name}",
        resource_version="1",
        generation=1,
        observed_generation=1,
        containers=(ContainerImage(name=name, image=image),),
    )


def test_make_plan_orders_backup_first_and_keeps_it_with_a_targeted_image_change() -> None:
    state = desired(deployments={"litellm": {"image": "quay.io/org/litellm:1.82.0"}})
    world = live(
        workloads={"litellm": _workload("litellm", "quay.io/org/litellm:1.81.0")},
        databases=(LITEMAAS, LITELLM_SHARED),
        pg_dump_version_num=PG_DUMP_16,
    )
    plan = make_plan(state, world, now=NOW, state_file="s.yaml", state_digest="d")
    assert [(a.kind, a.address) for a in plan.actions] == [
        ("backup", f"backup/{ENV}"),
        ("set_image", "deployment/litellm"),
    ]
    targeted = make_plan(
        state, world, now=NOW, state_file="s.yaml", state_digest="d", targets=("deployment/litellm",)
    )
    assert [a.kind for a in targeted.actions] == ["backup", "set_image"]
    assert not targeted.errored  # (an unknown --target is an error: tests/plan/test_guards.py)
    backup_only = make_plan(state, world, now=NOW, state_file="s.yaml", state_digest="d", targets=("backup",))
    assert [a.kind for a in backup_only.actions] == ["backup"]


def test_make_plan_runs_admins_and_keys_only_when_declared() -> None:
    world = live(
        users=(LiteMaaSUser(id="u1", email="a@example.com", roles=("user",)),),
        keys=(VirtualKey(token_hash="f" * 64, expires=NOW - timedelta(days=1)),),
        api_key_rows=(),
    )
    assert make_plan(desired(), world, now=NOW, state_file="s", state_digest="d").actions == ()
    plan = make_plan(
        desired(admins={"emails": ["a@example.com"]}, key_retention={}),
        world,
        now=NOW,
        state_file="s",
        state_digest="d",
    )
    assert [(a.phase, a.kind) for a in plan.actions] == [
        (Phase.ADMINS, "promote_admin"),
        (Phase.KEYS, "delete_keys"),
    ]
    assert not plan.errored
