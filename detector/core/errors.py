"""The errors a user is meant to read, as plain classes with no heavy imports, so the command line's
one error -> exit-code table (``cli/common.py``) loads without torch. Each is raised where its
subject lives; ``ConfigError`` (``core.typed_merge``), ``DataError`` (``data.problems``) and
``TrainingInterrupted`` (``core.signals``) are light where they are."""

from __future__ import annotations

import importlib
from types import ModuleType


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated or not one of ours; the message names the file."""


class NonFiniteLossError(RuntimeError):
    """Training stopped on a non-finite loss or gradient past ``train.skip_nonfinite``; the message
    names the step, the loss terms and where the batch's image ids went."""


class MissingExtraError(RuntimeError):
    """A command needs an optional dependency that is not installed; the message says which extra."""


def require_extra(module: str, extra: str) -> ModuleType:
    """Import ``module``, which needs the optional ``extra``; its absence is one line saying what to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise MissingExtraError(f"this needs the '{extra}' extra ({exc.name} is not installed): "
                                f"pip install 'focaldet[{extra}]'") from None
