"""What a user wrote that a run will not read: the keys they set themselves (``written_keys``) and the
settings one choice elsewhere makes meaningless (``unused_settings``). ``detector.train`` prints a
warning for each before any work; a loss parameter of another loss is refused where the losses are
known (``losses.criterion.classification_params``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detector.core.config import Config
from detector.core.config_layers import dotted, own_layers

# settings that one choice elsewhere makes meaningless: (key, the choice's key, the values that use it;
# None: used whenever the choice is set at all)
# (the data format's own keys are the formats table's: ``data.formats.format_key_rules``)
Rule = tuple[str, str, tuple[Any, ...] | None]
USED_ONLY_WITH: tuple[Rule, ...] = (
    ("augment.max_size", "augment.resize", ("shortest_edge",)),
    ("matcher.bg_iou", "matcher.name", ("iou",)),
    ("matcher.allow_low_quality", "matcher.name", ("iou",)),
    ("matcher.topk", "matcher.name", ("atss",)),
    ("loss.beta", "loss.box", ("smooth_l1",)),
    ("solver.momentum", "solver.optimizer", ("sgd",)),
    ("solver.betas", "solver.optimizer", ("adamw",)),
    ("solver.steps", "solver.schedule", ("step",)),
    ("solver.step_gamma", "solver.schedule", ("step",)),
    ("solver.warmup_fraction", "solver.time_budget", None),
    ("train.ema_tau", "train.ema_decay", None),
)


def _value(cfg: Any, key: str) -> Any:
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _leaves(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted leaf key -> value of nested ``data``."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(_leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key: value})
    return out


def written_keys(path: str | Path | None, overrides: list[str] | None = None) -> set[str]:
    """What the user wrote for this run, as dotted keys with their sections: every key of the config
    file itself (not of its ``_base_`` files) and of the overrides. A file that names every key (a
    resolved config: a run folder's config.yaml, ``save_yaml``) counts only the values it changes
    from the defaults, since it did not choose the others."""
    own, override_layers = own_layers(path, overrides)
    keys = dotted(own)
    defaults = _leaves(Config().to_dict())
    leaves = _leaves(own)
    if set(leaves) >= set(defaults):
        changed = [key.split(".") for key, value in leaves.items() if value != defaults.get(key)]
        keys = {".".join(parts[:i]) for parts in changed for i in range(1, len(parts) + 1)}
    return keys.union(*(dotted(data) for _, data in override_layers))


def unused_settings(cfg: Config, written: set[str], more: Sequence[Rule] = ()) -> list[str]:
    """One line for each key in ``written`` (``written_keys``) that this run will not read because of a
    choice elsewhere (``USED_ONLY_WITH`` and the ``more`` rules of layers above, e.g. the data
    formats' own keys), e.g. ``solver.momentum`` with AdamW."""
    lines = []
    for key, choice, values in [*more, *USED_ONLY_WITH]:
        chosen = _value(cfg, choice)
        used = bool(chosen) if values is None else chosen in values
        if key in written and not used:
            wants = f"{choice} set" if values is None else f"{choice}={'|'.join(map(str, values))}"
            shown = '""' if chosen == "" else chosen
            lines.append(f"{key} is set but not used: it applies with {wants} only (this run: {choice}={shown})")
    return lines


__all__ = ["USED_ONLY_WITH", "Rule", "unused_settings", "written_keys"]
