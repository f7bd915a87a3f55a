"""The state file ``init --from-live`` writes: a frozen ``InitDocument`` built from one observation, and its
YAML text with comments naming where each value came from.

Like Terraform's import with generated configuration, every value declared is what runs now, so the first
``plan`` of the written file says ``No changes.``. A live value that would make that plan change something,
fail, or fight another controller is left out, with a comment saying why (and a warning for stderr):

* an image the state file would refuse (no tag or digest, an invalid reference, a control character: the
  spec's own validation decides, ``DeploymentSpec`` and spec/load.py ``value_refusal``), one an
  ``image.openshift.io/triggers`` annotation controls, or one whose init containers of the same repository
  run another tag (declaring it would update them: plan/deployments.py ``plan_images``);
* ``replicas`` owned by a HorizontalPodAutoscaler, above the state file's limit, or Redis above 1 (a plan
  error: plan/checks.py);
* an admin e-mail the state file would refuse, or one shared case-insensitively by several users (the
  planner refuses it: plan/admins.py).

Who counts as an admin is the planner's rule (plan/admins.py ``counts_as_admin``: holds ``admin``, active,
not the system user), written as the planner compares e-mails (``email_key``: case-folded), sorted. The
``key_retention`` section is written commented out: the rhpds cleanup CronJob's rules
(docs/deployment-facts.md §6.1) with how many virtual keys each would prune today, counted with
plan/keys.py ``prune_rule`` (the first rule that matches names a key's rule, as in the plan). ``backup`` is
written out with its defaults (LiteLLM's image change is gated by a verified dump): no plan changes for it
until an image changes.

Every world value is hostile: scalars are emitted by pyyaml's safe dumper, always double-quoted (a quote,
``#``, ``: `` or a newline stays inside the value, and the output belt's made-visible escapes stay valid
escapes), and comments quote world values through render/escape.py ``terminal`` (one line, controls
visible) and then escape what YAML's reader refuses. Pure: no clock (``observed_at`` is the live one), no
I/O. No secret is in ``LiveState`` (docs/design.md §10.2), so none can be written.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from litemaas_state import names, redact
from litemaas_state.live.model import ConnectionPath, LiveState, Part, PartState, Source, Workload
from litemaas_state.live.rollout import RolloutPhase, rollout_status
from litemaas_state.names import Component, LayoutName
from litemaas_state.plan.admins import counts_as_admin, email_key, is_system_user
from litemaas_state.plan.keys import RULE_EXPIRED, RULE_MAX_AGE, RULES, protected_user_ids, prune_rule
from litemaas_state.render.escape import terminal
from litemaas_state.render.text import connection_line
from litemaas_state.spec.load import value_refusal
from litemaas_state.spec.model import (
    API_VERSION,
    KIND,
    AdminPolicy,
    BackupPolicy,
    DeploymentSpec,
    KeyRetention,
    image_repository,
)

#: The rhpds key-cleanup CronJob's rules as a ``key_retention`` (docs/deployment-facts.md §6.1; README
#: "State file reference"): delete expired keys, and workshop keys (``metadata.duration``) created more than
#: 30 days ago.
RHPDS_CLEANUP: Final = KeyRetention(delete_expired=True, expired_grace_days=0, max_age_days=30,
                                     max_age_applies_to="workshop", sync_litemaas=True)

#: The backup section written: the defaults of ``BackupPolicy``, spelled out.
BACKUP: Final = BackupPolicy()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeploymentInit(_Frozen):
    """One component as written. ``image``/``replicas`` None: not declared, ``*_left_out`` says why
    (None when the Deployment does not exist). ``notes``: what the first plan will say about it anyway."""

    component: Component
    deployment: str
    container: str
    exists: bool = True
    image: str | None = None
    image_left_out: str | None = None
    replicas: int | None = None
    replicas_left_out: str | None = None
    notes: tuple[str, ...] = ()


class LeftOut(_Frozen):
    """A live value not written (an admin's e-mail), and why."""

    value: str
    reason: str


class AdminsInit(_Frozen):
    """The admins as written: case-folded, sorted. ``inactive``: users holding ``admin`` who are not active
    (the planner does not count them); ``source``: where they were read."""

    emails: tuple[str, ...]
    left_out: tuple[LeftOut, ...] = ()
    inactive: int = 0
    source: str = ""


class KeysInit(_Frozen):
    """How many virtual keys each rule of ``RHPDS_CLEANUP`` would prune today (``by_rule`` in ``RULES``
    order), out of ``total``; ``source``: where the keys were read."""

    total: int
    by_rule: dict[str, int]
    source: str = ""


class InitDocument(_Frozen):
    """Everything ``init --from-live`` writes. ``admins``/``keys`` None: the part could not be read, and
    ``admins_unread``/``keys_unread`` say why. ``warnings``: one line each, for stderr."""

    environment: str
    namespace: str
    context: str | None = None
    layout: LayoutName
    layout_reason: str
    observed_at: datetime
    deployments: tuple[DeploymentInit, ...]
    admins: AdminsInit | None = None
    admins_unread: str | None = None
    keys: KeysInit | None = None
    keys_unread: str | None = None
    warnings: tuple[str, ...] = ()


#: A live value that holds a secret (any case) is left out, and not named: masking cannot follow it into a file.
SECRET_REASON = "it contains a secret value (the master key, a password or a key), so it is not written"
SECRET_VALUE = "(a value holding a secret)"


def _validation_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    msg = str(err.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ")


def _image_problem(image: str) -> str | None:
    """Why the state file would refuse ``image`` (its own validation), or None."""
    if redact.holds_secret(image):
        return SECRET_REASON
    refused = value_refusal(image)
    if refused:
        return refused
    try:
        DeploymentSpec(image=image)
    except ValidationError as exc:
        return _validation_message(exc)
    return None


def _email_problem(email: str) -> str | None:
    """Why the state file would refuse ``email`` in ``admins.emails`` (its own validation), or None."""
    if redact.holds_secret(email):
        return SECRET_REASON
    refused = value_refusal(email)
    if refused:
        return refused
    try:
        AdminPolicy(emails=(email,))
    except ValidationError as exc:
        return _validation_message(exc)
    return None


def _deployment(live: LiveState, component: Component) -> DeploymentInit:
    layout = names.layout(live.layout)
    name, container = layout.deployment(component), layout.main_containers[component]
    address = layout.address(component)
    w = live.workloads.get(component)
    if w is None:
        return DeploymentInit(component=component, deployment=name, container=container, exists=False)
    image, image_left_out = _image(w, container, address)
    replicas, replicas_left_out = _replicas(live, w, component, name)
    verdict = rollout_status(w)
    notes: list[str] = []
    if w.paused:
        notes.append(f"{address} is paused: the first plan warns about it")
    elif verdict.phase == RolloutPhase.FAILED:
        notes.append(f"{address}: the last rollout failed ({verdict.message}): the first plan reports it as an "
                     "error until a working image is declared or the rollout is undone")
    elif verdict.phase == RolloutPhase.WAITING:
        notes.append(f"{address}: a rollout is in progress ({verdict.message}): the first plan waits for it")
    return DeploymentInit(component=component, deployment=name, container=container, image=image,
                          image_left_out=image_left_out, replicas=replicas, replicas_left_out=replicas_left_out,
                          notes=tuple(notes))


def _image(w: Workload, container: str, address: str) -> tuple[str | None, str | None]:
    main = w.container(container)
    if main is None:
        return None, f"{address} has no container named {container}"
    problem = _image_problem(main.image)
    if problem:
        return None, f"the state file would refuse it: {problem}"
    if w.image_triggers:
        return None, f"{names.IMAGE_TRIGGERS_ANNOTATION} is set: OpenShift sets this image, declaring it would " \
            "fight the trigger"
    repo = image_repository(main.image)
    lagging = [c for c in w.containers if c.init and image_repository(c.image) == repo and c.image != main.image]
    if lagging:
        which = ", ".join(f"{c.name} runs {c.image}" for c in lagging)
        return None, f"init container {which} while container {container} runs {main.image}: declaring either " \
            "would change the other"
    return main.image, None


def _replicas(live: LiveState, w: Workload, component: Component, name: str) -> tuple[int | None, str | None]:
    hpa = next((h for h in live.hpas if h.target_kind == "Deployment" and h.target_name == name), None)
    if hpa is not None:
        return None, f"HorizontalPodAutoscaler {hpa.name} owns spec.replicas"
    try:
        DeploymentSpec(replicas=w.replicas)
    except ValidationError as exc:
        return None, f"spec.replicas is {w.replicas}: the state file would refuse it ({_validation_message(exc)})"
    if component == Component.REDIS and w.replicas > 1:
        return None, f"spec.replicas is {w.replicas}: a state file declaring Redis above 1 replica is a plan error"
    return w.replicas, None


def _path(live: LiveState, source: Source) -> str:
    """How ``source`` was reached (``port-forward pod/postgres-0:5432``), or ''."""
    c: ConnectionPath | None = next((c for c in live.connections if c.source == source), None)
    return connection_line(c).split(": ", 1)[1] if c is not None else ""


def _users_source(live: LiveState) -> str:
    db = next((d for d in live.databases if d.role == "litemaas"), None)
    where = f" {db.database}" if db is not None else ""
    path = _path(live, Source.LITEMAAS_DB)
    return f"users.roles in the LiteMaaS database{where}" + (f" ({path})" if path else "")


def _keys_source(live: LiveState) -> str:
    ks = live.key_source
    if ks is not None and ks.origin == "litellm-db":
        path = _path(live, Source.LITELLM_DB)
        return "LiteLLM's database" + (f" ({path})" if path else "")
    path = _path(live, Source.LITELLM_API)
    return "LiteLLM's /key/list" + (f" ({path})" if path else "")


def _unread(live: LiveState, part: Part) -> str:
    got = live.part(part)
    if got is not None and got.state != PartState.OK:
        return f"{got.state.value}: {got.error}"
    return "not read"


def _admins(live: LiveState) -> AdminsInit | None:
    if live.users is None:
        return None
    people = [u for u in live.users if not is_system_user(u)]
    by_key: dict[str, int] = {}
    for u in people:
        by_key[email_key(u.email)] = by_key.get(email_key(u.email), 0) + 1
    emails: set[str] = set()
    left_out: dict[str, LeftOut] = {}
    for u in people:
        if not counts_as_admin(u):
            continue
        key = email_key(u.email)
        problem = _email_problem(key)
        if problem is None and by_key[key] > 1:
            problem = f"{by_key[key]} LiteMaaS users have this e-mail when compared case-insensitively; the " \
                "planner refuses it until the duplicates are resolved"
        if problem is None:
            emails.add(key)
        else:
            left_out[key] = LeftOut(value=SECRET_VALUE if problem == SECRET_REASON else key, reason=problem)
    inactive = sum(1 for u in people if names.ROLE_ADMIN in u.roles and not u.is_active)
    return AdminsInit(emails=tuple(sorted(emails)), left_out=tuple(left_out[k] for k in sorted(left_out)),
                      inactive=inactive, source=_users_source(live))


def _keys(live: LiveState) -> KeysInit | None:
    if live.keys is None:
        return None
    protected, _ = protected_user_ids(RHPDS_CLEANUP, live)
    by_rule = dict.fromkeys(RULES, 0)
    for key in live.keys:
        rule = prune_rule(key, RHPDS_CLEANUP, live.observed_at, protected)
        if rule is not None:
            by_rule[rule] += 1
    return KeysInit(total=len(live.keys), by_rule=by_rule, source=_keys_source(live))


def build_init(live: LiveState, *, layout_reason: str, context: str | None = None) -> InitDocument:
    """The document ``init --from-live`` writes for ``live``.

    Args:
        live: an observation of ``live.namespace`` in ``live.layout`` with users and keys read
            (``observe(..., tolerant=True)`` of a desired state managing admins and key_retention).
        layout_reason: how the layout was chosen, for the comment (``auto-detected: deployment/backend
            exists``).
        context: the kubeconfig context to write in ``target.context`` (None: not written).
    Returns:
        The frozen ``InitDocument``; the environment's name is the namespace (a DNS label either way).
    Raises:
        Nothing.
    Source: module docstring; plan/admins.py, plan/keys.py, plan/checks.py for the rules reused.
    """
    deployments = tuple(_deployment(live, c) for c in Component)
    admins, keys = _admins(live), _keys(live)
    warnings: list[str] = []
    for d in deployments:
        if not d.exists:
            warnings.append(f"deployment/{d.deployment} does not exist in namespace {live.namespace}: {d.component} "
                            "is not declared")
        if d.image_left_out:
            warnings.append(f"deployments.{d.component}.image left out: {d.image_left_out}")
        if d.replicas_left_out:
            warnings.append(f"deployments.{d.component}.replicas left out: {d.replicas_left_out}")
        warnings += d.notes
    if admins is None:
        warnings.append(f"admins left out: the LiteMaaS users could not be read ({_unread(live, Part.USERS)})")
    else:
        warnings += [f"admins: {o.value} left out: {o.reason}" for o in admins.left_out]
        if not admins.emails:
            warnings.append("admins left out: no active user holds admin in LiteMaaS")
    if keys is None:
        warnings.append(f"key counts unknown: the virtual keys could not be read ({_unread(live, Part.KEYS)})")
    return InitDocument(
        environment=live.namespace, namespace=live.namespace, context=context, layout=live.layout,
        layout_reason=layout_reason, observed_at=live.observed_at, deployments=deployments, admins=admins,
        admins_unread=None if admins is not None else _unread(live, Part.USERS), keys=keys,
        keys_unread=None if keys is not None else _unread(live, Part.KEYS), warnings=tuple(warnings),
    )


# Characters YAML's reader refuses anywhere in a stream (pyyaml reader.py NON_PRINTABLE), made visible in
# comments after ``terminal`` (which leaves e.g. U+FFFF and lone surrogates alone).
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def comment_text(text: object) -> str:
    """A world value inside a YAML comment: one line (``terminal``), no character YAML's reader refuses.

    Returns:
        The text with control, format and line-break characters as ``\\n``/``\\u2028``-style escapes and
        unreadable characters (U+FFFE, lone surrogates) as ``\\uXXXX``; at most 300 characters kept.
    Raises:
        Nothing.
    """
    return _NON_PRINTABLE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", terminal(text))


def scalar(value: str) -> str:
    """A string as a YAML double-quoted scalar, by pyyaml's safe dumper (never folded over lines)."""
    return yaml.safe_dump(value, default_style='"', allow_unicode=True, width=float("inf")).rstrip("\n")


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def render_init(doc: InitDocument) -> str:
    """The state file's YAML text (ends with a newline).

    Valid per ``validate`` (commands/init.py checks it by parsing it back); each declared value has a comment
    naming its source; ``key_retention`` (and ``admins`` when none is known) commented out, ready to uncomment.
    Raises nothing.
    """
    c = comment_text
    out = [
        f"# State file of namespace {doc.namespace}, written by `litemaas-state init --from-live` from what ran "
        f"at {_when(doc.observed_at)}.",
        "# Every value declared is the live one: the first `litemaas-state plan` of this file says \"No changes.\".",
        "# Values that plan would change or refuse are left out, each with a comment saying why.",
        f"apiVersion: {API_VERSION}",
        f"kind: {KIND}",
        "metadata:",
        f"  name: {scalar(doc.environment)}",
        "target:",
        f"  namespace: {scalar(doc.namespace)}",
    ]
    if doc.context is not None:
        out.append(f"  context: {scalar(doc.context)}")
    out += [
        f"  # {c(doc.layout_reason)}",
        f"  layout: {doc.layout.value}",
        "",
        "# A failed rollout stops apply there; `rollback` would put the previous pod template back.",
        "on_failure: stop",
        "",
        "# Keyed by component; target.layout names their Deployments.",
    ]
    declared = any(d.image is not None or d.replicas is not None for d in doc.deployments)
    out.append("deployments:" if declared else "deployments: {}")
    for d in doc.deployments:
        out += _deployment_lines(d)
    out += [
        "",
        "# The defaults, spelled out: a verified pg_dump of every database LiteLLM and LiteMaaS use before",
        "# LiteLLM's image changes (it migrates its schema at start). Nothing to do until an image changes.",
        "backup:",
        f"  enabled: {str(BACKUP.enabled).lower()}",
        f"  before_image_change_of: [{', '.join(x.value for x in BACKUP.before_image_change_of)}]",
        f"  directory: {scalar(BACKUP.directory)}",
        f"  keep: {BACKUP.keep}",
        "",
    ]
    out += _admins_lines(doc)
    out += ["", *_keys_lines(doc)]
    return "\n".join(out) + "\n"


def _deployment_lines(d: DeploymentInit) -> list[str]:
    """The lines of one component under ``deployments:``; only comments when nothing is declared."""
    c = comment_text
    address = f"deployment/{d.deployment}"
    if not d.exists:
        return [f"  # {d.component.value}: {address} does not exist in the namespace; not declared"]
    notes = [f"note: {c(n)}" for n in d.notes]
    if d.image is None and d.replicas is None:
        return [f"  # {d.component.value}: nothing declared", *(f"  #   {n}" for n in notes),
                f"  #   image not declared: {c(d.image_left_out or '')}",
                f"  #   replicas not declared: {c(d.replicas_left_out or '')}"]
    lines = [f"  {d.component.value}:", *(f"    # {n}" for n in notes)]
    if d.image is not None:
        lines += [f"    # {address} container {d.container}", f"    image: {scalar(d.image)}"]
    else:
        lines.append(f"    # image not declared: {c(d.image_left_out or '')}")
    if d.replicas is not None:
        lines.append(f"    replicas: {d.replicas}  # spec.replicas")
    else:
        lines.append(f"    # replicas not declared: {c(d.replicas_left_out or '')}")
    return lines


def _admins_lines(doc: InitDocument) -> list[str]:
    c = comment_text
    a = doc.admins
    if a is None:
        return ["# admins not written: the LiteMaaS users could not be read",
                f"# ({c(doc.admins_unread or '')})."]
    lines = [f"# From {c(a.source)}:",
             "# the active users holding admin (the system user excluded), case-folded as the planner compares them."]
    if a.inactive:
        lines.append(f"# {a.inactive} inactive user(s) also hold admin; inactive users do not count and are not listed.")
    lines += [f"# left out: {c(o.value)}: {c(o.reason)}" for o in a.left_out]
    if not a.emails:
        return [*lines, "# No admin to list: add the e-mails of those who must hold admin and uncomment.",
                "# admins:", "#   emails: []", "#   exclusive: false"]
    return [*lines, "admins:", "  emails:", *(f"    - {scalar(e)}" for e in a.emails),
            "  # true: every other user loses admin (keeping their other roles).", "  exclusive: false"]


def _keys_lines(doc: InitDocument) -> list[str]:
    c = comment_text
    p = RHPDS_CLEANUP
    k = doc.keys
    if k is None:
        counted = [f"# How many keys each rule would prune today is unknown: the virtual keys could not be read "
                   f"({c(doc.keys_unread or '')})."]
        expired = aged = ""
    else:
        counted = [f"# Read from {c(k.source)}:",
                   f"# of its {k.total} virtual keys, {sum(k.by_rule.values())} would be pruned today."]
        expired = f"  # expired keys: {k.by_rule[RULE_EXPIRED]} today"
        aged = (f"  # workshop keys (metadata.duration) created over {p.max_age_days:g} days ago: "
                f"{k.by_rule[RULE_MAX_AGE]} today")
        total = sum(k.by_rule.values())
        if total > p.max_deletions:
            counted.append(f"# More than max_deletions ({p.max_deletions}): raise it for the first prune, or the "
                           "plan refuses.")
    return [
        "# Key retention is not managed yet. Uncomment to prune as the rhpds cleanup CronJob does: delete",
        "# expired keys, and workshop keys (metadata.duration) created more than 30 days ago.",
        *counted,
        "# key_retention:",
        f"#   delete_expired: {str(p.delete_expired).lower()}{expired}",
        f"#   expired_grace_days: {p.expired_grace_days}",
        f"#   max_age_days: {p.max_age_days:g}{aged}",
        f"#   max_age_applies_to: {p.max_age_applies_to}",
        f"#   max_deletions: {p.max_deletions}  # more prunable keys than this is a plan error",
        f"#   sync_litemaas: {str(p.sync_litemaas).lower()}  # also revoke their LiteMaaS api_keys rows",
    ]
