"""What every subcommand shares: the ``--config`` / override arguments, and the one mapping from
an error to the line a user sees and the exit code.

Exit codes: 0 done; 1 the data cannot be used as it is (``scan`` and ``train`` agree); 2 a bad config,
file, checkpoint or argument, a missing optional dependency (argparse uses 2 too), or training
stopped on a non-finite loss past ``train.skip_nonfinite``; 3 training stopped by SIGTERM / SIGINT
with ``last.pt`` saved (``--resume`` continues); 130 Ctrl-C outside training. An error of any other
type is a bug: its traceback shows.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from detector.core.config import DEFAULT_CONFIG, ConfigError
from detector.core.config_files import shipped_configs
from detector.core.errors import CheckpointError, MissingExtraError, NonFiniteLossError
from detector.core.signals import STOPPED_EXIT_CODE, TrainingInterrupted
from detector.data.problems import DataError

# (error type, what the line starts with, exit code); the first type that matches wins
ERRORS: tuple[tuple[type[BaseException], str, int], ...] = (
    (TrainingInterrupted, "stopped", STOPPED_EXIT_CODE),
    (DataError, "error", 1),
    (ConfigError, "error", 2),
    (CheckpointError, "error", 2),
    (NonFiniteLossError, "error", 2),
    (MissingExtraError, "error", 2),
    (OSError, "error", 2),  # FileNotFoundError, an undecodable image, a full disk, a permission
    (ValueError, "error", 2),  # the package's errors about a user's values and files (core/io.py)
    (KeyboardInterrupt, "interrupted", 130),
)


def exit_code(exc: BaseException) -> tuple[str, int] | None:
    """The message and exit code for ``exc``, or None when it is a bug (let it raise)."""
    for kind, label, code in ERRORS:
        if isinstance(exc, kind):
            return f"{label}: {str(exc).strip() or type(exc).__name__}", code
    return None


def guarded(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """``run(args)``, with every expected error turned into its message on stderr and its exit code."""
    try:
        return run(args)
    except BaseException as exc:  # sorted by ERRORS; anything else re-raises with its traceback
        found = exit_code(exc)
        if found is None:
            raise
        print(found[0], file=sys.stderr)
        return found[1]


def add_config(parser: argparse.ArgumentParser, default: str | None = DEFAULT_CONFIG, help: str = "") -> None:
    """``--config``: a YAML file, or the name of a shipped config."""
    shown = f"default {default}" if default else "no default"
    parser.add_argument("--config", default=default, metavar="FILE|NAME",
                        help=(help or "YAML config: a file, or a shipped config's name") + f" ({shown}; shipped: "
                             + ", ".join(shipped_configs()) + ")")


def add_overrides(parser: argparse.ArgumentParser, help: str = "config overrides, type-checked") -> None:
    """The ``key.sub=value`` positionals."""
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help=help)
