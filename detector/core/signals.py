"""Stop training cleanly on SIGTERM / SIGINT: the loop checks a flag at each step boundary, saves a
checkpoint and exits, so a pre-empted job resumes where it stopped (focaldet train --resume).

Clusters and terminals signal a whole process group, not one process: SLURM sends SIGTERM to every
process of a job step (scancel, pre-emption, the time limit), ``timeout`` and ``kill -- -PGID`` do
the same, Ctrl-C sends SIGINT to the terminal's foreground group, and torchrun passes a stop on to
each worker's group. The DataLoader's worker processes are in that group, so they ignore both
signals (``ignore_stop_signals``, every loader's ``worker_init_fn``): they keep loading until the
main process, having saved ``last.pt``, shuts them down. Under torchrun every process posts its
request each step and all of them stop after the same step (``core.distributed.StopVote``).
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

# the exit code of a run stopped by a signal with last.pt saved (cli/common.py, docs/cli.md)
STOPPED_EXIT_CODE = 3
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingInterrupted(RuntimeError):
    """Raised by the training loop after it saved ``last.pt`` because a stop signal arrived."""


def ignore_stop_signals(worker_id: int = 0) -> None:
    """A DataLoader ``worker_init_fn``: the worker ignores SIGTERM and SIGINT sent to its process
    group; the main process decides when to stop and shuts the workers down (a worker whose main
    process is gone still exits: torch's workers watch their parent)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


class StopFlag:
    """Context manager: while active, SIGTERM and SIGINT set ``requested`` instead of killing."""

    SIGNALS = STOP_SIGNALS

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}  # what signal.signal returned: a handler, SIG_DFL or SIG_IGN

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> StopFlag:
        for sig in self.SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. a test runner's worker): no handlers
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
