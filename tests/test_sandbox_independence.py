"""The sandbox imports no product code, checked two ways that do not share a blind spot.

1. Every import in every file under litemaas_state/sandbox/ (``import``, ``from ... import``, relative
   imports resolved, and the strings given to ``importlib.import_module``, ``__import__``,
   ``importlib.util.find_spec``, ``importlib.resources.files`` and ``runpy.run_module``) names only
   ``litemaas_state.sandbox`` or something outside ``litemaas_state``. A dynamic (non-literal) module
   name in one of those calls cannot be checked and fails too.
2. The import-linter contract "The sandbox imports no product code" (pyproject.toml) covers every
   top-level module of ``litemaas_state`` as ``pkgutil.iter_modules`` finds it, so a new product module
   cannot slip past a hand-kept list, and it has no ``ignore_imports`` or indirect-import escape hatch.
"""

from __future__ import annotations

import ast
import fnmatch
import pkgutil
import tomllib
from pathlib import Path

import pytest

import litemaas_state

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(litemaas_state.__path__[0])
SANDBOX = PACKAGE / "sandbox"
CONTRACT = "The sandbox imports no product code"
DYNAMIC_IMPORTERS = {"import_module", "__import__", "find_spec", "files", "run_module"}


def allowed(module: str) -> bool:
    """Whether the sandbox may import `module` (a dotted, absolute name)."""
    top, _, rest = module.partition(".")
    if top != "litemaas_state":
        return True
    return rest == "sandbox" or rest.startswith("sandbox.")


def package_of(path: Path, root: Path) -> list[str]:
    """The dotted package `path` belongs to, relative to `root` (the directory holding litemaas_state/)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    parts.pop()  # the module itself, or `__init__` (whose package is its directory)
    return parts


def imported_names(path: Path, root: Path = PACKAGE.parent) -> list[tuple[int, str]]:
    """(line, absolute module name) for everything `path` imports or names to an import function.

    A dynamic module name is reported as `<dynamic>` (never allowed). `from X import a, b` yields `X.a`
    and `X.b` (`a` may be a submodule), so `from litemaas_state import redact` is caught while
    `from litemaas_state import sandbox` is not; `from X import *` yields `X`.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = package_of(path, root)
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found += [(node.lineno, module if a.name == "*" else f"{module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name not in DYNAMIC_IMPORTERS or not node.args:
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((node.lineno, first.value))
            elif name in ("import_module", "__import__", "run_module"):
                found.append((node.lineno, "<dynamic>"))
    return found


def sandbox_files() -> list[Path]:
    files = sorted(SANDBOX.rglob("*.py"))
    assert len(files) > 10, f"expected the sandbox's modules under {SANDBOX}"
    return files


def test_no_file_under_sandbox_imports_product_code() -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sandbox_files()
        for line, module in imported_names(path)
        if module == "<dynamic>" or not allowed(module)
    ]
    assert bad == [], "the sandbox imports product code:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("from litemaas_state import redact\n", True),
        ("import litemaas_state.timestamps\n", True),
        ("from litemaas_state.cli import main\n", True),
        ("from ... import names\n", True),  # relative, from litemaas_state/sandbox/kubeapi/
        ("from .. import streams\n", False),
        ("import importlib\nimportlib.import_module('litemaas_state.errors')\n", True),
        ("__import__('litemaas_state.plan')\n", True),
        ("import importlib\nimportlib.import_module(name)\n", True),
        ("from litemaas_state.sandbox import kubeapi\nimport fastapi\n", False),
        ("from litemaas_state import sandbox\n", False),
        ("import litemaas_state\n", True),
        ("from litemaas_state.redact import *\n", True),
    ],
)
def test_the_import_walk_catches_what_it_must(tmp_path: Path, source: str, caught: bool) -> None:
    probe = tmp_path / "litemaas_state" / "sandbox" / "kubeapi" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text(source)
    names = [module for _, module in imported_names(probe, root=tmp_path)]
    assert any(m == "<dynamic>" or not allowed(m) for m in names) is caught, names


def product_modules() -> set[str]:
    return {f"litemaas_state.{m.name}" for m in pkgutil.iter_modules(litemaas_state.__path__)} - {
        "litemaas_state.sandbox"
    }


def contract() -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    [found] = [c for c in contracts if c["name"] == CONTRACT]
    return found


def test_the_import_linter_contract_forbids_every_product_module() -> None:
    c = contract()
    assert c["type"] == "forbidden"
    assert c["source_modules"] == ["litemaas_state.sandbox"]
    assert "ignore_imports" not in c, "no exceptions to the sandbox's independence"
    assert not c.get("allow_indirect_imports", False)
    assert c.get("as_packages", True), "submodules of the forbidden modules must be forbidden too"
    patterns = c["forbidden_modules"]
    assert isinstance(patterns, list)
    modules = product_modules()
    assert {"litemaas_state.redact", "litemaas_state.timestamps", "litemaas_state.cli"} <= modules
    missing = sorted(m for m in modules if not any(fnmatch.fnmatchcase(m, p) for p in patterns))
    assert missing == [], f"{CONTRACT!r} in pyproject.toml does not forbid {missing}"
