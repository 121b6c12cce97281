"""Benchmark of the gateway's own cost: the same chat requests through LiteLLM and directly to Ollama.

One run on the test bed: a workstation converged by site.yml (molecule scenario `default`, the real LiteLLM
image of the bed, TLS on as deployed), then, from inside that workstation, tests/bench/gateway_load.py sends
- for 10 s one request at a time (p50, p95),
- for 10 s sixteen at a time (requests/s),
- five long streamed answers (2,000 tokens from the Ollama double, one chunk each; chunks/s),
to the gateway (https://127.0.0.1:4444, verified against the lab CA, master key) and to Ollama
(http://127.0.0.1:11434/api/chat, what LiteLLM calls). Prints issue 15's goals beside the ratios, the host's
load and the LiteLLM container's CPU and memory, and writes bench-results/gateway.json. It measures and
asserts nothing. Run with `make bench`.

LLMSTACK_BENCH_SCENARIO names another scenario; LLMSTACK_BENCH_REUSE=1 measures a workstation that is already
converged and leaves it running (to compare settings by hand).
"""

import json
import os
import subprocess
from pathlib import Path

from common import BENCH, molecule, write_results

SCENARIO = os.environ.get("LLMSTACK_BENCH_SCENARIO", "default")
REUSE = os.environ.get("LLMSTACK_BENCH_REUSE") == "1"
WORKSTATION = f"llmstack-{SCENARIO}"
STACK = "/opt/litellm-stack"
MODEL = "tinyllama"
SECONDS, WARMUP, STREAMS, ANSWER_TOKENS = 10, 2, 5, 2000
GOALS = {
    "added_p50_ms": ("added latency at concurrency 1, p50", "<= 10 ms"),
    "c16_ratio": ("requests/s at concurrency 16, gateway / direct", ">= 0.25x"),
    "stream_ratio": ("streamed chunks/s, gateway / direct", ">= 0.5x"),
}


def in_workstation(*argv, stdin=None):
    return subprocess.run(
        ["docker", "exec", "-i", WORKSTATION, *argv], input=stdin, capture_output=True, text=True, check=True
    ).stdout


def master_key():
    env = in_workstation("cat", f"{STACK}/.env")
    line = next(line for line in env.splitlines() if line.startswith("LITELLM_MASTER_KEY="))
    return line.split("=", 1)[1].strip("'\"")


def load(*args):
    script = (BENCH / "gateway_load.py").read_text()
    return json.loads(in_workstation("python3", "-", *args, stdin=script))


def litellm_container():
    names = in_workstation(
        "docker", "ps", "--filter", "label=com.docker.compose.service=litellm", "--format", "{{.Names}}"
    )
    return names.split()[0]


def litellm_facts():
    """The LiteLLM container's command line (its worker count), processes, CPU and memory after the load."""
    name = litellm_container()
    command = json.loads(in_workstation("docker", "inspect", "--format", "{{json .Config.Cmd}}", name))
    stats = in_workstation("docker", "stats", "--no-stream", "--format", "{{.CPUPerc}} {{.MemUsage}}", name).strip()
    processes = in_workstation("docker", "top", name, "-o", "pid,rss,args").strip().splitlines()[1:]
    return {"command": command, "stats": stats, "processes": len(processes)}


def litellm_cpu_seconds():
    """CPU time the LiteLLM container's processes have used, all workers together (utime + stime in /proc,
    which reads the same under cgroup v1 and v2)."""
    pids = in_workstation("docker", "top", litellm_container(), "-o", "pid").split()[1:]
    ticks = 0
    for pid in pids:
        fields = in_workstation("cat", f"/proc/{pid}/stat").rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)
    return ticks / os.sysconf("SC_CLK_TCK")


def double_config(**settings):
    """Steer the Ollama double (its /_double/config control API) from inside the workstation."""
    code = (
        "import json, sys, urllib.request; "
        "r = urllib.request.Request('http://127.0.0.1:11434/_double/config', data=sys.argv[1].encode(), "
        "headers={'Content-Type': 'application/json'}, method='POST'); urllib.request.urlopen(r, timeout=10)"
    )
    in_workstation("python3", "-c", code, json.dumps(settings))


def host_load():
    return Path("/proc/loadavg").read_text().split()[:3]


