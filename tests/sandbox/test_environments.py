"""Several environments in one sandbox (one namespace each, its own data plane), and the upstream
Kustomize layout (rh-aiservices-bu/litemaas deployment/kustomize @f6b748f, docs/deployment-facts.md §1.3),
held to real kubectl and the official client's port-forward and exec."""

from __future__ import annotations

import json
import subprocess
import sys
from base64 import b64decode
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from kubernetes import client
from kubernetes.stream import portforward

from litemaas_state.sandbox import manage
from tests.conftest import FAST, Sandbox, SandboxLauncher, kube_api, parse_env_file
from tests.sandbox.tunnel import fault, listen_on, open_streams, wait_for

pytestmark = pytest.mark.slow

RHPDS = "litellm-rhpds"
KUST = "team-k"


@pytest.fixture(scope="module")
def sb(sandbox_launcher: SandboxLauncher) -> Iterator[Sandbox]:
    envs = (manage.SandboxEnvironment(RHPDS), manage.SandboxEnvironment(KUST, "kustomize"))
    with sandbox_launcher.started(**FAST, direct_urls=False, environments=envs) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def core(sb: Sandbox) -> Iterator[client.CoreV1Api]:
    with kube_api(sb.kubeconfig) as api:
        yield client.CoreV1Api(api)


