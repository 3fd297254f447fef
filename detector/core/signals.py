"""Stop training cleanly on SIGTERM / SIGINT: the loop checks a flag at each step boundary, saves a
checkpoint and exits, so a pre-empted job resumes where it stopped (focaldet train --resume)."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any


class TrainingInterrupted(RuntimeError):
    """Raised by the training loop after it saved ``last.pt`` because a stop signal arrived."""


class StopFlag:
    """Context manager: while active, SIGTERM and SIGINT set ``requested`` instead of killing."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

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
