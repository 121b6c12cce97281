# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The litellm_stack role's container hardening: what each service of the compose file gets back after
cap_drop ALL, whether its root file system is read-only (and where it may still write), and its memory
limit on this host's tier.

Each filter is documented in the .yml file of its name next to this one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

SERVICES = ("ollama", "db", "litellm")
# Docker refuses a memory limit under 6 MiB ("Minimum memory limit allowed is 6MB").
MIN_MEMORY = 6 * 1024 * 1024
UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
SIZE = re.compile(r"^([1-9][0-9]*)([bkmg]?)$", re.IGNORECASE)
LOG_SIZE = re.compile(r"^[1-9][0-9]*[kmg]$", re.IGNORECASE)
CAPABILITY = re.compile(r"^(CAP_)?[A-Z][A-Z_]*$", re.IGNORECASE)


def _memory_bytes(value):
    """Bytes of a Docker size (512m, 8g, 1073741824), or None when it is not one."""
    match = SIZE.match(str(value).strip()) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if not match:
        return None
    return int(match.group(1)) * UNITS[match.group(2).lower()]


def _memory_problems(memory_limits):
    if not isinstance(memory_limits, Mapping) or not isinstance(memory_limits.get("cpu"), Mapping):
        return ["litellm_stack_memory_limits must map tier names to {ollama, db, litellm} sizes, with a cpu entry."]
    problems = []
    for tier, limits in memory_limits.items():
        if not isinstance(limits, Mapping):
            problems.append(f"litellm_stack_memory_limits[{tier}] must be a mapping of services to sizes.")
            continue
        for service, size in limits.items():
            where = f"litellm_stack_memory_limits[{tier}].{service}"
            if service not in SERVICES:
                problems.append(f"{where}: {service} is no service of the stack ({', '.join(SERVICES)}).")
                continue
            size_bytes = _memory_bytes(size)
            if size_bytes is None:
                problems.append(f"{where} must be a Docker size such as 512m or 8g, not {size!r}.")
            elif size_bytes < MIN_MEMORY:
                problems.append(f"{where} is {size}; Docker needs at least 6m.")
    missing = [service for service in SERVICES if service not in memory_limits["cpu"]]
    if missing:
        problems.append(
            f"litellm_stack_memory_limits[cpu] is every tier's fallback and must size {', '.join(missing)}."
        )
    return problems


def _per_service_problems(name, value, check):
    if not isinstance(value, Mapping):
        return [f"{name} must be a mapping of services ({', '.join(SERVICES)}) to values."]
    problems = []
    for service, setting in value.items():
        if service not in SERVICES:
            problems.append(f"{name}: {service} is no service of the stack ({', '.join(SERVICES)}).")
            continue
        problem = check(setting)
        if problem:
            problems.append(f"{name}[{service}] {problem}")
    return problems


def _capabilities_problem(caps):
    if not isinstance(caps, list) or not all(isinstance(cap, str) and CAPABILITY.match(cap) for cap in caps):
        return f"must be a list of capability names such as CHOWN or SETUID, not {caps!r}."
    if any(cap.upper().removeprefix("CAP_") == "ALL" for cap in caps):
        return "must name capabilities one by one: ALL would give every one of them back."
    return None


def _flag_problem(flag):
    return None if isinstance(flag, bool) else f"must be true or false, not {flag!r}."


def litellm_stack_hardening_problems(settings):
    """One sentence per bad hardening setting, each naming its variable; empty when all is well."""
    problems = _memory_problems(settings.get("litellm_stack_memory_limits"))
    problems += _per_service_problems(
        "litellm_stack_cap_add", settings.get("litellm_stack_cap_add"), _capabilities_problem
    )
    problems += _per_service_problems("litellm_stack_read_only", settings.get("litellm_stack_read_only"), _flag_problem)
    max_size = settings.get("litellm_stack_log_max_size")
    if not isinstance(max_size, str) or not LOG_SIZE.match(max_size):
        problems.append(f"litellm_stack_log_max_size must be a size with its unit such as 10m, not {max_size!r}.")
    max_file = settings.get("litellm_stack_log_max_file")
    if isinstance(max_file, bool) or not isinstance(max_file, int) or max_file < 1:
        problems.append(f"litellm_stack_log_max_file must be a whole number of files, 1 or more, not {max_file!r}.")
    return problems


def litellm_stack_container_hardening(memory_limits, tier, cap_add, read_only, writable_paths):
    """Per service: the capabilities it gets back, its read-only root and tmpfs paths, its memory limit.

    A tier without limits takes the cpu entry's, and so does a service that its tier does not size.
    """
    if not isinstance(memory_limits, Mapping) or not isinstance(memory_limits.get("cpu"), Mapping):
        raise AnsibleFilterError("litellm_stack_memory_limits needs a cpu entry (every tier's fallback).")
    limits = {**memory_limits["cpu"], **(memory_limits.get(tier) or {})}
    hardening = {}
    for service in SERVICES:
        if service not in limits:
            raise AnsibleFilterError(f"litellm_stack_memory_limits sizes no {service} for tier {tier} nor for cpu.")
        ro = bool((read_only or {}).get(service, False))
        hardening[service] = {
            "cap_add": [cap.upper().removeprefix("CAP_") for cap in (cap_add or {}).get(service) or []],
            "read_only": ro,
            "tmpfs": list((writable_paths or {}).get(service) or []) if ro else [],
            "mem_limit": str(limits[service]).lower(),
        }
    return hardening


class FilterModule:
    def filters(self):
        return {
            "litellm_stack_container_hardening": litellm_stack_container_hardening,
            "litellm_stack_hardening_problems": litellm_stack_hardening_problems,
        }
