"""Reading the project's own JSON files (metrics, detections) with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json(file: str | Path, what: str, hint: str = "") -> Any:
    """Parse a JSON file; a missing or malformed file is a one-line error naming it."""
    file = Path(file)
    if not file.is_file():
        raise FileNotFoundError(f"{what} '{file}' does not exist{hint}")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} '{file}' is not valid JSON: {exc}") from None
