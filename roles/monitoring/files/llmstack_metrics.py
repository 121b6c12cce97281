#!/usr/bin/env python3
"""llmstack-metrics: the GPU and Ollama series of llmstack.gateway, for node-exporter's textfile collector.

One run reads `nvidia-smi --query-gpu=...` and Ollama's /api/tags and /api/ps, and writes the llmstack_* series
(the names roles/monitoring/files/llmstack-alerts.yml reads) to --output, atomically: a temporary file in the same
directory, then a rename, so node-exporter never reads half a file. Meant to run from a systemd timer.
Python 3 standard library only (it runs on managed hosts).

    llmstack-metrics --output /var/lib/prometheus/node-exporter/llmstack.prom \
        --ollama-url http://127.0.0.1:11434 --model llama3.1:8b --model tinyllama \
        --gpu-expected --models-mountpoint /var/lib/docker

No nvidia-smi on the host: no GPU series (a CPU host). nvidia-smi that fails (no driver, a driver/library
mismatch after an upgrade): llmstack_nvidia_smi_up 0 and no GPU series. A field nvidia-smi prints as [N/A] or
[Not Supported]: that sample is left out. Ollama that does not answer: llmstack_ollama_up 0 and no model series.
"""

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import datetime

MIB = 1024 * 1024
GPU_QUERY = "index,uuid,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw"
GPU_FIELD_COUNT = GPU_QUERY.count(",") + 1
NVIDIA_SMI_ARGS = ["--query-gpu=" + GPU_QUERY, "--format=csv,noheader,nounits"]
MISSING = {"[N/A]", "[Not Supported]", "N/A", "[Unknown Error]", ""}

# name: (help, type); the order in which the families are written.
FAMILIES = {
    "llmstack_nvidia_smi_up": ("1 if nvidia-smi answered, 0 if it failed (absent without nvidia-smi).", "gauge"),
    "llmstack_gpu_info": ("1 per GPU that nvidia-smi lists, labelled with its name.", "gauge"),
    "llmstack_gpu_utilization_ratio": ("GPU utilisation (nvidia-smi utilization.gpu), 0 to 1.", "gauge"),
    "llmstack_gpu_memory_used_bytes": ("GPU memory in use (nvidia-smi memory.used).", "gauge"),
    "llmstack_gpu_memory_total_bytes": ("GPU memory in all (nvidia-smi memory.total).", "gauge"),
    "llmstack_gpu_temperature_celsius": ("GPU core temperature (nvidia-smi temperature.gpu).", "gauge"),
    "llmstack_gpu_power_watts": ("GPU power draw (nvidia-smi power.draw).", "gauge"),
    "llmstack_ollama_up": ("1 if Ollama's /api/tags and /api/ps answered, else 0.", "gauge"),
    "llmstack_ollama_gpu_expected": ("1 if this host's tier runs its models on a GPU, else 0.", "gauge"),
    "llmstack_ollama_model_present": ("1 if a configured model is in Ollama's /api/tags, else 0.", "gauge"),
    "llmstack_ollama_model_size_bytes": ("Memory a loaded model takes (/api/ps size).", "gauge"),
    "llmstack_ollama_model_vram_bytes": ("GPU memory of a loaded model (/api/ps size_vram); 0: on the CPU.", "gauge"),
    "llmstack_ollama_model_expiry_timestamp_seconds": ("When Ollama unloads the model (/api/ps expires_at).", "gauge"),
    "llmstack_ollama_models_mount_info": ("1, labelled with the mount point holding Ollama's models.", "gauge"),
}  # fmt: skip


# -- nvidia-smi ---------------------------------------------------------------------------------------------------
def _number(text):
    return None if text.strip() in MISSING else float(text)


