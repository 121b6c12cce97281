"""Benchmark of a fleet (molecule scenario `fleet`: one gateway, two workers).

One run on the test bed: site.yml converges the three fresh hosts (Docker installed by prepare, stack not yet
deployed) in one batch; then rollout.yml (canary first, then batches, then the gateway) re-runs the converged
fleet, first limited to one worker, then on all three hosts. Prints issue 12's fleet goal beside its figure
(three-host re-run / one-host re-run) and writes bench-results/fleet.json and the re-runs' per-task logs
(bench-results/fleet-rerun-*-tasks.jsonl). It measures and asserts nothing. Run with `make bench`.
"""

import json
import subprocess

from common import (
    REPO,
    inventory,
    molecule,
    ollama_control,
    recap,
    task_records,
    tasks_run,
    timed,
    traced_env,
    write_results,
)

SCENARIO = "fleet"
GATEWAY = "llmstack-fleet-gw"
WORKERS = ["llmstack-fleet-w1", "llmstack-fleet-w2"]


def worker_address(name):
    return subprocess.run(
        ["docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def playbook(name, *extra, env=None):
    return timed(["ansible-playbook", "-i", inventory(SCENARIO), str(REPO / "playbooks" / name), *extra], env=env)


def worker_requests():
    """Each worker's Ollama double request log, read and then cleared."""
    logs = {}
    for worker in WORKERS:
        address = worker_address(worker)
        logs[worker] = ollama_control(worker, "GET", "requests", address=address)["requests"]
        ollama_control(worker, "DELETE", "requests", address=address)
    return logs


def model_pulls(logs):
    return sum(1 for requests in logs.values() for r in requests if r["method"] == "POST" and r["path"] == "/api/pull")


def main():
    log_one = REPO / "bench-results" / "fleet-rerun-one-tasks.jsonl"
    log_three = REPO / "bench-results" / "fleet-rerun-three-tasks.jsonl"
    log_one.parent.mkdir(exist_ok=True)
    molecule("destroy", SCENARIO)
    try:
        molecule("create", SCENARIO)
        molecule("prepare", SCENARIO)
        fresh_seconds, fresh_output = playbook("site.yml")
        worker_requests()
        one_seconds, one_output = playbook("rollout.yml", "--limit", WORKERS[0], env=traced_env(log_one))
        one_logs = worker_requests()
        three_seconds, three_output = playbook("rollout.yml", env=traced_env(log_three))
        three_logs = worker_requests()
    finally:
        molecule("destroy", SCENARIO)

    one_records = task_records(log_one)
    three_records = task_records(log_three)
    hosts = [GATEWAY, *WORKERS]
    results = {
        "site_three_hosts_fresh_s": round(fresh_seconds, 1),
        "fresh_recap": recap(fresh_output),
        "rollout_rerun_one_worker_s": round(one_seconds, 1),
        "rollout_rerun_three_hosts_s": round(three_seconds, 1),
        "rerun_three_vs_one_ratio": round(three_seconds / one_seconds, 2),
        "rerun_one_recap": recap(one_output),
        "rerun_three_recap": recap(three_output),
        "rerun_one_tasks_run": tasks_run(one_records, WORKERS[0]),
        "rerun_three_tasks_run": {host: tasks_run(three_records, host) for host in hosts},
        "rerun_model_pulls": model_pulls(one_logs) + model_pulls(three_logs),
    }
    write_results("fleet", results)

    r = results
    print("\nFleet: one gateway and two workers (molecule scenario fleet, test bed)")
    print(f"  site.yml, three fresh hosts, one batch    {r['site_three_hosts_fresh_s']:>7} s")
    print(f"  rollout.yml re-run, one worker (--limit)  {r['rollout_rerun_one_worker_s']:>7} s")
    print(f"    tasks run (ok+changed)                  {r['rerun_one_tasks_run']:>7}")
    print(f"  rollout.yml re-run, three hosts           {r['rollout_rerun_three_hosts_s']:>7} s")
    print(f"    tasks run per host (ok+changed)         {json.dumps(r['rerun_three_tasks_run'], sort_keys=True)}")
    print("  goal                                       figure   target")
    print(f"  re-run three hosts / one host             {r['rerun_three_vs_one_ratio']:>7}x   <= 1.3x")
    print(f"  Ollama model pulls in both re-runs        {r['rerun_model_pulls']:>7}    0")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
