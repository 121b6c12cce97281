"""The collector (roles/monitoring/files/llmstack_metrics.py) run as a program writes what Prometheus accepts
and what the alert rules read.

Two hosts: `gpu1` with a SIMULATED nvidia-smi replaying two recorded RTX 3060s (card 0 at 95.1 %) and an
Ollama double that runs tinyllama on the CPU although the tier expects a GPU, with llama3.1:8b configured but
not pulled; `w2` without nvidia-smi whose Ollama does not answer. Each output passes Debian's
`promtool check metrics` (image local/prometheus:2.53.3, `make bed`), and both are fed as input series to
`promtool test rules` against the role's rules, which must fire exactly the alerts these states call for.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from ollama_double.testing import OllamaDouble, free_port  # noqa: E402

RULES = REPO / "roles" / "monitoring" / "files"
COLLECTOR = RULES / "llmstack_metrics.py"
SIMULATED = REPO / "tests" / "simulated" / "nvidia-smi"
RECORDINGS = REPO / "tests" / "unit" / "fixtures" / "nvidia-smi"
PROMETHEUS_IMAGE = os.environ.get("LLMSTACK_PROMETHEUS_IMAGE", "local/prometheus:2.53.3")


@pytest.fixture(scope="module", autouse=True)
def image():
    found = subprocess.run(["docker", "image", "inspect", PROMETHEUS_IMAGE], capture_output=True, check=False)
    if found.returncode != 0:
        pytest.fail(f"image {PROMETHEUS_IMAGE} is missing: run `make bed` (tests/bed/build-service-images.sh)")


def collect(tmp_path, host, path_dirs, *args):
    """Run the collector as a program, as the timer would; return its output file's text."""
    output = tmp_path / f"{host}.prom"
    env = {**os.environ, "PATH": os.pathsep.join(str(d) for d in path_dirs)}
    env["SIMULATED_NVIDIA_SMI_CASE"] = str(RECORDINGS / "two-rtx3060")
    result = subprocess.run(
        [sys.executable, str(COLLECTOR), "--output", str(output), *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return output.read_text()


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("collector")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "nvidia-smi").symlink_to(SIMULATED)
    empty = tmp_path / "empty"
    empty.mkdir()
    with OllamaDouble(tmp_path / "models") as double:
        double.install("tinyllama")
        double.api("POST", "/api/generate", {"model": "tinyllama"})
        assert double.api("GET", "/api/ps").json()["models"][0]["size_vram"] == 0  # the silent CPU fallback
        gpu1 = collect(
            tmp_path, "gpu1", [bindir, "/usr/bin", "/bin"], "--ollama-url", double.url, "--model", "tinyllama",
            "--model", "llama3.1:8b", "--gpu-expected", "--models-mountpoint", "/var/lib/docker",
        )  # fmt: skip
    down = f"http://127.0.0.1:{free_port()}"
    w2 = collect(tmp_path, "w2", [empty], "--ollama-url", down, "--model", "tinyllama", "--models-dir", str(tmp_path))
    return {"gpu1": gpu1, "w2": w2}


def promtool(args, stdin=None, mounts=()):
    volumes = [arg for source, target in mounts for arg in ("-v", f"{source}:{target}:ro")]
    return subprocess.run(
        ["docker", "run", "--rm", "-i", "--network", "none", *volumes, "--entrypoint", "promtool", PROMETHEUS_IMAGE,
         *args],
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def samples(text):
    """(series selector, value) per sample line of textfile output."""
    return [tuple(line.rsplit(" ", 1)) for line in text.splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("host", ["gpu1", "w2"])
def test_output_passes_promtool_check_metrics(outputs, host):
    result = promtool(["check", "metrics"], stdin=outputs[host])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""  # no lint remark either


def test_output_has_every_llmstack_series_the_rules_read(outputs):
    wanted = set(re.findall(r"\bllmstack_[a-z_]+", (RULES / "llmstack-alerts.yml").read_text()))
    assert len(wanted) == 7
    written = {re.match(r"[a-z_]+", selector).group() for selector, _ in samples(outputs["gpu1"])}
    assert wanted <= written, f"the rules read series the collector does not write: {wanted - written}"


def test_the_hosts_as_written_look_as_expected(outputs):
    w2 = dict(samples(outputs["w2"]))
    assert w2["llmstack_ollama_up"] == "0"
    assert not [s for s in w2 if s.startswith(("llmstack_gpu", "llmstack_nvidia", "llmstack_ollama_model_"))]
    gpu1 = dict(samples(outputs["gpu1"]))
    assert gpu1["llmstack_nvidia_smi_up"] == "1"
    assert gpu1['llmstack_ollama_model_vram_bytes{model="tinyllama:latest"}'] == "0"


def rule_tests(outputs):
    """A promtool rule test whose input series are the collector's samples, held 10 minutes, per host."""
    series = []
    for host, text in outputs.items():
        labels = f'job="node",instance="{host}:9100"'
        for selector, value in samples(text):
            name, _, rest = selector.partition("{")
            series.append({"series": f"{name}{{{labels}{',' + rest if rest else '}'}", "values": f"{value}x10"})
    w2_mount = re.search(r'llmstack_ollama_models_mount_info\{mountpoint="([^"]*)"\}', outputs["w2"]).group(1)
    for host, mountpoint, avail in (("gpu1", "/var/lib/docker", 5), ("w2", w2_mount, 50)):
        labels = f'job="node",instance="{host}:9100",device="/dev/sda1",fstype="ext4",mountpoint="{mountpoint}"'
        series.append({"series": f"node_filesystem_avail_bytes{{{labels}}}", "values": f"{avail}x10"})
        series.append({"series": f"node_filesystem_size_bytes{{{labels}}}", "values": "100x10"})

    def fires(alert, severity, labels, summary, description):
        exp = {
            "exp_labels": {**labels, "severity": severity},
            "exp_annotations": {"summary": summary, "description": description},
        }
        return {"eval_time": "10m", "alertname": alert, "exp_alerts": [exp]}

    gpu1, w2 = {"job": "node", "instance": "gpu1:9100"}, {"job": "node", "instance": "w2:9100"}
    card0 = {"gpu": "0", "uuid": "GPU-a41f6c2d-9e83-4b57-8d1a-2c6f0e9b7354"}
    disk = {"device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/var/lib/docker"}
    expected = [
        fires("LLMStackOllamaDown", "critical", w2, "Ollama on w2:9100 does not answer",
              "The collector on w2:9100 got no answer from Ollama's API for 2 minutes."),
        fires("LLMStackModelMissing", "critical", {**gpu1, "model": "llama3.1:8b"},
              "Model llama3.1:8b is missing on gpu1:9100",
              "llama3.1:8b is configured for gpu1:9100 but Ollama's /api/tags does not list it."),
        fires("LLMStackModelOnCPU", "critical", {**gpu1, "model": "tinyllama:latest"},
              "Model tinyllama:latest runs on the CPU on gpu1:9100",
              "tinyllama:latest is loaded with no byte in GPU memory (size_vram 0) on gpu1:9100,"
              " whose tier uses a GPU: it does not fit, or Ollama lost the GPU."),
        fires("LLMStackGPUMemoryHigh", "warning", {**gpu1, **card0}, "GPU 0 on gpu1:9100 is 95.13% full",
              "GPU 0 on gpu1:9100 has used more than 95 % of its memory for 5 minutes."),
        fires("LLMStackModelsVolumeFull", "warning", {**gpu1, **disk}, "The models volume on gpu1:9100 is 95% full",
              "/var/lib/docker on gpu1:9100, which holds Ollama's models, is more than 90 % full."),
    ]  # fmt: skip
    return {
        "rule_files": ["/rules/llmstack-alerts.yml"],
        "evaluation_interval": "1m",
        "tests": [{"name": "the collector's output", "interval": "1m", "input_series": series,
                   "alert_rule_test": expected}],
    }  # fmt: skip


def test_the_rules_fire_on_the_collectors_output_exactly_where_they_should(outputs, tmp_path):
    tmp_path.chmod(0o755)
    tests = tmp_path / "collector.test.yml"
    tests.write_text(yaml.safe_dump(rule_tests(outputs), sort_keys=False))
    tests.chmod(0o644)
    result = promtool(["test", "rules", "/tests/collector.test.yml"], mounts=[(RULES, "/rules"), (tmp_path, "/tests")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
