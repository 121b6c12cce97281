#!/usr/bin/python
# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nvidia_gpu_info
short_description: Read a host's NVIDIA GPUs and classify the host into a GPU tier
version_added: 0.1.0
description:
  - Runs C(nvidia-smi --query-gpu=index,name,uuid,memory.total,memory.free,driver_version,compute_cap
    --format=csv,noheader,nounits) and the plain C(nvidia-smi) summary (for the CUDA version).
  - Classifies the host into the first tier of O(tiers) whose C(min_vram_gib) it reaches; a host with no
    NVIDIA GPU, or one that reaches no tier, is tier C(cpu).
  - A card counts as N GiB when its memory.total rounded to the nearest GiB is N. nvidia-smi reports a
    "16 GB" card as about 16,311-16,376 MiB, so a raw 16 GiB threshold would miss it.
  - A host without nvidia-smi is not a failure; it returns tier C(cpu) and no GPUs.
  - A tier given in O(tier) (an admin's word) wins over detection; the module then still checks that a GPU tier
    has a GPU to run on, and fails with the remedy when the driver shows none.
  - Fields that nvidia-smi reports as C([N/A]) or C([Not Supported]) (MIG, some laptops) are returned as null.
author:
  - llmstack.gateway maintainers (@llmstack)
extends_documentation_fragment:
  - llmstack.gateway.attributes
  - llmstack.gateway.attributes.info_module
options:
  nvidia_smi_path:
    description:
      - Path of the nvidia-smi binary.
      - When not set, nvidia-smi is looked up on E(PATH), then at C(/usr/lib/wsl/lib/nvidia-smi) (WSL2 hosts).
    type: path
  tiers:
    description:
      - Ordered list of GPU tiers; the first one whose O(tiers[].min_vram_gib) the host reaches wins.
      - The name C(cpu) is reserved for hosts without a usable GPU.
      - The tier policy belongs to the caller (the C(llmstack.gateway.gpu_tier) role keeps the default list in
        C(llmstack_gpu_tiers)), so there is no default here.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Tier name.
        type: str
        required: true
      min_vram_gib:
        description: Smallest VRAM, in nominal GiB, that reaches this tier.
        type: float
        required: true
  tier:
    description:
      - The tier an admin set for this host, one of the names in O(tiers) or C(cpu). It wins over detection.
      - Empty lets the GPUs decide.
      - With O(tier=cpu) a failing nvidia-smi is not an error (a CPU host needs no working driver).
    type: str
    default: ""
    version_added: 0.2.0
  detect:
    description:
      - Read the host's GPUs. V(false) takes O(tier) as given (it must be set) and runs nothing on the host,
        which renders a tier's files on a controller without its GPU.
    type: bool
    default: true
    version_added: 0.2.0
  vram_basis:
    description:
      - Which VRAM decides the tier. V(max) uses the largest card (a model must fit on one card);
        V(total) adds all cards up.
    type: str
    choices: [max, total]
    default: max
  on_error:
    description:
      - What to do when nvidia-smi exists but fails (for example C(Failed to initialize NVML)).
      - V(fail) stops with nvidia-smi's own words and a hint; V(cpu) returns tier C(cpu) with a warning.
    type: str
    choices: [fail, cpu]
    default: fail
notes:
  - This module does not install or repair NVIDIA drivers; it reports what the driver reports.
seealso:
  - name: nvidia-smi documentation
    description: NVIDIA System Management Interface.
    link: https://docs.nvidia.com/deploy/nvidia-smi/index.html
"""

EXAMPLES = r"""
- name: Detect the GPU tier
  llmstack.gateway.nvidia_gpu_info:
    tiers:
      - name: gpu_high
        min_vram_gib: 14
      - name: gpu_low
        min_vram_gib: 0
  register: gpu

- name: Show what was found
  ansible.builtin.debug:
    msg: "{{ gpu.gpu_count }} GPU(s), {{ gpu.max_vram_mib }} MiB on the largest, tier {{ gpu.tier }}"

- name: Three tiers, counting all cards together, never failing on a broken driver
  llmstack.gateway.nvidia_gpu_info:
    tiers:
      - name: gpu_xl
        min_vram_gib: 40
      - name: gpu_high
        min_vram_gib: 14
      - name: gpu_low
        min_vram_gib: 0
    vram_basis: total
    on_error: cpu

- name: An admin's tier, checked against the host's driver
  llmstack.gateway.nvidia_gpu_info:
    tiers: "{{ llmstack_gpu_tiers }}"
    tier: gpu_high
"""

RETURN = r"""
gpus:
  description: One entry per GPU, in nvidia-smi's order.
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description: GPU index.
      type: int
      sample: 0
    name:
      description: Product name.
      type: str
      sample: NVIDIA GeForce RTX 4090
    uuid:
      description: GPU UUID.
      type: str
      sample: GPU-5f2d9a4e-8d1c-4f5e-9e4b-2c6a7f1e0b3d
    memory_total_mib:
      description: Total memory in MiB, or null when nvidia-smi does not report it.
      type: int
      sample: 24564
    memory_free_mib:
      description: Free memory in MiB, or null when nvidia-smi does not report it.
      type: int
      sample: 23890
    compute_capability:
      description: CUDA compute capability, or null on drivers that do not report it.
      type: str
      sample: "8.9"
  sample:
    - index: 0
      name: NVIDIA GeForce RTX 4090
      uuid: GPU-5f2d9a4e-8d1c-4f5e-9e4b-2c6a7f1e0b3d
      memory_total_mib: 24564
      memory_free_mib: 23890
      compute_capability: "8.9"
gpu_count:
  description: Number of GPUs found.
  returned: always
  type: int
  sample: 1
driver_version:
  description: NVIDIA driver version, or null without a GPU.
  returned: always
  type: str
  sample: 550.54.14
cuda_version:
  description: Highest CUDA version the driver supports, as nvidia-smi's summary shows it, or null.
  returned: always
  type: str
  sample: "12.4"
max_vram_mib:
  description: Memory of the largest card in MiB (0 without a GPU).
  returned: always
  type: int
  sample: 24564
total_vram_mib:
  description: Memory of all cards added up in MiB (0 without a GPU).
  returned: always
  type: int
  sample: 24564
vram_gib:
  description: The nominal GiB the tier decision used (per O(vram_basis)).
  returned: always
  type: int
  sample: 24
tier:
  description: The host's tier, O(tier) when given, else the detected one.
  returned: always
  type: str
  sample: gpu_high
detected_tier:
  description: The tier the GPUs reach, or null when O(detect=false).
  returned: always
  type: str
  sample: gpu_high
tier_source:
  description: Where RV(tier) came from, V(given) (O(tier)) or V(nvidia-smi).
  returned: always
  type: str
  sample: nvidia-smi
uses_gpu:
  description: Whether RV(tier) is a GPU tier, that is, anything but C(cpu); what decides whether GPU containers run.
  returned: always
  type: bool
  sample: true
nvidia_smi:
  description: Path of the nvidia-smi that was run, or null when none was found.
  returned: always
  type: str
  sample: /usr/bin/nvidia-smi
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.llmstack.gateway.plugins.module_utils._nvidia import (
    CPU_TIER,
    QUERY_FIELDS,
    classify,
    error_hint,
    parse_cuda_version,
    parse_query_output,
    validate_tiers,
    vram_gib,
)

WSL_NVIDIA_SMI = "/usr/lib/wsl/lib/nvidia-smi"


def find_nvidia_smi(module):
    explicit = module.params["nvidia_smi_path"]
    if explicit:
        if not os.access(explicit, os.X_OK):
            module.fail_json(msg=f"nvidia_smi_path {explicit} does not exist or is not executable.")
        return explicit
    found = module.get_bin_path("nvidia-smi")
    if found:
        return found
    if os.access(WSL_NVIDIA_SMI, os.X_OK):
        return WSL_NVIDIA_SMI
    return None


def query_gpus(module, nvidia_smi):
    """Run the query; older drivers lack compute_cap, so retry without it. Return (gpus, error)."""
    fields = QUERY_FIELDS
    for _attempt in range(2):
        argv = [nvidia_smi, "--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits"]
        rc, out, err = module.run_command(argv)
        if rc == 0:
            try:
                return parse_query_output(out, fields), None
            except ValueError as exc:
                return None, str(exc)
        message = (err or out).strip()
        if "compute_cap" in message and "compute_cap" in fields:
            fields = tuple(field for field in fields if field != "compute_cap")
            continue
        return None, message or f"nvidia-smi exited with status {rc}"
    return None, "nvidia-smi rejected the query"


def result_for(params, gpus, nvidia_smi=None, cuda_version=None, detected=True):
    tiers, basis, given = params["tiers"], params["vram_basis"], params["tier"]
    totals = [gpu["memory_total_mib"] or 0 for gpu in gpus]
    drivers = [gpu["driver_version"] for gpu in gpus if gpu["driver_version"]]
    found = classify(gpus, tiers, basis)
    tier = given or found
    return {
        "changed": False,
        "gpus": [{key: value for key, value in gpu.items() if key != "driver_version"} for gpu in gpus],
        "gpu_count": len(gpus),
        "driver_version": drivers[0] if drivers else None,
        "cuda_version": cuda_version,
        "max_vram_mib": max(totals) if totals else 0,
        "total_vram_mib": sum(totals),
        "vram_gib": vram_gib(gpus, basis),
        "tier": tier,
        "detected_tier": found if detected else None,
        "tier_source": "given" if given else "nvidia-smi",
        "uses_gpu": tier != CPU_TIER,
        "nvidia_smi": nvidia_smi,
    }


def missing_gpu_message(result):
    where = (
        "no nvidia-smi was found on this host"
        if not result["nvidia_smi"]
        else f"{result['nvidia_smi']} reported no usable GPU"
    )
    return (
        f"The given tier (llmstack_gpu_tier, to the gpu_tier role) is '{result['tier']}', a GPU tier, but {where}. "
        "GPU containers need a working NVIDIA "
        "driver on the host, and llmstack.gateway does not install drivers: install the driver for this GPU "
        "(Debian: nvidia-driver from non-free; Ubuntu: ubuntu-drivers install), reboot, and check that "
        f"`nvidia-smi` lists the GPU. On a host without a GPU, give the tier {CPU_TIER}. Nothing was changed."
    )


def finish(module, result):
    if result["uses_gpu"] and result["gpu_count"] == 0:
        module.fail_json(msg=missing_gpu_message(result), **result)
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec={
            "nvidia_smi_path": {"type": "path"},
            "tiers": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "name": {"type": "str", "required": True},
                    "min_vram_gib": {"type": "float", "required": True},
                },
            },
            "tier": {"type": "str", "default": ""},
            "detect": {"type": "bool", "default": True},
            "vram_basis": {"type": "str", "choices": ["max", "total"], "default": "max"},
            "on_error": {"type": "str", "choices": ["fail", "cpu"], "default": "fail"},
        },
        supports_check_mode=True,
    )
    tiers = module.params["tiers"]

    given = module.params["tier"]

    problems = validate_tiers(tiers)
    if problems:
        module.fail_json(msg="Invalid tiers (llmstack_gpu_tiers, to the gpu_tier role): " + "; ".join(problems))
    names = [tier["name"] for tier in tiers] + [CPU_TIER]
    if given and given not in names:
        module.fail_json(
            msg=f"tier is '{given}', which is none of the tiers ({', '.join(names)}); leave it empty to detect."
        )

    if not module.params["detect"]:
        if not given:
            module.fail_json(msg="detect is false, so tier must name the tier (one of the tiers, or cpu).")
        module.exit_json(**result_for(module.params, [], detected=False))

    nvidia_smi = find_nvidia_smi(module)
    if nvidia_smi is None:
        finish(module, result_for(module.params, []))

    gpus, error = query_gpus(module, nvidia_smi)
    if error is not None:
        message = f"{nvidia_smi} failed: {error.rstrip('.')}. {error_hint(error)}"
        # A host declared CPU-only needs no working driver.
        if module.params["on_error"] == "cpu" or given == CPU_TIER:
            reason = "the tier is given as cpu" if given == CPU_TIER else "on_error=cpu"
            module.warn(message + f" Continuing as tier '{given or CPU_TIER}' because {reason}.")
            finish(module, result_for(module.params, [], nvidia_smi))
        module.fail_json(msg=message, nvidia_smi=nvidia_smi)

    _rc, summary, _err = module.run_command([nvidia_smi])
    finish(module, result_for(module.params, gpus, nvidia_smi, parse_cuda_version(summary)))


if __name__ == "__main__":
    main()
