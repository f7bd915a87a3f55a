"""Plan rules for the keys phase: which LiteLLM virtual keys to delete, which LiteMaaS rows to revoke.

Pure functions of (DesiredState, LiveState, now): ``now`` is a parameter, never read from a clock. The
per-key verdict ``prune_rule`` is table-tested; ``plan_keys`` groups its verdicts into one
``delete_keys`` action per rule and one ``revoke_rows`` action for orphan LiteMaaS rows.

What this generalises: the rhpds bastion cleanup script (docs/deployment-facts.md §6.1), keeping its two rules
and fixing its bugs:

* **expired** — ``expires < now - expired_grace_days`` (the script: ``expires < now``). Keys with no
  ``expires`` are never expired.
* **max_age** — created more than ``max_age_days`` ago. The script reconstructed creation as
  ``expires - metadata.duration`` and so applied only to workshop keys carrying ``metadata.duration``
  (``max_age_applies_to: workshop``); ``expiring`` widens it to every key with an expiry. We prefer
  LiteLLM's own ``created_at`` and fall back to the script's reconstruction (``key_created_at``).
* Durations: ``<n>d`` and ``<n>h`` as the script; any other suffix or a non-string value gives None,
  "creation time unknown", so the key is not pruned by age (the script used 0, and its jq crashed on
  non-strings, silently deleting nothing).
* Thresholds are strict: a key exactly at the threshold is kept.
* Never pruned: aliases matching ``protect_aliases`` (shell globs, case-sensitive), keys of
  ``protect_users`` (LiteLLM user ids, or emails mapped to LiteMaaS user ids), dashboard session keys
  (``team_id == "litellm-dashboard"``, docs/deployment-facts.md §5).
* LiteMaaS rows are matched by ``api_keys.key_hash == token``, never by alias: a rotated LiteMaaS key
  keeps its stale alias and must survive (docs/deployment-facts.md §3.2). Orphans are active rows whose ``key_hash`` matches
  no live LiteLLM token.
* ``max_deletions`` is a blast-radius limit: more prunable keys (or orphan rows) than this is a plan
  error, never a silent cut.

Must not: import any client, read the clock, or decide anything by alias except protection.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta

from litemaas_state import names
from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import ApiKeyRow, LiveState, VirtualKey
from litemaas_state.plan.model import (
    DeleteKeysAction,
    KeyExpiries,
    KeyRef,
    OrphanRows,
    RevokeRowsAction,
    RowRef,
)
from litemaas_state.spec.model import DesiredState, KeyRetention
from litemaas_state.timestamps import as_utc

RULE_EXPIRED = "expired"
RULE_MAX_AGE = "max_age"
RULES: tuple[str, ...] = (RULE_EXPIRED, RULE_MAX_AGE)

ORPHANS_ID = "keys/orphans"
ORPHANS_ADDRESS = "litemaas/api_keys"
#: ``api_keys.sync_error`` written on orphan rows (the script wrote 'Key deleted from LiteLLM'; docs/deployment-facts.md §6.1
#: item 7).
ORPHAN_SYNC_ERROR = "Key deleted from LiteLLM (litemaas-state orphan rule: no LiteLLM token matches key_hash)"

CACHE_NOTE = (
    "LiteLLM caches keys per replica for up to 60 s: a deleted key may keep working briefly on other "
    "pods"
)

_DURATION = re.compile(r"^(?P<n>[0-9]+(?:\.[0-9]+)?)(?P<unit>[dh])$")
_UNIT_S = {"d": 86400.0, "h": 3600.0}


def _utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC, so aware and naive values compare."""
    return as_utc(value)


def parse_duration_s(value: object) -> float | None:
    """Seconds in a ``metadata.duration`` value, as the cleanup script read it, or None when unknown.

    Args:
        value: ``metadata.duration`` as sent by the key's creator: any JSON value.
    Returns:
        ``"<n>d"`` → n × 86400, ``"<n>h"`` → n × 3600 (n a decimal number, e.g. ``"7d"``, ``"1.5h"``).
        None for anything else: other suffixes (``"30m"``, ``"1w"``, ``"1mo"``), bare numbers, text that
        is not a number, surrounding spaces, and non-string values (numbers, booleans, objects, None).
        None means "cannot reconstruct the creation time"; the script used 0 for other suffixes (which
        made the rule collapse into the expired rule) and crashed on non-strings.
    Raises:
        Nothing.
    Source: docs/deployment-facts.md §6.1 item 4 (the script's jq parse and its equivalent Python predicate).
    """
    if not isinstance(value, str):
        return None
    m = _DURATION.match(value)
    if m is None:
        return None
    return float(m.group("n")) * _UNIT_S[m.group("unit")]


