"""The rolled-out fleet: one gateway load-balancing over two workers, workers guarded by their
firewall, a fleet report on the controller, and a failing canary that stops a rollout."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from gateway_client import container_address as address
from gateway_client import read_master_key, tls_context

testinfra_hosts = ["llmstack-fleet-gw"]

GATEWAY, WORKERS = "llmstack-fleet-gw", ["llmstack-fleet-w1", "llmstack-fleet-w2"]
STACK = "/opt/litellm-stack"
REPO = Path(__file__).resolve().parents[3]


def in_workstation(name, *argv, check=True):
    return subprocess.run(["docker", "exec", name, *argv], capture_output=True, text=True, check=check)


def python_in(name, code, check=True):
    return in_workstation(name, "python3", "-c", code, check=check)


def double(worker, method, path):
    """Call a worker's Ollama double control API from the worker itself (its own address is allowed)."""
    code = (
        "import urllib.request; "
        f"r = urllib.request.Request('http://{address(worker)}:11434/_double/{path}', method='{method}'); "
        "print(urllib.request.urlopen(r, timeout=10).read().decode() or '{}')"
    )
    return json.loads(python_in(worker, code).stdout)


def ollama_tags(worker):
    code = (
        "import urllib.request; "
        f"print(urllib.request.urlopen('http://{address(worker)}:11434/api/tags', timeout=10).read().decode())"
    )
    return json.loads(python_in(worker, code).stdout)


def can_connect(source, target, port=11434):
    code = (
        "import socket, sys; s = socket.socket(); s.settimeout(3); "
        f"sys.exit(0 if s.connect_ex(('{target}', {port})) == 0 else 1)"
    )
    return python_in(source, code, check=False).returncode == 0


@pytest.fixture(scope="module")
def master_key(host):
    return read_master_key(host, STACK)


def chat(key, prompt="Say hello"):
    request = urllib.request.Request(
        f"https://{address(GATEWAY)}:4444/v1/chat/completions",
        data=json.dumps(
            {"model": "tinyllama", "messages": [{"role": "user", "content": prompt}], "max_tokens": 5}
        ).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120, context=tls_context()) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_gateway_has_one_deployment_per_worker_for_the_shared_model(host):
    config = yaml.safe_load(host.file(f"{STACK}/litellm_settings.yml").content_string)
    bases = sorted(m["litellm_params"]["api_base"] for m in config["model_list"] if m["model_name"] == "tinyllama")
    assert bases == sorted(f"http://{address(w)}:11434" for w in WORKERS)
    assert all(m["model_info"]["mode"] == "chat" for m in config["model_list"])


def test_gateway_runs_litellm_and_db_but_no_ollama(host):
    services = host.check_output(f"docker compose --project-directory {STACK} ps --services").split()
    assert sorted(services) == ["db", "litellm"]


def test_workers_run_only_ollama_published_on_their_lab_address():
    for worker in WORKERS:
        services = in_workstation(worker, "docker", "compose", "--project-directory", STACK, "ps", "--services")
        assert services.stdout.split() == ["ollama"]
        ports = in_workstation(worker, "docker", "compose", "--project-directory", STACK, "port", "ollama", "11434")
        assert ports.stdout.strip() == f"{address(worker)}:11434"


def test_twenty_requests_are_served_by_both_workers(master_key):
    for worker in WORKERS:
        double(worker, "DELETE", "counters")
    statuses = [chat(master_key, f"request {n}") for n in range(20)]
    assert statuses == [200] * 20
    served = {worker: double(worker, "GET", "counters")["chat_requests"] for worker in WORKERS}
    assert sum(served.values()) >= 20
    assert all(count > 0 for count in served.values()), served


def test_worker_ollama_is_reachable_from_the_gateway_only():
    w1, w2 = (address(w) for w in WORKERS)
    assert can_connect(GATEWAY, w1)
    assert can_connect(GATEWAY, w2)
    assert not can_connect(WORKERS[1], w1)
    assert not can_connect(WORKERS[0], w2)


