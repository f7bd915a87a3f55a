"""A held lock: the second apply fails fast, before any slow discovery read, and says when the lease
can really be taken over."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from litemaas_state.apply.lock import LEASE_NAME, ApplyLock
from tests.e2e.test_end_to_end import write

pytestmark = pytest.mark.slow

# a database that never answers: a discovery read before the lock check would wait connect_timeout
BLACKHOLE = "postgresql://litellm@10.255.255.1:5432/litellm?connect_timeout=20"


def test_a_held_lock_fails_fast_and_names_the_real_takeover_time(make_sandbox) -> None:
    sb = make_sandbox()
    state = write(sb, "deployments:\n  litellm:\n    replicas: 4\n")
    plan_file = str(sb.dir / "p.plan")
    sb.cli("plan", state, "--out", plan_file, check=0)
    from litemaas_state.live.kube import connect_kube

    conn = connect_kube("litellm-rhpds", kubeconfig=sb.env["KUBECONFIG"])
    slow = {"LITEMAAS_DATABASE_URL": BLACKHOLE, "LITELLM_DATABASE_URL": BLACKHOLE}
    with ApplyLock(conn, "litellm-rhpds", identity="someone@elsewhere pid 1"):
        for args in (["apply", state, "--auto-approve"], ["apply", "--plan", plan_file]):
            start = time.monotonic()
            proc = sb.cli(*args, extra_env=slow, check=1)
            elapsed = time.monotonic() - start
            assert "another apply holds the lock" in proc.stderr, proc.stderr
            assert elapsed < 15, f"{args}: {elapsed:.1f}s: the lock must be tested before a discovery read (20 s)"
            assert "taken over 90s after its last renewal (60s lease + 30s clock-skew allowance)" in proc.stderr
            at = re.search(r"at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) at the earliest", proc.stderr)
            assert at, proc.stderr
            when = datetime.strptime(at.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            assert timedelta(seconds=60) < when - datetime.now(UTC) <= timedelta(seconds=91)


def test_the_lock_is_per_namespace_not_per_environment_name(make_sandbox) -> None:
    sb = make_sandbox()
    from litemaas_state.live.kube import connect_kube

    other = write(sb, "deployments:\n  litellm:\n    replicas: 4\n", name="other.yaml")
    Path(other).write_text(Path(other).read_text().replace("name: litellm-rhpds", "name: a-copy", 1))
    conn = connect_kube("litellm-rhpds", kubeconfig=sb.env["KUBECONFIG"])
    with ApplyLock(conn, "litellm-rhpds"):
        proc = sb.cli("apply", other, "--auto-approve", check=1)
        assert "another apply holds the lock for this namespace" in proc.stderr, proc.stderr
        assert "(environment litellm-rhpds)" in proc.stderr and f"lease/{LEASE_NAME} " in proc.stderr
    assert sb.cli("plan", other, "--detailed-exitcode").returncode == 2  # nothing was applied
    sb.cli("apply", other, "--auto-approve", check=0)  # released: the copy applies
