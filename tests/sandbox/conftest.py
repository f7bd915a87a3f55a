"""Shared fixtures for the sandbox's Kubernetes tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import FAST, Sandbox, SandboxLauncher


@pytest.fixture(scope="module")
def kube(sandbox_launcher: SandboxLauncher) -> Iterator[Sandbox]:
    """A kube-only sandbox (no data plane), one per test module."""
    sandbox = sandbox_launcher.start(**FAST, data_plane=False)
    try:
        yield sandbox
    finally:
        sandbox_launcher.stop(sandbox)


