"""Both LiteMaaS layouts end to end, and a fleet of two environments in one sandbox.

The sandbox hosts two namespaces, each a complete LiteMaaS with its own databases, Redis and LiteLLM API:
``litellm-rhpds`` in the rhpds layout and ``litemaas`` in the upstream Kustomize layout (Deployments
``backend`` and ``frontend``, StatefulSet ``postgres``, kebab-case Secret keys, database user
``litemaas_admin``: docs/deployment-facts.md §1.3). The tool is given nothing but the kubeconfig: it finds
both data planes through each layout's Deployments and Secrets (names.LAYOUTS), over port-forward and exec.
"""

from __future__ import annotations

import json

import pytest

from litemaas_state.sandbox.manage import SandboxEnvironment
from tests.e2e.conftest import STATE, Sandbox, kubectl_json

pytestmark = pytest.mark.slow

LITELLM_NEW = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.85.0-stable-custom"
BACKEND_NEW = "quay.io/rh-aiservices-bu/litemaas-backend:0.5.0"
FRONTEND_NEW = "quay.io/rh-aiservices-bu/litemaas-frontend:0.5.0"

KUSTOMIZE_STATE = f"""\
apiVersion: litemaas-state/v1
kind: Environment
metadata:
  name: litemaas
target:
  namespace: litemaas
  layout: kustomize
deployments:
  litellm:
    image: {LITELLM_NEW}
    replicas: 2
  backend:
    image: {BACKEND_NEW}
  frontend:
    image: {FRONTEND_NEW}
    replicas: 2
backup:
  before_image_change_of: [litellm]
  directory: backups
key_retention:
  delete_expired: true
  max_age_days: 30
  max_deletions: 100000
  sync_litemaas: true
"""


def deployment(sb: Sandbox, ns: str, name: str) -> dict:
    return kubectl_json(sb, "deploy", name, "-n", ns)


def images(sb: Sandbox, ns: str, name: str) -> dict[str, str]:
    spec = deployment(sb, ns, name)["spec"]["template"]["spec"]
    return {c["name"]: c["image"] for c in [*spec.get("initContainers", []), *spec["containers"]]}


def test_an_upstream_kustomize_deployment_is_planned_and_applied_and_a_fleet_of_both_layouts_runs(
        make_sandbox) -> None:
    sb = make_sandbox(environments=(SandboxEnvironment("litellm-rhpds"), SandboxEnvironment("litemaas", "kustomize")))
    fleet = sb.dir / "fleet"
    fleet.mkdir()
    kustomize = fleet / "litemaas.yaml"
    kustomize.write_text(KUSTOMIZE_STATE)
    rhpds = fleet / "litellm-rhpds.yaml"
    rhpds.write_text(STATE.read_text())
    frontend_before = images(sb, "litemaas", "frontend")

    # the wrong layout for a namespace is a plan error naming the right one, before anything is planned
    wrong = fleet / "wrong.yaml"
    wrong.write_text(KUSTOMIZE_STATE.replace("namespace: litemaas", "namespace: litellm-rhpds"))
    refused = sb.cli("plan", str(wrong), check=1)
    assert "namespace litellm-rhpds holds the Deployments of layout rhpds (deployment/litellm-backend, " \
           "deployment/litellm-frontend), not those of target.layout kustomize" in refused.stderr, refused.stderr
    wrong.unlink()

    # the upstream layout, alone: the plan names its own objects and both of its databases
    plan = sb.cli("plan", str(kustomize), "--detailed-exitcode", check=2)
    for line in ("~ deployment/backend", "~ deployment/frontend", "~ deployment/litellm",
                 "litemaas-litemaas_db-", "litemaas-litellm_db-"):
        assert line in plan.stdout, plan.stdout
    assert "litellm-backend" not in plan.stdout and "litellm-frontend" not in plan.stdout
    assert "LiteMaaS DB: port-forward pod/postgres-0:5432" in plan.stdout
    doc = json.loads(sb.cli("plan", str(kustomize), "--json", check=0).stdout)
    assert {a["id"] for phase in doc["phases"] for a in phase["actions"]} >= {"images/backend", "images/frontend", "images/litellm",
                                                 "scaling/frontend", "scaling/litellm", "backup/litemaas"}

    applied = sb.cli("apply", str(kustomize), "--auto-approve", check=0)
    assert "Apply complete!" in applied.stdout, applied.stdout
    assert images(sb, "litemaas", "backend")["backend"] == BACKEND_NEW
    assert images(sb, "litemaas", "frontend")["frontend"] == FRONTEND_NEW
    assert set(images(sb, "litemaas", "frontend")) == set(frontend_before)  # containers found, none invented
    assert deployment(sb, "litemaas", "litellm")["spec"]["replicas"] == 2
    dumps = sorted(p.name for p in (fleet / "backups").glob("*.sql.gz"))
    assert [d.rsplit("-", 1)[0] for d in dumps] == ["litemaas-litellm_db", "litemaas-litemaas_db"], dumps
    again = sb.cli("plan", str(kustomize), "--detailed-exitcode", check=0)
    assert "No changes." in again.stdout, again.stdout
    # the other environment was not touched
    assert deployment(sb, "litellm-rhpds", "litellm-backend")["metadata"]["generation"] == 1

    # a fleet of both layouts, in parallel: the rhpds environment fails (a frontend image that never becomes
    # ready), the Kustomize one succeeds; the exit code is the worst, and each has its own section
    rhpds.write_text(STATE.read_text().replace(
        "image: quay.io/rh-aiservices-bu/litemaas-frontend:0.5.0", f"image: {FRONTEND_NEW}-broken"))
    kustomize.write_text(KUSTOMIZE_STATE.replace("replicas: 2\n  backend:", "replicas: 3\n  backend:"))
    run = sb.cli("apply", str(fleet), "--auto-approve", "--parallelism", "2", check=1)
    out = run.stdout + run.stderr
    assert "== env litemaas (" in out and "== env litellm-rhpds (" in out, out
    assert deployment(sb, "litemaas", "litellm")["spec"]["replicas"] == 3
    assert images(sb, "litellm-rhpds", "litellm-frontend")["frontend"] == f"{FRONTEND_NEW}-broken"
    assert "deployment/litellm-frontend" in out and "progress deadline" in out, out
    envelope = json.loads(sb.cli("plan", str(fleet), "--json", check=1).stdout)
    codes = {e["environment"]: e["exit_code"] for e in envelope["environments"]}
    assert codes == {"litemaas": 0, "litellm-rhpds": 1}, envelope  # the rhpds rollout failed: a plan error
