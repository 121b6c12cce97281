"""Helpers the benchmarks share: molecule and ansible-playbook runs, timing, recaps, the Ollama double."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BENCH = Path(__file__).resolve().parent
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


def molecule(action, scenario, env=None):
    return timed(["molecule", action, "-s", scenario], env=env)


def traced_env(log_path):
    """The environment of a run whose every task result bench_tasks.py writes, one JSON line each, to log_path."""
    Path(log_path).unlink(missing_ok=True)
    return dict(
        os.environ,
        ANSIBLE_CALLBACK_PLUGINS=str(BENCH / "callback_plugins"),
        ANSIBLE_CALLBACKS_ENABLED="bench_tasks",
        LLMSTACK_BENCH_TASKS_LOG=str(log_path),
    )


def task_records(log_path):
    path = Path(log_path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def recap(output):
    """ok= and changed= per host from the last play recap; Ansible counts a changed task in ok= too."""
    counts = {}
    for match in RECAP.finditer(ANSI.sub("", output)):
        counts[match.group(1)] = {"ok": int(match.group(2)), "changed": int(match.group(3))}
    return counts


def tasks_run(records, host):
    """Tasks that ran on a host (ok or changed; skipped ones not counted), from bench_tasks.py's log."""
    return sum(1 for r in records if r["host"] == host and r["status"] in {"ok", "changed"})


APT_CACHE_PATHS = "/var/lib/apt/lists /var/lib/apt/lists/* /var/lib/apt/periodic/update-success-stamp"


def apt_lists_mtime(container):
    """Newest modification time of apt's lists, their directory and its success stamp (what apt's
    cache_valid_time reads): it moves on every apt cache refresh."""
    script = f"stat -c %Y {APT_CACHE_PATHS} 2>/dev/null | sort -n | tail -1"
    out = subprocess.run(
        ["docker", "exec", container, "sh", "-c", script], capture_output=True, text=True, check=False
    ).stdout.strip()
    return float(out or 0)


def age_apt_lists(container, hours=25):
    """Make apt's lists look as old as on a host converged a day ago (a re-run minutes after the first run
    would otherwise hide a refresh that cache_valid_time allows once an hour)."""
    script = f"touch -d '{hours} hours ago' {APT_CACHE_PATHS} 2>/dev/null; true"
    subprocess.run(["docker", "exec", container, "sh", "-c", script], check=True)


def image_pull_events(container, since, until):
    """Image pulls the Docker engine inside a container performed between two Unix times (its own event log)."""
    out = subprocess.run(
        [
            "docker",
            "exec",
            container,
            "docker",
            "events",
            "--since",
            f"{since:.0f}",
            "--until",
            f"{until:.0f}",
            "--filter",
            "type=image",
            "--filter",
            "event=pull",
            "--format",
            "{{.Actor.ID}}",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [line for line in out.splitlines() if line.strip()]


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
