"""Benchmark of playbooks/site.yml on one workstation (molecule scenario `default`).

One run on the test bed: a fresh converge, then the idempotent re-run of a converged host. Prints each of
issue 12's goals beside its figure, and writes bench-results/stack.json plus the re-run's per-task log
(bench-results/stack-rerun-tasks.jsonl: every task, its status and time, from tests/bench/callback_plugins).
It measures and asserts nothing. Run with `make bench`.

Where each figure comes from:
- times: wall clock around `molecule converge`;
- tasks run: the bench_tasks callback (ok or changed, skipped not counted), beside the play recap's ok=;
- image pulls: the workstation's own Docker engine (`docker events`, event=pull), beside the task results;
- apt cache refreshes: apt's lists are first made a day old (as on a host converged yesterday), then any of
  them newer than the re-run's start is a refresh; beside apt's cache_updated results;
- Ollama requests: the Ollama double's request log, by client; probes are chat/generate/embed requests per model.
"""

import json
import time

from common import (
    REPO,
    age_apt_lists,
    apt_lists_mtime,
    image_pull_events,
    molecule,
    ollama_control,
    recap,
    task_records,
    tasks_run,
    traced_env,
    write_results,
)

SCENARIO = "default"
WORKSTATION = f"llmstack-{SCENARIO}"
PROBE_PATHS = {"/api/chat", "/api/generate", "/api/embed", "/api/embeddings"}


def client_of(request):
    """Who sent a request: Ansible's modules, compose's `ollama list` healthcheck, or LiteLLM."""
    agent = (request.get("user_agent") or "").lower()
    if "ansible" in agent:
        return "ansible"
    if "ollama" in agent:
        return "healthcheck"
    return "litellm"


def probes_per_model(requests):
    """Inference requests per model: each is one probe (nothing else sends them while the play runs)."""
    probes = {}
    for request in requests:
        body = request.get("body") if isinstance(request.get("body"), dict) else {}
        if request["path"] in PROBE_PATHS and client_of(request) != "healthcheck":
            model = str(body.get("model", "?"))
            probes[model] = probes.get(model, 0) + 1
    return probes


def main():
    log_fresh = REPO / "bench-results" / "stack-fresh-tasks.jsonl"
    log_rerun = REPO / "bench-results" / "stack-rerun-tasks.jsonl"
    log_rerun.parent.mkdir(exist_ok=True)
    molecule("destroy", SCENARIO)
    try:
        molecule("create", SCENARIO)
        molecule("prepare", SCENARIO)
        fresh_seconds, fresh_output = molecule("converge", SCENARIO, env=traced_env(log_fresh))
        ollama_control(WORKSTATION, "DELETE", "requests")
        age_apt_lists(WORKSTATION)
        started = time.time()
        rerun_seconds, rerun_output = molecule("converge", SCENARIO, env=traced_env(log_rerun))
        ended = time.time() + 1
        apt_after = apt_lists_mtime(WORKSTATION)
        pull_events = image_pull_events(WORKSTATION, started - 1, ended)
        requests = ollama_control(WORKSTATION, "GET", "requests")["requests"]
    finally:
        molecule("destroy", SCENARIO)

    records = task_records(log_rerun)
    mine = [r for r in records if r["host"] == WORKSTATION]
    by_call = {}
    for request in requests:
        key = f"{client_of(request)}: {request['method']} {request['path']}"
        by_call[key] = by_call.get(key, 0) + 1
    rerun_recap = recap(rerun_output).get(WORKSTATION, {})
    results = {
        "fresh_converge_s": round(fresh_seconds, 1),
        "rerun_s": round(rerun_seconds, 1),
        "rerun_ratio": round(rerun_seconds / fresh_seconds, 2),
        "fresh_recap": recap(fresh_output).get(WORKSTATION, {}),
        "rerun_recap": rerun_recap,
        "rerun_tasks_run": tasks_run(records, WORKSTATION),
        "rerun_tasks_changed": sum(1 for r in mine if r["status"] == "changed"),
        "rerun_tasks_skipped": sum(1 for r in mine if r["status"] == "skipped"),
        "rerun_image_pulls_engine": len(pull_events),
        "rerun_image_pulls_tasks": sum(r["image_pulls"] for r in mine),
        "rerun_apt_lists_refreshed": apt_after >= started - 1,
        "rerun_apt_refreshes_tasks": sum(r["apt_refreshes"] for r in mine),
        "rerun_ansible_tags_requests": by_call.get("ansible: GET /api/tags", 0),
        "rerun_tags_requests_all_clients": sum(n for call, n in by_call.items() if call.endswith("GET /api/tags")),
        "rerun_model_pulls": sum(n for call, n in by_call.items() if call.endswith("POST /api/pull")),
        "rerun_probes_per_model": probes_per_model(requests),
        "rerun_ollama_requests": by_call,
    }
    write_results("stack", results)

    r = results
    apt_refreshes = max(r["rerun_apt_refreshes_tasks"], int(r["rerun_apt_lists_refreshed"]))
    print("\nsite.yml on one workstation (molecule scenario default, test bed)")
    print(f"  fresh converge                  {r['fresh_converge_s']:>7} s   recap {r['fresh_recap']}")
    print(f"  idempotent re-run               {r['rerun_s']:>7} s   recap {rerun_recap}")
    print("  goal                                 figure   target")
    print(f"  re-run / fresh                  {r['rerun_ratio']:>7}x   <= 0.3x")
    print(
        f"  tasks run in re-run (ok+chg)    {r['rerun_tasks_run']:>7}    <= 50"
        f"   (changed {r['rerun_tasks_changed']}, skipped {r['rerun_tasks_skipped']} not counted)"
    )
    print(
        f"  image pulls in re-run           {r['rerun_image_pulls_engine']:>7}    0"
        f"   (engine events; task results say {r['rerun_image_pulls_tasks']})"
    )
    print(f"  Ollama model pulls in re-run    {r['rerun_model_pulls']:>7}    0")
    print(
        f"  apt refreshes, lists 25 h old   {apt_refreshes:>7}    0"
        f"   (apt results {r['rerun_apt_refreshes_tasks']}; lists touched: {r['rerun_apt_lists_refreshed']})"
    )
    print(
        f"  GET /api/tags from Ansible      {r['rerun_ansible_tags_requests']:>7}    1"
        f"   (all clients, with the container healthcheck: {r['rerun_tags_requests_all_clients']})"
    )
    print(f"  probes per model                {json.dumps(r['rerun_probes_per_model'], sort_keys=True)}   1 each")
    print("  Ollama requests in re-run, by client:")
    for call, count in sorted(by_call.items()):
        print(f"    {count:>5}  {call}")
    slowest = sorted((x for x in mine if x["status"] in {"ok", "changed"}), key=lambda x: -x["seconds"])[:10]
    print(f"  slowest tasks in the re-run (all in {log_rerun.relative_to(REPO)}):")
    for x in slowest:
        print(f"    {x['seconds']:>7.1f} s  {x['status']:<8} {x['role'] or '-'}: {x['task']}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
