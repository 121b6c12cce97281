"""The monitoring role's collector (roles/monitoring/files/llmstack_metrics.py) turns nvidia-smi's and Ollama's
answers into the llmstack_* series.

nvidia-smi: output recorded from real cards (tests/unit/fixtures/nvidia-smi/*.query-metrics.txt), replayed by
the SIMULATED nvidia-smi. Ollama: the Ollama double, in-process on a free port.
"""

import importlib.util
import os
import stat
import sys
import time
from pathlib import Path

import pytest
from ansible_collections.llmstack.gateway.plugins.module_utils._ollama import model_key as ollama_model_key

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
sys.path.insert(0, str(TESTS))

from ollama_double.testing import OllamaDouble, free_port  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "nvidia-smi"
SCRIPT = REPO / "roles" / "monitoring" / "files" / "llmstack_metrics.py"
GIB = 1024**3

_spec = importlib.util.spec_from_file_location("llmstack_metrics", SCRIPT)
metrics = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(metrics)


def recorded(case):
    return (FIXTURES / f"{case}.query-metrics.txt").read_text(encoding="utf-8")


def by_name(samples, name):
    return [(labels, value) for family, labels, value in samples if family == name]


# -- nvidia-smi ---------------------------------------------------------------------------------------------------
def test_parse_one_recorded_card():
    (card,) = metrics.parse_gpus(recorded("rtx4090"))
    assert card == {
        "index": "0",
        "uuid": "GPU-8c1b9d5e-3f5a-2c7e-b1d4-6a9e0f2c4b71",
        "name": "NVIDIA GeForce RTX 4090",
        "utilization": 0.02,
        "memory_used": 477 * 1024 * 1024,
        "memory_total": 24564 * 1024 * 1024,
        "temperature": 38.0,
        "power": 21.37,
    }


def test_parse_two_recorded_cards_keeps_each_apart():
    first, second = metrics.parse_gpus(recorded("two-rtx3060"))
    assert (first["index"], second["index"]) == ("0", "1")
    assert first["uuid"] != second["uuid"]
    assert (first["memory_used"], second["memory_used"]) == (11690 * 1024 * 1024, 154 * 1024 * 1024)
    samples = metrics.gpu_samples([first, second])
    used = by_name(samples, "llmstack_gpu_memory_used_bytes")
    assert [labels["gpu"] for labels, _ in used] == ["0", "1"]
    assert set(used[0][0]) == {"gpu", "uuid"}


@pytest.mark.parametrize(
    ("case", "missing", "kept"),
    [
        (
            "laptop-not-supported",
            {"llmstack_gpu_utilization_ratio", "llmstack_gpu_memory_used_bytes", "llmstack_gpu_memory_total_bytes",
             "llmstack_gpu_power_watts"},
            {"llmstack_gpu_info", "llmstack_gpu_temperature_celsius"},
        ),
        (
            "mig-a100",
            {"llmstack_gpu_utilization_ratio", "llmstack_gpu_memory_used_bytes"},
            {"llmstack_gpu_info", "llmstack_gpu_memory_total_bytes", "llmstack_gpu_temperature_celsius",
             "llmstack_gpu_power_watts"},
        ),
    ],
)  # fmt: skip
def test_fields_printed_as_not_available_leave_their_samples_out(case, missing, kept):
    names = {family for family, _, _ in metrics.gpu_samples(metrics.parse_gpus(recorded(case)))}
    assert names == kept
    assert not names & missing


@pytest.mark.parametrize("case", ["no-driver", "nvml-mismatch"])
def test_error_text_is_no_card(case):
    assert metrics.parse_gpus((FIXTURES / f"{case}.query.txt").read_text(encoding="utf-8")) == []


def test_query_simulated_two_cards(simulated_nvidia_smi):
    simulated_nvidia_smi("two-rtx3060")
    samples = metrics.query_nvidia_smi("nvidia-smi", 10)
    assert by_name(samples, "llmstack_nvidia_smi_up") == [({}, 1)]
    assert len(by_name(samples, "llmstack_gpu_memory_total_bytes")) == 2


@pytest.mark.parametrize("case", ["no-driver", "nvml-mismatch"])
def test_query_simulated_failing_nvidia_smi_says_so_without_gpu_series(simulated_nvidia_smi, case):
    simulated_nvidia_smi(case)
    assert metrics.query_nvidia_smi("nvidia-smi", 10) == [("llmstack_nvidia_smi_up", {}, 0)]


def test_simulated_nvidia_smi_does_not_answer_the_query_from_another_recording(simulated_nvidia_smi):
    simulated_nvidia_smi("old-driver-no-compute-cap")  # its recordings answer other queries
    assert metrics.query_nvidia_smi("nvidia-smi", 10) == [("llmstack_nvidia_smi_up", {}, 0)]


