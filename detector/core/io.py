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


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names a key twice (YAML allows it and keeps the last, silently)."""


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping, naming it and both lines."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # "<<: *base" entries may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise DuplicateKeyError(f"key '{key}' appears twice in one mapping (lines {seen[key]} and {line}); "
                                        "YAML would silently keep the last: keep one")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml_mapping(file: str | Path, what: str, unique_keys: bool = False) -> dict[str, Any]:
    """Parse a YAML file that must hold a mapping (an empty file is an empty one). ``unique_keys``:
    a key written twice in one mapping is an error naming it and its lines (config files)."""
    file = Path(file)
    try:
        text = _text(file, what, "")
        data = yaml.load(text, Loader=UniqueKeyLoader) if unique_keys else yaml.safe_load(text)
    except DuplicateKeyError as exc:
        raise ValueError(f"{what} '{file}': {exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} '{file}' is not valid YAML: {exc}".replace("\n", " ")) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{what} '{file}' must hold a mapping at the top level")
    return data
