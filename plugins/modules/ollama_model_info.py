#!/usr/bin/python
# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_model_info
short_description: List the models an Ollama server has installed and loaded
version_added: 0.1.0
description:
  - Reads C(GET /api/tags) (installed models), C(GET /api/ps) (models loaded in memory) and
    C(GET /api/version), or only those O(gather) names (one request each). Changes nothing.
  - Ollama silently falls back to the CPU when it cannot use the GPU. The C(size_vram) of a loaded model
    is how a playbook proves that a GPU host really runs its models on the GPU.
author:
  - llmstack.gateway maintainers (@llmstack)
extends_documentation_fragment:
  - llmstack.gateway.ollama
  - llmstack.gateway.ollama.actiongroup
  - llmstack.gateway.attributes
  - llmstack.gateway.attributes.info_module
options:
  name:
    description:
      - Only report these models (compared the way Ollama compares names). All models when not set.
    type: list
    elements: str
  gather:
    description:
      - What to read. A playbook that needs only the installed models asks for V(installed) and sends one request.
    type: list
    elements: str
    choices: [installed, loaded, version]
    default: [installed, loaded, version]
    version_added: 0.2.0
seealso:
  - module: llmstack.gateway.ollama_model
"""

EXAMPLES = r"""
- name: Read what the local Ollama has
  llmstack.gateway.ollama_model_info:
  register: ollama

- name: Fail when a loaded model runs on the CPU
  ansible.builtin.assert:
    that: ollama.loaded | selectattr('size_vram', 'equalto', 0) | list | length == 0
    fail_msg: >-
      Ollama fell back to the CPU for:
      {{ ollama.loaded | selectattr('size_vram', 'equalto', 0) | map(attribute='name') | join(', ') }}
"""

RETURN = r"""
version:
  description: Ollama's version.
  returned: when O(gather) has V(version)
  type: str
  sample: 0.12.3
models:
  description: Installed models, as C(/api/tags) lists them.
  returned: when O(gather) has V(installed)
  type: list
  elements: dict
  contains:
    name:
      description: Name in the shortest form Ollama shows.
      type: str
      sample: tinyllama:latest
    digest:
      description: Manifest digest.
      type: str
      sample: 2644915ede352ea7bdfaff0bfac0be74c719d5d5202acb63a6fb095b52f394a4
    size:
      description: Size in bytes.
      type: int
      sample: 637700138
    modified_at:
      description: When the model was last pulled or created.
      type: str
      sample: "2025-01-14T10:21:05.143427+00:00"
    details:
      description: Format, family, parameter size and quantization.
      type: dict
      sample: {format: gguf, family: llama, parameter_size: 1B, quantization_level: Q4_0}
loaded:
  description: Models loaded in memory, as C(/api/ps) lists them.
  returned: when O(gather) has V(loaded)
  type: list
  elements: dict
  contains:
    name:
      description: Name in the shortest form Ollama shows.
      type: str
      sample: tinyllama:latest
    size:
      description: Memory the loaded model takes, in bytes.
      type: int
      sample: 1360977920
    size_vram:
      description: Part of RV(loaded[].size) held in GPU memory; 0 means the model runs on the CPU.
      type: int
      sample: 1360977920
    expires_at:
      description: When Ollama unloads it unless it is used again.
      type: str
      sample: "2025-01-14T10:26:05.143427+00:00"
    gpu_fraction:
      description: RV(loaded[].size_vram) divided by RV(loaded[].size), 0.0 to 1.0 (added by this module).
      type: float
      sample: 1.0
missing:
  description: Names asked for in O(name) that are not installed.
  returned: when O(gather) has V(installed)
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.llmstack.gateway.plugins.module_utils._api import ApiError
from ansible_collections.llmstack.gateway.plugins.module_utils._ollama import (
    InvalidModelName,
    OllamaClient,
    model_key,
    ollama_argument_spec,
)


def key_or_none(name):
    try:
        return model_key(name)
    except InvalidModelName:
        return None


def wanted_names(module):
    """{model key: name as given} of O(name); fails on a name Ollama would refuse."""
    wanted = {}
    for name in module.params["name"] or []:
        key = key_or_none(name)
        if key is None:
            module.fail_json(msg=f"name contains {name!r}, which is not a valid Ollama model name.")
        wanted[key] = name
    return wanted


def select(models, loaded, wanted):
    """(models, loaded, missing) for the wanted model keys (all when none); loaded entries get gpu_fraction."""

    def selected(entry):
        return not wanted or key_or_none(entry.get("name") or entry.get("model") or "") in wanted

    models = [entry for entry in models if selected(entry)]
    loaded = [entry for entry in loaded if selected(entry)]
    for entry in loaded:
        size = entry.get("size") or 0
        entry["gpu_fraction"] = round(float(entry.get("size_vram") or 0) / size, 3) if size else 0.0
    installed = {key_or_none(entry.get("name") or entry.get("model") or "") for entry in models}
    missing = [name for key, name in wanted.items() if key not in installed]
    return models, loaded, missing


GATHER = ("installed", "loaded", "version")


def gathered(client, gather, wanted):
    """The result keys for what `gather` names, one request to Ollama for each."""
    models, loaded, missing = select(
        client.installed_models() if "installed" in gather else [],
        client.loaded_models() if "loaded" in gather else [],
        wanted,
    )
    result = {"version": client.version()} if "version" in gather else {}
    if "installed" in gather:
        result.update(models=models, missing=missing)
    if "loaded" in gather:
        result["loaded"] = loaded
    return result


def main():
    argument_spec = ollama_argument_spec()
    argument_spec.update(
        name={"type": "list", "elements": "str"},
        gather={"type": "list", "elements": "str", "choices": list(GATHER), "default": list(GATHER)},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    wanted = wanted_names(module)
    client = OllamaClient(module.params)
    try:
        module.exit_json(changed=False, **gathered(client, module.params["gather"], wanted))
    except ApiError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
