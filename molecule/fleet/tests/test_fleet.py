"""The rolled-out fleet: one gateway load-balancing over two workers, workers guarded by their
TLS proxy (the fleet's token) and their firewall, a fleet report on the controller, and a failing canary
that stops a rollout."""

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
    """Call a worker's Ollama double control API from the worker itself (Ollama on its loopback)."""
    code = (
        "import urllib.request; "
        f"r = urllib.request.Request('http://127.0.0.1:11434/_double/{path}', method='{method}'); "
        "print(urllib.request.urlopen(r, timeout=10).read().decode() or '{}')"
    )
    return json.loads(python_in(worker, code).stdout)


def ollama_tags(worker):
    code = (
        "import urllib.request; "
        "print(urllib.request.urlopen('http://127.0.0.1:11434/api/tags', timeout=10).read().decode())"
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
    tinyllama = [m["litellm_params"] for m in config["model_list"] if m["model_name"] == "tinyllama"]
    assert sorted(p["api_base"] for p in tinyllama) == sorted(f"https://{address(w)}:11434" for w in WORKERS)
    # The token is a reference to the gateway's .env, never the token itself.
    assert {p["api_key"] for p in tinyllama} == {"os.environ/LLMSTACK_FLEET_TOKEN"}
    modes = {m["model_name"]: m["model_info"]["mode"] for m in config["model_list"]}
    assert modes == {"tinyllama": "chat", "nomic-embed-text": "embedding"}


def test_gateway_runs_litellm_and_db_but_no_ollama(host):
    services = host.check_output(f"docker compose --project-directory {STACK} ps --services").split()
    assert sorted(services) == ["db", "litellm"]


def test_workers_publish_only_their_proxy_on_the_lab_address_and_ollama_on_loopback():
    for worker in WORKERS:
        services = in_workstation(worker, "docker", "compose", "--project-directory", STACK, "ps", "--services")
        assert sorted(services.stdout.split()) == ["ollama", "ollama-proxy"]
        ports = in_workstation(worker, "docker", "compose", "--project-directory", STACK, "port", "ollama", "11434")
        assert ports.stdout.strip() == "127.0.0.1:11434"
        proxy = in_workstation(
            worker, "docker", "compose", "--project-directory", STACK, "port", "ollama-proxy", "11434"
        )
        assert proxy.stdout.strip() == f"{address(worker)}:11434"


def proxy_request(source, worker, token=None, trust_lab_ca=True, scheme="https"):
    """GET /api/tags on a worker's lab address from another workstation: the HTTP status, or the error's name."""
    code = (
        "import ssl, sys, urllib.error, urllib.request\n"
        f"ctx = ssl.create_default_context(cafile={(STACK + '/tls/ca.crt' if trust_lab_ca else None)!r})\n"
        f"headers = {{'Authorization': 'Bearer ' + {token!r}}} if {token!r} else {{}}\n"
        f"r = urllib.request.Request('{scheme}://{address(worker)}:11434/api/tags', headers=headers)\n"
        "try:\n"
        "    print(urllib.request.urlopen(r, timeout=10, context=ctx).status)\n"
        "except urllib.error.HTTPError as exc:\n"
        "    print(exc.code)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, getattr(exc, 'reason', ''))\n"
    )
    return python_in(source, code).stdout.strip()


def test_a_workers_ollama_refuses_a_gateway_without_the_fleet_token(host):
    token = host.check_output(f"sed -n 's/^LLMSTACK_FLEET_TOKEN=//p' {STACK}/.env").strip("'")
    assert len(token) >= 32
    for worker in WORKERS:
        # From the gateway, an address the worker firewall lets through: the token is what decides.
        assert proxy_request(GATEWAY, worker, token=token) == "200"
        assert proxy_request(GATEWAY, worker) == "401"
        assert proxy_request(GATEWAY, worker, token=token[:-1] + ("x" if token[-1] != "x" else "y")) == "401"
        # The same token with its letters' case changed is another token (nginx matches a map's string keys
        # ignoring case: the proxy compares with a case-sensitive regex).
        assert proxy_request(GATEWAY, worker, token=token.swapcase()) == "401"
        # nginx answers plain HTTP on its TLS port with a 400 of its own: Ollama is never reached.
        assert proxy_request(GATEWAY, worker, token=token, scheme="http") == "400"
        # A client that does not trust the lab CA does not get that far.
        assert "CERTIFICATE_VERIFY_FAILED" in proxy_request(GATEWAY, worker, token=token, trust_lab_ca=False)


def test_a_scan_of_a_worker_from_the_gateway_finds_only_its_tls_proxy():
    # From the gateway, which the worker firewall lets through: whatever the worker publishes on its lab address
    # shows up here. Plain HTTP on 11434 gets nginx's own 400 (test above), so the one open port speaks TLS only.
    scanner = (REPO / "molecule" / "shared" / "port_scan.py").read_text()
    for worker in WORKERS:
        # The scanner goes in on stdin: the workstation's /tmp is a tmpfs, which `docker cp` cannot write to.
        scan = subprocess.run(
            ["docker", "exec", "-i", GATEWAY, "python3", "-", address(worker)],
            input=scanner, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert json.loads(scan.stdout) == [11434]


def test_the_workers_proxy_runs_hardened_as_the_stack_promises():
    for worker in WORKERS:
        ids = in_workstation(worker, "docker", "compose", "--project-directory", STACK, "ps", "-q", "ollama-proxy")
        (container,) = json.loads(in_workstation(worker, "docker", "inspect", ids.stdout.strip()).stdout)
        config = container["HostConfig"]
        assert "no-new-privileges:true" in config["SecurityOpt"]
        assert config["CapDrop"] == ["ALL"]
        assert sorted(cap.removeprefix("CAP_") for cap in config["CapAdd"]) == ["CHOWN", "SETGID", "SETUID"]
        assert config["ReadonlyRootfs"] is True
        assert set(config["Tmpfs"]) == {"/tmp"}
        assert config["Memory"] == 256 * 1024 * 1024
        assert config["LogConfig"]["Config"] == {"max-size": "10m", "max-file": "3"}
        # The master stays root to read the key; the processes that speak to clients run as nginx's user.
        listing = in_workstation(
            worker, "docker", "compose", "--project-directory", STACK, "exec", "-T", "ollama-proxy",
            "sh", "-c", "for p in /proc/[0-9]*; do echo ${p#/proc/} $(cat $p/comm) $(stat -c %u $p); done",
        )  # fmt: skip
        nginx = {int(pid): uid for pid, name, uid in map(str.split, listing.stdout.splitlines()) if name == "nginx"}
        assert nginx.pop(1) == "0", nginx
        assert nginx and len(set(nginx.values())) == 1 and "0" not in nginx.values(), nginx


def test_the_fleet_token_is_readable_by_root_only():
    for worker in WORKERS:
        modes = in_workstation(
            worker, "stat", "-c", "%a %U", f"{STACK}/proxy/nginx.conf", f"{STACK}/tls/ollama-proxy.key"
        )
        assert modes.stdout.split("\n")[:2] == ["600 root", "600 root"]
    token_file = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory" / ".llmstack-ca" / "fleet-token"
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"


def test_embeddings_reach_a_worker_through_its_proxy(master_key):
    for worker in WORKERS:
        double(worker, "DELETE", "counters")
    request = urllib.request.Request(
        f"https://{address(GATEWAY)}:4444/v1/embeddings",
        data=json.dumps({"model": "nomic-embed-text", "input": ["lab network"]}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {master_key}"},
    )
    with urllib.request.urlopen(request, timeout=120, context=tls_context()) as response:
        body = json.load(response)
    assert len(body["data"][0]["embedding"]) == 768
    served = [double(worker, "GET", "counters") for worker in WORKERS]
    assert sum(c.get("embed_requests", 0) for c in served) >= 1, served


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


def wait_for_tinyllama_health(key, healthy, unhealthy, seconds=90):
    """Until the gateway's background health checks see tinyllama healthy on one worker, unhealthy on the other.

    Each of LiteLLM's worker processes runs its own checks and answers /health from its own results, so the state
    must be seen in several answers in a row (whichever process gives each)."""
    want = (f"https://{address(healthy)}:11434", f"https://{address(unhealthy)}:11434")
    seen, in_a_row = None, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            f"https://{address(GATEWAY)}:4444/health?model=tinyllama", headers={"Authorization": f"Bearer {key}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60, context=tls_context()) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        seen = tuple(
            sorted(e.get("api_base") for e in body.get(k) or []) for k in ("healthy_endpoints", "unhealthy_endpoints")
        )
        in_a_row = in_a_row + 1 if seen == ([want[0]], [want[1]]) else 0
        if in_a_row == 5:
            return
        time.sleep(1)
    raise AssertionError(f"the gateway's health checks never saw {want}: last seen {seen}")


def test_requests_still_succeed_with_one_workers_ollama_stopped(master_key):
    stopped = WORKERS[0]
    in_workstation(stopped, "docker", "compose", "--project-directory", STACK, "stop", "ollama")
    try:
        # The gateway's background health checks (every 5 s here) find the stopped worker (its proxy answers
        # 502); until they have, a request whose retries all land on it can fail. GET /health returns those
        # checks' latest results when they run in the background.
        wait_for_tinyllama_health(master_key, healthy=WORKERS[1], unhealthy=stopped)
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
        "r = urllib.request.Request('http://127.0.0.1:11434/_double/fault/api', "
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
                # The canary's run writes the proxy's config and probes through it with the token: verbosely.
                "-vvv",
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
            "'http://127.0.0.1:11434/_double/fault', method='DELETE'), timeout=10)",
        )
    assert run.returncode != 0
    assert "The rollout stopped after a batch failed (llmstack-fleet-w1)" in run.stdout
    output = run.stdout + run.stderr
    token = in_workstation(
        GATEWAY, "sed", "-n", "s/^LLMSTACK_FLEET_TOKEN='\\(.*\\)'$/\\1/p", f"{STACK}/.env"
    ).stdout.strip()
    assert len(token) >= 32 and token not in output, "the fleet token appeared in the -vvv output"
    key = in_workstation(canary, "cat", f"{STACK}/tls/ollama-proxy.key").stdout.splitlines()
    assert not [line for line in key if "-----" not in line and line in output], (
        "the proxy's key appeared in the output"
    )
    # The next batch was never rolled: the second worker did not get the extra model.
    models = {m["name"] for m in ollama_tags(untouched)["models"]}
    assert "tinyllama:latest" in models
    assert "qwen2.5:0.5b" not in models
    report = (tmp_path / "fleet-report.md").read_text()
    canary_row = next(line for line in report.splitlines() if line.startswith(f"| {canary} "))
    assert "failed" in canary_row
    untouched_row = next(line for line in report.splitlines() if line.startswith(f"| {untouched} "))
    assert "rollout stopped" in untouched_row
