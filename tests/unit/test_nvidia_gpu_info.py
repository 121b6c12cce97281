"""nvidia_gpu_info against output recorded from real nvidia-smi (replayed by a SIMULATED nvidia-smi)."""

import os
import shutil
import sys
from pathlib import Path

import pytest
from ansible_collections.llmstack.gateway.plugins.module_utils import _nvidia
from ansible_collections.llmstack.gateway.plugins.modules import nvidia_gpu_info

FIXTURES = Path(__file__).parent / "fixtures" / "nvidia-smi"
SIMULATED = Path(__file__).resolve().parents[1] / "simulated" / "nvidia-smi"
DEFAULT_TIERS = [{"name": "gpu_high", "min_vram_gib": 14}, {"name": "gpu_low", "min_vram_gib": 0}]


def gpu(total_mib):
    return {"memory_total_mib": total_mib}


@pytest.mark.parametrize(
    ("total_mib", "nominal"),
    [(16376, 16), (16311, 16), (13800, 13), (13926, 14), (14336, 14), (8119, 8), (24564, 24), (81920, 80), (None, 0)],
)
def test_nominal_gib_rounds_to_the_nearest_gib(total_mib, nominal):
    assert _nvidia.nominal_gib(total_mib) == nominal


@pytest.mark.parametrize(
    ("cards", "tier"),
    [
        ([13800], "gpu_low"),
        ([13926], "gpu_high"),
        ([14336], "gpu_high"),
        ([16376], "gpu_high"),
        ([4096], "gpu_low"),
        ([], "cpu"),
    ],
)
def test_tier_boundaries_with_the_default_tiers(cards, tier):
    assert _nvidia.classify([gpu(c) for c in cards], DEFAULT_TIERS) == tier


def test_vram_basis_total_adds_cards_that_max_does_not():
    cards = [gpu(8192), gpu(8192)]
    assert _nvidia.classify(cards, DEFAULT_TIERS, basis="max") == "gpu_low"
    assert _nvidia.classify(cards, DEFAULT_TIERS, basis="total") == "gpu_high"


def test_a_host_below_every_tier_is_cpu():
    assert _nvidia.classify([gpu(4096)], [{"name": "big", "min_vram_gib": 40}]) == "cpu"


def test_tier_list_problems_are_all_reported():
    problems = _nvidia.validate_tiers(
        [{"name": "cpu", "min_vram_gib": 1}, {"name": "a", "min_vram_gib": -1}, {"name": "a", "min_vram_gib": 2}]
    )
    assert any("reserved" in p for p in problems)
    assert any("min_vram_gib" in p for p in problems)
    assert any("repeats" in p for p in problems)


def test_parse_four_mixed_gpus():
    gpus = _nvidia.parse_query_output((FIXTURES / "four-mixed.query.txt").read_text())
    assert [g["index"] for g in gpus] == [0, 1, 2, 3]
    assert [g["memory_total_mib"] for g in gpus] == [81920, 24576, 16380, 15360]
    assert gpus[3]["name"] == "Tesla T4"
    assert gpus[2]["compute_capability"] == "8.9"


def test_unavailable_fields_become_none():
    mig = _nvidia.parse_query_output((FIXTURES / "mig-a100.query.txt").read_text())[0]
    assert mig["memory_free_mib"] is None
    assert mig["memory_total_mib"] == 40960
    laptop = _nvidia.parse_query_output((FIXTURES / "laptop-not-supported.query.txt").read_text())[0]
    assert laptop["memory_total_mib"] is None
    assert laptop["compute_capability"] is None


def test_a_name_with_a_comma_is_kept_whole():
    line = "0, NVIDIA H100, PCIe, GPU-1, 81559, 81000, 550.54.15, 9.0\n"
    (parsed,) = _nvidia.parse_query_output(line)
    assert parsed["name"] == "NVIDIA H100, PCIe"
    assert parsed["uuid"] == "GPU-1"


def test_cuda_version_from_the_summary_table():
    assert _nvidia.parse_cuda_version((FIXTURES / "rtx4090.summary.txt").read_text()) == "12.4"
    assert _nvidia.parse_cuda_version("no table here") is None


