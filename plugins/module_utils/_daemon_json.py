# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils is PRIVATE to this collection. It can change or be removed at any time.

"""Read, merge and render Docker's daemon.json.

daemon.json has several writers on a GPU host: the docker_engine role (logging, registries,
data-root), the nvidia_container_toolkit role (runtimes.nvidia) and the admin's own hand edits.
Each writer merges its keys into what is there; nobody rewrites the whole file.
"""

from __future__ import annotations

import copy
import json


class DaemonJsonError(ValueError):
    """The existing file cannot be merged into (invalid JSON, or not a JSON object)."""


def parse(text, path):
    """Return the dict held in text; an empty (or whitespace-only) file counts as {}.

    Raise DaemonJsonError naming the file and the line when the text is not a JSON object.
    """
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        column = getattr(exc, "colno", None)
        reason = getattr(exc, "msg", str(exc))
        where = f"line {line}, column {column}" if line is not None else "unknown position"
        raise DaemonJsonError(f"{path} is not valid JSON ({where}: {reason})") from exc
    if not isinstance(data, dict):
        raise DaemonJsonError(
            f"{path} must hold a JSON object at the top level, not a JSON {type(data).__name__} ({_json_type(data)})"
        )
    return data


def _json_type(value):
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def merge(current, settings):
    """Return current with settings merged in recursively; neither argument is modified.

    Objects merge key by key, at every depth; anything else (strings, numbers, lists, null) in
    settings replaces what current holds. Keys that only current has stay as they are.
    """
    result = copy.deepcopy(current)
    for key, value in settings.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def apply(current, settings, remove=()):
    """Merge settings into current, then drop the top-level keys listed in remove."""
    both = sorted(set(settings) & set(remove))
    if both:
        raise ValueError("keys both set and removed: " + ", ".join(both))
    merged = merge(current, settings)
    for key in remove:
        merged.pop(key, None)
    return merged


def same(left, right):
    """JSON equality that tells true from 1 and 1 from 1.0 (Python's == does not), ignoring key order."""
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


def changed_keys(before, after):
    """Top-level keys that were added, removed or given a different value, sorted."""
    keys = set(before) | set(after)
    return sorted(key for key in keys if key not in before or key not in after or not same(before[key], after[key]))


def render(data):
    """daemon.json as written: two-space indent, keys in their existing order, newline at the end."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
