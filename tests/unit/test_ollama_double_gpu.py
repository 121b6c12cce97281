"""The Ollama double finds its GPU as the container sees it (tests/ollama_double/gpu.py).

With no --gpu and no OLLAMA_DOUBLE_GPU, `ollama serve` asks nvidia-smi: the simulated RTX 4090 (recorded
answers) puts models in VRAM; no nvidia-smi means Ollama's silent CPU fallback.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from ollama_double import gpu  # noqa: E402
from ollama_double.testing import free_port  # noqa: E402

RECORDINGS = Path(__file__).resolve().parent / "fixtures" / "nvidia-smi"


@pytest.fixture
def simulated_rtx4090_on_path(simulated_nvidia_smi, monkeypatch):
    simulated_nvidia_smi("rtx4090")
    monkeypatch.delenv("OLLAMA_DOUBLE_GPU", raising=False)


def test_discover_reads_the_simulated_rtx4090(simulated_rtx4090_on_path):
    (card,) = gpu.discover()
    assert (card.name, card.total_mib, card.free_mib) == ("NVIDIA GeForce RTX 4090", 24564, 24087)
    assert card.uuid.startswith("GPU-")
    assert "library=cuda" in card.log_line() and 'total="24.0 GiB"' in card.log_line()


def test_discover_finds_nothing_without_nvidia_smi(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu.discover() == []


@pytest.mark.parametrize("case", ["no-driver", "nvml-mismatch"])
def test_discover_finds_nothing_when_nvidia_smi_fails(simulated_rtx4090_on_path, monkeypatch, case):
    monkeypatch.setenv("SIMULATED_NVIDIA_SMI_CASE", str(RECORDINGS / case))
    assert gpu.discover() == []


def serve_and_load(tmp_path):
    """Start `ollama serve` (the double, environment as given), load tinyllama, return (state, /api/ps model)."""
    port = free_port()
    env = {**os.environ, "OLLAMA_HOST": f"127.0.0.1:{port}", "PYTHONPATH": str(TESTS)}
    command = [sys.executable, "-m", "ollama_double", "serve", "--models-dir", str(tmp_path / "models"), "--quiet"]
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) as process:
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{url}/api/version", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)

            def call(path, body=None):
                data = None if body is None else json.dumps(body).encode()
                with urllib.request.urlopen(urllib.request.Request(url + path, data=data), timeout=10) as answer:
                    return json.loads(answer.read() or b"{}")

            call("/_double/install", {"model": "tinyllama"})
            call("/api/generate", {"model": "tinyllama"})
            return call("/_double/state"), call("/api/ps")["models"][0]
        finally:
            process.terminate()


def test_serve_with_the_simulated_card_puts_models_in_vram(simulated_rtx4090_on_path, tmp_path):
    state, loaded = serve_and_load(tmp_path)
    assert state["gpu"] == 1.0
    assert [card["name"] for card in state["gpus"]] == ["NVIDIA GeForce RTX 4090"]
    assert loaded["size_vram"] == loaded["size"] > 0


def test_serve_without_nvidia_smi_falls_back_to_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("OLLAMA_DOUBLE_GPU", raising=False)
    state, loaded = serve_and_load(tmp_path)
    assert state["gpu"] == 0.0 and state["gpus"] == []
    assert loaded["size_vram"] == 0 < loaded["size"]
