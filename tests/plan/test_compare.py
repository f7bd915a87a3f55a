"""A saved plan may only do what a fresh plan of its state file would also do (plan/compare.py)."""

from __future__ import annotations

from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import LiveState, VirtualKey
from litemaas_state.plan.compare import inconsistencies, uncovered
from litemaas_state.plan.model import (
    DeleteKeysAction,
    KeyExpiries,
    KeyRef,
    Plan,
    Replicas,
    RunningImage,
    ScaleAction,
    SetImageAction,
    WaitRolloutAction,
)
from tests.plan.factories import NOW, token


def plan(*actions: object, errors: tuple[str, ...] = ()) -> Plan:
    return Plan(environment="e", namespace="e", created_at=NOW, state_file="s.yaml", state_digest="d",
                actions=actions,  # type: ignore[arg-type]
                diagnostics=tuple(Diagnostic(severity=Severity.ERROR, summary=e) for e in errors))


def scale(n: int) -> ScaleAction:
    return ScaleAction(id="scaling/litellm", address="deployment/litellm", component="litellm", deployment="litellm",
                       replicas=n, preconditions=(Replicas(deployment="litellm", replicas=3),))


def delete(*tokens: str, rule: str = "expired") -> DeleteKeysAction:
    return DeleteKeysAction(
        id="keys/expired", address="keys/expired", rule="expired",
        keys=tuple(KeyRef(token_hash=t) for t in tokens), preconditions=(KeyExpiries(rule=rule),),
    )


def test_identical_plans_are_covered() -> None:
    assert uncovered(plan(scale(5), delete(token(1))), plan(scale(5), delete(token(1), token(2)))) == []


def test_a_new_action_is_refused() -> None:
    [msg] = uncovered(plan(scale(5)), plan())
    assert "no longer contains this action" in msg


def test_other_values_are_refused() -> None:
    [msg] = uncovered(plan(scale(0)), plan(scale(5)))
    assert msg == "scaling/litellm: would now scale to 5"


def test_keys_the_rules_no_longer_select_are_refused() -> None:
    [msg] = uncovered(plan(delete(token(1), token(9))), plan(delete(token(1))))
    assert "1 of its keys are no longer selected by rule expired" in msg


def live_with(*tokens: str) -> LiveState:
    return LiveState(observed_at=NOW, namespace="e", keys=tuple(VirtualKey(token_hash=t) for t in tokens))


def test_keys_already_gone_are_done_not_refused() -> None:
    saved = plan(delete(token(1), token(2), token(9)))
    # token 9 was deleted by someone else: not in LiteLLM, so not selected either
    assert uncovered(saved, plan(delete(token(1), token(2))), live_with(token(1), token(2))) == []
    # every planned key gone: the fresh plan has no such action, and that is the goal reached
    assert uncovered(saved, plan(), live_with(token(5))) == []


def test_a_key_still_there_but_no_longer_selected_is_refused_even_with_live_state() -> None:
    # token 9 still exists (its expiry was extended): refused
    [msg] = uncovered(plan(delete(token(1), token(9))), plan(delete(token(1))), live_with(token(1), token(9)))
    assert "1 of its keys are no longer selected by rule expired" in msg
    [msg] = uncovered(plan(delete(token(9))), plan(), live_with(token(9)))
    assert "no longer contains this action" in msg


def test_errors_in_the_fresh_plan_refuse() -> None:
    [msg] = uncovered(plan(scale(5)), plan(scale(5), errors=("Redis is not ready",)))
    assert "checks now fail: Redis is not ready" in msg


def test_inconsistent_actions() -> None:
    wait = WaitRolloutAction(id="images/x/rollout", address="deployment/x", component="frontend", deployment="x", image="a:2",
                             preconditions=(RunningImage(deployment="x", container="x", image="a:1"),))
    found = inconsistencies(plan(wait, scale(0), delete(token(1), rule="max_age"), scale(0)))
    assert any("waits for image a:2 but its precondition says ['a:1']" in p for p in found)
    assert any("has no key_expiries precondition" in p for p in found)
    assert any("appears twice" in p for p in found)
    assert inconsistencies(plan(scale(0), delete(token(1)))) == []


def test_shown_changes_derive_from_the_typed_fields() -> None:
    image = SetImageAction(id="images/x", address="deployment/x", component="frontend", deployment="x", image="a:2", main_container="x",
                           containers=("x", "side"),
                           preconditions=(RunningImage(deployment="x", container="side", image="a:0"),
                                          RunningImage(deployment="x", container="x", image="a:1")))
    assert [(c.field, c.before, c.after) for c in image.changes] == [("image", "a:1", "a:2")]
    assert [(c.field, c.before, c.after) for c in scale(5).changes] == [("replicas", 3, 5)]
    assert [(c.field, c.before, c.after) for c in delete(token(1), token(2)).changes] == [("keys", 2, 0)]
