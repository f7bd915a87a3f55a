"""The in-cluster bundle of one state file (`litemaas-state manifests`): a frozen document and its YAML
for ``oc apply -f -`` (README "Running in the cluster").

Objects, all in the state file's namespace and named after ``BundleDocument.name``
(``litemaas-state-<environment>`` by default):

* ServiceAccount, Role and RoleBinding: the Role holds exactly the rules plan/permissions.py derives
  from the state file (nothing more: each rule is listed in the header with the feature that needs it);
* ConfigMap: the state file, mounted read-only at ``POD_STATE_DIR/<environment>.yaml``;
* CronJob ``<name>-drift``: scheduled ``drift`` (exit 2, drift, fails the Job, so it shows as a failed
  Job and in alerts on failed Jobs);
* CronJob ``<name>-prune`` (only with a prune schedule and ``key_retention``): scheduled
  ``apply --target keys --auto-approve``, which takes no backup and changes no Deployment;
* CronJob ``<name>-apply``, suspended: the Job template of a one-shot apply, started with
  ``oc create job --from=cronjob/<name>-apply <job name>`` (a Job's pod template cannot be changed by a
  later ``oc apply``; a suspended CronJob can, and never runs by itself);
* PersistentVolumeClaim ``<name>-backups`` (when the state file can take a backup), mounted by the apply
  Job at the resolved ``backup.directory``, so the verified dumps outlive the pod.

Every CronJob has ``concurrencyPolicy: Forbid`` (and apply holds the namespace's Lease besides), runs in
UTC, does not retry (``backoffLimit: 0``: a failed apply is looked at, not repeated) and runs as a
non-root user with no privilege escalation, as OpenShift's restricted SCC requires. The pods connect
``direct`` (``LITEMAAS_STATE_CONNECT=direct``: cluster DNS, no port-forward, no exec) and reach LiteLLM at
its Service (``LITELLM_URL``), so the Role needs no Route, Service, pods/portforward or pods/exec access.

Pure: no I/O; the caller reads the state file and passes its text.
"""

from __future__ import annotations

import posixpath
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict

from litemaas_state import names
from litemaas_state.plan.permissions import Grant, PolicyRule, rules
from litemaas_state.spec.model import DesiredState

#: Where the pods find the state file (the container's HOME is /opt/app-root/src; /opt is no system
#: directory, so a relative backup.directory resolves to a path backups may use).
POD_STATE_DIR: Final = "/opt/app-root/state"
#: The container, and the object-name prefix.
CONTAINER: Final = "litemaas-state"
NAME_PREFIX: Final = "litemaas-state"
#: CronJob names are at most 52 characters (the controller appends an 11-character suffix to its Jobs).
CRONJOB_NAME_MAX: Final = 52
CRONJOB_SUFFIXES: Final = ("-drift", "-prune", "-apply")
DEFAULT_DRIFT_SCHEDULE: Final = "17 * * * *"
DEFAULT_BACKUP_SIZE: Final = "10Gi"


