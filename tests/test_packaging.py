"""pyproject.toml ships what the package needs: every package folder, the configs as package data,
the console script, the extras requirements.txt installs."""

from pathlib import Path

import pytest

import detector
from detector.cli import main as cli_main

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_listed():
    packages = set(PROJECT["tool"]["setuptools"]["packages"])
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "detector").rglob("__init__.py")}
    assert folders | {"detector.configs"} == packages
    assert set(detector.LAYERS[-1] + detector.LAYERS[-2]) == {"cli", "api"}


def test_configs_ship_inside_the_package_and_the_script_is_the_cli():
    setuptools = PROJECT["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"detector.configs": "configs"}
    assert setuptools["package-data"] == {"detector.configs": ["*.yaml", "recipes/*.yaml"]}
    folders = {p.parent.relative_to(ROOT / "configs") for p in (ROOT / "configs").rglob("*.yaml")}
    assert folders == {Path("."), Path("recipes")}  # every shipped yaml is matched by a pattern above
    assert PROJECT["project"]["scripts"] == {"focaldet": "detector.cli.main:main"}
    assert callable(cli_main.main) and cli_main.PROG == PROJECT["project"]["name"]


def test_runtime_needs_no_extra_and_requirements_install_them_all():
    extras = PROJECT["project"]["optional-dependencies"]
    runtime = " ".join(PROJECT["project"]["dependencies"])
    for optional in ("onnx", "onnxruntime", "scikit-learn", "pytest", "hypothesis"):
        assert optional not in runtime.split() and not any(d.startswith(optional) for d in PROJECT["project"]["dependencies"])
    assert set(extras) == {"export", "study", "dev", "all"} and extras["all"] == ["focaldet[export,study,dev]"]
    lines = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert lines == ["-e .[all]"]
