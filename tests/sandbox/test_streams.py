"""pods/portforward and pods/exec of the sandbox's Kubernetes API, held to the official `kubernetes` client
(`kubernetes.stream.portforward` / `stream`) and to real `kubectl exec` (v1.32, WebSocket v5 protocol).

One sandbox with the data plane and in-cluster URLs only (`direct_urls=False`: Secrets name
litellm-postgres:5432, as rhpds writes them) is shared by the module. Sources: kubernetes-client/python
kubernetes/stream/ws_client.py (framing), kubernetes/kubernetes pkg/kubelet/cri/streaming (server side).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.stream import portforward, stream

from tests.conftest import FAST, Sandbox, SandboxLauncher, kube_api, parse_env_file
from tests.sandbox.tunnel import fault, listen_on, open_streams, wait_for

pytestmark = pytest.mark.slow

NS = "litellm-rhpds"
PG_POD = "litellm-postgres-0"


@pytest.fixture(scope="module")
def sb(sandbox_launcher: SandboxLauncher) -> Iterator[Sandbox]:
    with sandbox_launcher.started(**FAST, direct_urls=False) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def core(sb: Sandbox) -> Iterator[client.CoreV1Api]:
    with kube_api(sb.kubeconfig) as api:
        yield client.CoreV1Api(api)


def pg_connect(sb: Sandbox, core: client.CoreV1Api, dbname: str = "litemaas_db") -> psycopg.Connection:
    pf = portforward(core.connect_get_namespaced_pod_portforward, PG_POD, NS, ports="5432")
    return pg_at(sb, listen_on(pf.socket(5432)), dbname)


def pg_at(sb: Sandbox, port: int, dbname: str) -> psycopg.Connection:
    """A connection as `litellm` to a forwarded PostgreSQL port on 127.0.0.1."""
    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        user="litellm",
        password=sb.secrets()["db_password"],
        dbname=dbname,
        sslmode="disable",
        connect_timeout=5,
    )


def pod_of(core: client.CoreV1Api, app: str) -> str:
    pods = core.list_namespaced_pod(NS, label_selector=f"app={app}").items
    ready = [p for p in pods if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions)]
    assert ready, f"no Ready pod of app={app}"
    name: str = ready[0].metadata.name
    return name


def kubectl(sb: Sandbox, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["kubectl", *args],
        env=sb.process_env(),
        capture_output=True,
        input=stdin.encode() if stdin is not None else None,
        timeout=60,
        check=False,
    )


def run_exec(core: client.CoreV1Api, pod: str, command: list[str]) -> tuple[str, str, int]:
    resp = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        NS,
        command=command,
        stdin=False,
        stdout=True,
        stderr=True,
        tty=False,
        _preload_content=False,
    )
    out, err = [], []
    while resp.is_open():
        resp.update(timeout=5)
        out.append(resp.read_stdout())
        err.append(resp.read_stderr())
    out.append(resp.read_stdout())
    err.append(resp.read_stderr())
    return "".join(out), "".join(err), resp.returncode


# -- realism: in-cluster URLs only


def test_secrets_and_env_name_only_in_cluster_hosts(sb: Sandbox, core: client.CoreV1Api) -> None:
    data = core.read_namespaced_secret("litemaas-db", NS).data
    pw = sb.secrets()["db_password"]
    assert base64.b64decode(data["DATABASE_URL"]).decode() == (
        f"postgresql://litellm:{pw}@litellm-postgres:5432/litemaas_db?sslmode=disable"
    )
    assert base64.b64decode(data["LITELLM_DATABASE_URL"]).decode() == (
        f"postgresql://litellm:{pw}@litellm-postgres:5432/litellm?sslmode=disable"
    )
    assert set(parse_env_file(sb.dir / "env")) == {"KUBECONFIG", "LITEMAAS_SANDBOX_DIR"}
    route = client.CustomObjectsApi(core.api_client).get_namespaced_custom_object(
        "route.openshift.io", "v1", NS, "routes", "litellm"
    )
    assert route["spec"]["host"] == "litellm.apps.sandbox.example.com"


# -- port-forward through the official client


def test_port_forward_runs_a_psql_query(sb: Sandbox, core: client.CoreV1Api) -> None:
    with pg_connect(sb, core) as conn:
        assert conn.execute("select current_database(), current_user").fetchone() == (
            "litemaas_db",
            "litellm",
        )
        assert conn.execute("select count(*) from users").fetchone()[0] > 0  # type: ignore[index]


def test_port_forward_concurrent_tunnels(sb: Sandbox, core: client.CoreV1Api) -> None:
    conns = [pg_connect(sb, core, db) for db in ("litemaas_db", "litellm", "litemaas_db")]
    try:
        assert [c.execute("select current_database()").fetchone()[0] for c in conns] == [  # type: ignore[index]
            "litemaas_db",
            "litellm",
            "litemaas_db",
        ]
        assert open_streams(sb)["portforward"] >= 3
    finally:
        for c in conns:
            c.close()


def test_port_forward_redis_ping(sb: Sandbox, core: client.CoreV1Api) -> None:
    import redis

    pf = portforward(
        core.connect_get_namespaced_pod_portforward, pod_of(core, "litellm-redis"), NS, ports="6379"
    )
    port = listen_on(pf.socket(6379))
    r = redis.Redis(host="127.0.0.1", port=port, password=sb.secrets()["redis_password"], socket_timeout=5)
    assert r.ping() is True
    r.close()


def test_port_forward_litellm_liveliness(sb: Sandbox, core: client.CoreV1Api) -> None:
    pf = portforward(core.connect_get_namespaced_pod_portforward, pod_of(core, "litellm"), NS, ports="4000")
    port = listen_on(pf.socket(4000))
    r = httpx.get(f"http://127.0.0.1:{port}/health/liveliness", timeout=5)
    assert r.status_code == 200


def test_port_forward_to_a_port_with_no_server_reports_on_the_error_channel(core: client.CoreV1Api) -> None:
    pf = portforward(core.connect_get_namespaced_pod_portforward, PG_POD, NS, ports="5433")
    sock = pf.socket(5433)
    sock.settimeout(10)
    assert sock.recv(10) == b""
    error = wait_for(lambda: pf.error(5433), what="the error channel")
    assert error.startswith(f"error forwarding port 5433 to pod {PG_POD}, uid ")
    assert "connection refused" in error


def test_port_forward_to_a_missing_pod_is_404(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as info:
        portforward(core.connect_get_namespaced_pod_portforward, "litellm-postgres-9", NS, ports="5432")
    assert "404" in str(info.value.reason)


def test_exec_and_port_forward_to_a_pod_that_is_not_running(core: client.CoreV1Api) -> None:
    before = core.read_namespaced_pod_status(PG_POD, NS)
    status = core.api_client.sanitize_for_serialization(before.status)
    pending = {
        **status,
        "phase": "Pending",
        "containerStatuses": [
            {**cs, "ready": False, "started": False, "state": {"waiting": {"reason": "ContainerCreating"}}}
            for cs in status["containerStatuses"]
        ],
    }
    core.patch_namespaced_pod_status(PG_POD, NS, {"status": pending})
    try:
        with pytest.raises(ApiException) as pf_err:
            portforward(core.connect_get_namespaced_pod_portforward, PG_POD, NS, ports="5432")
        assert "500" in str(pf_err.value.reason)
        with pytest.raises(ApiException) as exec_err:
            stream(
                core.connect_get_namespaced_pod_exec,
                PG_POD,
                NS,
                command=["psql", "-c", "select 1"],
                stdout=True,
                stderr=True,
                stdin=False,
                tty=False,
            )
        assert "500" in str(exec_err.value.reason)
    finally:
        core.patch_namespaced_pod_status(PG_POD, NS, {"status": status})


def test_a_dropped_tunnel_closes_the_connection(sb: Sandbox, core: client.CoreV1Api) -> None:
    conn = pg_connect(sb, core)
    try:
        assert conn.execute("select 1").fetchone() == (1,)
        assert fault(sb, "drop-port-forwards")["affected"] >= 1
        with pytest.raises(psycopg.OperationalError):
            conn.execute("select 1")
    finally:
        conn.close()
    wait_for(lambda: open_streams(sb)["portforward"] == 0, what="tunnels to close")


# -- exec through the official client


def test_exec_streams_stdout_stderr_and_exit_code(core: client.CoreV1Api) -> None:
    out, err, code = run_exec(
        core, PG_POD, ["psql", "-U", "litellm", "-d", "litemaas_db", "-tAc", "select 40 + 2"]
    )
    assert (out, code) == ("42\n", 0)
    out, err, code = run_exec(
        core, PG_POD, ["psql", "-U", "litellm", "-d", "litemaas_db", "-c", "select nope"]
    )
    assert code == 1 and 'column "nope" does not exist' in err


def test_exec_of_an_unknown_command(core: client.CoreV1Api) -> None:
    out, err, code = run_exec(core, PG_POD, ["ls", "/"])
    assert code == 127 and out == ""
    assert (
        err
        == 'exec failed: unable to start container process: exec: "ls": executable file not found in $PATH\n'
    )


def test_exec_redis_cli_uses_the_pod_password(core: client.CoreV1Api) -> None:
    assert run_exec(core, pod_of(core, "litellm-redis"), ["redis-cli", "ping"]) == ("PONG\n", "", 0)


def test_exec_kill_fault_cuts_a_running_command(sb: Sandbox, core: client.CoreV1Api) -> None:
    fault(sb, "kill-execs", after_bytes=200_000)
    try:
        out, _, code = run_exec(
            core,
            PG_POD,
            [
                "psql",
                "-U",
                "litellm",
                "-d",
                "litemaas_db",
                "-tAc",
                "select repeat('x', 1000) from generate_series(1, 20000)",
            ],
        )
    finally:
        fault(sb, "clear")
    assert code == 137
    assert 200_000 <= len(out) < 20_000 * 1001


# -- real kubectl exec (WebSocket v5)

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


@needs_kubectl
def test_kubectl_exec_psql(sb: Sandbox) -> None:
    done = kubectl(sb, "exec", PG_POD, "--", "psql", "-U", "litellm", "-d", "litemaas_db", "-c", "select 1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().split("\n")[:3] == [" ?column? ", "----------", "        1"]


@needs_kubectl
def test_kubectl_exec_pg_dump_streams_a_complete_dump(sb: Sandbox) -> None:
    done = kubectl(sb, "exec", PG_POD, "--", "pg_dump", "-U", "litellm", "litemaas_db")
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode()
    assert text.startswith("--\n-- PostgreSQL database dump\n")
    assert "CREATE TABLE public.users" in text
    assert text.rstrip().splitlines()[-1] != "" and "-- PostgreSQL database dump complete" in text


@needs_kubectl
def test_kubectl_exec_stdin_and_exit_codes(sb: Sandbox) -> None:
    done = kubectl(sb, "exec", "-i", PG_POD, "--", "psql", "-tA", stdin="select 6 * 7;\n")
    assert (done.returncode, done.stdout) == (0, b"42\n"), done.stderr
    done = kubectl(sb, "exec", PG_POD, "--", "sh", "-c", "true")
    assert done.returncode == 127
    assert b"executable file not found in $PATH" in done.stderr
    done = kubectl(sb, "exec", "litellm-postgres-7", "--", "psql")
    assert done.returncode == 1
    assert b'pods "litellm-postgres-7" not found' in done.stderr


def test_audit_log_records_streams(sb: Sandbox, core: client.CoreV1Api) -> None:
    run_exec(core, PG_POD, ["pg_isready"])  # one exec and one port-forward of its own, whatever ran before
    pg_connect(sb, core).close()

    def upgrades() -> list[dict[str, object]]:
        lines = [json.loads(x) for x in (sb.dir / "audit.jsonl").read_text().splitlines()]
        found = [x for x in lines if x.get("subresource") in ("exec", "portforward") and x["code"] == 101]
        return found if {x["subresource"] for x in found} == {"exec", "portforward"} else []

    # a stream's line is written when its upgrade is answered, which may follow the client's first frame
    wait_for(upgrades, what="audit lines for exec and portforward")
    upgrades_seen = upgrades()
    assert all(x["verb"] == "create" and x["resource"] == "pods" for x in upgrades_seen)


def test_exec_v4_protocol_frames(sb: Sandbox) -> None:
    """A raw v4.channel.k8s.io client: channel-prefixed binary frames, then a metav1.Status on channel 3."""
    import ssl

    import websocket
    import yaml

    cfg = yaml.safe_load(sb.kubeconfig.read_text())
    server = cfg["clusters"][0]["cluster"]["server"].replace("https://", "wss://")
    ws = websocket.WebSocket(
        sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": str(sb.dir / "tls" / "ca.crt")}
    )
    ws.connect(
        f"{server}/api/v1/namespaces/{NS}/pods/{PG_POD}/exec?command=psql&command=-tAc&command=select+nope"
        "&stdout=true&stderr=true",
        header=[f"Authorization: Bearer {cfg['users'][0]['user']['token']}"],
        subprotocols=["v4.channel.k8s.io"],
    )
    assert ws.subprotocol == "v4.channel.k8s.io"
    frames: dict[int, bytes] = {}
    while True:
        opcode, data = ws.recv_data(control_frame=False)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        frames[data[0]] = frames.get(data[0], b"") + data[1:]
    assert b'column "nope" does not exist' in frames[2] and 1 not in frames
    assert json.loads(frames[3]) == {
        "metadata": {},
        "status": "Failure",
        "message": "command terminated with non-zero exit code: command 'psql -tAc select nope' exited with 1",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "1"}]},
    }


@needs_kubectl
def test_kubectl_port_forward_over_websocket(sb: Sandbox) -> None:
    """kubectl's own port-forward: SPDY/3.1 tunnelled in a WebSocket (KEP-4006; opt-in in kubectl 1.32)."""
    proc = subprocess.Popen(
        ["kubectl", "port-forward", f"pod/{PG_POD}", ":5432", "--address", "127.0.0.1"],
        env={**sb.process_env(), "KUBECTL_PORT_FORWARD_WEBSOCKETS": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "Forwarding from 127.0.0.1:NNNNN -> 5432"
        assert line.startswith("Forwarding from 127.0.0.1:"), line + proc.stderr.read()  # type: ignore[union-attr]
        port = int(line.split(":")[1].split()[0])
        for db in ("litemaas_db", "litellm"):
            with pg_at(sb, port, db) as conn:
                assert conn.execute("select current_database()").fetchone() == (db,)
    finally:
        proc.terminate()
        proc.wait(10)


def test_armed_tunnel_fault_cuts_a_query_mid_stream(sb: Sandbox, core: client.CoreV1Api) -> None:
    conn = pg_connect(sb, core)
    fault(sb, "drop-port-forwards", after_bytes=100_000)
    try:
        with pytest.raises(psycopg.OperationalError):
            conn.execute("select repeat('x', 1000) from generate_series(1, 5000)").fetchall()
    finally:
        fault(sb, "clear")
        conn.close()
    with pg_connect(sb, core) as fresh:  # disarmed: new tunnels work again
        assert len(fresh.execute("select repeat('x', 1000) from generate_series(1, 500)").fetchall()) == 500


def test_dropped_exec_ends_without_a_status(sb: Sandbox, core: client.CoreV1Api) -> None:
    fault(sb, "drop-execs", after_bytes=50_000)
    try:
        resp = stream(
            core.connect_get_namespaced_pod_exec,
            PG_POD,
            NS,
            command=["pg_dump", "-U", "litellm", "litemaas_db"],
            stdin=False,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
        )
        resp.run_forever(timeout=20)
    finally:
        fault(sb, "clear")
    assert not resp.is_open()
    assert resp.read_channel(3) == ""
