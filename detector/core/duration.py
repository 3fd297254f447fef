"""Durations as users write them: ``"10m"``, ``"90s"``, ``"1h30m"``, ``"1.5h"``, or minutes as a bare number."""

from __future__ import annotations

import math
import re

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([hms])")


def parse_duration(text: str | float) -> float:
    """Seconds in ``text``: ``"10m"`` -> 600, ``"1h30m"`` -> 5400, ``"45s"`` -> 45, ``"2.5"`` or 2.5 -> 150
    (a bare number is minutes, as in ``solver.time_budget``). ``ValueError`` names what is wrong."""
    if isinstance(text, (int, float)):
        seconds = float(text) * 60
    else:
        compact = text.strip().lower().replace(" ", "")
        try:
            seconds = float(compact) * 60
        except ValueError:
            parts = _PART.findall(compact)
            if not parts or "".join(n + u for n, u in parts) != compact:
                raise ValueError(f"'{text}' is not a duration: write e.g. 10m, 90s, 1h30m or a number of "
                                 "minutes") from None
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"'{text}' is not a positive duration")
    return seconds


def format_duration(seconds: float) -> str:
    """``605.2`` -> ``"10 min 5 s"``; under a minute ``"42.0 s"``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
