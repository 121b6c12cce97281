"""nvidia_gpu_info run by ansible-playbook with a SIMULATED nvidia-smi on PATH."""

import os
from pathlib import Path

SIMULATED_BIN = Path(__file__).resolve().parents[1] / "simulated"
FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "nvidia-smi"


def simulated(case):
    return {
        "PATH": f"{SIMULATED_BIN}{os.pathsep}{os.environ['PATH']}",
        "SIMULATED_NVIDIA_SMI_CASE": str(FIXTURES / case),
    }


def test_simulated_24gib_gpu_is_gpu_high(run_playbook):
    run = run_playbook("nvidia_gpu_info", env=simulated("rtx4090"))
    detected = run.result("Read the simulated GPU")
    assert detected["tier"] == "gpu_high"
    assert detected["gpu_count"] == 1
    assert detected["nvidia_smi"] == str(SIMULATED_BIN / "nvidia-smi")
    assert run.stats["changed"] == 0


def test_simulated_mixed_gpus_with_custom_tiers(run_playbook):
    tiers = [{"name": "gpu_xl", "min_vram_gib": 48}, {"name": "gpu_high", "min_vram_gib": 14}]
    run = run_playbook("nvidia_gpu_info", extra_vars={"tiers": tiers}, env=simulated("four-mixed"))
    detected = run.result("Read the simulated GPU")
    assert detected["tier"] == "gpu_xl"
    assert detected["gpu_count"] == 4


def test_simulated_nvml_failure_stops_the_play_with_the_drivers_words(run_playbook):
    run = run_playbook("nvidia_gpu_info", env=simulated("nvml-mismatch"), expect_rc=2)
    failed = run.result("Read the simulated GPU in check mode")
    assert failed["failed"]
    assert "Driver/library version mismatch" in failed["msg"]


def test_no_nvidia_smi_is_the_cpu_tier(run_playbook, tmp_path):
    env = {"PATH": os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if "simulated" not in p)}
    run = run_playbook("nvidia_gpu_info", env=env)
    detected = run.result("Read the simulated GPU")
    assert detected["tier"] == "cpu"
    assert detected["gpus"] == []
