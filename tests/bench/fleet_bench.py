"""Benchmark of a fleet deploy (molecule scenario `fleet`: one gateway, two workers).

Measures, from one run on the test bed, each host fresh (Docker installed by prepare, stack not yet
deployed): site.yml on one worker alone, then site.yml on all three hosts in one batch, their ratio;
rollout.yml (canary first, then batches, then the gateway) as an idempotent re-run; and the pull
requests each model cost across the fleet (from each worker's Ollama double). Prints a table and writes
bench-results/fleet.json. Run with `make bench`.
"""

import json
import subprocess

from common import REPO, changed_counts, inventory, molecule, ollama_control, timed, write_results

SCENARIO = "fleet"
WORKERS = ["llmstack-fleet-w1", "llmstack-fleet-w2"]


def worker_address(name):
    return subprocess.run(
        ["docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def playbook(name, *extra):
    return timed(["ansible-playbook", "-i", inventory(SCENARIO), str(REPO / "playbooks" / name), *extra])


def main():
    molecule("destroy", SCENARIO)
    try:
        molecule("create", SCENARIO)
        molecule("prepare", SCENARIO)
        one_seconds, _ = playbook("site.yml", "--limit", WORKERS[0])
        # Back to a fresh worker (its Docker stays, as on the other two hosts): the stack and its volumes go.
        playbook("teardown.yml", "--limit", WORKERS[0], "-e", "purge=true")
        three_seconds, three_output = playbook("site.yml")
        rerun_seconds, rerun_output = playbook("rollout.yml")
        pulls = {}
        for worker in WORKERS:
            counters = ollama_control(worker, "GET", "counters", address=worker_address(worker))
            for model, count in counters.get("pull_requests_by_model", {}).items():
                pulls[model] = pulls.get(model, 0) + count
    finally:
        molecule("destroy", SCENARIO)

    results = {
        "site_one_host_s": round(one_seconds, 1),
        "site_three_hosts_s": round(three_seconds, 1),
        "three_vs_one_ratio": round(three_seconds / one_seconds, 2),
        "rollout_rerun_s": round(rerun_seconds, 1),
        "three_hosts_changed": changed_counts(three_output),
        "rollout_rerun_changed": changed_counts(rerun_output),
        "pull_requests_per_model": pulls,
    }
    write_results("fleet", results)

    print("\nFleet: one gateway and two workers (molecule scenario fleet, test bed)")
    print(f"  site.yml, one worker               {results['site_one_host_s']:>7} s")
    print(f"  site.yml, three hosts, one batch   {results['site_three_hosts_s']:>7} s")
    print(f"  three / one                        {results['three_vs_one_ratio']:>7}x  (goal: <= 1.5x)")
    rerun_changed = results["rollout_rerun_changed"]
    print(f"  rollout.yml re-run (canary first)  {results['rollout_rerun_s']:>7} s   changed={rerun_changed}")
    print(f"  pull requests per model, fleet     {json.dumps(pulls, sort_keys=True)}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
