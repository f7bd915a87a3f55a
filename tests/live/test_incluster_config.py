"""In a pod the tool loads its ServiceAccount (live/kube.py ``load_in_cluster``, ``connect_kube``'s fallback
when no kubeconfig exists): the API server from KUBERNETES_SERVICE_HOST/PORT, the token and CA from the
mounted directory. Tested against the sandbox's real API server with a ServiceAccount token in a
temporary directory (not /var/run): requests are authenticated as the account and authorized by its
Role."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.config.config_exception import ConfigException

from litemaas_state.errors import ConfigError, Forbidden
from litemaas_state.live import kube as kube_mod
from litemaas_state.live.connect import DataPlaneFlags, Discovery
from litemaas_state.live.kube import KubeConnection, KubeReader, connect_kube, load_in_cluster
from tests.conftest import Sandbox

ROLE = {"kind": "Role", "metadata": {"name": "incluster"},
        "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}]}


def service_account_dir(kube: Sandbox, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    from litemaas_state.sandbox import manage

    config = yaml.safe_load(manage.restricted_kubeconfig(kube.dir, ROLE, service_account="incluster",
                                                         filename="kubeconfig-incluster").read_text())
    d = tmp_path / "serviceaccount"
    d.mkdir()
    (d / "token").write_text(config["users"][0]["user"]["token"])
    (d / "ca.crt").write_bytes((kube.dir / "tls" / "ca.crt").read_bytes())
    server = urlsplit(config["clusters"][0]["cluster"]["server"])
    return d, {"KUBERNETES_SERVICE_HOST": str(server.hostname), "KUBERNETES_SERVICE_PORT": str(server.port)}


def test_the_service_account_reads_what_its_role_allows_and_no_more(kube: Sandbox, tmp_path: Path) -> None:
    d, environ = service_account_dir(kube, tmp_path)
    cfg = k8s.Configuration()
    load_in_cluster(cfg, str(d), environ)
    reader = KubeReader(KubeConnection(api=k8s.ApiClient(cfg), namespace="litellm-rhpds", server=str(cfg.host),
                                       context=None, in_cluster=True))
    workload = reader.deployment("litellm")
    assert workload is not None and workload.name == "litellm"
    with pytest.raises(Forbidden) as denied:
        reader.secret_value("litellm-secret", "LITELLM_MASTER_KEY")
    assert 'system:serviceaccount:litellm-rhpds:incluster' in str(denied.value)


def test_outside_a_pod_the_loader_refuses(tmp_path: Path) -> None:
    with pytest.raises(ConfigException):
        load_in_cluster(k8s.Configuration(), str(tmp_path), {})
    with pytest.raises(ConfigException):  # in a pod, but no token mounted
        load_in_cluster(k8s.Configuration(), str(tmp_path),
                        {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"})


def test_connect_kube_falls_back_to_the_pod_and_every_source_goes_direct(kube: Sandbox, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    d, environ = service_account_dir(kube, tmp_path)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.setattr(kube_mod, "SERVICE_ACCOUNT_DIR", str(d))  # where the kubelet would mount it
    conn = connect_kube("litellm-rhpds")
    assert conn.in_cluster and conn.context is None and conn.server == f"https://127.0.0.1:{environ['KUBERNETES_SERVICE_PORT']}"
    assert KubeReader(conn).deployment("litellm-redis") is not None
    discovery = Discovery(DataPlaneFlags(), KubeReader(conn), environ={})
    assert discovery._choose("litellm-postgres", 5432)[1] == "auto: running inside the cluster"

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    with pytest.raises(ConfigError, match="no in-cluster service account"):
        connect_kube("litellm-rhpds")


def test_connect_kube_reads_kubeconfig_when_called_not_when_the_client_was_imported(
        kube: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the client's own default (KUBE_CONFIG_DEFAULT_LOCATION) was read when pytest imported it
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'absent'}{os.pathsep}{kube.kubeconfig}")  # a list, merged
    conn = connect_kube("litellm-rhpds")
    server = yaml.safe_load(kube.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    assert not conn.in_cluster and conn.server == server and conn.context is not None
    monkeypatch.setenv("KUBECONFIG", "")  # empty is unset, as for kubectl: ~/.kube/config, absent here
    with pytest.raises(ConfigError, match=r"tried .*\.kube/config"):
        connect_kube("litellm-rhpds")
