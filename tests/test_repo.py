"""Repository hygiene: the two-command setup, pinned torch, environment drift, clean notebooks."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _makefile_torch_spec() -> str:
    m = re.search(r"^TORCH_SPEC \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert m, "Makefile must define an overridable TORCH_SPEC ?= ..."
    return m.group(1)


def _env_requirements() -> dict[str, Requirement]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    reqs: dict[str, Requirement] = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            if item.startswith("-e") or item in ("pip",) or item.startswith("python"):
                continue
            req = Requirement(item)
            reqs[req.name.lower()] = req
    return reqs


def _pyproject_requirements() -> dict[str, Requirement]:
    project = _pyproject()["project"]
    items = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    return {Requirement(i).name.lower(): Requirement(i) for i in items}


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    """Do environment.yml and pyproject.toml name the same packages with the same version ranges?"""
    env, py = _env_requirements(), _pyproject_requirements()
    assert sorted(env) == sorted(py), (
        f"only in environment.yml: {sorted(set(env) - set(py))}; "
        f"only in pyproject.toml: {sorted(set(py) - set(env))}")
    for name, req in py.items():
        if name == "torch":
            continue  # checked below: environment.yml pins the exact build
        assert str(env[name].specifier) == str(req.specifier), (
            f"{name}: environment.yml has {env[name].specifier!s}, pyproject.toml has {req.specifier!s}")


def test_torch_is_pinned_everywhere_it_is_installed():
    """Is the default torch an exact pin (never an unpinned torch that pulls CUDA wheels)?"""
    spec = _makefile_torch_spec()
    req = Requirement(spec)
    assert req.name == "torch" and str(req.specifier).startswith("=="), spec
    env_torch = _env_requirements()["torch"]
    assert str(env_torch.specifier) == str(req.specifier)
    # the pinned version must satisfy the package's own range, so pip installs nothing more
    version = str(req.specifier).removeprefix("==")
    assert _pyproject_requirements()["torch"].specifier.contains(version)
    makefile = (ROOT / "Makefile").read_text()
    for line in makefile.splitlines():
        if "pip install" in line and "torch" in line.lower():
            assert "$(TORCH_SPEC)" in line or "torch-constraint" in line, line


# torchvision's release notes pair each release with one torch release
_TORCHVISION_FOR_TORCH = {"2.13.0": "0.28.0"}


def test_torchvision_is_pinned_to_the_release_built_for_torch():
    """Is torchvision (a test oracle) pinned exactly, in pyproject and environment.yml, to the release
    built for the pinned torch (so installing it can never resolve another torch)?"""
    torch_version = str(Requirement(_makefile_torch_spec()).specifier).removeprefix("==")
    want = _TORCHVISION_FOR_TORCH.get(torch_version)
    assert want, f"torch {torch_version}: add its torchvision release to _TORCHVISION_FOR_TORCH"
    for where, reqs in (("pyproject.toml [dev]", _pyproject_requirements()), ("environment.yml", _env_requirements())):
        assert str(reqs["torchvision"].specifier) == f"=={want}", (
            f"{where}: torchvision expected =={want} (built for torch {torch_version}), got {reqs['torchvision'].specifier}")


def test_ci_runs_exactly_the_readme_test_command():
    """Does .ci/run end with exactly the test command the README gives (after installing the system
    packages the tests need), and run it nowhere else?"""
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.+?)\n```", readme, re.S)
    assert m, "README must mark its test command with <!-- test-command -->"
    command = m.group(1).strip()
    ci_lines = [l.strip() for l in (ROOT / ".ci/run").read_text().splitlines()
                if l.strip() and not l.strip().startswith(("#", "set ", "cd "))]
    assert ci_lines[-1] == command and ci_lines.count(command) == 1, ci_lines
    assert all("make" not in l for l in ci_lines[:-1]), "only system packages are installed before the tests"


def _notebooks() -> list[Path]:
    return sorted(p for d in ("lectures", "solutions", "assignments") for p in (ROOT / d).rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts)


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebooks_are_committed_without_outputs(path):
    """Is every notebook source: no outputs, no execution counts?"""
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs or execution counts"


def test_project_never_reads_shared_folder():
    """Does any file of the project refer to ../shared (which users will not have)?"""
    offenders = []
    for p in list((ROOT / "cnncourse").rglob("*.py")) + list((ROOT / "tests").rglob("*.py")) + _notebooks():
        if p.name == "test_repo.py":
            continue
        if re.search(r"\.\./shared|/work/shared", p.read_text(errors="ignore")):
            offenders.append(str(p.relative_to(ROOT)))
    assert not offenders
