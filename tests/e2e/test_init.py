"""`init --from-live` against a sandbox with both layouts: the state file it prints is valid, names its
layout, and its first plan says `No changes.` (exit 0 with --detailed-exitcode), as Terraform's import
with generated configuration; a hostile admin e-mail stays a value; errors are one line, exit 1, with
nothing on stdout."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import yaml

from litemaas_state.sandbox.manage import SandboxEnvironment
from tests.e2e.conftest import Sandbox, parse_env

pytestmark = pytest.mark.slow

HOSTILE = "sean.o'brien+\"x\"#not-a-comment@example.com"
REFUSED = "evil@example.com\nexclusive: true"


def direct_env(sb: Sandbox, ns: str) -> dict[str, str]:
    return parse_env(sb.dir, (f"set -a; . '{sb.dir}/envs/{ns}/direct-env'; set +a",))


def make_admins(url: str) -> None:
    """Give two ordinary users admin, one with a hostile but valid e-mail, one the state file refuses."""
    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM users WHERE NOT ('admin' = ANY(roles)) AND email <> 'system@litemaas.internal' "
            "ORDER BY id LIMIT 2")]
        for user_id, email in zip(ids, (HOSTILE, REFUSED), strict=True):
            conn.execute("UPDATE users SET email = %s, roles = ARRAY['admin', 'user'], is_active = true WHERE id = %s",
                         (email, user_id))


def kubectl(sb: Sandbox, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, check=True,
                          env={"KUBECONFIG": sb.env["KUBECONFIG"], "PATH": "/usr/bin:/bin"}).stdout


def init_written(sb: Sandbox, ns: str) -> tuple[Path, subprocess.CompletedProcess[str]]:
    run = sb.cli("init", "--from-live", "--namespace", ns, check=0)
    path = sb.dir / f"{ns}.yaml"  # in the sandbox directory: its backups (none here) go with it
    path.write_text(run.stdout)
    return path, run


def test_init_writes_a_state_file_whose_first_plan_says_no_changes_in_both_layouts(make_sandbox) -> None:
    sb = make_sandbox(environments=(SandboxEnvironment("litellm-rhpds"), SandboxEnvironment("litemaas", "kustomize")))
    rhpds_direct = direct_env(sb, "litellm-rhpds")
    make_admins(rhpds_direct["LITEMAAS_DATABASE_URL"])
    secrets = {rhpds_direct["LITELLM_MASTER_KEY"], direct_env(sb, "litemaas")["LITELLM_MASTER_KEY"],
               urlsplit(rhpds_direct["LITEMAAS_DATABASE_URL"]).password or "never"}

    for ns, layout, backend in (("litellm-rhpds", "rhpds", "litellm-backend"), ("litemaas", "kustomize", "backend")):
        path, run = init_written(sb, ns)
        for secret in secrets:
            assert secret not in run.stdout + run.stderr
        data = yaml.safe_load(run.stdout)  # stdout is the YAML alone
        assert data["target"] == {"namespace": ns, "layout": layout}
        assert f"# deployment/{backend} container backend" in run.stdout
        assert "# spec.replicas" in run.stdout and "users.roles in the LiteMaaS database litemaas_db" in run.stdout
        live = json.loads(kubectl(sb, "get", "deploy", backend, "-n", ns, "-o", "json"))
        assert data["deployments"]["backend"]["image"] == live["spec"]["template"]["spec"]["containers"][0]["image"]
        assert data["deployments"]["backend"]["replicas"] == live["spec"]["replicas"]
        assert data["backup"] == {"enabled": True, "before_image_change_of": ["litellm"], "directory": "backups",
                                  "keep": 5}
        assert "# key_retention:" in run.stdout and "key_retention" not in data
        assert sb.cli("validate", str(path), check=0).stdout.startswith(f"{path}: valid")
        plan = sb.cli("plan", str(path), "--detailed-exitcode", check=0)
        assert "No changes. The deployment matches the state file." in plan.stdout, plan.stdout

    # the rhpds file: the hostile e-mail is one admin among the others, the refused one is named, escaped
    written = yaml.safe_load((sb.dir / "litellm-rhpds.yaml").read_text())
    emails = written["admins"]["emails"]
    assert HOSTILE.casefold() in emails and emails == sorted(emails) and written["admins"]["exclusive"] is False
    assert not any("\n" in e for e in emails) and len(emails) >= 2
    _, run = init_written(sb, "litellm-rhpds")
    assert "Warning: admins: evil@example.com\\nexclusive: true left out: " in run.stderr, run.stderr
    assert run.stdout.count("\nexclusive: true") == 0


def test_init_errors_are_one_line_and_leave_stdout_empty(make_sandbox) -> None:
    sb = make_sandbox(environments=(SandboxEnvironment("litemaas", "kustomize"),))
    kubectl(sb, "create", "-f", "-", stdin='{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "empty"}}')
    kubectl(sb, "create", "-f", "-", stdin='{"apiVersion": "v1", "kind": "ServiceAccount", '
                                           '"metadata": {"name": "nobody", "namespace": "litemaas"}}')
    cases = {
        ("--namespace", "nosuch"): "Error: namespace nosuch does not exist (context sandbox)\n",
        ("--namespace", "empty"): "Error: namespace empty (context sandbox) has no Deployments of rhpds "
                                  "(deployment/litellm-backend, deployment/litellm-frontend) or kustomize "
                                  "(deployment/backend, deployment/frontend)\n",
        ("--namespace", "litemaas", "--layout", "rhpds"):
            "Error: namespace litemaas holds the Deployments of layout kustomize (deployment/backend, "
            "deployment/frontend), not those of rhpds (deployment/litellm-backend, deployment/litellm-frontend): "
            "use --layout kustomize\n",
        ("--namespace", "Not_A_Label"): "Error: --namespace 'Not_A_Label': must be a DNS label: lower-case letters, "
                                        "digits and '-', at most 63\n",
    }
    for args, expected in cases.items():
        run = sb.cli("init", "--from-live", *args, check=1)
        assert (run.stdout, run.stderr) == ("", expected)
    run = sb.cli("init", "--namespace", "litemaas", check=1)
    assert "init needs --from-live" in run.stderr and run.stdout == ""

    # a token that may read nothing: the 403 is one line naming the verb and resource
    config = yaml.safe_load(Path(sb.env["KUBECONFIG"]).read_text())
    config["users"][0]["user"]["token"] = kubectl(sb, "create", "token", "nobody", "-n", "litemaas").strip()
    nobody = sb.dir / "nobody.kubeconfig"
    nobody.write_text(yaml.safe_dump(config))
    run = sb.cli("init", "--from-live", "--namespace", "litemaas", check=1, extra_env={"KUBECONFIG": str(nobody)})
    assert run.stdout == "" and run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith("Error: ") and "deployments" in run.stderr and "get" in run.stderr, run.stderr
