# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils is PRIVATE to this collection. It can change or be removed at any time.

"""Parse nvidia-smi output and classify a host into a GPU tier."""

from __future__ import annotations

import math
import re

QUERY_FIELDS = ("index", "name", "uuid", "memory.total", "memory.free", "driver_version", "compute_cap")

# Values nvidia-smi prints instead of a number when a field does not apply (MIG, laptops, vGPU).
UNAVAILABLE_VALUES = ("[N/A]", "[Not Supported]", "N/A", "[Unknown Error]", "[Insufficient Permissions]", "")

CPU_TIER = "cpu"

_CUDA_VERSION_RE = re.compile(r"CUDA Version\s*:\s*([0-9]+(?:\.[0-9]+)*)")

# Known nvidia-smi failures and what a person should do about each.
_ERROR_HINTS = (
    (
        "Driver/library version mismatch",
        "The kernel module and the user-space NVIDIA libraries differ, usually after a driver upgrade "
        "without a reboot. Reboot the host (or reload the nvidia kernel modules).",
    ),
    (
        "couldn't communicate with the NVIDIA driver",
        "The NVIDIA kernel driver is not loaded. Install the driver for this GPU and reboot; "
        "on Secure Boot hosts, enrol the module signing key.",
    ),
    (
        "No devices were found",
        "The driver is loaded but sees no GPU. Check that the card is seated and not claimed by vfio/passthrough.",
    ),
    (
        "Unknown Error",
        "NVML lost access to the devices, typically inside a container after `systemctl daemon-reload` "
        "on a systemd-cgroup host. Restart the affected containers.",
    ),
    (
        "Insufficient Permissions",
        "The user running the task cannot open /dev/nvidia*. Run with become, or fix the device permissions.",
    ),
)


def field_value(raw):
    """Return the stripped value, or None when nvidia-smi reported it as unavailable."""
    value = raw.strip()
    if value in UNAVAILABLE_VALUES:
        return None
    return value


def _to_int(value):
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def parse_query_output(text, fields=QUERY_FIELDS):
    """Parse `nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits` output into GPU dicts.

    GPU names may contain commas ("NVIDIA A100-SXM4-80GB, MIG" style names exist), so the name takes
    whatever is left once every other column is accounted for.
    """
    fields = tuple(fields)
    name_pos = fields.index("name")
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split(",")]
        extra = len(parts) - len(fields)
        if extra < 0:
            raise ValueError(f"unexpected nvidia-smi output line (expected {len(fields)} columns): {line!r}")
        if extra:
            parts[name_pos : name_pos + extra + 1] = [", ".join(parts[name_pos : name_pos + extra + 1])]
        row = dict(zip(fields, parts))
        gpus.append(
            {
                "index": _to_int(field_value(row["index"])),
                "name": field_value(row["name"]),
                "uuid": field_value(row["uuid"]),
                "memory_total_mib": _to_int(field_value(row["memory.total"])),
                "memory_free_mib": _to_int(field_value(row["memory.free"])),
                "driver_version": field_value(row["driver_version"]),
                "compute_capability": field_value(row.get("compute_cap", "")),
            }
        )
    return gpus


def parse_cuda_version(text):
    """Return the CUDA version from nvidia-smi's summary table (or `-q`) output, or None."""
    match = _CUDA_VERSION_RE.search(text or "")
    return match.group(1) if match else None


def error_hint(message):
    """Return advice for a known nvidia-smi failure message, or a generic one."""
    for needle, hint in _ERROR_HINTS:
        if needle.lower() in (message or "").lower():
            return hint
    return "Run nvidia-smi on the host to see the driver's own diagnosis."


def nominal_gib(memory_mib):
    """The size a person would name the card by: MiB rounded to the nearest GiB (half up).

    nvidia-smi reports a "16 GB" card as 16,311-16,376 MiB, so a raw 16 GiB threshold would miss it.
    """
    if memory_mib is None:
        return 0
    return math.floor(memory_mib / 1024.0 + 0.5)


def vram_gib(gpus, basis="max"):
    """VRAM in nominal GiB for the tier decision: the largest card ('max') or all cards added ('total')."""
    sizes = [nominal_gib(gpu.get("memory_total_mib")) for gpu in gpus]
    if not sizes:
        return 0
    if basis == "total":
        return sum(sizes)
    return max(sizes)


def validate_tiers(tiers):
    """Return a list of problems with a tier list (empty when it is usable)."""
    problems = []
    seen = set()
    for position, tier in enumerate(tiers):
        name = tier.get("name")
        minimum = tier.get("min_vram_gib")
        if not name or not isinstance(name, str):
            problems.append(f"tiers[{position}] has no name")
            continue
        if name == CPU_TIER:
            problems.append(f"tiers[{position}] is named '{CPU_TIER}', reserved for hosts without a usable GPU")
        if name in seen:
            problems.append(f"tiers[{position}] repeats the name '{name}'")
        seen.add(name)
        if isinstance(minimum, bool) or not isinstance(minimum, (int, float)) or minimum < 0:
            problems.append(f"tiers[{position}] ({name}) needs min_vram_gib as a number >= 0")
    return problems


def classify(gpus, tiers, basis="max"):
    """Return the name of the first tier whose min_vram_gib the host reaches, else 'cpu'."""
    if not gpus:
        return CPU_TIER
    available = vram_gib(gpus, basis)
    for tier in tiers:
        if available >= tier["min_vram_gib"]:
            return tier["name"]
    return CPU_TIER
