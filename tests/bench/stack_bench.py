"""Benchmark of playbooks/site.yml on one workstation (molecule scenario `default`).

Measures, from one run on the test bed: the fresh converge time, the idempotent re-run time and their
ratio, the changed counts of both, and the requests the re-run sent to Ollama (counted by the Ollama
double in the workstation, by client). Prints a table and writes bench-results/stack.json.
Run with `make bench`.
"""

import json

from common import changed_counts, molecule, ollama_control, write_results

SCENARIO = "default"
WORKSTATION = f"llmstack-{SCENARIO}"


def client_of(request):
    """Who sent a request: Ansible's modules, compose's `ollama list` healthcheck, or LiteLLM."""
    agent = (request.get("user_agent") or "").lower()
    if "ansible" in agent:
        return "ansible"
    if "ollama" in agent:
        return "healthcheck"
    return "litellm"


def main():
    molecule("destroy", SCENARIO)
    try:
        molecule("create", SCENARIO)
        molecule("prepare", SCENARIO)
        fresh_seconds, fresh_output = molecule("converge", SCENARIO)
        ollama_control(WORKSTATION, "DELETE", "requests")
        rerun_seconds, rerun_output = molecule("converge", SCENARIO)
        requests = ollama_control(WORKSTATION, "GET", "requests")["requests"]
    finally:
        molecule("destroy", SCENARIO)

    by_call = {}
    for request in requests:
        key = f"{client_of(request)}: {request['method']} {request['path']}"
        by_call[key] = by_call.get(key, 0) + 1
    results = {
        "fresh_converge_s": round(fresh_seconds, 1),
        "rerun_s": round(rerun_seconds, 1),
        "rerun_ratio": round(rerun_seconds / fresh_seconds, 2),
        "fresh_changed": changed_counts(fresh_output)[WORKSTATION],
        "rerun_changed": changed_counts(rerun_output)[WORKSTATION],
        "rerun_ollama_requests": by_call,
        "rerun_pull_requests": sum(n for call, n in by_call.items() if call.endswith("POST /api/pull")),
        "rerun_ansible_tags_requests": by_call.get("ansible: GET /api/tags", 0),
    }
    write_results("stack", results)

    print("\nsite.yml on one workstation (molecule scenario default, test bed)")
    print(f"  fresh converge            {results['fresh_converge_s']:>7} s   changed={results['fresh_changed']}")
    print(f"  idempotent re-run         {results['rerun_s']:>7} s   changed={results['rerun_changed']}")
    print(f"  re-run / fresh            {results['rerun_ratio']:>7}x  (goal: <= 0.1x)")
    print(f"  pull requests in re-run   {results['rerun_pull_requests']:>7}    (must be 0)")
    print(f"  Ansible GET /api/tags     {results['rerun_ansible_tags_requests']:>7}    (floor: 1 per host)")
    print("  Ollama requests in re-run, by client:")
    for call, count in sorted(by_call.items()):
        print(f"    {count:>5}  {call}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
