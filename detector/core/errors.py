"""The errors a user is meant to read, as plain classes with no heavy imports, so the command line's
one error -> exit-code table (``cli/common.py``) loads without torch. Each is raised where its
subject lives; ``ConfigError`` (``core.typed_merge``), ``DataError`` (``data.problems``) and
``TrainingInterrupted`` (``core.signals``) are light where they are."""

from __future__ import annotations


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated or not one of ours; the message names the file."""


class NonFiniteLossError(RuntimeError):
    """Training stopped on a non-finite loss or gradient past ``train.skip_nonfinite``; the message
    names the step, the loss terms and where the batch's image ids went."""
