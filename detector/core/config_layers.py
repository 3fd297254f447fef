"""The layers a config is read from, in order: a YAML file's ``_base_`` chain, oldest first, then each
``key=value`` override; their typed merge onto a dataclass tree; and the keys they set themselves.
Independent of the schema (``core.config``), which builds ``Config`` from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detector.core.config_files import find_config, shipped_configs
from detector.core.io import read_yaml_mapping
from detector.core.typed_merge import ConfigError, merge_into, parse_override

Layer = tuple[str, dict[str, Any]]  # (where it comes from, for messages: "FILE: " or ""; its nested data)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A config file's mapping; a missing or malformed file is a ``ConfigError`` naming it."""
    try:
        return read_yaml_mapping(path, "config file", unique_keys=True)
    except FileNotFoundError as exc:
        raise ConfigError(f"{exc} (shipped configs: {', '.join(shipped_configs())})") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def base_chain(path: Path) -> list[Path]:
    """``path`` preceded by the files it names with ``_base_`` (relative to itself), oldest first."""
    chain = [path]
    while True:
        base = read_yaml(chain[0]).get("_base_")
        if base is None:
            return chain
        if not isinstance(base, str):
            raise ConfigError(f"{chain[0]}: _base_ must be a file name, got {base!r}")
        beside = chain[0].parent / base
        base_path = (beside if beside.is_file() else find_config(base)).resolve()
        if base_path in [p.resolve() for p in chain]:
            raise ConfigError(f"{chain[0]}: _base_ '{base}' makes a cycle")
        chain.insert(0, base_path)


def config_layers(path: Path | None, overrides: list[str]) -> list[Layer]:
    """(where, data) for each file of ``path``'s ``_base_`` chain, oldest first, then each override."""
    layers = []
    for file in base_chain(path) if path is not None else []:
        data = read_yaml(file)
        data.pop("_base_", None)
        layers.append((f"{file}: ", data))
    return layers + [("", parse_override(text)) for text in overrides]


def merge_layers(cfg: Any, layers: list[Layer]) -> Any:
    """Merge ``layers`` in order onto the dataclass tree ``cfg`` (in place, type-checked); a bad value
    is a ``ConfigError`` that names its layer."""
    for where, data in layers:
        try:
            merge_into(cfg, data)
        except ConfigError as exc:
            raise ConfigError(f"{where}{exc}") from None
    return cfg


def dotted(data: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in data.items():
        keys.add(prefix + key)
        if isinstance(value, dict):
            keys |= dotted(value, f"{prefix}{key}.")
    return keys


def explicit_keys(path: str | Path | None, overrides: list[str] | None = None) -> set[str]:
    """Every key (``"model"``, ``"model.anchors"``, ``"model.anchors.sizes"``, ...) that the config file,
    its ``_base_`` files or the overrides set themselves: what a recipe must not change."""
    layers = config_layers(find_config(path) if path is not None else None, overrides or [])
    return set().union(*(dotted(data) for _, data in layers))


def own_layers(path: str | Path | None, overrides: list[str] | None = None) -> tuple[dict[str, Any], list[Layer]]:
    """(the config file's own data, not its ``_base_`` files'; the overrides' layers): what a user wrote
    for this run (a base is a template whose children may switch off what it sets)."""
    found = find_config(path) if path is not None else None
    layers = config_layers(found, overrides or [])
    own = [data for where, data in layers if found is not None and where == f"{found}: "]
    return (own[0] if own else {}), [(where, data) for where, data in layers if where == ""]
