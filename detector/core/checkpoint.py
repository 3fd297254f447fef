"""Checkpoints as plain data, written atomically and loaded with ``weights_only=True``."""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from detector.core.errors import CheckpointError

__all__ = ["CheckpointError", "load_checkpoint", "load_plain", "save_checkpoint"]


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write ``state`` to a temporary file in the same folder, fsync it, then rename over ``path``.

    A crash at any point leaves either the previous file or the new one, never a torn file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_plain(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(..., weights_only=True)`` of any file of tensors and plain data; bad files raise
    ``CheckpointError`` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist")
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols are not the user's business
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, pickle with disallowed globals, text, random bytes, ...
        raise CheckpointError(f"checkpoint '{path}' cannot be loaded: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    """Why ``torch.load`` refused a file, in one line, without torch's advice to load it with
    ``weights_only=False`` (which would run whatever code the file holds)."""
    text = str(exc).strip()
    if "Weights only load failed" in text:
        found = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
        what = found.group(1).strip() if found else "objects other than tensors and plain data"
        return (f"it is not a file of tensors and plain data ({what}); it is damaged, or holds Python objects, "
                "which this project never loads")
    first = text.splitlines()[0] if text else ""
    if isinstance(exc, (KeyError, EOFError)) or "invalid load key" in first:
        return f"it is not a PyTorch file ({type(exc).__name__}{': ' + first if first else ''})"
    return first or type(exc).__name__


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by ``save_checkpoint``; bad files raise ``CheckpointError``."""
    state = load_plain(path, map_location)
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"checkpoint '{path}' is not a detector checkpoint (needs 'model' and 'config')")
    return state