def key_created_at(key: VirtualKey) -> datetime | None:
    """When a key was created: LiteLLM's ``created_at``, else ``expires - metadata.duration``.

    Args:
        key: the virtual key as observed.
    Returns:
        A UTC-aware datetime, or None when LiteLLM gave no ``created_at`` and the creation time cannot be
        reconstructed (no ``expires``, or a duration ``parse_duration_s`` does not understand).
    Raises:
        Nothing.
    Source: docs/deployment-facts.md §6.1 item 4 (LiteLLM sets expires = created + duration; the script
    reconstructed creation that way and ignored ``created_at``).
    """
    if key.created_at is not None:
        return _utc(key.created_at)
    if key.expires is None:
        return None
    duration_s = parse_duration_s(key.duration)
    if duration_s is None:
        return None
    return _utc(key.expires) - timedelta(seconds=duration_s)


def is_protected(key: VirtualKey, policy: KeyRetention, protected_user_ids: Collection[str]) -> bool:
    """True when no retention rule may touch ``key``.

    Args:
        key: the virtual key.
        policy: ``protect_aliases`` (shell globs, matched case-sensitively with ``fnmatch.fnmatchcase``).
        protected_user_ids: LiteLLM user ids whose keys are kept (``plan_keys`` resolves emails).
    Returns:
        True for a matching alias, a protected owner, or a LiteLLM dashboard session key.
    Raises:
        Nothing.
    Source: docs/deployment-facts.md §5 (dashboard keys: ``team_id == "litellm-dashboard"``).
    """
    if key.team_id == names.DASHBOARD_TEAM_ID:
        return True
    if key.user_id is not None and key.user_id in protected_user_ids:
        return True
    alias = key.alias
    return alias is not None and any(fnmatch.fnmatchcase(alias, p) for p in policy.protect_aliases)


def _max_age_covers(key: VirtualKey, policy: KeyRetention) -> bool:
    if policy.max_age_applies_to == "workshop":
        return key.duration is not None
    return key.expires is not None


def prune_rule(
    key: VirtualKey, policy: KeyRetention, now: datetime, protected_user_ids: Collection[str] = ()
) -> str | None:
    """The verdict for one key: the rule that prunes it, or None when it stays.

    Args:
        key: the virtual key as observed.
        policy: the state file's ``key_retention``.
        now: the run's clock reading (naive values are taken as UTC).
        protected_user_ids: LiteLLM user ids whose keys are never pruned.
    Returns:
        None when protected (see ``is_protected``); else ``"expired"`` when ``delete_expired`` and
        ``expires < now - expired_grace_days``; else ``"max_age"`` when ``max_age_days`` is set, the key is
        covered (``workshop``: it carries ``metadata.duration``; ``expiring``: it has an ``expires``) and
        ``key_created_at(key) < now - max_age_days``; else None. Comparisons are strict: a key exactly at
        a threshold is kept. Keys with ``expires`` None are never expired.
    Raises:
        Nothing.
    Source: docs/deployment-facts.md §6.1 item 4 (the script's predicate: ``expired = exp < now``; ``old = exp -
    parse(dur) < now - 30d``), §5 (dashboard keys); docs/design.md §10.4.
    """
    if is_protected(key, policy, protected_user_ids):
        return None
    now = _utc(now)
    if policy.delete_expired and key.expires is not None:
        if _utc(key.expires) < now - timedelta(days=policy.expired_grace_days):
            return RULE_EXPIRED
    if policy.max_age_days is not None and _max_age_covers(key, policy):
        created = key_created_at(key)
        if created is not None and created < now - timedelta(days=policy.max_age_days):
            return RULE_MAX_AGE
    return None


