"""The state file loader refuses bad files with file:line:column and the field path, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from litemaas_state.errors import StateFileError
from litemaas_state.spec.load import parse_state
from litemaas_state.spec.model import image_repository
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
GOOD = (ROOT / "state" / "litellm-rhpds.yaml").read_text()

HEAD = """apiVersion: litemaas-state/v1
kind: Environment
metadata:
  name: env
target:
  namespace: ns
"""


def problems(text: str) -> list[tuple[int | None, int | None, str, str]]:
    with pytest.raises(StateFileError) as info:
        parse_state(text, "state/x.yaml")
    return [
        (d.location.line, d.location.column, d.location.field_path, d.summary)
        for d in info.value.diagnostics
        if d.location
    ]


def test_the_shipped_state_file_is_valid() -> None:
    state = parse_state(GOOD, "state/litellm-rhpds.yaml")
    litellm = state.deployments.litellm
    assert litellm is not None and litellm.replicas == 5
    assert litellm.image == "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.85.0-stable-custom"
    assert state.deployments.frontend is not None and state.deployments.frontend.replicas == 3
    assert state.deployments.backend is not None and state.deployments.backend.replicas == 1


def test_typo_key_is_refused_at_its_line() -> None:
    text = HEAD + "deployments:\n  litellm:\n    replcas: 3\n"
    assert problems(text) == [
        (9, 5, "deployments.litellm.replcas", "unknown key (not part of the state file schema; check the spelling)")
    ]


def test_unknown_deployment_name_is_refused() -> None:
    text = HEAD + "deployments:\n  litelm:\n    replicas: 3\n"
    [(line, col, field, _)] = problems(text)
    assert (line, col, field) == (8, 3, "deployments.litelm")


def test_wrong_type() -> None:
    text = HEAD + "deployments:\n  litellm:\n    replicas: five\n"
    [(line, col, field, summary)] = problems(text)
    assert (line, col, field) == (9, 15, "deployments.litellm.replicas")
    assert "integer" in summary


def test_negative_replicas() -> None:
    text = HEAD + "deployments:\n  frontend:\n    replicas: -1\n"
    [(line, _, field, summary)] = problems(text)
    assert (line, field) == (9, "deployments.frontend.replicas")
    assert "greater than or equal to 0" in summary


@pytest.mark.parametrize("image", ["Quay.io/x:", "quay.io/UPPER/x:1", "quay.io/x", "quay.io/x:tag with space", ":1"])
def test_bad_image_reference(image: str) -> None:
    text = HEAD + f"deployments:\n  litellm:\n    image: '{image}'\n"
    [(line, _, field, summary)] = problems(text)
    assert (line, field) == (9, "deployments.litellm.image")
    assert "image reference" in summary or "no tag or digest" in summary


def test_empty_file() -> None:
    for text in ("", "\n\n", "# only a comment\n"):
        [(line, _, field, summary)] = problems(text)
        assert line == 1 and "empty" in summary


def test_yaml_syntax_error_names_line_and_column() -> None:
    text = HEAD + "deployments:\n  litellm: [replicas: 3\n"
    [(line, col, _, summary)] = problems(text)
    assert line == 9 and col is not None and summary.startswith("YAML syntax error")


def test_duplicate_key() -> None:
    text = HEAD + "deployments:\n  litellm:\n    replicas: 3\n  litellm:\n    replicas: 4\n"
    [(line, col, field, summary)] = problems(text)
    assert (line, col, field) == (10, 3, "deployments.litellm")
    assert "duplicate key 'litellm' (first defined on line 8)" == summary


def test_missing_required_and_all_problems_at_once() -> None:
    text = "apiVersion: litemaas-state/v2\nkind: Environment\nbogus: 1\n"
    found = problems(text)
    fields = {f for _, _, f, _ in found}
    assert fields == {"apiVersion", "bogus", "metadata", "target"}


def test_top_level_must_be_a_mapping() -> None:
    [(_, _, _, summary)] = problems("- a\n- b\n")
    assert "mapping" in summary


def test_duplicate_admin_email_in_other_case() -> None:
    text = HEAD + "admins:\n  emails: [a@example.com, A@Example.com]\n"
    [(line, _, field, summary)] = problems(text)
    assert (line, field) == (8, "admins.emails") and "twice" in summary


def test_image_repository() -> None:
    assert image_repository("quay.io/rh-aiservices-bu/litemaas-backend:0.4.0") == "quay.io/rh-aiservices-bu/litemaas-backend"
    assert image_repository("busybox:1.36") == "busybox"
    assert image_repository("localhost:5000/x/y@sha256:" + "a" * 64) == "localhost:5000/x/y"


def test_validate_command_never_prints_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(HEAD + "deployments:\n  litellm:\n    replicas: [1\n")
    proc = run_cli(["validate", str(bad)])
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"{bad}:" in proc.stderr and "YAML syntax error" in proc.stderr


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("deployments:\n  litellm:\n    replicas: true\n", "deployments.litellm.replicas"),
        ("deployments:\n  litellm:\n    replicas: 1.5\n", "deployments.litellm.replicas"),
        ("admins:\n  exclusive: 'yes'\n", "admins.exclusive"),
        ("admins:\n  exclusive: 1\n", "admins.exclusive"),
        ("backup:\n  keep: true\n", "backup.keep"),
        ("key_retention:\n  max_deletions: '10'\n", "key_retention.max_deletions"),
    ],
)
def test_no_silent_type_coercion(body: str, field: str) -> None:
    found = problems(HEAD + body)
    assert found and all(f == field for _, _, f, _ in found)


def test_anchor_bomb_is_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join(["*" + chr(96 + i)] * 9) + "]")
    [(_, _, _, summary)] = problems("\n".join(lines) + "\n")
    assert "more than" in summary


def test_deep_nesting_is_refused() -> None:
    [(_, _, _, summary)] = problems("[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deeply" in summary
