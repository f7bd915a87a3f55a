"""Fixtures for the sandbox data plane tests: one real data plane per databases arrangement (separate,
shared), shared by the session.

Tests that change data only touch keys they create through ``POST /key/generate``, so the seeded
population stays as documented in litemaas_state/sandbox/seed.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from litemaas_state.sandbox.dataplane import DataPlane, start_data_plane
from litemaas_state.sandbox.secrets import SandboxSecrets


@dataclass
class Sandbox:
    dp: DataPlane
    secrets: SandboxSecrets
    http: httpx.Client  # base_url = LiteLLM, master key in Authorization

    @property
    def databases(self) -> str:
        return self.dp.databases

    def litemaas(self) -> psycopg.Connection:
        return psycopg.connect(self.dp.litemaas_database_url, autocommit=True)

    def litellm(self) -> psycopg.Connection:
        return psycopg.connect(self.dp.litellm_database_url, autocommit=True)

    def anon(self) -> httpx.Client:
        return httpx.Client(base_url=self.dp.litellm_url, timeout=10)


@pytest.fixture(scope="session", params=["separate", "shared"])
def sbx(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    secrets = SandboxSecrets.generate()
    dp = start_data_plane(tmp_path_factory.mktemp(f"dp-{request.param}"), secrets, databases=request.param)
    http = httpx.Client(
        base_url=dp.litellm_url, headers={"Authorization": f"Bearer {secrets.master_key}"}, timeout=10
    )
    try:
        yield Sandbox(dp, secrets, http)
    finally:
        http.close()
        dp.stop()
