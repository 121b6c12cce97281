"""site.yml with every default on a workstation with a SIMULATED RTX 4090: Docker from Docker's repository,
the NVIDIA runtime, a GPU reservation that dockerd hands to the (stand-in) toolkit hook, Ollama on the
simulated card, and the three gpu_high models answering through the gateway."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from gateway_client import call, read_master_key, workstation_address

STACK = "/opt/litellm-stack"
COMPOSE = f"docker compose --project-directory {STACK}"
HOOK_LOG = "/var/log/stand-in-nvidia-container-runtime-hook.log"
OLLAMA = "http://127.0.0.1:11434"
GPU_HIGH_MODELS = {"tinyllama": "chat", "gpt-oss-20b": "chat", "bge-m3": "embedding"}


@pytest.fixture(scope="module")
def gateway(host):
    return f"https://{workstation_address(host)}:4444"


@pytest.fixture(scope="module")
def master_key(host):
    return read_master_key(host, STACK)


def ollama(host, path):
    """GET Ollama's API where the stack publishes it: loopback inside the workstation."""
    script = f"import urllib.request; print(urllib.request.urlopen('{OLLAMA}{path}', timeout=30).read().decode())"
    return json.loads(host.check_output(f'python3 -c "{script}"'))


def ollama_container(host):
    return host.check_output(f"{COMPOSE} ps --quiet --no-trunc ollama")


def test_docker_came_from_dockers_repository_and_compose_works(host):
    assert host.package("docker-ce").is_installed
    assert host.package("docker-compose-plugin").is_installed
    assert not host.package("docker.io").is_installed
    assert host.run("docker compose version").rc == 0


def test_nvidia_runtime_merged_into_daemon_json_on_the_simulated_gpu_host(host):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon["runtimes"]["nvidia"] == {"path": "nvidia-container-runtime", "args": []}
    # docker_engine's keys, still there.
    assert daemon["log-driver"] == "json-file"
    assert "nvidia" in json.loads(host.check_output("docker info --format '{{json .Runtimes}}'"))


def test_simulated_rtx4090_puts_the_stack_in_tier_gpu_high(host):
    compose = host.file(f"{STACK}/docker-compose.yml").content_string
    assert "(tier gpu_high)" in compose
    assert "driver: nvidia" in compose


def test_every_service_runs_and_is_healthy(host):
    ps = host.check_output(f"{COMPOSE} ps --all --format json")
    services = [json.loads(line) for line in ps.splitlines() if line.strip()]
    assert {s["Service"] for s in services} == {"ollama", "litellm", "db"}
    for service in services:
        assert (service["State"], service["Health"]) == ("running", "healthy"), service


def test_dockerd_ran_the_toolkit_hook_for_the_ollama_containers_simulated_gpu(host):
    """The GPU reservation went through dockerd's nvidia device driver, which runs the hook as a prestart hook."""
    container = ollama_container(host)
    calls = [json.loads(line) for line in host.file(HOOK_LOG).content_string.splitlines()]
    mine = [call for call in calls if call["id"] == container]
    assert mine, f"no hook call for {container} in {calls}"
    assert {tuple(call["args"]) for call in mine} == {("prestart",)}
    assert mine[-1]["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert "/usr/bin/nvidia-smi" in mine[-1]["given"]


def test_ollama_container_sees_the_simulated_card(host):
    out = host.check_output(f"{COMPOSE} exec -T ollama nvidia-smi")
    assert "NVIDIA GeForce RTX 4090" in out


def test_ollama_double_found_the_simulated_gpu(host):
    state = ollama(host, "/_double/state")
    assert state["gpu"] == 1.0
    assert [card["name"] for card in state["gpus"]] == ["NVIDIA GeForce RTX 4090"]


def test_gateway_lists_the_three_gpu_high_models_simulated(gateway, master_key):
    status, body = call(f"{gateway}/v1/models", key=master_key)
    assert status == 200, body
    assert {model["id"] for model in body["data"]} >= set(GPU_HIGH_MODELS)


@pytest.mark.parametrize("model", [name for name, mode in GPU_HIGH_MODELS.items() if mode == "chat"])
def test_chat_answers_through_the_gateway_simulated_gpu(gateway, master_key, model):
    payload = {"model": model, "messages": [{"role": "user", "content": "ping"}]}
    status, body = call(f"{gateway}/v1/chat/completions", payload, key=master_key)
    assert status == 200, body
    assert body["choices"][0]["message"]["content"]


def test_bge_m3_embeds_through_the_gateway_simulated_gpu(gateway, master_key):
    status, body = call(f"{gateway}/v1/embeddings", {"model": "bge-m3", "input": ["ping", "pong"]}, key=master_key)
    assert status == 200, body
    vectors = [item["embedding"] for item in body["data"]]
    assert len(vectors) == 2
    assert all(len(vector) == 1024 for vector in vectors)


def test_models_answered_from_vram_on_the_simulated_gpu(host, gateway, master_key):
    """After requests to all three, /api/ps shows each in VRAM (size_vram == size), not on the CPU."""
    for model, mode in GPU_HIGH_MODELS.items():
        if mode == "chat":
            payload = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
            call(f"{gateway}/v1/chat/completions", payload, key=master_key)
        else:
            call(f"{gateway}/v1/embeddings", {"model": model, "input": "hi"}, key=master_key)
    loaded = {model["name"]: model for model in ollama(host, "/api/ps")["models"]}
    assert set(loaded) == {"tinyllama:latest", "gpt-oss:20b", "bge-m3:latest"}
    for model in loaded.values():
        assert model["size_vram"] == model["size"] > 0, model
