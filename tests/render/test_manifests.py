"""The in-cluster bundle (render/manifests.py): one snapshot of the whole YAML, and the properties every
bundle must have (CronJobs never overlap, run non-root, connect direct; the apply Job is a suspended
template; the backup claim only when a backup can happen)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from syrupy.assertion import SnapshotAssertion

from litemaas_state.plan.permissions import grants
from litemaas_state.render.manifests import (
    POD_STATE_DIR,
    BundleDocument,
    bundle_document,
    manifest_objects,
    render_manifests,
)
from litemaas_state.spec.load import parse_state

TEXT = """apiVersion: litemaas-state/v1
kind: Environment
metadata:
  name: litellm-rhpds
target:
  namespace: litellm-rhpds
deployments:
  litellm:
    image: quay.io/rh-aiservices-bu/litellm-non-root:main-v1.85.0-stable-custom
    replicas: 5
backup:
  directory: ../dumps
key_retention:
  delete_expired: true
"""


def doc(text: str = TEXT, **kw: Any) -> BundleDocument:
    desired = parse_state(text, f"{POD_STATE_DIR}/x.yaml")
    desired = desired.model_copy(update={"backup": desired.backup.model_copy(
        update={"directory": f"{POD_STATE_DIR}/{desired.backup.directory}"})})
    return bundle_document(desired, text, grants=grants(desired), image="registry.example.com/litemaas-state:0.1.0",
                           version="0.1.0", **kw)


def test_the_bundle_yaml(snapshot: SnapshotAssertion) -> None:
    assert render_manifests(doc(prune_schedule="0 3 * * *")) == snapshot


def test_every_cronjob_is_forbid_non_root_direct_and_mounts_the_state_file() -> None:
    objects = manifest_objects(doc(prune_schedule="@daily"))
    assert [o["kind"] for o in objects] == ["ServiceAccount", "Role", "RoleBinding", "ConfigMap",
                                            "PersistentVolumeClaim", "CronJob", "CronJob", "CronJob"]
    cronjobs = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "CronJob"}
    assert set(cronjobs) == {"litemaas-state-litellm-rhpds-drift", "litemaas-state-litellm-rhpds-prune",
                             "litemaas-state-litellm-rhpds-apply"}
    for name, spec in cronjobs.items():
        assert spec["concurrencyPolicy"] == "Forbid" and spec["timeZone"] == "Etc/UTC"
        assert spec["suspend"] is name.endswith("-apply")
        job = spec["jobTemplate"]["spec"]
        assert job["backoffLimit"] == 0
        pod = job["template"]["spec"]
        assert pod["serviceAccountName"] == "litemaas-state-litellm-rhpds" and pod["restartPolicy"] == "Never"
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
        assert {"name": "LITEMAAS_STATE_CONNECT", "value": "direct"} in container["env"]
        assert container["args"][1] == f"{POD_STATE_DIR}/litellm-rhpds.yaml"
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts["state"] == f"{POD_STATE_DIR}/litellm-rhpds.yaml"
        # only the apply Job backs up (prune is --target keys, which takes no backup)
        assert ("backups" in mounts) is name.endswith("-apply")
    apply_mounts = cronjobs["litemaas-state-litellm-rhpds-apply"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"][0]["volumeMounts"]
    assert {"name": "backups", "mountPath": "/opt/app-root/dumps"} in apply_mounts  # ../dumps, resolved
    config = next(o for o in objects if o["kind"] == "ConfigMap")
    assert config["data"] == {"litellm-rhpds.yaml": TEXT}


def test_the_yaml_round_trips_and_keeps_the_state_file_as_a_block() -> None:
    text = render_manifests(doc())
    assert [o for o in yaml.safe_load_all(text) if o] == manifest_objects(doc())
    assert "  litellm-rhpds.yaml: |\n    apiVersion: litemaas-state/v1\n" in text
    assert "&id" not in text and "*id" not in text


def test_no_backup_no_claim_no_prune_no_prune_job() -> None:
    objects = manifest_objects(doc(TEXT.replace("backup:\n  directory: ../dumps\n", "backup:\n  enabled: false\n")))
    assert "PersistentVolumeClaim" not in [o["kind"] for o in objects]
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "CronJob"] == [
        "litemaas-state-litellm-rhpds-drift", "litemaas-state-litellm-rhpds-apply"]


def test_refusals() -> None:
    with pytest.raises(ValueError, match="needs key_retention"):
        doc(TEXT.split("key_retention:")[0], prune_schedule="@daily")
    with pytest.raises(ValueError, match="too long.*52 characters"):
        doc(name="x" * 47)
    assert doc(name="x" * 46).name == "x" * 46
    for shared in ("default", "builder", "deployer", "pipeline"):  # their pods would get the tool's rights
        with pytest.raises(ValueError, match="already uses for other pods"):
            doc(name=shared)
