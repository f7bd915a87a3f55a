"""``upgrade_strategy``: rolling (default) or scale-to-one, the latter for litellm only, refused elsewhere at
its line and column."""

from __future__ import annotations

import pytest

from litemaas_state.names import Component
from litemaas_state.spec.load import parse_state
from litemaas_state.spec.model import UpgradeStrategy
from tests.spec.test_load import HEAD, problems


def test_default_is_rolling_and_scale_to_one_is_accepted_on_litellm() -> None:
    plain = parse_state(HEAD + "deployments:\n  litellm:\n    replicas: 3\n", "x.yaml")
    assert plain.upgrade_strategy_for(Component.LITELLM) == UpgradeStrategy.ROLLING
    text = HEAD + "deployments:\n  litellm:\n    upgrade_strategy: scale-to-one\n"
    assert parse_state(text, "x.yaml").upgrade_strategy_for(Component.LITELLM) == UpgradeStrategy.SCALE_TO_ONE
    rolling = HEAD + "deployments:\n  backend:\n    upgrade_strategy: rolling\n"
    assert parse_state(rolling, "x.yaml").upgrade_strategy_for(Component.BACKEND) == UpgradeStrategy.ROLLING


@pytest.mark.parametrize("key", ["backend", "frontend", "redis"])
def test_scale_to_one_is_refused_on_other_components_at_its_line(key: str) -> None:
    text = HEAD + f"deployments:\n  litellm:\n    upgrade_strategy: scale-to-one\n  {key}:\n" \
                  "    replicas: 1\n    upgrade_strategy: scale-to-one\n"
    [(line, column, field, summary)] = problems(text)
    assert (line, column, field) == (12, 23, f"deployments.{key}.upgrade_strategy")
    assert summary.startswith("scale-to-one applies only to litellm")


def test_an_unknown_strategy_names_the_choices() -> None:
    [(line, _col, field, summary)] = problems(HEAD + "deployments:\n  litellm:\n    upgrade_strategy: fast\n")
    assert (line, field) == (9, "deployments.litellm.upgrade_strategy")
    assert "'rolling' or 'scale-to-one'" in summary
