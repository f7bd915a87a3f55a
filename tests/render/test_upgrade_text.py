"""The scale-to-one upgrade as the plan shows it (text and markdown snapshots of a hand-built plan): its three
changes, its four steps and the backup it requires."""

from __future__ import annotations

from syrupy.assertion import SnapshotAssertion

from litemaas_state.plan.model import (
    BackupAction,
    BackupTarget,
    Replicas,
    RunningImage,
    ScaleToOneUpgradeAction,
)
from litemaas_state.plan.upgrade import steps
from litemaas_state.render.document import build_document
from litemaas_state.render.markdown import render_markdown
from litemaas_state.render.text import render_text
from tests.render.conftest import plan_of

OLD = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.81.0-stable-custom"
NEW = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.85.0-stable-custom"


def upgrade_plan() -> object:
    backup = BackupAction(
        id="backup/litellm-rhpds", address="backup/litellm-rhpds", directory="backups", keep=5,
        targets=(BackupTarget(role="shared", database="litemaas_db",
                              file="backups/litellm-rhpds-litemaas_db-20261129T093000Z.sql.gz"),))
    up = ScaleToOneUpgradeAction(
        id="images/litellm", address="deployment/litellm", component="litellm", deployment="litellm", image=NEW,
        main_container="litellm", containers=("litellm",), replicas_after=5, replicas_declared=True,
        requires=("backup/litellm-rhpds",),
        preconditions=(RunningImage(deployment="litellm", container="litellm", image=OLD),
                       Replicas(deployment="litellm", replicas=3)))
    up = up.model_copy(update={"notes": steps(up, 3)})
    return plan_of(backup, up)


def test_upgrade_text(snapshot: SnapshotAssertion) -> None:
    text = render_text(build_document(upgrade_plan()))  # type: ignore[arg-type]
    assert "Plan: 1 to add, 1 to change, 0 to destroy." in text
    assert text.index("~ replicas_during_rollout: 3 -> 1") < text.index("~ image:") < text.index("~ replicas: 3 -> 5")
    assert "# 2. set the image on litellm and wait for the rollout (on_failure: stop)" in text
    assert text == snapshot


def test_upgrade_markdown(snapshot: SnapshotAssertion) -> None:
    md = render_markdown(build_document(upgrade_plan()))  # type: ignore[arg-type]
    assert "at one replica" in md
    assert md == snapshot