def parse_gpus(text):
    """The GPUs in nvidia-smi's answer to NVIDIA_SMI_ARGS: one dict per card, None for a missing field."""
    gpus = []
    for row in csv.reader(text.splitlines(), skipinitialspace=True):
        if len(row) != GPU_FIELD_COUNT:
            continue
        index, uuid, name, util, used, total, temperature, power = (field.strip() for field in row)
        try:
            values = [_number(util), _number(used), _number(total), _number(temperature), _number(power)]
        except ValueError:
            continue
        util, used, total, temperature, power = values
        gpus.append({
            "index": index, "uuid": uuid, "name": name,
            "utilization": None if util is None else util / 100,
            "memory_used": None if used is None else int(used * MIB),
            "memory_total": None if total is None else int(total * MIB),
            "temperature": temperature, "power": power,
        })  # fmt: skip
    return gpus


def gpu_samples(gpus):
    """(name, labels, value) for each GPU's known values."""
    samples = []
    for gpu in gpus:
        labels = {"gpu": gpu["index"], "uuid": gpu["uuid"]}
        samples.append(("llmstack_gpu_info", {**labels, "name": gpu["name"]}, 1))
        for family, key in (
            ("llmstack_gpu_utilization_ratio", "utilization"),
            ("llmstack_gpu_memory_used_bytes", "memory_used"),
            ("llmstack_gpu_memory_total_bytes", "memory_total"),
            ("llmstack_gpu_temperature_celsius", "temperature"),
            ("llmstack_gpu_power_watts", "power"),
        ):
            if gpu[key] is not None:
                samples.append((family, labels, gpu[key]))
    return samples


def query_nvidia_smi(command, timeout):
    """nvidia-smi's samples: [] without nvidia-smi, llmstack_nvidia_smi_up 0 when it fails."""
    path = shutil.which(command)
    if path is None:
        return []
    try:
        answer = subprocess.run([path, *NVIDIA_SMI_ARGS], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return [("llmstack_nvidia_smi_up", {}, 0)]
    if answer.returncode != 0:
        return [("llmstack_nvidia_smi_up", {}, 0)]
    return [("llmstack_nvidia_smi_up", {}, 1), *gpu_samples(parse_gpus(answer.stdout))]


# -- Ollama -------------------------------------------------------------------------------------------------------
def model_key(name):
    """Ollama's identity of a model name: registry, namespace, model and tag, filled with defaults, lower case.

    The same rule as plugins/module_utils/_ollama.py's model_key, without its validation: this script runs on
    hosts outside Ansible, where the collection's module_utils cannot be imported.
    """
    name = re.sub(r"^https?://", "", name).split("@", 1)[0]
    path, tag = name, "latest"
    if name.rfind(":") > name.rfind("/"):
        path, tag = name.rsplit(":", 1)
    tag = tag.split("+", 1)[0]
    parts = path.split("/")
    host = parts[0] if len(parts) == 3 else "registry.ollama.ai"
    namespace = parts[-2] if len(parts) >= 2 else "library"
    return (host.lower(), namespace.lower(), parts[-1].lower(), tag.lower())


def expiry_seconds(text):
    """Seconds since the epoch of Go's RFC 3339 time (nanoseconds, offset or Z), None if unreadable."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text or "")
    if not match:
        return None
    stamp, fraction, zone = match.groups()
    moment = datetime.fromisoformat(stamp + ("+00:00" if zone == "Z" else zone))
    return moment.timestamp() + (int(fraction) / 10 ** len(fraction) if fraction else 0)


def ollama_samples(tags, ps, models):
    """Samples from /api/tags and /api/ps answers (None when Ollama did not answer) and the configured models."""
    if tags is None or ps is None:
        return [("llmstack_ollama_up", {}, 0)]
    samples = [("llmstack_ollama_up", {}, 1)]
    installed = {model_key(entry.get("model") or entry.get("name") or "") for entry in tags.get("models") or []}
    for model in models:
        samples.append(("llmstack_ollama_model_present", {"model": model}, int(model_key(model) in installed)))
    for entry in ps.get("models") or []:
        labels = {"model": entry.get("model") or entry.get("name") or ""}
        samples.append(("llmstack_ollama_model_size_bytes", labels, entry.get("size", 0)))
        samples.append(("llmstack_ollama_model_vram_bytes", labels, entry.get("size_vram", 0)))
        expiry = expiry_seconds(entry.get("expires_at"))
        if expiry is not None:
            samples.append(("llmstack_ollama_model_expiry_timestamp_seconds", labels, expiry))
    return samples


def get_json(url, timeout):
    """The JSON answer of a GET, or None when there is no usable answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return json.loads(answer.read())
    except (OSError, urllib.error.URLError, ValueError):
        return None


def query_ollama(url, models, timeout):
    url = url.rstrip("/")
    tags = get_json(url + "/api/tags", timeout)
    ps = get_json(url + "/api/ps", timeout) if tags is not None else None
    return ollama_samples(tags, ps, models)


def mountpoint_of(path, ismount=os.path.ismount):
    """The mount point of the file system holding `path` (the nearest ancestor that is a mount point)."""
    path = os.path.abspath(path)
    while not ismount(path) and path != os.path.dirname(path):
        path = os.path.dirname(path)
    return path


# -- textfile format ----------------------------------------------------------------------------------------------
def escape_label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value):
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def render(samples):
    """node-exporter textfile format: # HELP and # TYPE once per family, families in FAMILIES' order."""
    lines = []
    for family, (help_text, kind) in FAMILIES.items():
        rows = [(labels, value) for name, labels, value in samples if name == family]
        if not rows:
            continue
        lines += [f"# HELP {family} {help_text}", f"# TYPE {family} {kind}"]
        for labels, value in rows:
            text = ",".join(f'{key}="{escape_label(val)}"' for key, val in labels.items())
            lines.append(f"{family}{{{text}}} {format_value(value)}" if text else f"{family} {format_value(value)}")
    unknown = {name for name, _, _ in samples} - set(FAMILIES)
    if unknown:
        raise ValueError(f"no HELP for {sorted(unknown)}")
    return "\n".join(lines) + "\n"