def protected_user_ids(policy: KeyRetention, live: LiveState) -> tuple[frozenset[str], list[Diagnostic]]:
    """Resolve ``protect_users`` to LiteLLM user ids.

    Args:
        policy: ``protect_users``: entries with ``@`` are LiteMaaS emails (matched case-insensitively
            against ``live.users``; LiteMaaS ``users.id`` is the LiteLLM ``user_id``, docs/deployment-facts.md §3.1); other
            entries are LiteLLM user ids, used as written.
        live: ``live.users`` (None when not observed).
    Returns:
        (ids, diagnostics). An email entry is also kept verbatim, in case a key's ``user_id`` is the email
        itself. ERROR when emails are listed but users were not observed (their keys cannot be told
        apart, so nothing would be safe to prune); WARNING for an email with no LiteMaaS user.
    Raises:
        Nothing.
    Source: docs/deployment-facts.md §3.1 (``users.id`` == LiteLLM ``user_id``).
    """
    ids: set[str] = set()
    diags: list[Diagnostic] = []
    emails = [p for p in policy.protect_users if "@" in p]
    ids.update(policy.protect_users)
    if emails and live.users is None:
        diags.append(
            Diagnostic(
                severity=Severity.ERROR,
                address="keys",
                summary="key_retention.protect_users lists emails but LiteMaaS users were not observed",
                detail="Without the users table the protected users' keys cannot be identified; set the "
                "LiteMaaS database URL or protect them by LiteLLM user_id.",
            )
        )
        return frozenset(ids), diags
    by_email: dict[str, list[str]] = {}
    for u in live.users or ():
        by_email.setdefault(u.email.casefold(), []).append(u.id)
    for email in emails:
        found = by_email.get(email.casefold())
        if found:
            ids.update(found)
        else:
            diags.append(
                Diagnostic(
                    severity=Severity.WARNING,
                    address="keys",
                    summary=f"key_retention.protect_users: {email} matches no LiteMaaS user",
                )
            )
    return frozenset(ids), diags


def _sort_time(key: VirtualKey, rule: str) -> datetime:
    when = key.expires if rule == RULE_EXPIRED else key_created_at(key)
    return _utc(when) if when is not None else datetime.max.replace(tzinfo=UTC)


def _key_ref(key: VirtualKey, rule: str, owners: dict[str, str]) -> KeyRef:
    return KeyRef(
        token_hash=key.token_hash,
        alias=key.alias,
        user_id=key.user_id,
        owner=owners.get(key.user_id) if key.user_id is not None else None,
        created_at=key_created_at(key),
        expires=key.expires,  # as observed: apply compares it with the live value (apply/preconditions.py)
        rule=rule,
    )


def _reason(rule: str, policy: KeyRetention) -> str:
    if rule == RULE_EXPIRED:
        grace = f" by more than {policy.expired_grace_days:g} days" if policy.expired_grace_days else ""
        return f"expired{grace} (key_retention.delete_expired)"
    covered = (
        "keys carrying metadata.duration (workshop keys)"
        if policy.max_age_applies_to == "workshop"
        else "keys with an expiry"
    )
    days = f"{policy.max_age_days:g}"
    return f"created more than {days} days ago; applies to {covered} (key_retention.max_age_days)"


def _delete_action(
    rule: str,
    keys: list[VirtualKey],
    policy: KeyRetention,
    owners: dict[str, str],
    rows: Iterable[ApiKeyRow] | None,
) -> DeleteKeysAction:
    keys = sorted(keys, key=lambda k: (_sort_time(k, rule), k.token_hash))
    tokens = sorted(k.token_hash for k in keys)
    address = f"keys/{rule}"
    notes = [CACHE_NOTE]
    n = 0
    if policy.sync_litemaas and rows is not None:
        token_set = set(tokens)
        n = sum(1 for r in rows if r.is_active and r.key_hash in token_set)
        if n:
            notes.append(
                f"{n} active LiteMaaS api_keys row(s) with a matching key_hash will be marked revoked"
            )
    if rule == RULE_MAX_AGE and any(k.created_at is None for k in keys):
        notes.append(
            "created_at reconstructed as expires - metadata.duration where LiteLLM gave none"
        )
    return DeleteKeysAction(
        id=address,
        address=address,
        destructive=True,
        rule=rule,
        keys=tuple(_key_ref(k, rule, owners) for k in keys),
        sync_litemaas=policy.sync_litemaas,
        litemaas_rows=n,
        reason=_reason(rule, policy),
        notes=tuple(notes),
        preconditions=(KeyExpiries(rule=rule),),
    )


def _orphans_action(orphans: list[ApiKeyRow], owners: dict[str, str]) -> RevokeRowsAction:
    orphans = sorted(orphans, key=lambda r: ((r.owner_email or owners.get(r.user_id) or "").casefold(), r.id))
    ids = sorted(r.id for r in orphans)
    return RevokeRowsAction(
        id=ORPHANS_ID,
        address=ORPHANS_ADDRESS,
        rows=tuple(
            RowRef(id=r.id, key_hash=r.key_hash, alias=r.alias, owner=r.owner_email or owners.get(r.user_id))
            for r in orphans
        ),
        sync_error=ORPHAN_SYNC_ERROR,
        reason="active LiteMaaS api_keys rows whose key_hash matches no LiteLLM token (matched by "
        "key_hash, never by alias: docs/deployment-facts.md §3.2)",
        notes=(
            f"{len(orphans)} row(s): is_active=false, revoked_at=now(), sync_status='error'",
        ),
        preconditions=(OrphanRows(row_ids=tuple(ids)),),
    )


