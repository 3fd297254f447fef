"""Where config files are found: the path as given, else the configs shipped with the package.

The shipped configs live in the repository's ``configs/`` folder; an installed wheel carries them
inside the package as ``detector/configs/`` (pyproject.toml maps one onto the other), so the
lookup works from any folder, installed or not. ``--config raccoon``, ``--config raccoon.yaml``
and ``--config configs/raccoon.yaml`` all name the shipped file when no such file is in the
current folder; ``recipes/scratch`` (e.g. ``_base_: recipes/scratch.yaml``) names a shipped recipe.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # .../detector
DEFAULT_CONFIG = "shapes_focal"  # the built-in synthetic benchmark: what every command uses without --config


def shipped_config_dir() -> Path:
    """``detector/configs`` in an installed wheel, ``<repository>/configs`` in a checkout or an
    editable install."""
    for folder in (_PACKAGE / "configs", _PACKAGE.parent / "configs"):
        if folder.is_dir() and any(folder.glob("*.yaml")):
            return folder
    return _PACKAGE / "configs"


def shipped_configs() -> list[str]:
    """The names (file stems) of the shipped configs, sorted."""
    return sorted(p.stem for p in shipped_config_dir().glob("*.yaml"))


def recipe_file(name: str) -> Path:
    """The shipped recipe ``name`` (``configs/recipes/<name>.yaml``): scratch, imagenet, coco."""
    return shipped_config_dir() / "recipes" / f"{name}.yaml"


def find_config(name: str | Path) -> Path:
    """The config file ``name`` names: the path itself when it exists, else the shipped config of
    that name (with or without ``.yaml``, with or without a leading ``configs/``). A name found
    nowhere comes back unchanged, so reading it gives the usual one-line "does not exist" error."""
    path = Path(name)
    if path.is_file():
        return path
    if path.parent in (Path("."), Path("configs"), Path("recipes"), Path("configs/recipes")):
        stem = path.name[: -len(".yaml")] if path.name.endswith(".yaml") else path.name
        folder = shipped_config_dir() / ("recipes" if path.parent.name == "recipes" else "")
        shipped = folder / f"{stem}.yaml"
        if shipped.is_file():
            return shipped
    return path