class BundleDocument(BaseModel):
    """Everything the bundle says, no secret in it (a state file holds none).

    ``state_key``: the ConfigMap key and file name in the pod; ``backup_mount``: the pod path of the
    dumps (None: this state file never takes a backup); schedules are cron expressions in UTC.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: str
    namespace: str
    name: str
    image: str
    version: str
    state_key: str
    state_text: str
    drift_schedule: str
    prune_schedule: str | None = None
    backup_mount: str | None = None
    backup_size: str = DEFAULT_BACKUP_SIZE
    litellm_url: str
    grants: tuple[Grant, ...]

    @property
    def rules(self) -> tuple[PolicyRule, ...]:
        return rules(self.grants)

    @property
    def state_path(self) -> str:
        return posixpath.join(POD_STATE_DIR, self.state_key)


#: ServiceAccounts every namespace (Kubernetes) or every OpenShift project has, which other pods run as.
SHARED_SERVICE_ACCOUNTS = frozenset({"default", "builder", "deployer", "pipeline"})


def default_name(environment: str) -> str:
    """``litemaas-state-<environment>``."""
    return f"{NAME_PREFIX}-{environment}"


def bundle_document(desired: DesiredState, state_text: str, *, grants: tuple[Grant, ...], image: str,
                    version: str, name: str | None = None, drift_schedule: str = DEFAULT_DRIFT_SCHEDULE,
                    prune_schedule: str | None = None, backup_size: str = DEFAULT_BACKUP_SIZE) -> BundleDocument:
    """The bundle of one state file.

    Args:
        desired: the state file as parsed at its pod path (``POD_STATE_DIR/<environment>.yaml``), so a
            relative ``backup.directory`` is already resolved to where the pod writes dumps.
        grants: plan/permissions.py ``grants(desired)``.
    Raises:
        ValueError: a prune schedule without ``key_retention`` (nothing to prune), or a name whose
            CronJob names would exceed 52 characters.
    """
    env = desired.metadata.name
    name = name or default_name(env)
    if name in SHARED_SERVICE_ACCOUNTS:
        raise ValueError(f"the object name {name!r} is a ServiceAccount the namespace already uses for other pods: "
                         "binding the tool's Role to it would give them its rights; give another --name")
    if len(name) + max(len(s) for s in CRONJOB_SUFFIXES) > CRONJOB_NAME_MAX:
        raise ValueError(f"the object name {name!r} is too long: its CronJob {name}-drift would exceed "
                         f"{CRONJOB_NAME_MAX} characters; give a shorter --name")
    if prune_schedule is not None and desired.key_retention is None:
        raise ValueError("--prune-schedule needs key_retention in the state file: there is nothing to prune")
    backup = posixpath.normpath(desired.backup.directory) if desired.backup_may_be_needed() else None
    return BundleDocument(
        environment=env, namespace=desired.target.namespace, name=name, image=image, version=version,
        state_key=f"{env}.yaml", state_text=state_text, drift_schedule=drift_schedule,
        prune_schedule=prune_schedule, backup_mount=backup, backup_size=backup_size,
        litellm_url=names.SERVICE_URL_TEMPLATE.format(service=desired.layout.litellm_service,
                                                      namespace=desired.target.namespace,
                                                      port=desired.layout.litellm_port),
        grants=grants,
    )


Obj = dict[str, Any]


def _meta(doc: BundleDocument, name: str, component: str) -> Obj:
    return {"name": name, "namespace": doc.namespace, "labels": {
        "app.kubernetes.io/name": NAME_PREFIX, "app.kubernetes.io/instance": doc.environment,
        "app.kubernetes.io/component": component, "app.kubernetes.io/version": doc.version,
    }}


def _pod(doc: BundleDocument, args: list[str], *, backups: bool) -> Obj:
    mounts: list[Obj] = [{"name": "state", "mountPath": doc.state_path, "subPath": doc.state_key, "readOnly": True}]
    volumes: list[Obj] = [{"name": "state", "configMap": {"name": doc.name}}]
    if backups and doc.backup_mount is not None:
        mounts.append({"name": "backups", "mountPath": doc.backup_mount})
        volumes.append({"name": "backups", "persistentVolumeClaim": {"claimName": f"{doc.name}-backups"}})
    container: Obj = {
        "name": CONTAINER, "image": doc.image, "args": args,
        "env": [{"name": names.ENV_CONNECT, "value": "direct"},
                {"name": names.ENV_LITELLM_URL, "value": doc.litellm_url}],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": mounts,
    }
    return {"serviceAccountName": doc.name, "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [container], "volumes": volumes}


def _cronjob(doc: BundleDocument, suffix: str, schedule: str, args: list[str], *, suspend: bool = False,
             backups: bool = False, deadline_s: int = 3600) -> Obj:
    name = f"{doc.name}-{suffix}"
    meta = _meta(doc, name, suffix)
    return {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta,
        "spec": {
            "schedule": schedule, "timeZone": "Etc/UTC", "suspend": suspend, "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": meta["labels"]}, "spec": {
                "backoffLimit": 0, "activeDeadlineSeconds": deadline_s,
                "template": {"metadata": {"labels": meta["labels"]},
                             "spec": _pod(doc, args, backups=backups)},
            }},
        },
    }


def manifest_objects(doc: BundleDocument) -> list[Obj]:
    """The bundle's objects, in the order ``oc apply`` creates them (the Role before its binding, the
    ConfigMap and claim before the CronJobs that mount them). Raises nothing."""
    state = doc.state_path
    objects: list[Obj] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(doc, doc.name, "rbac")},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(doc, doc.name, "rbac"),
         "rules": [r.to_k8s() for r in doc.rules]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": _meta(doc, doc.name, "rbac"),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": doc.name},
         "subjects": [{"kind": "ServiceAccount", "name": doc.name, "namespace": doc.namespace}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(doc, doc.name, "state"),
         "data": {doc.state_key: doc.state_text}},
    ]
    if doc.backup_mount is not None:
        objects.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": _meta(doc, f"{doc.name}-backups", "backups"),
                        "spec": {"accessModes": ["ReadWriteOnce"],
                                 "resources": {"requests": {"storage": doc.backup_size}}}})
    objects.append(_cronjob(doc, "drift", doc.drift_schedule, ["drift", state, "--no-color"], deadline_s=1800))
    if doc.prune_schedule is not None:
        objects.append(_cronjob(doc, "prune", doc.prune_schedule,
                                ["apply", state, "--target", "keys", "--auto-approve", "--no-color"]))
    # never scheduled: suspended, with a schedule that is required but never reached while suspended
    objects.append(_cronjob(doc, "apply", "0 0 1 1 *", ["apply", state, "--auto-approve", "--no-color"],
                            suspend=True, backups=True, deadline_s=5400))
    return objects


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the state file) as literal blocks, so the ConfigMap reads like the file; no
    anchors or aliases (each object spelled out, as kubectl prints it)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _header(doc: BundleDocument) -> str:
    lines = [
        f"# litemaas-state {doc.version} in-cluster bundle for environment {doc.environment} "
        f"(namespace {doc.namespace})",
        "# Apply: litemaas-state manifests STATE --image IMAGE | oc apply -f -",
        f"# One-shot apply: oc create job -n {doc.namespace} --from=cronjob/{doc.name}-apply {doc.name}-apply-$(date +%s)",
        f"# Role {doc.name} grants exactly what this state file needs:",
    ]
    for g in doc.grants:
        resource = f"{g.resource}.{g.api_group}" if g.api_group else g.resource
        named = f" ({', '.join(g.resource_names)})" if g.resource_names else ""
        lines.append(f"#   {g.verb} {resource}{named}: {g.why}")
    return "\n".join(lines) + "\n"


def render_manifests(doc: BundleDocument) -> str:
    """The bundle as a YAML stream: a header comment (how to apply and start a one-shot apply; each
    permission and why), then one document per object. Raises nothing."""
    body = yaml.dump_all(manifest_objects(doc), Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                         explicit_start=True, allow_unicode=True, width=1000)
    return _header(doc) + body
