"""Benchmark of playbooks/site.yml on one workstation (molecule scenario `default`).

Measures, from one run on the test bed: the fresh converge time, the idempotent re-run time and their
ratio, the changed counts of both, and the requests the re-run sent to Ollama (counted by the Ollama
double in the workstation). Prints a table and writes bench-results/stack.json. Run with `make bench`.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCENARIO = "default"
WORKSTATION = f"llmstack-{SCENARIO}"
RECAP = re.compile(r"(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def molecule(action):
    """Run one molecule action; return (seconds, output)."""
    started = time.monotonic()
    completed = subprocess.run(
        ["molecule", action, "-s", SCENARIO], cwd=REPO, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        sys.stderr.write(output[-6000:])
        raise SystemExit(f"molecule {action} failed")
    return seconds, output


def changed_count(output):
    """The workstation's changed= of the last play recap in a converge's output."""
    counts = [int(m.group(3)) for m in RECAP.finditer(output) if m.group(1) == WORKSTATION]
    if not counts:
        raise SystemExit("no play recap for the workstation in the converge output")
    return counts[-1]


def ollama_control(method, path):
    """Call the Ollama double's control API inside the workstation (it listens on its loopback only)."""
    code = (
        "import json, urllib.request; "
        f"r = urllib.request.Request('http://127.0.0.1:11434/_double/{path}', method='{method}'); "
        "print(urllib.request.urlopen(r, timeout=10).read().decode() or '{}')"
    )
    out = subprocess.run(
        ["docker", "exec", WORKSTATION, "python3", "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def client_of(request):
    """Who sent a request: Ansible's modules, compose's `ollama list` healthcheck, or LiteLLM."""
    agent = (request.get("user_agent") or "").lower()
    if "ansible" in agent:
        return "ansible"
    if "ollama" in agent:
        return "healthcheck"
    return "litellm"


def main():
    os.chdir(REPO)
    results = {}
    molecule("destroy")
    try:
        molecule("create")
        molecule("prepare")
        fresh_seconds, fresh_output = molecule("converge")
        ollama_control("DELETE", "requests")
        rerun_seconds, rerun_output = molecule("converge")
        requests = ollama_control("GET", "requests")["requests"]
    finally:
        molecule("destroy")

    by_call = {}
    for request in requests:
        key = f"{client_of(request)}: {request['method']} {request['path']}"
        by_call[key] = by_call.get(key, 0) + 1
    results = {
        "fresh_converge_s": round(fresh_seconds, 1),
        "rerun_s": round(rerun_seconds, 1),
        "rerun_ratio": round(rerun_seconds / fresh_seconds, 2),
        "fresh_changed": changed_count(fresh_output),
        "rerun_changed": changed_count(rerun_output),
        "rerun_ollama_requests": by_call,
        "rerun_pull_requests": sum(n for call, n in by_call.items() if call.endswith("POST /api/pull")),
        "rerun_ansible_tags_requests": by_call.get("ansible: GET /api/tags", 0),
    }
    out_dir = REPO / "bench-results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "stack.json").write_text(json.dumps(results, indent=2) + "\n")

    print("\nsite.yml on one workstation (molecule scenario default, test bed)")
    print(f"  fresh converge            {results['fresh_converge_s']:>7} s   changed={results['fresh_changed']}")
    print(f"  idempotent re-run         {results['rerun_s']:>7} s   changed={results['rerun_changed']}")
    print(f"  re-run / fresh            {results['rerun_ratio']:>7}x  (goal: <= 0.1x)")
    print(f"  pull requests in re-run   {results['rerun_pull_requests']:>7}    (must be 0)")
    print(f"  Ansible GET /api/tags     {results['rerun_ansible_tags_requests']:>7}    (floor: 1 per host)")
    print("  Ollama requests in re-run, by client:")
    for call, count in sorted(by_call.items()):
        print(f"    {count:>5}  {call}")


if __name__ == "__main__":
    main()
