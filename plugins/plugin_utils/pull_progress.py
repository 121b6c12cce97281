# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One progress line per model per poll: bytes done of total, rate since the last poll, ETA."""

from __future__ import annotations

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(count):
    value = float(count)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {_UNITS[-1]}"  # not reached; keeps linters sure of a return


def human_seconds(seconds):
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class ProgressTracker:
    """Remembers each model's previous reading, so a rate can be worked out from two polls."""

    def __init__(self):
        self._last = {}

    def line(self, model, reading, now):
        """The line for `reading` ({"completed", "total"}) taken at `now` (seconds), or None without one."""
        if not isinstance(reading, dict):
            return None
        completed = int(reading.get("completed") or 0)
        total = int(reading.get("total") or 0)
        previous = self._last.get(model)
        self._last[model] = (now, completed)
        text = f"{model}: {human_bytes(completed)} of {human_bytes(total)}"
        if previous is None or now <= previous[0]:
            return text + ", rate unknown yet"
        rate = max(completed - previous[1], 0) / (now - previous[0])
        text += f", {human_bytes(rate)}/s"
        if rate > 0 and total >= completed:
            text += f", ETA {human_seconds((total - completed) / rate)}"
        else:
            text += ", ETA unknown"
        return text