def write_atomically(path, text, mode=0o644):
    """Write `text` to a temporary file next to `path` (not *.prom, so node-exporter skips it), then rename."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


# -- command line -------------------------------------------------------------------------------------------------
def parse_args(argv):
    parser = argparse.ArgumentParser(prog="llmstack-metrics", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--output", required=True, help="the .prom file node-exporter's textfile collector reads")
    parser.add_argument("--ollama-url", default="http://127.0.0.1:11434", help="Ollama's API (%(default)s)")
    parser.add_argument(
        "--no-ollama", action="store_true", help="this host runs no Ollama (a gateway): no llmstack_ollama_* series"
    )
    parser.add_argument("--model", action="append", default=[], help="a model configured for this host (repeat)")
    parser.add_argument("--gpu-expected", action="store_true", help="this host's tier runs its models on a GPU")
    mount = parser.add_mutually_exclusive_group()
    mount.add_argument("--models-mountpoint", help="mount point of the file system holding Ollama's models")
    mount.add_argument("--models-dir", help="Ollama's models directory (its mount point is looked up)")
    parser.add_argument("--nvidia-smi", default="nvidia-smi", help="nvidia-smi command (%(default)s)")
    parser.add_argument("--timeout", type=float, default=10, help="seconds per query (%(default)s)")
    return parser.parse_args(argv)


def collect(args):
    samples = query_nvidia_smi(args.nvidia_smi, args.timeout)
    if args.no_ollama:
        # Neither "down" nor "missing": a gateway has no Ollama to watch.
        return samples
    samples += query_ollama(args.ollama_url, args.model, args.timeout)
    samples.append(("llmstack_ollama_gpu_expected", {}, int(args.gpu_expected)))
    mountpoint = args.models_mountpoint or (mountpoint_of(args.models_dir) if args.models_dir else None)
    if mountpoint:
        samples.append(("llmstack_ollama_models_mount_info", {"mountpoint": mountpoint}, 1))
    return samples


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    write_atomically(args.output, render(collect(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
