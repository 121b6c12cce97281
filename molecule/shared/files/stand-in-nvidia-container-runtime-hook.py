#!/usr/bin/python3
"""STAND-IN nvidia-container-runtime-hook (tests only, not NVIDIA software).

dockerd runs `nvidia-container-runtime-hook prestart` as an OCI prestart hook for every container with an
`nvidia` device request (`docker run --gpus`, compose `driver: nvidia`), with the container's OCI state on
stdin (moby daemon/nvidia_linux.go). The real hook then has libnvidia-container put the GPU's device nodes,
the driver libraries and, for the `utility` capability, `nvidia-smi` into the container.

This stand-in:
- appends one JSON line per call to /var/log/stand-in-nvidia-container-runtime-hook.log (the container id,
  bundle, arguments, and the NVIDIA_* variables the container got), so tests can see that dockerd ran it;
- when the container asks for devices (NVIDIA_VISIBLE_DEVICES not empty, void or none) and the utility
  capability (NVIDIA_DRIVER_CAPABILITIES; the toolkit's default is utility,compute), copies this host's
  nvidia-smi and the simulated card's recorded answers (/etc/simulated-nvidia-smi) into the container's
  root file system: the simulated GPU is what the container sees, as the real GPU would be;
- exits 0, so the container starts; an error (unreadable state or bundle) fails the start, as a broken
  toolkit would.
"""

import datetime
import json
import os
import shutil
import sys

LOG = "/var/log/stand-in-nvidia-container-runtime-hook.log"
SIMULATED_CARD = "/etc/simulated-nvidia-smi"
DEFAULT_CAPABILITIES = "utility,compute"


def container_env(config):
    pairs = (entry.split("=", 1) for entry in config.get("process", {}).get("env", []) if "=" in entry)
    return dict(pairs)


def give_simulated_gpu(rootfs):
    """What the utility capability gives: nvidia-smi, answering for the (simulated) card."""
    nvidia_smi = shutil.which("nvidia-smi")
    if not nvidia_smi or not os.path.isdir(SIMULATED_CARD):
        return []
    target = os.path.join(rootfs, "usr/bin/nvidia-smi")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy(nvidia_smi, target)
    os.chmod(target, 0o755)
    shutil.copytree(SIMULATED_CARD, os.path.join(rootfs, SIMULATED_CARD.lstrip("/")), dirs_exist_ok=True)
    return ["/usr/bin/nvidia-smi", SIMULATED_CARD]


def main(args):
    if args[:1] != ["prestart"]:
        return 0
    state = json.load(sys.stdin)
    bundle = state["bundle"]
    with open(os.path.join(bundle, "config.json"), encoding="utf-8") as handle:
        config = json.load(handle)
    rootfs = os.path.join(bundle, config["root"]["path"])
    env = container_env(config)
    devices = env.get("NVIDIA_VISIBLE_DEVICES", "")
    capabilities = env.get("NVIDIA_DRIVER_CAPABILITIES") or DEFAULT_CAPABILITIES
    given = []
    if devices not in ("", "void", "none") and ({"utility", "all"} & set(capabilities.split(","))):
        given = give_simulated_gpu(rootfs)
    record = {
        "time": datetime.datetime.now(datetime.UTC).isoformat(),
        "args": args,
        "id": state.get("id"),
        "pid": state.get("pid"),
        "bundle": bundle,
        "NVIDIA_VISIBLE_DEVICES": devices,
        "NVIDIA_DRIVER_CAPABILITIES": capabilities,
        "given": given,
    }
    with open(LOG, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
