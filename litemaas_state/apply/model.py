"""Apply results and events; the Reporter protocol (our version of Terraform's UI hooks).

apply never prints: it emits ``ApplyEvent``s that the command layer renders.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class EventKind(StrEnum):
    STARTED = "started"
    PROGRESS = "progress"
    FINISHED = "finished"
    FAILED = "failed"
    INFO = "info"


class ApplyEvent(BaseModel):
    """One event: ``action_id``/``address`` it concerns, a message, seconds since the action started;
    ``done``/``total`` for a progress event that counts items (keys pruned), or, with ``rollout``, the
    replicas of a rollout: ``done`` new replicas available (``min(updatedReplicas, availableReplicas)``)
    of ``total`` desired (``spec.replicas``)."""

    model_config = ConfigDict(frozen=True)

    kind: EventKind
    action_id: str
    address: str
    message: str
    elapsed_s: float = 0.0
    done: int | None = None
    total: int | None = None
    rollout: bool = False


class ActionStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class ActionResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    action_id: str
    address: str
    status: ActionStatus
    message: str = ""
    duration_s: float = 0.0


class ApplyResult(BaseModel):
    """The outcome of one apply: every action's result, in plan order; ``failed_action`` stopped the run."""

    model_config = ConfigDict(frozen=True)

    results: tuple[ActionResult, ...]
    failed_action: str | None = None
    error: str | None = None
    interrupted: bool = Field(False, description="SIGINT/SIGTERM stopped the run (exit 130, errors.ExitCode).")

    @property
    def ok(self) -> bool:
        return self.failed_action is None and self.error is None


#: Receives every ApplyEvent; the command layer renders them.
Reporter = Callable[[ApplyEvent], None]
