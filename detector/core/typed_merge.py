"""Type-checked merging of plain data (YAML, ``key.sub=value`` overrides) onto a tree of
dataclasses: an unknown key or a value of the wrong type is a one-line ``ConfigError`` that names
the key and the valid choices. It knows nothing of the project's config (``core/config.py``)."""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A bad config file, key or value; the message is one line meant for the user."""


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + "|".join(str(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list of {_describe(typing.get_args(tp)[0])}"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Return ``value`` checked (and losslessly converted, int -> float) against annotation ``tp``."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"config key '{key}': expected {_describe(tp)}, got {value!r}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise bad
        return value
    if origin is list:
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise bad
        (item_tp,) = typing.get_args(tp)
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise bad
        return float(value)
    if tp is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # solver.time_budget=10 (minutes), name=2024: YAML read them as numbers
        if not isinstance(value, str):
            raise bad
        return value
    raise TypeError(f"unsupported config annotation {tp!r} for '{key}'")


def _field_types(obj: Any) -> dict[str, Any]:
    return typing.get_type_hints(type(obj))


def merge_into(obj: Any, updates: dict[str, Any], prefix: str = "") -> None:
    """Apply a nested ``updates`` dict onto dataclass ``obj`` in place, type-checking each leaf."""
    types_ = _field_types(obj)
    for key, value in updates.items():
        full = f"{prefix}{key}"
        if key not in types_:
            valid = ", ".join(sorted(types_))
            raise ConfigError(f"unknown config key '{full}'; valid keys here: {valid}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{full}' is a section; give a mapping, got {value!r}")
            merge_into(current, value, f"{full}.")
        else:
            setattr(obj, key, _coerce(value, types_[key], full))


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    node = out
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def parse_override(text: str) -> dict[str, Any]:
    """``"solver.lr=0.02"`` -> ``{"solver": {"lr": 0.02}}``; the value is parsed as YAML data."""
    key, sep, raw = text.partition("=")
    if not sep or not key or any(not p for p in key.split(".")):
        raise ConfigError(f"override '{text}' is not of the form key.sub=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override '{text}': value is not valid YAML ({exc.problem})") from None
    return _nest(key.strip(), value)
