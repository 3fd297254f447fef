"""The package's layer order (detector/__init__.py) holds: no module imports a higher layer, and
the siblings model / losses / data do not import each other. Checked on the import statements
themselves (function-level imports included), so it fails the moment an upward import is written."""

from __future__ import annotations

import ast
from pathlib import Path

import detector

PACKAGE = Path(detector.__file__).parent
RANK = {name: rank for rank, layer in enumerate(detector.LAYERS) for name in layer}


def part_of(module: str) -> str | None:
    """The subpackage (``core``, ``model``, ...) of a dotted ``detector.`` module name."""
    parts = module.split(".")
    return parts[1] if parts[0] == "detector" and len(parts) > 1 else None


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import of a ``detector`` module in ``path``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return [(line, m) for line, m in out if m.startswith("detector.")]


def violations(package: Path = PACKAGE) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if len(relative.parts) == 1:  # the package's front door: __init__ (lazy API) and __main__ (the CLI)
            if relative.name not in ("__init__.py", "__main__.py"):
                found.append(f"{relative}: modules belong in a layer folder, not at the package top")
            continue
        own = relative.parts[0]
        if own not in RANK:
            found.append(f"{relative}: folder '{own}' is in no layer of detector.LAYERS")
            continue
        for line, module in imports(path):
            target = part_of(module)
            if target is None or target == own:
                continue
            if target not in RANK:
                found.append(f"{relative}:{line} imports {module}, which is in no layer")
            elif RANK[target] >= RANK[own]:
                what = "a sibling" if RANK[target] == RANK[own] else "a higher layer"
                found.append(f"{relative}:{line} imports {module}: {what} ({target} over {own})")
    return found


def test_no_module_imports_upward_or_sideways():
    assert violations() == []


def test_the_check_catches_an_upward_import(tmp_path):
    fake = tmp_path / "detector"
    for folder, text in {"core": "from detector.engine.trainer import Trainer\n",
                         "model": "import detector.data.coco\n", "engine": "from detector.core import config\n"}.items():
        (fake / folder).mkdir(parents=True)
        (fake / folder / "x.py").write_text(text)
    assert violations(fake) == [
        "core/x.py:1 imports detector.engine.trainer: a higher layer (engine over core)",
        "model/x.py:1 imports detector.data.coco: a sibling (data over model)",
    ]
