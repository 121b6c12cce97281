"""Helpers the benchmarks share: molecule and ansible-playbook runs, timing, recaps, the Ollama double."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECAP = re.compile(r"(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def timed(argv, env=None):
    """Run a command from the repository; return (seconds, output). Stop the benchmark if it fails."""
    started = time.monotonic()
    completed = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False, env=env)
    seconds = time.monotonic() - started
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        sys.stderr.write(output[-6000:])
        raise SystemExit(f"{' '.join(argv)} failed")
    return seconds, output


def molecule(action, scenario):
    return timed(["molecule", action, "-s", scenario])


def changed_counts(output):
    """changed= per host, from the last play recap of an ansible-playbook or molecule converge output."""
    counts = {}
    for match in RECAP.finditer(ANSI.sub("", output)):
        counts[match.group(1)] = int(match.group(3))
    return counts


def inventory(scenario):
    """The inventory molecule wrote for a scenario that was created."""
    base = Path.home() / ".ansible" / "tmp"
    # One directory per checkout that ran molecule: the one just written is this run's.
    candidates = list(base.glob(f"molecule.*.{scenario}/inventory/ansible_inventory.yml"))
    if not candidates:
        raise SystemExit(f"no molecule inventory for scenario {scenario}; was it created?")
    return str(max(candidates, key=lambda path: path.stat().st_mtime))


def ollama_control(workstation, method, path, address="127.0.0.1"):
    """Call the Ollama double's control API from inside a workstation."""
    code = (
        "import urllib.request; "
        f"r = urllib.request.Request('http://{address}:11434/_double/{path}', method='{method}'); "
        "print(urllib.request.urlopen(r, timeout=10).read().decode() or '{}')"
    )
    out = subprocess.run(
        ["docker", "exec", workstation, "python3", "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def write_results(name, results):
    out_dir = REPO / "bench-results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