@pytest.fixture
def simulated_gpu(tmp_path, monkeypatch):
    """Put a SIMULATED nvidia-smi first on PATH, replaying the named recorded case."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy(SIMULATED, bindir / "nvidia-smi")

    def _use(case):
        monkeypatch.setenv("SIMULATED_NVIDIA_SMI_CASE", str(FIXTURES / case))
        monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
        return str(bindir / "nvidia-smi")

    return _use


def test_module_simulated_one_24gib_gpu(run_module, simulated_gpu):
    path = simulated_gpu("rtx4090")
    result = run_module(nvidia_gpu_info.main, {"tiers": DEFAULT_TIERS}, check_mode=True)
    assert not result.failed
    assert result["changed"] is False
    assert result["tier"] == "gpu_high"
    assert result["gpu_count"] == 1
    assert result["gpus"][0]["name"] == "NVIDIA GeForce RTX 4090"
    assert result["driver_version"] == "550.54.14"
    assert result["cuda_version"] == "12.4"
    assert result["max_vram_mib"] == result["total_vram_mib"] == 24564
    assert result["nvidia_smi"] == path


def test_module_simulated_four_mixed_gpus_max_and_total(run_module, simulated_gpu):
    simulated_gpu("four-mixed")
    result = run_module(nvidia_gpu_info.main, {"tiers": [{"name": "gpu_xl", "min_vram_gib": 100}, *DEFAULT_TIERS]})
    assert result["tier"] == "gpu_high"
    assert result["max_vram_mib"] == 81920
    assert result["total_vram_mib"] == 81920 + 24576 + 16380 + 15360
    total = run_module(
        nvidia_gpu_info.main,
        {"tiers": [{"name": "gpu_xl", "min_vram_gib": 100}, *DEFAULT_TIERS], "vram_basis": "total"},
    )
    assert total["tier"] == "gpu_xl"
    assert total["vram_gib"] == 80 + 24 + 16 + 15


def test_module_without_nvidia_smi_is_cpu_not_failure(run_module, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(nvidia_gpu_info, "WSL_NVIDIA_SMI", str(tmp_path / "absent"))
    result = run_module(nvidia_gpu_info.main, {"tiers": DEFAULT_TIERS})
    assert not result.failed
    assert result["tier"] == "cpu"
    assert result["gpus"] == []
    assert result["nvidia_smi"] is None


def test_module_finds_the_wsl_nvidia_smi(run_module, simulated_gpu, monkeypatch, tmp_path):
    wsl = simulated_gpu("rtx4090")
    only_python = tmp_path / "only-python"
    only_python.mkdir()
    (only_python / "python3").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", str(only_python))
    monkeypatch.setattr(nvidia_gpu_info, "WSL_NVIDIA_SMI", wsl)
    result = run_module(nvidia_gpu_info.main, {"tiers": DEFAULT_TIERS})
    assert result["nvidia_smi"] == wsl
    assert result["tier"] == "gpu_high"


def test_module_nvml_error_fails_with_nvidia_smis_words_and_a_hint(run_module, simulated_gpu):
    simulated_gpu("nvml-mismatch")
    result = run_module(nvidia_gpu_info.main, {"tiers": DEFAULT_TIERS})
    assert result.failed
    assert "Failed to initialize NVML: Driver/library version mismatch" in result["msg"]
    assert "Reboot" in result["msg"]


def test_module_nvml_error_with_on_error_cpu_warns(run_module, simulated_gpu):
    simulated_gpu("no-driver")
    result = run_module(nvidia_gpu_info.main, {"tiers": DEFAULT_TIERS, "on_error": "cpu"})
    assert not result.failed
    assert result["tier"] == "cpu"
    assert any("couldn't communicate with the NVIDIA driver" in w for w in result.warning_texts)


def test_module_old_driver_without_compute_cap(run_module, simulated_gpu):
    simulated_gpu("old-driver-no-compute-cap")
    result = run_module(nvidia_gpu_info.main, {"tiers": DEFAULT_TIERS})
    assert not result.failed
    assert result["gpus"][0]["name"] == "Quadro P4000"
    assert result["gpus"][0]["compute_capability"] is None
    assert result["tier"] == "gpu_low"


def test_module_laptop_with_unsupported_memory_fields(run_module, simulated_gpu):
    simulated_gpu("laptop-not-supported")
    result = run_module(nvidia_gpu_info.main, {"tiers": DEFAULT_TIERS})
    assert not result.failed
    assert result["gpus"][0]["memory_total_mib"] is None
    assert result["tier"] == "gpu_low"


def test_module_rejects_a_bad_tier_list(run_module, simulated_gpu):
    simulated_gpu("rtx4090")
    result = run_module(nvidia_gpu_info.main, {"tiers": [{"name": "cpu", "min_vram_gib": 0}]})
    assert result.failed
    assert "tiers[0]" in result["msg"]


def test_module_explicit_path_that_is_missing_names_the_option(run_module, tmp_path):
    result = run_module(nvidia_gpu_info.main, {"tiers": DEFAULT_TIERS, "nvidia_smi_path": str(tmp_path / "nope")})
    assert result.failed
    assert "nvidia_smi_path" in result["msg"]


def test_module_simulated_gpu_given_tier_wins_and_says_so(run_module, simulated_gpu):
    simulated_gpu("rtx4090")
    result = run_module(nvidia_gpu_info.main, {"tiers": DEFAULT_TIERS, "tier": "gpu_low"})
    assert not result.failed
    assert (result["tier"], result["detected_tier"], result["tier_source"]) == ("gpu_low", "gpu_high", "given")
    assert result["uses_gpu"] is True


def test_module_simulated_gpu_detected_tier_agrees_with_tier(run_module, simulated_gpu):
    simulated_gpu("rtx4090")
    result = run_module(nvidia_gpu_info.main, {"tiers": DEFAULT_TIERS})
    assert (result["tier"], result["detected_tier"], result["tier_source"]) == ("gpu_high", "gpu_high", "nvidia-smi")


def test_module_given_gpu_tier_without_nvidia_smi_fails_with_the_remedy(run_module, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(nvidia_gpu_info, "WSL_NVIDIA_SMI", str(tmp_path / "absent"))
    result = run_module(nvidia_gpu_info.main, {"tiers": DEFAULT_TIERS, "tier": "gpu_high"})
    assert result.failed
    assert "is 'gpu_high', a GPU tier, but no nvidia-smi was found" in result["msg"]
    assert "give the tier cpu" in result["msg"]


def test_module_simulated_broken_driver_is_no_error_on_a_host_given_cpu(run_module, simulated_gpu):
    simulated_gpu("nvml-mismatch")
    result = run_module(nvidia_gpu_info.main, {"tiers": DEFAULT_TIERS, "tier": "cpu"})
    assert not result.failed
    assert (result["tier"], result["uses_gpu"]) == ("cpu", False)
    assert any("because the tier is given as cpu" in w for w in result.warning_texts)


def test_module_simulated_broken_driver_with_a_given_gpu_tier_fails(run_module, simulated_gpu):
    simulated_gpu("nvml-mismatch")
    result = run_module(nvidia_gpu_info.main, {"tiers": DEFAULT_TIERS, "tier": "gpu_high", "on_error": "cpu"})
    assert result.failed
    assert "'gpu_high', a GPU tier, but" in result["msg"]


def test_module_unknown_given_tier_names_the_option(run_module):
    result = run_module(nvidia_gpu_info.main, {"tiers": DEFAULT_TIERS, "tier": "gpu_huge"})
    assert result.failed
    assert result["msg"].startswith("tier is 'gpu_huge'")


def test_module_without_detection_reads_nothing_and_needs_a_tier(run_module, monkeypatch):
    monkeypatch.setattr(nvidia_gpu_info, "find_nvidia_smi", lambda module: pytest.fail("nvidia-smi was looked up"))
    result = run_module(nvidia_gpu_info.main, {"tiers": DEFAULT_TIERS, "detect": False, "tier": "gpu_high"})
    assert not result.failed
    assert (result["tier"], result["detected_tier"], result["gpu_count"]) == ("gpu_high", None, 0)
    missing = run_module(nvidia_gpu_info.main, {"tiers": DEFAULT_TIERS, "detect": False})
    assert missing.failed
    assert "tier must name the tier" in missing["msg"]
