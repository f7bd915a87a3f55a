"""Starting and stopping the data plane: URLs, password auth, Redis availability, DB outage, clean-up."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from litemaas_state.sandbox.dataplane import start_data_plane
from litemaas_state.sandbox.secrets import SandboxSecrets

from .conftest import Sandbox


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_urls_and_repr(sbx: Sandbox) -> None:
    dp, sec = sbx.dp, sbx.secrets
    port = dp.postgres_port
    assert dp.litemaas_database_url == (
        f"postgresql://litellm:{sec.db_password}@127.0.0.1:{port}/litemaas_db?sslmode=disable"
    )
    db = "litellm" if dp.databases == "separate" else "litemaas_db"
    assert (
        dp.litellm_database_url
        == f"postgresql://litellm:{sec.db_password}@127.0.0.1:{port}/{db}?sslmode=disable"
    )
    assert dp.redis_url == f"redis://:{sec.redis_password}@127.0.0.1:{dp.redis_port}/0"
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", dp.litellm_url) and dp.litellm_url.endswith(
        dp.litellm_host
    )
    text = repr(dp)
    for value in sec.values():
        assert value not in text


def test_postgres_requires_the_password(sbx: Sandbox) -> None:
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            sbx.dp.litemaas_database_url.replace(sbx.secrets.db_password, "wrong"), connect_timeout=3
        )
    with sbx.litemaas() as conn:
        assert conn.execute("SHOW password_encryption").fetchone() == ("scram-sha-256",)
        assert conn.execute("SHOW fsync").fetchone() == ("off",)
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        if os.geteuid() == 0:
            data_dir = conn.execute("SHOW data_directory").fetchone()
            assert data_dir is not None and Path(data_dir[0]).owner() == "postgres"


def test_redis_requires_the_password_and_can_go_away(sbx: Sandbox) -> None:
    dp = sbx.dp
    assert dp.redis_ping()
    assert redis.Redis.from_url(dp.redis_url).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=dp.redis_port, retry=Retry(NoBackoff(), 0)).ping()
    assert redis.Redis.from_url(dp.redis_url).config_get("save") == {"save": ""}
    dp.redis.stop()
    try:
        assert not dp.redis_ping()
    finally:
        dp.redis.start()
    assert dp.redis_ping() and dp.redis_url.endswith(f":{dp.redis_port}/0")


def test_invalid_databases_or_layout(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="databases"):
        start_data_plane(tmp_path, SandboxSecrets.generate(), databases="split")
    with pytest.raises(ValueError, match="layout"):
        start_data_plane(tmp_path, SandboxSecrets.generate(), layout="helm")
    assert not (tmp_path / "pg").exists()


def test_db_outage_and_stop(tmp_path: Path) -> None:
    """Readiness turns 503 when PostgreSQL really goes away; stop() frees every port and temp dir."""
    secrets = SandboxSecrets.generate()
    dp = start_data_plane(tmp_path / "wd", secrets, databases="shared")
    pg_root = dp.postgres.root
    try:
        with httpx.Client(
            base_url=dp.litellm_url, headers={"Authorization": f"Bearer {secrets.master_key}"}
        ) as c:
            assert c.get("/health/readiness").status_code == 200
            assert c.get("/key/list").status_code == 200
            dp.postgres.stop()
            r = c.get("/health/readiness")
            assert r.status_code == 503 and r.json()["detail"].startswith("Service Unhealthy")
            r = c.post("/key/delete", json={"keys": ["sk-x"]})
            assert r.status_code == 500 and r.json()["error"]["message"] == "Not connected to DB!"
            assert c.get("/health/liveness").json() == "I'm alive!"
            dp.postgres.start()
            assert c.get("/health/readiness").status_code == 200
            assert c.get("/key/list").json()["total_count"] == dp.seed.listed_tokens
    finally:
        dp.stop()
    for port in (dp.postgres_port, dp.redis_port, int(dp.litellm_host.split(":")[1])):
        assert not _port_open(port)
    if dp.postgres.external:
        assert not pg_root.exists()
    dp.stop()  # idempotent
