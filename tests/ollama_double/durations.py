"""keep_alive values the way Ollama reads them (api.Duration and envconfig.KeepAlive)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

FOREVER = math.inf
DEFAULT_KEEP_ALIVE = 300.0

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_NUMBER = re.compile(r"(\d*)(\.\d*)?")
_UNIT = re.compile(r"[^0-9.]*")


class DurationError(ValueError):
    pass


def _q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def parse_go_duration(s: str) -> float:
    """Go's time.ParseDuration, returning seconds (negative allowed)."""
    orig = s
    sign = 1.0
    if s[:1] in ("-", "+"):
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise DurationError(f"time: invalid duration {_q(orig)}")
    total = 0.0
    while s:
        number = _NUMBER.match(s)
        assert number is not None
        whole, frac = number.group(1), number.group(2) or ""
        if not whole and frac in ("", "."):
            raise DurationError(f"time: invalid duration {_q(orig)}")
        s = s[number.end() :]
        unit_match = _UNIT.match(s)
        assert unit_match is not None
        unit = unit_match.group(0)
        if not unit:
            raise DurationError(f"time: missing unit in duration {_q(orig)}")
        if unit not in _UNITS:
            raise DurationError(f"time: unknown unit {_q(unit)} in duration {_q(orig)}")
        s = s[unit_match.end() :]
        total += float((whole or "0") + (frac if frac != "." else "")) * _UNITS[unit]
    return sign * total


def parse_keep_alive(value: Any) -> float:
    """A request's keep_alive: seconds as a number (negative = forever) or a duration string with a unit.

    Raises DurationError with Go's message for anything Ollama rejects (the caller answers 400).
    """
    if isinstance(value, bool):
        raise DurationError("Unsupported type: 'bool'")
    if isinstance(value, (int, float)):
        return FOREVER if value < 0 else float(value)
    if isinstance(value, str):
        seconds = parse_go_duration(value)
        return FOREVER if seconds < 0 else seconds
    type_name = "[]interface {}" if isinstance(value, list) else "map[string]interface {}"
    raise DurationError(f"Unsupported type: '{type_name}'")


def env_keep_alive(value: str | None) -> float:
    """OLLAMA_KEEP_ALIVE: a duration string or whole seconds; negative = forever; default 5m."""
    if not value:
        return DEFAULT_KEEP_ALIVE
    try:
        seconds = parse_go_duration(value)
    except DurationError:
        try:
            seconds = float(int(value))
        except ValueError:
            return DEFAULT_KEEP_ALIVE
    return FOREVER if seconds < 0 else seconds
