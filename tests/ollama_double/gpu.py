"""GPU discovery at start-up, standing in for Ollama's.

Ollama looks for the NVIDIA driver that the NVIDIA Container Toolkit put into its container and, when it
finds none, runs every model on the CPU without a word (`size_vram` 0 in `/api/ps`). The double cannot load
a driver; it asks `nvidia-smi` instead, which the toolkit puts into a container that reserved a GPU (the
`utility` capability). So a container without a GPU reservation runs on the CPU, and one with it sees the
card, real or simulated (the test bed's stand-in hook gives it the simulated nvidia-smi).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

QUERY = "index,name,uuid,memory.total,memory.free,driver_version,compute_cap"
MIB = 1024 * 1024


@dataclasses.dataclass
class Gpu:
    index: str
    name: str
    uuid: str
    total_mib: int
    free_mib: int
    driver_version: str
    compute_cap: str

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    def log_line(self) -> str:
        """Ollama's start-up line for a GPU it will use."""
        return (
            f'msg="inference compute" id={self.uuid} library=cuda compute={self.compute_cap} '
            f'driver={self.driver_version} name="{self.name}" total="{self.total_mib / 1024:.1f} GiB" '
            f'available="{self.free_mib / 1024:.1f} GiB"'
        )


def parse(output: str) -> list[Gpu]:
    gpus = []
    for line in output.splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 7 or not fields[3].isdigit() or not fields[4].isdigit():
            continue
        gpus.append(Gpu(fields[0], fields[1], fields[2], int(fields[3]), int(fields[4]), fields[5], fields[6]))
    return gpus


def discover() -> list[Gpu]:
    """The GPUs this container can use; none when nvidia-smi is missing or fails (no GPU granted)."""
    nvidia_smi = shutil.which("nvidia-smi")
    if not nvidia_smi:
        return []
    try:
        answer = subprocess.run(
            [nvidia_smi, f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return parse(answer.stdout) if answer.returncode == 0 else []
