"""The action-kind registry (plan/kinds.py) is complete and agrees with the model and the executors."""

from __future__ import annotations

import typing

import pytest
from pydantic import ValidationError

from litemaas_state.apply.executors import EXECUTORS
from litemaas_state.plan.kinds import SPECS
from litemaas_state.plan.model import PHASE_ORDER, Action, AdminAction, Precondition, ScaleAction
from litemaas_state.render.symbols import HEADER


def _kinds_of(union: object) -> dict[str, type]:
    members = typing.get_args(typing.get_args(union)[0])
    out: dict[str, type] = {}
    for cls in members:
        for kind in typing.get_args(cls.model_fields["kind"].annotation):
            out[kind] = cls
    return out


def test_every_action_kind_has_one_spec_and_one_executor_of_its_class() -> None:
    model = _kinds_of(Action)
    assert set(model) == set(SPECS) == set(EXECUTORS) == set(HEADER)
    assert model["promote_admin"] is model["demote_admin"] is AdminAction
    for kind, cls in model.items():
        assert EXECUTORS[kind][0] is cls, kind
        assert SPECS[kind].phase in PHASE_ORDER and SPECS[kind].verbs and SPECS[kind].header


def test_preconditions_are_a_closed_union_with_a_kind_each() -> None:
    kinds = _kinds_of(Precondition)
    assert set(kinds) == {"image", "replicas", "restarted_at", "user_roles", "key_expiries", "orphan_rows"}


def test_a_precondition_of_an_unknown_kind_or_the_old_string_form_is_not_a_plan() -> None:
    base = {"kind": "scale", "id": "scaling/litellm", "address": "deployment/litellm", "component": "litellm", "deployment": "litellm",
            "replicas": 2}
    ok = ScaleAction.model_validate({**base, "preconditions": [{"kind": "replicas", "deployment": "litellm",
                                                                 "replicas": 1}]})
    assert [(c.field, c.before, c.after) for c in ok.changes] == [("replicas", 1, 2)]
    for pre in ({"kind": "labels", "deployment": "litellm"},
                {"source": "kubernetes", "address": "deployment/litellm", "field": "spec.replicas", "expected": 1}):
        with pytest.raises(ValidationError):
            ScaleAction.model_validate({**base, "preconditions": [pre]})
