"""Plan rules for the backup phase: dump the databases before an image change that may migrate them.

Pure: the file names embed ``now`` (a parameter), and nothing here touches a file, a database or the
environment. The applier runs pg_dump, verifies each dump and prunes old ones (``keep``).

Why: LiteLLM runs ``prisma migrate deploy`` and a post-migration diff at start; with a shared database
that diff can drop LiteMaaS tables (docs/deployment-facts.md §2; BerriAI/litellm#9558). An image change of a
Deployment listed in ``backup.before_image_change_of`` (default: litellm) therefore *requires* one
backup action (``guard``: the typed ``requires`` of plan/model.py), run immediately before it
(plan/order.py), covering every distinct database the observers found (one dump when LiteLLM and LiteMaaS
share a database, role ``shared``). pg_dump refuses to dump a server of a newer major version, so an
older local pg_dump is a plan error rather than an apply-time surprise.

Must not: import any client or read the clock.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from datetime import datetime

from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import DatabaseInfo, LiveState
from litemaas_state.plan.model import BackupAction, BackupTarget, SetImageAction
from litemaas_state.spec.model import DesiredState
from litemaas_state.timestamps import COMPACT_STAMP_RE, compact_stamp

ROLE_SHARED = "shared"
ROLES = ("litemaas", "litellm")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
#: A dump file is ``<env>-<database>-<yyyymmddTHHMMSSZ>.sql.gz``; while pg_dump writes it, the same name
#: plus ``.partial``. The one place this format lives (apply/backup.py prunes and cleans by it).
DUMP_SUFFIX = ".sql.gz"
PARTIAL_SUFFIX = ".partial"
_STAMP = COMPACT_STAMP_RE


def dump_prefix(environment: str, database: str) -> str:
    """``<env>-<database>-``: every dump of one database of one environment starts so."""
    return f"{environment}-{_UNSAFE.sub('_', database)}-"


def prefix_of(file_name: str) -> str:
    """The ``dump_prefix`` of a file name made by ``backup_file`` (its stamp has no ``-``)."""
    return file_name.rsplit("-", 1)[0] + "-"


def dump_name_pattern(prefix: str, *, partial: bool = False) -> re.Pattern[str]:
    """Matches exactly the names of the dumps (or, with ``partial``, the unfinished dumps) of ``prefix``."""
    return re.compile(re.escape(prefix) + _STAMP + re.escape(DUMP_SUFFIX + (PARTIAL_SUFFIX if partial else "")))


def server_major(version_num: int) -> int:
    """PostgreSQL major version from ``server_version_num`` / pg_dump's number (160004 → 16, 90624 → 9)."""
    return version_num // 10000


def backup_stamp(now: datetime) -> str:
    """``now`` in UTC as ``yyyymmddTHHMMSSZ`` (naive values are taken as UTC)."""
    return compact_stamp(now)


def distinct_databases(databases: Sequence[DatabaseInfo]) -> list[tuple[str, DatabaseInfo]]:
    """The databases to dump, each once: (role, info), sorted by role then database name.

    Args:
        databases: ``live.databases``; the same database may appear under both roles.
    Returns:
        One entry per identity (host, port, database). Its role is ``shared`` when several roles point to
        it (the rhpds layout since 3cc9770, still so after f4545df), else the single role.
    Raises:
        Nothing.
    Source: docs/deployment-facts.md §2 (which database holds which tables; shared vs separate layout).
    """
    groups: dict[tuple[str, int, str], list[DatabaseInfo]] = {}
    for db in databases:
        groups.setdefault(db.identity, []).append(db)
    out: list[tuple[str, DatabaseInfo]] = []
    for infos in groups.values():
        roles = {d.role for d in infos}
        role = ROLE_SHARED if len(roles) > 1 else infos[0].role
        best = max(infos, key=lambda d: d.server_version_num)
        out.append((role, best))
    out.sort(key=lambda item: (item[0], item[1].database, item[1].host, item[1].port))
    return out


def backup_file(directory: str, environment: str, database: str, now: datetime) -> str:
    """The dump file for one database: ``<directory>/<env>-<database>-<yyyymmddTHHMMSSZ>.sql.gz``.

    Args:
        directory: ``backup.directory`` as the commands resolved it against the state file's directory
            (commands/common.py); nothing is resolved here.
        environment: ``metadata.name``.
        database: the database name; characters other than letters, digits, ``_.-`` become ``_``.
        now: the run's clock reading.
    Returns:
        A POSIX path string.
    Raises:
        Nothing.
    Source: README "State file reference" (file naming); docs/design.md §10.1 (no clock in the planner).
    """
    name = f"{dump_prefix(environment, database)}{backup_stamp(now)}{DUMP_SUFFIX}"
    return posixpath.join(directory, name)


def backup_id(desired: DesiredState) -> str:
    """The id (and address) of the environment's backup action: ``backup/<metadata.name>``."""
    return f"backup/{desired.metadata.name}"


