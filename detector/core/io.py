"""Reading JSON and YAML files (configs, annotations, metrics, data.yaml) with one-line errors
that name the file: FileNotFoundError when it is missing, ValueError when it does not parse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def _text(file: Path, what: str, hint: str) -> str:
    if not file.is_file():
        raise FileNotFoundError(f"{what} '{file}' does not exist{hint}")
    return file.read_text()


def read_json(file: str | Path, what: str, hint: str = "") -> Any:
    """Parse a JSON file; a missing or malformed file is a one-line error naming it."""
    file = Path(file)
    try:
        return json.loads(_text(file, what, hint))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} '{file}' is not valid JSON: {exc}") from None


def read_yaml_mapping(file: str | Path, what: str) -> dict[str, Any]:
    """Parse a YAML file that must hold a mapping (an empty file is an empty one)."""
    file = Path(file)
    try:
        data = yaml.safe_load(_text(file, what, ""))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} '{file}' is not valid YAML: {exc}".replace("\n", " ")) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{what} '{file}' must hold a mapping at the top level")
    return data