def test_firewall_survives_a_docker_restart():
    worker = WORKERS[1]
    in_workstation(worker, "systemctl", "restart", "docker")
    in_workstation(worker, "systemctl", "is-active", "--wait", "llmstack-ollama-firewall.service", check=False)
    rules = in_workstation(worker, "iptables", "-w", "-S", "DOCKER-USER").stdout
    assert "LLMSTACK-OLLAMA" in rules
    assert not can_connect(WORKERS[0], address(worker))


def test_requests_still_succeed_with_one_workers_ollama_stopped(master_key):
    stopped = WORKERS[0]
    in_workstation(stopped, "docker", "compose", "--project-directory", STACK, "stop", "ollama")
    try:
        # The gateway's background health checks (every 5 s here) find the stopped worker; until then
        # a request whose retries all land on it can fail (LiteLLM never cools a deployment down for a
        # connection error).
        time.sleep(15)
        statuses = [chat(master_key, f"failover {n}") for n in range(10)]
        assert statuses == [200] * 10
    finally:
        in_workstation(stopped, "docker", "compose", "--project-directory", STACK, "start", "ollama")


def test_fleet_report_lists_every_host_with_its_tier_and_role():
    report_dir = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "reports"
    markdown = (report_dir / "fleet-report.md").read_text()
    html = (report_dir / "fleet-report.html").read_text()
    rows = [line for line in markdown.splitlines() if line.startswith("| llmstack-fleet-")]
    assert len(rows) == 3
    by_host = {row.split("|")[1].strip(): [cell.strip() for cell in row.split("|")[1:-1]] for row in rows}
    assert by_host[GATEWAY][1:3] == ["gateway", "cpu"]
    for worker in WORKERS:
        assert by_host[worker][1:3] == ["worker", "cpu"]
        assert "tinyllama:latest" in by_host[worker][5]
        assert by_host[worker][6] == "healthy"
    assert by_host[GATEWAY][6] == "healthy"
    assert html.count("llmstack-fleet-") >= 3


def test_a_failing_canary_stops_the_rollout_before_the_next_batch(tmp_path):
    canary, untouched = WORKERS
    code = (
        "import json, urllib.request; "
        f"r = urllib.request.Request('http://{address(canary)}:11434/_double/fault/api', "
        "data=json.dumps({'mode': '500', 'message': 'simulated worker failure'}).encode(), method='POST', "
        "headers={'Content-Type': 'application/json'}); urllib.request.urlopen(r, timeout=10)"
    )
    python_in(canary, code)
    try:
        run = subprocess.run(
            [
                "ansible-playbook",
                "-i",
                os.environ["MOLECULE_INVENTORY_FILE"],
                str(REPO / "playbooks" / "rollout.yml"),
                "-e",
                json.dumps({"ollama_models_extra": ["qwen2.5:0.5b"], "fleet_report_dir": str(tmp_path)}),
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
        )
    finally:
        python_in(
            canary,
            "import urllib.request; urllib.request.urlopen(urllib.request.Request("
            f"'http://{address(canary)}:11434/_double/fault', method='DELETE'), timeout=10)",
        )
    assert run.returncode != 0
    assert "The rollout stopped after a batch failed (llmstack-fleet-w1)" in run.stdout
    # The next batch was never rolled: the second worker did not get the extra model.
    models = {m["name"] for m in ollama_tags(untouched)["models"]}
    assert "tinyllama:latest" in models
    assert "qwen2.5:0.5b" not in models
    report = (tmp_path / "fleet-report.md").read_text()
    canary_row = next(line for line in report.splitlines() if line.startswith(f"| {canary} "))
    assert "failed" in canary_row
    untouched_row = next(line for line in report.splitlines() if line.startswith(f"| {untouched} "))
    assert "rollout stopped" in untouched_row