def plan_keys(
    desired: DesiredState, live: LiveState, now: datetime
) -> tuple[list[DeleteKeysAction | RevokeRowsAction], list[Diagnostic]]:
    """Delete keys the retention policy prunes; revoke LiteMaaS rows whose LiteLLM key is gone.

    Args:
        desired: the state file; only ``desired.key_retention`` is read (None → nothing to do).
        live: ``live.keys`` (every virtual key from /key/list; None when not observed), ``live.users``
            (owner emails, protected emails), ``live.api_key_rows`` (None when not observed).
        now: the run's clock reading, UTC-aware.
    Returns:
        (actions, diagnostics). Actions: one ``delete_keys`` per rule that prunes at least one key (ids
        ``keys/expired``, ``keys/max_age``), then ``keys/orphans`` (``revoke_rows``) when ``sync_litemaas``
        and rows were observed. Diagnostics: ERROR when keys were not observed, when prunable keys (or
        orphan rows) exceed ``max_deletions`` (the actions are kept so the plan lists them), or when
        protected emails cannot be resolved; WARNING when rows were not observed although
        ``sync_litemaas`` is true, or a protected email matches no user.
    Raises:
        Nothing: findings are Diagnostics.
    Source: docs/deployment-facts.md §6.1 (rules, the alias-based orphan bug), §6.2 (match by key_hash), §3.2
    (rotation keeps a stale alias), §5 (dashboard keys, per-replica cache); docs/design.md §10.4, §10.7.
    """
    policy = desired.key_retention
    if policy is None:
        return [], []
    if live.keys is None:
        return [], [
            Diagnostic(
                severity=Severity.ERROR,
                address="keys",
                summary="LiteLLM virtual keys were not observed: cannot plan key retention",
                detail="The LiteLLM admin API (/key/list) could not be read; set its URL and master key or "
                "remove `key_retention` from the state file.",
            )
        ]
    protected, diags = protected_user_ids(policy, live)
    owners = {u.id: u.email for u in live.users or ()}

    by_rule: dict[str, list[VirtualKey]] = {rule: [] for rule in RULES}
    for key in live.keys:
        rule = prune_rule(key, policy, now, protected)
        if rule is not None:
            by_rule[rule].append(key)

    actions: list[DeleteKeysAction | RevokeRowsAction] = []
    for rule in RULES:
        if by_rule[rule]:
            actions.append(_delete_action(rule, by_rule[rule], policy, owners, live.api_key_rows))

    total = sum(len(keys) for keys in by_rule.values())
    if total > policy.max_deletions:
        diags.append(_too_many(f"{total} keys are prunable", policy.max_deletions))

    if policy.sync_litemaas:
        if live.api_key_rows is None:
            diags.append(
                Diagnostic(
                    severity=Severity.WARNING,
                    address=ORPHANS_ADDRESS,
                    summary="LiteMaaS api_keys were not observed: orphan rows cannot be found",
                    detail="Set the LiteMaaS database URL, or set key_retention.sync_litemaas: false.",
                )
            )
        else:
            live_tokens = {k.token_hash for k in live.keys}
            pruned = {k.token_hash for keys in by_rule.values() for k in keys}
            orphans = [
                r
                for r in live.api_key_rows
                if r.is_active and r.key_hash not in live_tokens and r.key_hash not in pruned
            ]
            if orphans:
                actions.append(_orphans_action(orphans, owners))
            if len(orphans) > policy.max_deletions:
                diags.append(
                    _too_many(
                        f"{len(orphans)} LiteMaaS api_keys rows would be revoked as orphans",
                        policy.max_deletions,
                    )
                )
    return actions, diags


def _too_many(what: str, limit: int) -> Diagnostic:
    return Diagnostic(
        severity=Severity.ERROR,
        address="keys",
        summary=f"{what}, more than max_deletions ({limit}): raise the limit or prune in steps",
        detail="key_retention.max_deletions caps one apply's blast radius; nothing is cut silently. Check "
        "the list, then raise the limit or tighten the rules (e.g. a larger max_age_days first).",
    )
