"""Choosing each source's path (live/connect.py): --connect, LITEMAAS_STATE_CONNECT, and auto's rules
(direct in-cluster or when the host answers within the probe timeout, else kubernetes)."""

from __future__ import annotations

import socket

import pytest

from litemaas_state.errors import ConfigError
from litemaas_state.live.connect import (
    ConnectMode,
    DataPlaneFlags,
    Discovery,
    choose_path,
    reachable,
    service_of,
)
from litemaas_state.live.model import PathKind


def never(host: str, port: int) -> bool:
    raise AssertionError("no probe expected")


@pytest.mark.parametrize(("mode", "in_cluster", "answers", "kind"), [
    (ConnectMode.DIRECT, False, False, PathKind.DIRECT),
    (ConnectMode.KUBERNETES, True, True, PathKind.KUBERNETES),
    (ConnectMode.AUTO, False, True, PathKind.DIRECT),
    (ConnectMode.AUTO, False, False, PathKind.KUBERNETES),
])
def test_choose_path(mode: ConnectMode, in_cluster: bool, answers: bool, kind: PathKind) -> None:
    got, reason = choose_path(mode, "--connect", in_cluster, "litellm-postgres", 5432, lambda h, p: answers)
    assert got == kind and reason


def test_auto_in_cluster_goes_direct_without_probing() -> None:
    assert choose_path(ConnectMode.AUTO, "--connect", True, "litellm-postgres", 5432, never) == (
        PathKind.DIRECT, "auto: running inside the cluster")


def test_reachable_probes_a_real_socket() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert reachable("127.0.0.1", port)
    assert not reachable("127.0.0.1", port)
    assert not reachable("litellm-postgres.invalid", 5432, timeout_s=0.5)


def test_mode_from_flag_then_environment() -> None:
    assert Discovery(DataPlaneFlags(), None, environ={"LITEMAAS_STATE_CONNECT": "kubernetes"}).mode \
        == ConnectMode.KUBERNETES
    assert Discovery(DataPlaneFlags(connect="direct"), None, environ={"LITEMAAS_STATE_CONNECT": "kubernetes"}).mode \
        == ConnectMode.DIRECT
    assert Discovery(DataPlaneFlags(), None, environ={}).mode == ConnectMode.AUTO
    assert Discovery(DataPlaneFlags(connect="direct"), None, environ={}).mode_origin == "--connect direct"
    assert Discovery(DataPlaneFlags(), None, environ={"LITEMAAS_STATE_CONNECT": "Kubernetes"}).mode_origin \
        == "LITEMAAS_STATE_CONNECT=kubernetes"
    with pytest.raises(ConfigError, match="LITEMAAS_STATE_CONNECT 'tunnel' is not one of auto, direct, kubernetes"):
        Discovery(DataPlaneFlags(), None, environ={"LITEMAAS_STATE_CONNECT": "tunnel"})


def test_direct_database_keeps_its_url_and_records_the_path() -> None:
    url = "postgresql://litellm:pw@127.0.0.1:5432/litemaas_db"
    d = Discovery(DataPlaneFlags(litemaas_database_url=url, connect="direct"), None, environ={})
    db = d.database("litemaas")
    assert db is not None and db.url == url and db.pod is None
    (path,) = d.paths()
    assert (path.kind, path.host, path.port, path.pod) == (PathKind.DIRECT, "127.0.0.1", 5432, None)
    assert path.reason == "--connect direct"


def test_service_of_takes_the_first_label() -> None:
    assert service_of("litellm-postgres") == "litellm-postgres"
    assert service_of("litellm-postgres.litellm-rhpds.svc.cluster.local") == "litellm-postgres"