def test_no_nvidia_smi_no_gpu_series(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert metrics.query_nvidia_smi("nvidia-smi", 10) == []


# -- Ollama -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with OllamaDouble(tmp_path_factory.mktemp("ollama-models")) as double:
        yield double


@pytest.fixture
def double(server):
    server.reset(models=True)
    server.set_gpu(False)
    return server


def test_loaded_model_on_the_gpu_reports_size_vram(double):
    double.set_gpu(True)
    double.install("tinyllama")
    double.api("POST", "/api/generate", {"model": "tinyllama"})
    loaded = double.api("GET", "/api/ps").json()["models"][0]
    samples = metrics.query_ollama(double.url, ["tinyllama"], 5)
    assert by_name(samples, "llmstack_ollama_up") == [({}, 1)]
    assert by_name(samples, "llmstack_ollama_model_present") == [({"model": "tinyllama"}, 1)]
    assert by_name(samples, "llmstack_ollama_model_vram_bytes") == [({"model": "tinyllama:latest"}, loaded["size"])]
    assert loaded["size"] > 0
    assert by_name(samples, "llmstack_ollama_model_size_bytes") == [({"model": "tinyllama:latest"}, loaded["size"])]
    ((_, expiry),) = by_name(samples, "llmstack_ollama_model_expiry_timestamp_seconds")
    assert time.time() < expiry <= time.time() + 5 * 60 + 1  # the default keep_alive, 5m


def test_loaded_model_on_the_cpu_reports_size_vram_zero(double):
    double.install("tinyllama")
    double.api("POST", "/api/generate", {"model": "tinyllama"})
    samples = metrics.query_ollama(double.url, [], 5)
    assert by_name(samples, "llmstack_ollama_model_vram_bytes") == [({"model": "tinyllama:latest"}, 0)]
    assert by_name(samples, "llmstack_ollama_model_present") == []


def test_configured_model_missing_and_names_compared_as_ollama_does(double):
    double.install("tinyllama")
    samples = metrics.query_ollama(double.url, ["TinyLlama:latest", "llama3.1:8b"], 5)
    assert by_name(samples, "llmstack_ollama_model_present") == [
        ({"model": "TinyLlama:latest"}, 1),
        ({"model": "llama3.1:8b"}, 0),
    ]
    assert by_name(samples, "llmstack_ollama_model_vram_bytes") == []  # installed, not loaded


def test_ollama_down_is_up_zero_and_no_model_series():
    samples = metrics.query_ollama(f"http://127.0.0.1:{free_port()}", ["tinyllama"], 2)
    assert samples == [("llmstack_ollama_up", {}, 0)]


def test_ollama_answering_500_is_down(double):
    double.fault_api("500", message="boom")
    try:
        assert metrics.query_ollama(double.url, ["tinyllama"], 5) == [("llmstack_ollama_up", {}, 0)]
    finally:
        double.clear_faults()


def test_model_key_fills_ollamas_defaults():
    assert metrics.model_key("tinyllama") == metrics.model_key("registry.ollama.ai/library/TinyLlama:latest")
    assert metrics.model_key("llama3.1:8b") != metrics.model_key("llama3.1")
    assert metrics.model_key("example.com:5000/team/m") == ("example.com:5000", "team", "m", "latest")


def test_expiry_reads_gos_times():
    assert metrics.expiry_seconds("2024-06-04T14:38:31.837530541-07:00") == pytest.approx(1717537111.837530541)
    assert metrics.expiry_seconds("1970-01-01T00:00:10Z") == 10
    assert metrics.expiry_seconds("soon") is None


def test_mountpoint_of_walks_up_to_the_nearest_mount():
    mounts = {"/", "/var/lib/docker"}
    assert metrics.mountpoint_of("/var/lib/docker/volumes/m/_data", mounts.__contains__) == "/var/lib/docker"
    assert metrics.mountpoint_of("/srv/ollama", mounts.__contains__) == "/"


# -- textfile format ----------------------------------------------------------------------------------------------
def test_render_writes_help_and_type_once_per_family_and_escapes_labels():
    text = metrics.render([
        ("llmstack_ollama_up", {}, 1),
        ("llmstack_ollama_model_present", {"model": 'a"b'}, 0),
        ("llmstack_ollama_model_present", {"model": "back\\slash\nnew"}, 1),
        ("llmstack_gpu_power_watts", {"gpu": "0", "uuid": "GPU-x"}, 21.37),
    ])  # fmt: skip
    lines = text.splitlines()
    assert lines.count("# TYPE llmstack_ollama_model_present gauge") == 1
    assert 'llmstack_ollama_model_present{model="a\\"b"} 0' in lines
    assert 'llmstack_ollama_model_present{model="back\\\\slash\\nnew"} 1' in lines
    assert "llmstack_ollama_up 1" in lines
    assert 'llmstack_gpu_power_watts{gpu="0",uuid="GPU-x"} 21.37' in lines
    assert text.endswith("\n")
    # every family's samples follow its own HELP and TYPE
    power = 'llmstack_gpu_power_watts{gpu="0",uuid="GPU-x"} 21.37'
    assert lines.index("# TYPE llmstack_gpu_power_watts gauge") < lines.index(power)


def test_render_refuses_a_series_without_help():
    with pytest.raises(ValueError, match="llmstack_nonsense"):
        metrics.render([("llmstack_nonsense", {}, 1)])


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "llmstack.prom"
    target.write_text("old\n")
    before = os.stat(target).st_ino
    metrics.write_atomically(str(target), "new\n")
    assert target.read_text() == "new\n"
    assert os.stat(target).st_ino != before  # replaced by a rename, not rewritten in place
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["llmstack.prom"]


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    target = tmp_path / "llmstack.prom"
    target.write_text("old\n")

    def broken_replace(src, dst):
        assert Path(src).parent == tmp_path and not src.endswith(".prom")  # node-exporter reads *.prom only
        raise OSError("disk full")

    monkeypatch.setattr(metrics.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        metrics.write_atomically(str(target), "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["llmstack.prom"]


# -- the whole run ------------------------------------------------------------------------------------------------
def test_main_on_a_simulated_gpu_host(double, simulated_nvidia_smi, tmp_path):
    simulated_nvidia_smi("rtx4090")
    double.set_gpu(True)
    double.install("tinyllama")
    double.api("POST", "/api/generate", {"model": "tinyllama"})
    output = tmp_path / "llmstack.prom"
    argv = ["--output", str(output), "--ollama-url", double.url, "--model", "tinyllama", "--model", "llama3.1:8b"]
    assert metrics.main([*argv, "--gpu-expected", "--models-mountpoint", "/var/lib/docker"]) == 0
    lines = output.read_text().splitlines()
    card = 'gpu="0",uuid="GPU-8c1b9d5e-3f5a-2c7e-b1d4-6a9e0f2c4b71"'
    assert f"llmstack_gpu_memory_total_bytes{{{card}}} {24564 * 1024 * 1024}" in lines
    assert f"llmstack_gpu_utilization_ratio{{{card}}} 0.02" in lines
    assert f"llmstack_gpu_temperature_celsius{{{card}}} 38" in lines
    assert f'llmstack_gpu_info{{{card},name="NVIDIA GeForce RTX 4090"}} 1' in lines
    assert "llmstack_ollama_gpu_expected 1" in lines
    assert 'llmstack_ollama_model_present{model="llama3.1:8b"} 0' in lines
    assert 'llmstack_ollama_models_mount_info{mountpoint="/var/lib/docker"} 1' in lines


def test_main_on_a_cpu_host_with_ollama_down(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    output = tmp_path / "llmstack.prom"
    down = f"http://127.0.0.1:{free_port()}"
    assert metrics.main(["--output", str(output), "--ollama-url", down, "--timeout", "2"]) == 0
    samples = [line for line in output.read_text().splitlines() if not line.startswith("#")]
    assert samples == ["llmstack_ollama_up 0", "llmstack_ollama_gpu_expected 0"]


def test_main_on_a_gateway_without_ollama_writes_no_ollama_series(tmp_path, monkeypatch):
    # A gateway runs no Ollama: "down" there would fire LLMStackOllamaDown for a host that has nothing to watch.
    monkeypatch.setenv("PATH", str(tmp_path))
    output = tmp_path / "llmstack.prom"
    down = f"http://127.0.0.1:{free_port()}"
    argv = ["--output", str(output), "--ollama-url", down, "--no-ollama", "--models-dir", "/", "--timeout", "2"]
    assert metrics.main(argv) == 0
    assert [line for line in output.read_text().splitlines() if line and not line.startswith("#")] == []


@pytest.mark.parametrize(
    "name",
    [
        "tinyllama",
        "TinyLlama:latest",
        "llama3.1:8b",
        "team/model:v1+build",
        "example.com:5000/team/m",
        "https://h/n/m:t",
    ],
)
def test_model_key_is_the_modules_rule(name):
    # The script cannot import the collection's module_utils on a host: its copy must not drift from them.
    assert metrics.model_key(name) == ollama_model_key(name)
