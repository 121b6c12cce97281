"""Bad input stops playbooks/site.yml before anything changes, with a message naming the variable.

Each case runs site.yml on localhost with --check and --tags always: only the read-only steps that run
first (input checks, GPU tier and fleet topology) run, so even a check that failed to stop the run could
not change this machine.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

CASES = [
    # (variable, bad value, words the message must contain)
    ("litellm_stack_litellm_port", 70000, "port number from 1 to 65535"),
    ("litellm_stack_litellm_port", "four-thousand", "litellm_stack_litellm_port"),
    ("litellm_stack_ollama_port", 0, "port number from 1 to 65535"),
    ("litellm_stack_litellm_bind_address", "gateway.lab", "must be an IP address"),
    ("litellm_stack_ollama_bind_address", "localhost", "must be an IP address"),
    ("litellm_stack_master_key", "4444", 'must start with "sk-"'),
    ("litellm_stack_master_key", "sk-has'a-quote-0123456789abcdefghijk", "may contain quotes"),
    ("litellm_stack_models", "tinyllama", "litellm_stack_models"),
    (
        "litellm_stack_models",
        [{"name": "t", "ollama": "tinyllama", "mode": "vision"}],
        "value of mode must be one of: chat, embedding",
    ),
    (
        "litellm_stack_models",
        [{"name": "t", "ollama": "a"}, {"name": "t", "ollama": "b", "mode": "chat"}],
        "litellm_stack_models",
    ),
    ("litellm_stack_providers", [{"name": "gemini", "models": []}], "api_key_env"),
    ("litellm_stack_providers", [{"name": "gemini", "api_key_env": "gemini key", "models": []}], "api_key_env"),
    ("litellm_stack_router_settings", {"num_retires": 3}, "num_retires"),
    ("litellm_stack_litellm_settings", {"drop_param": True}, "drop_param"),
    ("litellm_stack_general_settings", {"log_payload": True}, "log_payload"),
    ("litellm_stack_pull_policy", "sometimes", "litellm_stack_pull_policy"),
    ("litellm_stack_dir", "opt/litellm-stack", "absolute path"),
    ("litellm_stack_wait_timeout", "soon", "litellm_stack_wait_timeout"),
    ("ollama_models_extra", "llama3.2", "ollama_models_extra"),
    ("llmstack_gpu_tier", "gpu_mega", "llmstack_gpu_tier"),
    ("llmstack_gpu_tiers", [{"name": "cpu", "min_vram_gib": 0}], "llmstack_gpu_tiers"),
    ("llmstack_models_by_tier", {"cpu": "tinyllama"}, "llmstack_models_by_tier"),
    (
        "llmstack_models_by_tier",
        {"cpu": {"largest_that_fit": 1, "models": [{"name": "m", "ollama": "mystery:7b", "mode": "chat"}]}},
        "llmstack_models_by_tier[cpu].models[0] (mystery:7b) is not in the model catalogue",
    ),
    ("gpu_tier_model_catalog", {"m:1b": {"weights_mib": "1 GB"}}, "gpu_tier_model_catalog[m:1b] needs weights_mib"),
    ("gpu_tier_model_catalog", ["m:1b"], "gpu_tier_model_catalog"),
    ("gpu_tier_fit_check", "shout", "gpu_tier_fit_check"),
    ("gpu_tier_fit_reserve_mib", "lots", "gpu_tier_fit_reserve_mib"),
    ("llmstack_fleet_address", "gpu-box-01", "llmstack_fleet_address"),
    ("docker_engine_source", "podman", "docker_engine_source"),
    ("litellm_stack_fleet_firewall", "maybe", "litellm_stack_fleet_firewall"),
    # Images: pinned by a version tag, at or above the floor in roles/litellm_stack/vars/image_floors.yml.
    ("litellm_stack_ollama_image", "ollama/ollama:latest", "uses the tag latest, which moves"),
    ("litellm_stack_postgres_image", "postgres", "has no tag"),
    (
        "litellm_stack_litellm_image",
        "ghcr.io/berriai/litellm:v1.83.0",
        "is LiteLLM 1.83.0, below its floor 1.84.0 (CVE-",
    ),
    ("litellm_stack_litellm_image", "ghcr.io/berriai/litellm:v1.82.8", "MAL-2026-2144"),
    ("litellm_stack_postgres_image", "postgres:14", "no security fixes"),
    ("nvidia_container_toolkit_smoke_test_image", "nvidia/cuda:latest", "uses the tag latest"),
    ("litellm_stack_worker_proxy_image", "nginx:1.30.0", "is nginx 1.30.0, below its floor 1.30.2 (CVE-"),
    ("litellm_stack_worker_proxy_image", "nginx", "has no tag"),
    ("litellm_stack_worker_proxy", "sometimes", "litellm_stack_worker_proxy"),
    ("litellm_stack_image_floor_exceptions", {"litellm_stack_ollama_image": ""}, "must be the reason"),
    # Ollama has no authentication: a standalone host does not publish it beyond loopback without a reason.
    ("litellm_stack_ollama_bind_address", "0.0.0.0", "no authentication, and Docker publishes its port past ufw"),
    # LiteLLM's workers: each opens a pool of database connections (LiteLLM's default 10), which must fit in
    # PostgreSQL's max_connections less its 3 reserved ones.
    ("litellm_stack_litellm_workers", 12, "LiteLLM would open up to 120 connections to PostgreSQL"),
    ("litellm_stack_litellm_workers", 0, "1 or more"),
    ("litellm_stack_litellm_worker_start_timeout", 0, "whole number of seconds, 1 or more"),
    ("litellm_stack_postgres_max_connections", 3, "above 3"),
    # TLS: no plain HTTP beyond loopback; the inventory's certificate comes with its key.
    ("litellm_stack_tls", False, "plain HTTP there would carry the master key"),
    (
        "litellm_stack_tls_certificate",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "litellm_stack_tls_private_key is empty",
    ),
]

# Inputs that pass the same checks: each host runs to the end of the checks (and of the --tags always run).
ACCEPTED = {
    "below-floor-with-reason": {
        "litellm_stack_ollama_image": "ollama/ollama:0.12.0",
        "litellm_stack_image_floor_exceptions": {"litellm_stack_ollama_image": "lab reproduction, host offline"},
    },
    "exposed-ollama-with-reason": {
        "litellm_stack_ollama_bind_address": "0.0.0.0",
        "litellm_stack_ollama_exposure_reason": "isolated lab VLAN, only the gateway reaches it",
    },
    "digest-pinned": {
        "litellm_stack_postgres_image": "postgres:17.11@sha256:" + "0123456789abcdef" * 4,
        "litellm_stack_ollama_bind_address": "::1",
    },
    "plain-http-on-loopback": {
        "litellm_stack_tls": False,
        "litellm_stack_litellm_bind_address": "127.0.0.1",
    },
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Run site.yml once over one local host per case; return each host's first failure."""
    tmp = tmp_path_factory.mktemp("bad-input")
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    hosts = {f"case{number:02d}": {**local, variable: value} for number, (variable, value, _words) in enumerate(CASES)}
    hosts.update({name: {**local, **values} for name, values in ACCEPTED.items()})
    inventory = tmp / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}))
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORKS="30",
    )
    run = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(inventory),
            "--check",
            "--tags",
            "always",
            str(REPO / "playbooks" / "site.yml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        check=False,
    )
    data = json.loads(run.stdout[run.stdout.index("{") :])
    first_failure = {}
    for play in data["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                if result.get("failed") and host not in first_failure:
                    items = [r for r in result.get("results", []) if r.get("failed")]
                    message = " ".join(r.get("msg", "") for r in items) if items else result.get("msg", "")
                    first_failure[host] = (task["task"]["name"], message)
    passed = {}
    for play in data["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                if not result.get("failed") and not result.get("skipped"):
                    passed.setdefault(host, {})[task["task"]["name"].split(" : ")[-1]] = str(result.get("msg", ""))
    return run.returncode, data["stats"], first_failure, passed


@pytest.mark.parametrize(
    ("number", "variable", "value", "words"),
    [(n, *c) for n, c in enumerate(CASES)],
    ids=[f"{c[0]}={c[1]!r}"[:60] for c in CASES],
)
def test_bad_input_stops_before_anything_changes(outcomes, number, variable, value, words):
    returncode, stats, first_failure, _messages = outcomes
    host = f"case{number:02d}"
    assert returncode != 0
    assert host in first_failure, f"{variable}={value!r} was accepted"
    task_name, message = first_failure[host]
    # It failed in one of the checks that run before any role changes the host, naming the variable: the input
    # checks, or the argument spec of gpu_tier, the role that runs first and changes nothing.
    assert task_name.split(" : ")[-1].startswith(("Check", "Fail early", "Fail when")) or task_name.startswith(
        "llmstack.gateway.gpu_tier : Validating arguments against arg spec"
    ), task_name
    assert variable in message, message
    assert words in message, message
    assert stats[host]["changed"] == 0


# The checks these inputs must pass (the run may stop later, at a check of this machine's own Docker packages).
ACCEPTING_CHECKS = [
    "Check the stack's settings (ports, addresses and Ollama's exposure, paths, secrets, models, LiteLLM settings, "
    "images, TLS, hardening, sizing)",
    "Check that the smoke test's image is pinned by a version tag",
]


@pytest.mark.parametrize("host", list(ACCEPTED))
def test_reasons_and_digests_pass_the_checks(outcomes, host):
    _returncode, stats, _first_failure, passed = outcomes
    for check in ACCEPTING_CHECKS:
        assert check in passed[host], f"{host} did not pass: {check}"
    assert stats[host]["changed"] == 0


def test_an_image_run_below_its_floor_says_why(outcomes):
    _returncode, _stats, _first_failure, passed = outcomes
    said = passed["below-floor-with-reason"]["Say which images run below their floor, and why"]
    assert "litellm_stack_ollama_image (ollama/ollama:0.12.0) runs below its floor because: lab reproduction" in said