def kubectl(sb: Sandbox, *args: str) -> str:
    proc = subprocess.run(["kubectl", *args], env=sb.process_env(), capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def env_secrets(sb: Sandbox, ns: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((sb.dir / "envs" / ns / "secrets.json").read_text())
    return data


def direct(sb: Sandbox, ns: str) -> dict[str, str]:
    return parse_env_file(sb.dir / "envs" / ns / "direct-env")


def pg_connect(sb: Sandbox, core: client.CoreV1Api, ns: str, pod: str, user: str, db: str) -> psycopg.Connection:
    pf = portforward(core.connect_get_namespaced_pod_portforward, pod, ns, ports="5432")
    return psycopg.connect(host="127.0.0.1", port=listen_on(pf.socket(5432)), user=user,
                           password=env_secrets(sb, ns)["db_password"], dbname=db, sslmode="disable",
                           connect_timeout=5, autocommit=True)


def secret_data(core: client.CoreV1Api, ns: str, name: str) -> dict[str, str]:
    return {k: b64decode(v).decode() for k, v in core.read_namespaced_secret(name, ns).data.items()}


def test_each_environment_has_its_own_files_secrets_and_servers(sb: Sandbox) -> None:
    a, b = direct(sb, RHPDS), direct(sb, KUST)
    assert parse_env_file(sb.dir / "direct-env") == a  # DIR/direct-env stays the first environment's
    assert set(a) == set(b) == {"LITELLM_MASTER_KEY", "LITEMAAS_DATABASE_URL", "LITELLM_DATABASE_URL",
                                "LITELLM_URL", "REDIS_URL"}
    assert all(a[k] != b[k] for k in a)  # other ports, other master key
    assert json.loads((sb.dir / "secrets.json").read_text()) == env_secrets(sb, RHPDS)
    assert env_secrets(sb, RHPDS)["db_password"] != env_secrets(sb, KUST)["db_password"]
    assert "/litellm_db?" in b["LITELLM_DATABASE_URL"] and "litemaas_admin:" in b["LITEMAAS_DATABASE_URL"]
    assert b["REDIS_URL"].startswith("redis://127.0.0.1:")  # upstream's Redis has no password
    with psycopg.connect(a["LITELLM_DATABASE_URL"]) as ca, psycopg.connect(b["LITELLM_DATABASE_URL"]) as cb:
        q = 'SELECT count(*), min(token) FROM "LiteLLM_VerificationToken"'
        (na, ta), (nb, tb) = ca.execute(q).fetchone(), cb.execute(q).fetchone()  # type: ignore[misc]
    assert na == nb == 309 and ta != tb  # seeded independently


def test_kubectl_get_deploy_shows_each_layouts_names(sb: Sandbox) -> None:
    def names(ns: str) -> dict[str, str]:
        out = kubectl(sb, "get", "deploy", "-n", ns, "-o", "jsonpath={range .items[*]}{.metadata.name}={.spec.replicas} {end}")
        return dict(w.split("=") for w in out.split())

    assert names(RHPDS) == {"litellm": "3", "litellm-backend": "1", "litellm-frontend": "3", "litellm-redis": "1"}
    assert names(KUST) == {"backend": "1", "frontend": "1", "litellm": "1", "litellm-redis": "1"}
    assert kubectl(sb, "get", "pods", "-n", KUST, "postgres-0", "-o", "jsonpath={.status.phase}") == "Running"
    assert set(kubectl(sb, "get", "svc", "-n", KUST, "-o", "name").split()) == {
        f"service/{n}" for n in ("postgres", "backend", "frontend", "litellm", "litellm-redis")}


def test_kustomize_objects_follow_upstream(sb: Sandbox, core: client.CoreV1Api) -> None:
    apps = client.AppsV1Api(core.api_client)
    backend = apps.read_namespaced_deployment("backend", KUST).spec.template.spec
    assert [c.name for c in backend.init_containers] == ["wait-for-database"]  # no run-migrations
    assert backend.init_containers[0].image == "postgres:16-alpine"
    assert [c.name for c in backend.containers] == ["backend"]
    assert backend.containers[0].image.startswith("quay.io/rh-aiservices-bu/litemaas-backend:0.4")
    refs = {e.name: (e.value_from.secret_key_ref.name, e.value_from.secret_key_ref.key)
            for e in backend.containers[0].env if e.value_from}
    assert refs["DATABASE_URL"] == ("backend-secret", "database-url")
    assert refs["LITELLM_API_KEY"] == ("backend-secret", "litellm-api-key")
    assert refs["ADMIN_API_KEYS"] == ("backend-secret", "admin-api-keys")
    litellm = apps.read_namespaced_deployment("litellm", KUST)
    assert litellm.spec.selector.match_labels == {"app": "litellm"}
    assert [c.name for c in litellm.spec.template.spec.init_containers] == ["wait-for-database"]
    assert litellm.spec.template.spec.containers[0].image == (
        "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.81.0-stable-custom")
    redis = apps.read_namespaced_deployment("litellm-redis", KUST).spec.template.spec
    assert [(c.name, c.image) for c in redis.containers] == [("redis", "redis:7-alpine")]
    assert not any(e.name.startswith("REDIS_PASS") for e in redis.containers[0].env or [])
    frontend = apps.read_namespaced_deployment("frontend", KUST).spec.template.spec
    assert [c.name for c in frontend.containers] == ["frontend"]
    sts = apps.read_namespaced_stateful_set("postgres", KUST)
    assert sts.spec.selector.match_labels == {"app": "postgres"}
    backend_secret = secret_data(core, KUST, "backend-secret")
    assert {"database-url", "litellm-database-url", "admin-api-keys", "litellm-api-key", "litellm-master-key",
            "jwt-secret"} <= set(backend_secret)
    pw = env_secrets(sb, KUST)["db_password"]
    assert backend_secret["database-url"] == f"postgresql://litemaas_admin:{pw}@postgres:5432/litemaas_db?sslmode=disable"
    assert backend_secret["litellm-database-url"] == f"postgresql://litemaas_admin:{pw}@postgres:5432/litellm_db"
    litellm_secret = secret_data(core, KUST, "litellm-secret")
    assert set(litellm_secret) == {"database-url", "master-key", "ui-username", "ui-password"}
    assert litellm_secret["master-key"] == env_secrets(sb, KUST)["master_key"] == backend_secret["litellm-api-key"]
    assert secret_data(core, KUST, "postgres-secret") == {"username": "litemaas_admin", "password": pw}
    assert {s.metadata.name for s in core.list_namespaced_secret(RHPDS).items} == {
        "litellm-secret", "backend-secret", "litemaas-db"}


def test_port_forward_to_each_postgres_reaches_its_own_database(sb: Sandbox, core: client.CoreV1Api) -> None:
    marker = "env_marker_team_k"
    with pg_connect(sb, core, KUST, "postgres-0", "litemaas_admin", "litellm_db") as k:
        user, port = k.execute("SELECT current_user, inet_server_port()").fetchone()  # type: ignore[misc]
        k.execute(f"CREATE TABLE IF NOT EXISTS {marker} (x int)")
    assert user == "litemaas_admin" and f":{port}/" in direct(sb, KUST)["LITELLM_DATABASE_URL"]
    try:
        with pg_connect(sb, core, RHPDS, "litellm-postgres-0", "litellm", "litellm") as r:
            user, port = r.execute("SELECT current_user, inet_server_port()").fetchone()  # type: ignore[misc]
            found = r.execute("SELECT to_regclass(%s)", (marker,)).fetchone()
        assert user == "litellm" and f":{port}/" in direct(sb, RHPDS)["LITELLM_DATABASE_URL"]
        assert found == (None,)
    finally:
        with psycopg.connect(direct(sb, KUST)["LITELLM_DATABASE_URL"], autocommit=True) as k:
            k.execute(f"DROP TABLE {marker}")


def test_kubectl_exec_in_the_kustomize_postgres_pod(sb: Sandbox) -> None:
    out = kubectl(sb, "exec", "-n", KUST, "postgres-0", "--", "psql", "-U", "litemaas_admin", "-d", "litemaas_db",
                  "-Atc", "SELECT current_user, current_database(), count(*) FROM users")
    assert out.strip() == "litemaas_admin|litemaas_db|301"
    dbs = kubectl(sb, "exec", "-n", KUST, "postgres-0", "--", "psql", "-U", "litemaas_admin", "-d", "postgres",
                  "-Atc", "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1")
    assert dbs.split() == ["litellm_db", "litemaas_db", "postgres"]
    assert kubectl(sb, "exec", "-n", KUST, "deploy/litellm-redis", "--", "redis-cli", "ping").strip() == "PONG"


def test_a_fault_can_target_one_namespace(sb: Sandbox, core: client.CoreV1Api) -> None:
    conn = pg_connect(sb, core, KUST, "postgres-0", "litemaas_admin", "litemaas_db")
    try:
        assert fault(sb, "drop-port-forwards", namespace=RHPDS)["affected"] == 0
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert fault(sb, "drop-port-forwards", namespace=KUST)["affected"] >= 1
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    finally:
        conn.close()
    wait_for(lambda: open_streams(sb)["portforward"] == 0, what="tunnels to close")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "Team_A"], "not a DNS-1123 label"),
        (["--env", "a=helm"], "unknown layout 'helm'"),
        (["--env", "a", "--env", "a"], "given twice"),
    ],
)
def test_sandbox_up_rejects_a_bad_env_in_one_line(tmp_path: Any, args: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "litemaas_state", "sandbox", "up", "--dir", str(tmp_path / "s"),
                           *args], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "s").exists()
