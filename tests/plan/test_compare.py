"""A saved plan may only do what a fresh plan of its state file would also do (plan/compare.py)."""

from __future__ import annotations

from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import LiveState, VirtualKey
from litemaas_state.plan.compare import inconsistencies, uncovered
from litemaas_state.plan.model import (
    Change,
    DeleteKeysAction,
    KeyRef,
    Phase,
    Plan,
    Precondition,
    ScaleAction,
    SetImageAction,
)
from tests.plan.factories import NOW, token


def plan(*actions: object, errors: tuple[str, ...] = ()) -> Plan:
    return Plan(environment="e", namespace="e", created_at=NOW, state_file="s.yaml", state_digest="d",
                actions=actions,  # type: ignore[arg-type]
                diagnostics=tuple(Diagnostic(severity=Severity.ERROR, summary=e) for e in errors))


def scale(n: int, shown: int | None = None) -> ScaleAction:
    return ScaleAction(id="scaling/litellm", phase=Phase.SCALING, address="deployment/litellm", deployment="litellm",
                       replicas=n, changes=(Change(field="replicas", before=3, after=n if shown is None else shown),))


def delete(*tokens: str, pre: tuple[str, ...] | None = None) -> DeleteKeysAction:
    return DeleteKeysAction(
        id="keys/expired", phase=Phase.KEYS, address="keys/expired", rule="expired",
        keys=tuple(KeyRef(token_hash=t) for t in tokens),
        preconditions=(Precondition(source="litellm", address="keys/expired", field="keys[expired]",
                                    expected=sorted(pre if pre is not None else tokens)),),
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
    image = SetImageAction(id="images/x", phase=Phase.IMAGES, address="deployment/x", deployment="x", image="a:2",
                           containers=("x",), changes=(Change(field="image", before="a:1", after="a:3"),))
    found = inconsistencies(plan(scale(0, shown=5), image, delete(token(1), pre=(token(2),)), scale(0, shown=0)))
    assert any("shows replicas 5 but would set 0" in p for p in found)
    assert any("shows image 'a:3' but would set a:2" in p for p in found)
    assert any("key list does not match its precondition" in p for p in found)
    assert any("appears twice" in p for p in found)
