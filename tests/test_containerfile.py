"""The Containerfile, which cannot be built here (no container runtime, no registry), is checked here: its
base image is pinned, it ends as a non-root user, it copies what pyproject.toml builds the package from,
and its install command installs a working tool (the tool alone, no sandbox extra) in a fresh venv."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONTAINERFILE = ROOT / "Containerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_the_base_image_is_ubi_python_and_pinned() -> None:
    froms = [args for word, args in instructions() if word == "FROM"]
    assert len(froms) == 1
    image = froms[0]
    assert image.startswith("registry.access.redhat.com/ubi9/python-311")
    tag = image.rsplit("@", 1)[-1] if "@" in image else image.rsplit(":", 1)[-1]
    assert tag.startswith("sha256:") or re.fullmatch(r"\d+(\.\d+)?-\d+", tag), f"{image} is not pinned"


def test_it_runs_as_a_non_root_user() -> None:
    users = [args for word, args in instructions() if word == "USER"]
    assert users and users[-1] not in ("0", "root") and users[-1].split(":")[0].isdigit()
    assert [args for word, args in instructions()][-2:] == ['["litemaas-state"]', '["--help"]']


def install_command() -> tuple[list[str], list[str]]:
    """(paths COPY'd into the image, the pip install arguments)."""
    copied = []
    for word, args in instructions():
        if word == "COPY":
            parts = [p for p in shlex.split(args) if not p.startswith("--")]
            copied += parts[:-1]
    runs = [args for word, args in instructions() if word == "RUN" and "pip install" in args]
    assert len(runs) == 1
    first = runs[0].split("&&")[0].split()
    return copied, first[first.index("install") + 1:]


def test_it_copies_what_the_package_is_built_from() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    copied, args = install_command()
    assert set(copied) == {"pyproject.toml", project["project"]["readme"], "litemaas_state"}
    assert args == ["--no-cache-dir", "."]  # the package itself, no extras (the sandbox is not in the image)
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["litemaas_state*"]


@pytest.mark.slow
@pytest.mark.xdist_group("containerfile-install")
def test_the_install_command_installs_a_working_tool_in_a_fresh_venv(tmp_path: Path) -> None:
    copied, args = install_command()
    src = tmp_path / "src"
    src.mkdir()
    for name in copied:  # what COPY puts in the image
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    # A fresh venv without pip of its own: this environment's pip installs into it (--python), resolving
    # and downloading every dependency as the image's does; --no-compile skips byte-compiling them all
    # (the tool's commands below compile what they import). Each saves CPU, neither changes what is installed.
    venv = tmp_path / "venv"
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only what was installed is importable
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-compile",
                          "--disable-pip-version-check", *args], cwd=src, env=env, capture_output=True, text=True,
                         timeout=600)
    assert pip.returncode == 0, pip.stderr[-3000:]
    installed = subprocess.run([python, "-c", "import litemaas_state; print(litemaas_state.__file__)"], cwd=tmp_path,
                               env=env, capture_output=True, text=True, timeout=60)
    assert installed.returncode == 0 and Path(installed.stdout.strip()).is_relative_to(venv), installed
    tool = venv / "bin" / "litemaas-state"
    version = subprocess.run([str(tool), "--version"], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=60)
    assert version.returncode == 0 and "litemaas-state" in version.stdout
    bundle = subprocess.run([str(tool), "manifests", str(ROOT / "state" / "litellm-rhpds.yaml"), "--image", "x:1"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert bundle.returncode == 0 and "kind: CronJob" in bundle.stdout, bundle.stderr
    sandbox = subprocess.run([python, "-c", "import fastapi"], cwd=tmp_path, env=env, capture_output=True, timeout=60)
    assert sandbox.returncode != 0  # the tool alone: the sandbox extra is not installed
