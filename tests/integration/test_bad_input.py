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
    ("llmstack_fleet_address", "gpu-box-01", "llmstack_fleet_address"),
    ("docker_engine_source", "podman", "docker_engine_source"),
    ("litellm_stack_fleet_firewall", "maybe", "litellm_stack_fleet_firewall"),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Run site.yml once over one local host per case; return each host's first failure."""
    tmp = tmp_path_factory.mktemp("bad-input")
    hosts = {
        f"case{number:02d}": {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            variable: value,
        }
        for number, (variable, value, _words) in enumerate(CASES)
    }
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
    return run.returncode, data["stats"], first_failure


@pytest.mark.parametrize(
    ("number", "variable", "value", "words"),
    [(n, *c) for n, c in enumerate(CASES)],
    ids=[f"{c[0]}={c[1]!r}"[:60] for c in CASES],
)
def test_bad_input_stops_before_anything_changes(outcomes, number, variable, value, words):
    returncode, stats, first_failure = outcomes
    host = f"case{number:02d}"
    assert returncode != 0
    assert host in first_failure, f"{variable}={value!r} was accepted"
    task_name, message = first_failure[host]
    # It failed in one of the checks that run before any role changes the host, naming the variable.
    assert task_name.split(" : ")[-1].startswith(("Check", "Fail early", "Fail when")), task_name
    assert variable in message, message
    assert words in message, message
    assert stats[host]["changed"] == 0
