"""The two install routes name the same packages: pip (pyproject.toml, ``make setup``) and conda
(environment.yml), so that neither can drift from the other."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml  # installed with papermill (the notebooks extra)

ROOT = Path(__file__).resolve().parents[1]

# conda-forge names that differ from the PyPI names pyproject.toml uses
CONDA_TO_PYPI = {"pysoundfile": "soundfile"}
# in environment.yml but not packages of ours: the interpreter and the installer
NOT_PACKAGES = {"python", "pip"}


def _name(spec: str) -> str:
    """'numpy=2.4', 'torch==2.14.1', 'mir_eval>=0.7,<0.9' -> the normalised name (PEP 503)."""
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec).group(1)
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_packages() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"]) + [s for extra in project["optional-dependencies"].values() for s in extra]
    own = _name(project["name"])
    return {_name(s) for s in specs} - {own}  # "daptools[notebooks]" in dev is the project itself


def conda_packages() -> tuple[set[str], list[str]]:
    """The packages environment.yml installs, and its pip section as written."""
    deps = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = [s for d in deps if isinstance(d, dict) for s in d.get("pip", [])]
    names = {CONDA_TO_PYPI.get(_name(s), _name(s)) for s in conda} - NOT_PACKAGES
    names |= {_name(s) for s in pip if not s.startswith("-e")}  # "-e ." is the project itself
    return names, pip


def test_environment_yml_and_pyproject_name_the_same_packages():
    pip_route = pyproject_packages()
    conda_route, pip_section = conda_packages()
    assert pip_route - conda_route == set(), f"in pyproject.toml but not environment.yml: {sorted(pip_route - conda_route)}"
    assert conda_route - pip_route == set(), f"in environment.yml but not pyproject.toml: {sorted(conda_route - pip_route)}"
    assert "-e ." in pip_section, "environment.yml must install the project itself (pip: -e .)"


def test_the_name_rules_see_drift():
    """The comparison is not vacuous: names are read and normalised as pip does."""
    assert _name("mir_eval>=0.7,<0.9") == _name("Mir-Eval==0.8.2") == "mir-eval"
    assert _name("pysoundfile=0.14") == "pysoundfile" and CONDA_TO_PYPI[_name("pysoundfile=0.14")] == "soundfile"
    assert {"torch", "numpy", "soundfile", "pytest", "papermill"} <= pyproject_packages()
    assert {"torch", "numpy", "soundfile", "pytest", "papermill"} <= conda_packages()[0]


def test_binder_installs_what_the_notebooks_import():
    """binder/ (what mybinder.org builds): the core and notebook packages of pyproject.toml, CPU PyTorch, and
    postBuild installs the project itself."""
    deps = yaml.safe_load((ROOT / "binder" / "environment.yml").read_text())["dependencies"]
    conda = {CONDA_TO_PYPI.get(_name(s), _name(s)) for s in deps if isinstance(s, str)} - NOT_PACKAGES
    pip = [s for d in deps if isinstance(d, dict) for s in d.get("pip", [])]
    names = conda | {_name(s) for s in pip if not s.startswith("-")}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {_name(s) for s in project["dependencies"] + project["optional-dependencies"]["notebooks"]}
    assert needed <= names, f"binder/environment.yml lacks {sorted(needed - names)}"
    assert any("download.pytorch.org/whl/cpu" in s for s in pip), "Binder has no GPU: use PyTorch's CPU wheels"
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install" in post and "-e ." in post
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"
