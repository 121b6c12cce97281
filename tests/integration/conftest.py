"""Integration fixtures: modules run through ansible-playbook on localhost against real services.

- `run_playbook` runs a playbook from tests/integration/targets with the JSON callback and returns
  per-task results.
- `ollama` starts a fresh Ollama API double (tests/ollama_double) on a free loopback port.
- `litellm` starts a REAL LiteLLM proxy (the pinned PyPI release, no database) routing to a double.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TARGETS = Path(__file__).parent / "targets"
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "tests"))

from ollama_double.testing import OllamaDouble  # noqa: E402


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_json(method, url, payload=None, headers=None, timeout=30):
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body.strip() else None


def wait_for(url, seconds, process=None, log=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url} died during start-up:\n{log.read_text() if log else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {seconds} s:\n{log.read_text() if log else ''}")


class PlaybookRun:
    def __init__(self, completed, data):
        self.rc = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.data = data

    def results(self, name):
        """Every result of the task called `name` on localhost, in order."""
        found = []
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                if task["task"]["name"] == name:
                    found.append(task["hosts"]["localhost"])
        if not found:
            raise KeyError(f"no task named {name!r} ran; output:\n{self.stdout[-3000:]}\n{self.stderr[-3000:]}")
        return found

    def result(self, name):
        return self.results(name)[-1]

    @property
    def stats(self):
        return self.data.get("stats", {}).get("localhost", {})


@pytest.fixture
def run_playbook(tmp_path):
    """Run tests/integration/targets/<name>.yml on localhost; return a PlaybookRun."""

    def _run(name, *, extra_vars=None, check=False, diff=False, env=None, expect_rc=0):
        vars_file = tmp_path / f"{name}-vars.json"
        vars_file.write_text(json.dumps(extra_vars or {}))
        argv = [
            str(VENV_BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            f"@{vars_file}",
            str(TARGETS / f"{name}.yml"),
        ]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        run_env = dict(os.environ)
        run_env.update(
            ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
        )
        run_env.update(env or {})
        completed = subprocess.run(argv, capture_output=True, text=True, env=run_env, cwd=REPO, check=False)
        try:
            data = json.loads(completed.stdout[completed.stdout.index("{") :])
        except ValueError:
            data = {}
        run = PlaybookRun(completed, data)
        if expect_rc is not None:
            assert run.rc == expect_rc, f"ansible-playbook exited {run.rc}:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
        return run

    return _run


@pytest.fixture
def ollama(tmp_path):
    """A fresh Ollama API double with small, slow-enough pulls that a test can interrupt one."""
    with OllamaDouble(tmp_path / "ollama-models", pull_delay=0.002, chunk_size=65536) as double:
        double.clear_requests()  # the start-up readiness probe is not the test's traffic
        yield double


class LiteLLM:
    def __init__(self, url, master_key, process, log):
        self.url = url
        self.master_key = master_key
        self.process = process
        self.log = log


def launch_litellm(directory, double_url, port=None):
    """Launch the real LiteLLM proxy (no database) in front of an Ollama double; do not wait for it."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "model_list": [
            {
                "model_name": "tinyllama",
                "litellm_params": {"model": "ollama_chat/tinyllama", "api_base": double_url},
                "model_info": {"mode": "chat"},
            },
            {
                "model_name": "bge-m3",
                "litellm_params": {"model": "ollama/bge-m3", "api_base": double_url},
                "model_info": {"mode": "embedding"},
            },
            {
                # Routed, but its model is never installed in the double: probes of it must fail.
                "model_name": "not-pulled",
                "litellm_params": {"model": "ollama_chat/qwen2.5:0.5b", "api_base": double_url},
                "model_info": {"mode": "chat"},
            },
        ],
        "litellm_settings": {"num_retries": 0, "request_timeout": 30},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }
    config_path = directory / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    return launch_litellm_with(config_path, directory, port)


def launch_litellm_with(config_path, directory, port=None):
    """Launch the real LiteLLM proxy (no database) with this config file and a new master key; do not wait."""
    port = port or free_port()
    master_key = "sk-" + secrets.token_urlsafe(32)
    log = directory / "litellm.log"
    env = dict(os.environ, LITELLM_MASTER_KEY=master_key, LITELLM_LOCAL_MODEL_COST_MAP="True")
    env.pop("DATABASE_URL", None)
    litellm_bin = shutil.which("litellm", path=str(VENV_BIN)) or "litellm"
    with log.open("w") as handle:
        process = subprocess.Popen(
            [litellm_bin, "--config", str(config_path), "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    return LiteLLM(f"http://127.0.0.1:{port}", master_key, process, log)


def start_litellm(directory, double_url, port=None):
    """Start the real LiteLLM proxy and wait until it answers."""
    gateway = launch_litellm(directory, double_url, port)
    wait_for(gateway.url + "/health/liveliness", 120, gateway.process, gateway.log)
    return gateway


@pytest.fixture(scope="session")
def litellm_backend(tmp_path_factory):
    """The Ollama double LiteLLM routes to, with tinyllama and bge-m3 installed."""
    with OllamaDouble(tmp_path_factory.mktemp("litellm-backend")) as double:
        double.install("tinyllama")
        double.install("bge-m3")
        yield double


@pytest.fixture(scope="session")
def litellm(tmp_path_factory, litellm_backend):
    gateway = start_litellm(tmp_path_factory.mktemp("litellm"), litellm_backend.url)
    yield gateway
    gateway.process.terminate()
    gateway.process.wait(timeout=20)