def main():
    if not REUSE:
        molecule("destroy", SCENARIO)
    try:
        if not REUSE:
            molecule("create", SCENARIO)
            molecule("prepare", SCENARIO)
            molecule("converge", SCENARIO)
        gateway = {
            "name": "gateway",
            "api": "openai",
            "host": "127.0.0.1",
            "port": 4444,
            "cafile": f"{STACK}/tls/ca.crt",
            "key": master_key(),
        }
        direct = {"name": "direct", "api": "ollama", "host": "127.0.0.1", "port": 11434}
        spec = {"targets": [direct, gateway], "model": MODEL, "seconds": SECONDS, "warmup": WARMUP}
        load_before = host_load()
        requests = load(json.dumps({**spec, "targets": [direct]}))
        # LiteLLM's own CPU time per request does not depend on what else the host runs, unlike the rates.
        cpu_before = litellm_cpu_seconds()
        requests.update(load(json.dumps({**spec, "targets": [gateway]})))
        cpu_seconds = litellm_cpu_seconds() - cpu_before
        double_config(answer_tokens=ANSWER_TOKENS)
        stream_results = load("streams", json.dumps({**spec, "streams": STREAMS}))
        load_after = host_load()
        litellm = litellm_facts()
    finally:
        if not REUSE:
            molecule("destroy", SCENARIO)
        else:
            double_config(answer_tokens=0)

    d, g = requests["direct"], requests["gateway"]
    results = {
        "direct": {**d, "stream": stream_results["direct"]},
        "gateway": {**g, "stream": stream_results["gateway"]},
        "added_p50_ms": round(g["c1"]["p50_ms"] - d["c1"]["p50_ms"], 1),
        "added_p95_ms": round(g["c1"]["p95_ms"] - d["c1"]["p95_ms"], 1),
        "c16_ratio": round(g["c16"]["req_per_s"] / d["c16"]["req_per_s"], 3),
        "stream_ratio": round(stream_results["gateway"]["chunks_per_s"] / stream_results["direct"]["chunks_per_s"], 3),
        "gateway_cpu_ms_per_request": round(
            cpu_seconds * 1000 / (g["c1"]["sent_with_warmup"] + g["c16"]["sent_with_warmup"]), 1
        ),
        "answer_tokens": ANSWER_TOKENS,
        "host_load_before": load_before,
        "host_load_after": load_after,
        "host_cpus": os.cpu_count(),
        "litellm": litellm,
    }
    write_results("gateway", results)

    print(f"\nGateway vs Ollama directly, from inside the workstation (scenario {SCENARIO}, test bed)")
    command, stats = " ".join(litellm["command"]), litellm["stats"]
    print(f"  LiteLLM: {command}; {litellm['processes']} processes; after the load {stats}")
    print(f"  host load average before {' '.join(load_before)}, after {' '.join(load_after)} ({os.cpu_count()} CPUs)")
    print("                                   direct     gateway")
    for level in ("c1", "c16"):
        for key, unit in (("p50_ms", "ms"), ("p95_ms", "ms"), ("req_per_s", "req/s")):
            print(f"  {level:<4} {key:<10} {unit:<6} {d[level][key]:>12} {g[level][key]:>11}")
        if d[level]["errors"] or g[level]["errors"]:
            failed = f"direct {d[level]['errors']}, gateway {g[level]['errors']}"
            print(f"  {level} errors: {failed}: {g[level]['first_error'] or d[level]['first_error']}")
    print(f"  LiteLLM CPU time per request (all its processes)     {results['gateway_cpu_ms_per_request']:>11} ms")
    sd, sg = stream_results["direct"], stream_results["gateway"]
    print(f"  stream of {ANSWER_TOKENS} tokens, chunks/s      {sd['chunks_per_s']:>12} {sg['chunks_per_s']:>11}")
    first_d, first_g = sd["runs"][0]["first_chunk_ms"], sg["runs"][0]["first_chunk_ms"]
    print(f"  stream, first chunk ms            {first_d:>12} {first_g:>11}")
    print("  goal                                                    figure   target")
    for key, (label, target) in GOALS.items():
        unit = " ms" if key == "added_p50_ms" else "x"
        print(f"  {label:<55} {results[key]:>7}{unit:<3} {target}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