def guard(desired: DesiredState, image_actions: Sequence[SetImageAction]) -> list[SetImageAction]:
    """The image actions, each of a Deployment in ``backup.before_image_change_of`` requiring the backup.

    The requirement follows from the policy alone, so an image change that needs a backup keeps needing it
    even when no backup action could be planned (that plan is an error anyway) or a saved plan lost it.
    Raises nothing.
    """
    policy = desired.backup
    if not policy.enabled:
        return list(image_actions)
    protected = set(policy.before_image_change_of)
    bid = backup_id(desired)
    return [a.model_copy(update={"requires": (*a.requires, bid)})
            if a.component in protected and bid not in a.requires else a for a in image_actions]


def plan_backup(
    desired: DesiredState, live: LiveState, image_actions: Sequence[SetImageAction], now: datetime
) -> tuple[list[BackupAction], list[Diagnostic]]:
    """One backup action when a protected Deployment's image changes.

    Args:
        desired: ``desired.backup`` (enabled, before_image_change_of, directory, keep) and the
            environment name.
        live: ``live.databases`` (roles, identities, ``server_version_num``) and ``live.pg_dump_version_num``
            (0 when pg_dump was not found).
        image_actions: the plan's set_image actions; only those of Deployments in
            ``before_image_change_of`` call for a backup.
        now: the run's clock reading; it names the files.
    Returns:
        (actions, diagnostics): at most one BackupAction (id and address ``backup/<env>``, phase backup;
        the protected image actions require it, see ``guard``). Diagnostics: ERROR when no database is known
        (no action then), when a database without an ``exec_pod`` needs a local pg_dump that was not found
        or is an older major than its server (the action is kept so the plan shows it); WARNING when only
        one of the two database roles is known. A database with ``exec_pod`` is dumped by the pod's own
        pg_dump, so no local version applies.
    Raises:
        Nothing: findings are Diagnostics.
    Source: docs/deployment-facts.md §2 (LiteLLM's migration can drop LiteMaaS tables; both databases; shared
    layout), §1.2 (LiteLLM migrates at start); pg_dump's documentation (it cannot dump a newer server).
    """
    policy = desired.backup
    if not policy.enabled:
        return [], []
    protected_components = set(policy.before_image_change_of)
    protected = sorted(a.address for a in image_actions if a.component in protected_components)
    if not protected:
        return [], []
    env = desired.metadata.name
    address = backup_id(desired)
    which = ", ".join(protected)
    diags: list[Diagnostic] = []
    dbs = distinct_databases(live.databases)
    if not dbs:
        return [], [
            Diagnostic(
                severity=Severity.ERROR,
                address=address,
                summary=f"cannot back up before {which}: the database URL is unknown",
                detail="No LiteMaaS or LiteLLM database was found (flags, LITEMAAS_DATABASE_URL / "
                "LITELLM_DATABASE_URL, or DATABASE_URL of the Deployments). Provide one, or set "
                "backup.enabled: false to upgrade without a backup.",
            )
        ]
    known_roles = {d.role for d in live.databases}
    for role in ROLES:
        if role not in known_roles:
            diags.append(
                Diagnostic(
                    severity=Severity.WARNING,
                    address=address,
                    summary=f"the {role} database is not known: it will not be backed up",
                    detail="Only the databases the observers found are dumped.",
                )
            )
    local = [(role, d) for role, d in dbs if d.exec_pod is None]
    if local and live.pg_dump_version_num <= 0:
        diags.append(
            Diagnostic(
                severity=Severity.ERROR,
                address=address,
                summary="pg_dump was not found: install the PostgreSQL client to back up before the image "
                "change",
            )
        )
    elif local:
        client = server_major(live.pg_dump_version_num)
        newest = max(
            (server_major(d.server_version_num) for _, d in local if d.server_version_num > 0), default=0
        )
        if newest > client:
            diags.append(
                Diagnostic(
                    severity=Severity.ERROR,
                    address=address,
                    summary=f"pg_dump {client} is older than the server ({newest}): install a matching "
                    "PostgreSQL client",
                    detail="pg_dump refuses to dump a server of a newer major version.",
                )
            )

    names_count: dict[str, int] = {}
    for _, d in dbs:
        names_count[d.database] = names_count.get(d.database, 0) + 1
    targets = []
    for role, d in dbs:
        label = d.database if names_count[d.database] == 1 else f"{role}-{d.database}"
        targets.append(
            BackupTarget(role=role, database=d.database, file=backup_file(policy.directory, env, label, now))
        )
    action = BackupAction(
        id=address,
        address=address,
        targets=tuple(targets),
        directory=policy.directory,
        keep=policy.keep,
        reason=f"the image of {which} changes; LiteLLM migrates its schema at start",
        notes=(f"runs before {which}, which runs only if every dump is verified",
               f"keeps the newest {policy.keep} dump(s) per database in {policy.directory}",
               *(f"pg_dump {d.database} runs in pod/{d.exec_pod} by exec (a local pg_dump over the port-forward "
                 "if exec is forbidden)" for _, d in dbs if d.exec_pod)),
    )
    return [action], diags
