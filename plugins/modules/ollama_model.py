#!/usr/bin/python
# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_model
short_description: Manage one model on an Ollama server
version_added: 0.1.0
description:
  - Makes sure a model is installed on (or removed from) an Ollama server, through Ollama's REST API.
  - With O(state=present) it asks C(GET /api/tags) first and sends no pull at all when the model is
    already there, so a converged host makes no registry traffic (a plain C(ollama pull) contacts the
    registry every time and fails offline).
  - Names are compared the way Ollama does, case-insensitively, with its defaults filled in
    (C(tinyllama) is C(tinyllama:latest) is C(registry.ollama.ai/library/tinyllama:latest)).
  - An interrupted pull is retried, and Ollama resumes it from the partial download.
  - With O(src) it imports a GGUF file that is on the managed host instead of pulling (for air-gapped
    hosts). The file's SHA-256 is compared with the weights blob of the installed model, and only a model
    that is missing or was made from another file is (re-)created.
author:
  - llmstack.gateway maintainers (@llmstack)
extends_documentation_fragment:
  - llmstack.gateway.ollama
  - llmstack.gateway.ollama.actiongroup
  - llmstack.gateway.attributes
attributes:
  check_mode:
    support: full
    details:
      - With O(state=latest) and the model installed, check mode cannot learn whether the registry has a
        newer digest without pulling, so it reports no change and says so in a warning.
      - With O(src), check mode hashes the file and asks Ollama, and uploads nothing.
  diff_mode:
    support: full
    details:
      - The diff shows the server's model list before and after; with O(src) also the SHA-256 of the
        model's weights blob before and after.
options:
  name:
    description:
      - Model name, C([host/][namespace/]model[:tag]). A private registry needs all three parts
        (C(reg.lab:5000/library/llama3.2:1b)).
    type: str
    required: true
  state:
    description:
      - V(present) pulls the model only when it is not installed (with O(src), imports it only when it is
        not installed from that very file).
      - V(latest) always asks the registry and reports a change only when the model's digest changed.
      - V(absent) deletes the model; a model that is already absent is not a change.
    type: str
    choices: [present, absent, latest]
    default: present
  insecure:
    description:
      - Allow a plain-HTTP (or self-signed) private registry in O(name).
      - Mutually exclusive with O(src).
    type: bool
    default: false
  src:
    description:
      - Path of a GGUF model file on the managed host (the module runs there, not on the controller) to
        import as O(name) instead of pulling it. Only with O(state=present).
      - The file's SHA-256 is computed (the file is read once, in blocks). When O(name) is installed and
        the C(FROM) line of its C(POST /api/show) modelfile names the blob C(sha256-<that digest>) (and
        O(template) and O(system), when given, are what C(/api/show) reports), nothing is sent at all.
      - Otherwise C(HEAD /api/blobs/sha256:<hex>) asks whether Ollama stores the file already; if not, the
        file is streamed to C(POST /api/blobs/sha256:<hex>) (Ollama checks the digest). Then
        C(POST /api/create) with C(files) (the file's base name) makes the model, replacing a model of
        that name that was made from another file or pulled from a registry.
      - Ollama's own words are reported when it refuses the file (C(supplied file was not in GGUF format),
        C(unknown type), C(digest mismatch ...)).
      - For a file on the controller, copy it to the host first (the P(llmstack.gateway.ollama_models#role)
        role does that with C(ollama_models_gguf)).
    type: path
  template:
    description:
      - Prompt template of the imported model, as a Modelfile's C(TEMPLATE) (Go template syntax).
      - Ollama derives one from the GGUF's chat template when this is not set. Only with O(src).
    type: str
  system:
    description:
      - System prompt of the imported model, as a Modelfile's C(SYSTEM). Only with O(src).
    type: str
  pull_timeout:
    description:
      - Seconds a pull may take, and may stay silent (Ollama is quiet while it verifies a large blob).
      - A 13 GB model on a slow link takes an hour.
      - With O(src), the seconds the upload of the file, and then the create, may take.
    type: int
    default: 3600
  retries:
    description:
      - How many more times to try a pull that was interrupted (dropped connection, timeout, HTTP 5xx).
        Ollama resumes from what it already downloaded. Errors reported by the registry are not retried.
      - With O(src), how many more times to try an interrupted upload (it starts again from the beginning).
    type: int
    default: 3
  progress_file:
    description:
      - Path of a file on the managed host where a pull keeps its latest progress, as a JSON object with
        C(completed) and C(total) (bytes, summed over the model's layers, taken from Ollama's pull stream) and
        C(status). Replaced atomically at most twice a second, mode 0600, removed when the pull ends.
      - Meant for M(llmstack.gateway.ollama_pull_wait), which reads it while this module runs under C(async).
      - Nothing is written when no pull is needed (the model is present, or check mode).
    type: path
  preload:
    description:
      - After the model is present, load it into memory (the first request then does not wait for it).
      - Loading counts as a change only when the model was not already loaded (C(GET /api/ps)).
    type: bool
    default: false
  keep_alive:
    description:
      - How long a preloaded model stays in memory. A duration with a unit (V(5m), V(1h), V(-1m) for
        ever) or a number of seconds (V(300), V(-1) for ever). Ollama's default applies when not set.
    type: str
notes:
  - With O(src), every run reads the whole file once to hash it (a few seconds per GB); that is the price
    of deciding by content rather than by name or date.
  - Ollama has no authentication. Keep O(api_url) on loopback, or put an authenticating proxy in front
    and give its token in O(api_key).
seealso:
  - module: llmstack.gateway.ollama_model_info
  - name: Ollama API
    description: Ollama's REST API reference.
    link: https://github.com/ollama/ollama/blob/main/docs/api.md
"""

EXAMPLES = r"""
- name: Make sure tinyllama is installed (no registry traffic when it already is)
  llmstack.gateway.ollama_model:
    name: tinyllama

- name: Install gpt-oss:20b and keep it in memory for good
  llmstack.gateway.ollama_model:
    name: gpt-oss:20b
    preload: true
    keep_alive: "-1m"

- name: Follow the registry's newest build of a tag
  llmstack.gateway.ollama_model:
    name: llama3.2:1b
    state: latest

- name: Pull from a lab's plain-HTTP registry
  llmstack.gateway.ollama_model:
    name: registry.lab.example:5000/library/qwen2.5:0.5b
    insecure: true

- name: Remove a model
  llmstack.gateway.ollama_model:
    name: bge-m3
    state: absent

- name: Import a GGUF file that is on the host (air-gapped lab); nothing is sent once it is in
  llmstack.gateway.ollama_model:
    name: lab/qwen2.5-coder:7b-q4
    src: /srv/models/qwen2.5-coder-7b-instruct-q4_k_m.gguf
    system: You are the lab's coding assistant. Answer briefly.
  register: imported

- name: Say whether the file had to be uploaded
  ansible.builtin.debug:
    msg: "{{ imported.name }}: {{ imported.bytes_uploaded }} bytes uploaded, weights sha256:{{ imported.src_digest }}"

- name: Talk to an Ollama on another host for every Ollama module of the play
  module_defaults:
    group/llmstack.gateway.ollama:
      api_url: http://gpu-box-01.lab.example:11434
  block:
    - name: Install a model there
      llmstack.gateway.ollama_model:
        name: tinyllama
"""

RETURN = r"""
name:
  description: The model's name in the shortest form Ollama shows.
  returned: always
  type: str
  sample: tinyllama:latest
digest:
  description: The installed model's digest, or null when it is not installed.
  returned: always
  type: str
  sample: 2644915ede352ea7bdfaff0bfac0be74c719d5d5202acb63a6fb095b52f394a4
size:
  description: Size of the installed model in bytes, or null when it is not installed.
  returned: always
  type: int
  sample: 637700138
details:
  description: The model's details as C(/api/tags) reports them, or null when it is not installed.
  returned: always
  type: dict
  sample:
    format: gguf
    family: llama
    families: [llama]
    parameter_size: 1B
    quantization_level: Q4_0
pulled:
  description: Whether a pull was sent to Ollama.
  returned: always
  type: bool
  sample: false
bytes_pulled:
  description: Bytes Ollama transferred for this task (a resumed pull counts only what was missing).
  returned: always
  type: int
  sample: 637700138
attempts:
  description: Pull attempts made (0 when no pull was needed); with O(src), upload attempts.
  returned: always
  type: int
  sample: 1
previous_digest:
  description: The digest before a V(latest) pull, or null.
  returned: when O(state=latest)
  type: str
  sample: 2644915ede352ea7bdfaff0bfac0be74c719d5d5202acb63a6fb095b52f394a4
preloaded:
  description: Whether the model was loaded into memory by this task.
  returned: always
  type: bool
  sample: false
imported:
  description: Whether the model was (re-)created from O(src) by this task (false in check mode).
  returned: when O(src) is given
  type: bool
  sample: true
bytes_uploaded:
  description: Bytes of O(src) sent to Ollama by this task; 0 when Ollama already stored the file or
    the model was already made from it.
  returned: when O(src) is given
  type: int
  sample: 4683073184
src_digest:
  description: SHA-256 (hex) of O(src).
  returned: when O(src) is given
  type: str
  sample: 60e05f210007a1e8a0bdbd4bd7bc8d8d6d05f30de1eb3d4c1f0d9e7c5f2b6a81
previous_blob_digest:
  description: SHA-256 (hex) of the installed model's weights blob before this task, or null when
    O(name) was not installed (or C(/api/show) named no blob).
  returned: when O(src) is given
  type: str
  sample: 2af3b81862c6be03c769683af18efdadb2c33f60ff32ab6f83e42c043d6c7816
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.llmstack.gateway.plugins.module_utils._api import ApiError, with_retries
from ansible_collections.llmstack.gateway.plugins.module_utils._ollama import (
    InvalidModelName,
    OllamaClient,
    PullProgress,
    create_file_name,
    display_name,
    file_sha256,
    model_blob_digest,
    ollama_argument_spec,
)
from ansible_collections.llmstack.gateway.plugins.module_utils._progress_file import ProgressFile
from ansible_collections.llmstack.gateway.plugins.module_utils._state import UNKNOWN, StateModule

_DURATION = re.compile(r"^-?[0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h)$")
_SECONDS = re.compile(r"^-?[0-9]+$")


def keep_alive_value(module):
    """Ollama takes seconds as a number or a duration with a unit; the string "-1" is a 400."""
    value = module.params["keep_alive"]
    if value is None:
        return None
    value = value.strip()
    if _SECONDS.match(value):
        return int(value)
    if _DURATION.match(value):
        return value
    module.fail_json(msg=f"keep_alive {value!r} is neither a number of seconds nor a duration such as 5m, 1h or -1m.")
    return None


def model_names(models):
    return sorted((entry.get("name") or entry.get("model") or "") for entry in models)


def pull(module, client, name, result):
    """Pull with retries; Ollama resumes each retry from the partial download."""
    progress_file = ProgressFile(module.params["progress_file"])
    progress = PullProgress(on_update=progress_file.write)

    def attempt():
        result["attempts"] += 1
        return client.pull(name, module.params["insecure"], module.params["pull_timeout"], progress)

    def note(number, exc):
        module.warn(f"Pull attempt {number} of {name} failed ({exc}); retrying, Ollama resumes the download.")

    result["pulled"] = True
    try:
        with_retries(attempt, module.params["retries"], on_retry=note)
    finally:
        progress_file.close()
        result["bytes_pulled"] = progress.bytes_pulled


def import_file(module, client, name, src, result):
    """Upload the file unless Ollama stores it already, then create the model from it."""
    digest = "sha256:" + result["src_digest"]
    timeout = module.params["pull_timeout"]

    def upload():
        result["attempts"] += 1
        return client.push_blob(digest, src, timeout)

    def note(number, exc):
        module.warn(f"Upload attempt {number} of {src} failed ({exc}); retrying from the beginning.")

    if not client.has_blob(digest):
        result["bytes_uploaded"] = with_retries(upload, module.params["retries"], on_retry=note)
    payload = {"files": {create_file_name(src): digest}}
    for option in ("template", "system"):
        if module.params[option] is not None:
            payload[option] = module.params[option]
    try:
        client.create(name, payload, timeout)
    except ApiError as exc:
        raise ApiError(f"{exc} (importing {src})") from None
    result["imported"] = True


def check_src(module):
    """The file must be a readable regular file on the managed host; returns its absolute path."""
    src = module.params["src"]
    if module.params["state"] != "present":
        module.fail_json(msg=f"src imports a model: use it with state=present, not state={module.params['state']}.")
    if not os.path.exists(src):
        module.fail_json(msg=f"src {src!r} does not exist on the managed host (the module reads it there).")
    if not os.path.isfile(src):
        module.fail_json(msg=f"src {src!r} is not a regular file.")
    if not os.access(src, os.R_OK):
        module.fail_json(msg=f"src {src!r} is not readable by the user the module runs as.")
    return os.path.abspath(src)


class OllamaModel(StateModule):
    """One model on the server, seen as the server's model list, the model's /api/tags entry and, with
    src, what /api/show says it was made from (weights blob, template, system prompt).

    State is a dict: models (names), entry (or None), present (wanted or not), digest, and with src
    blob, template and system.
    """

    errors = (ApiError,)

    def __init__(self, module):
        super().__init__(module)
        self.name = self.params["name"]
        self.keep_alive = keep_alive_value(module)
        if self.params["retries"] < 0:
            module.fail_json(msg="retries must be 0 or more.")
        try:
            self.wanted = display_name(self.name)
        except InvalidModelName:
            module.fail_json(
                msg=f"name {self.name!r} is not a valid Ollama model name: use [host/][namespace/]model[:tag] with "
                "letters, digits, '_', '.' and '-' (at most 128 characters)."
            )
        self.src = check_src(module) if self.params["src"] is not None else None
        self.client = OllamaClient(self.params)
        self.diff_header = f"{self.client.base_url} models"
        self.result.update(name=self.wanted, pulled=False, bytes_pulled=0, attempts=0, preloaded=False)
        if self.src is not None:
            self.result.update(imported=False, bytes_uploaded=0, previous_blob_digest=None)
            try:
                self.result["src_digest"] = file_sha256(self.src)
            except OSError as exc:
                self.fail(f"Cannot read src {self.src!r}: {exc}.")

    def read(self):
        models = self.client.installed_models()
        entry = self.client.find_installed(self.name, models)
        state = self._state(models, entry)
        if self.params["state"] == "latest":
            self.result["previous_digest"] = state["digest"]
        if self.src is not None:
            show = self.client.show(entry.get("name") or self.name) if entry is not None else None
            if show is not None:
                self.result["previous_blob_digest"] = model_blob_digest(show)
            state["blob"] = self.result["previous_blob_digest"]
            for option in ("template", "system"):
                state[option] = (show.get(option) or "") if show is not None else None
        return state

    def _state(self, models, entry):
        digest = entry.get("digest") if entry else None
        return {"models": model_names(models), "entry": entry, "present": entry is not None, "digest": digest}

    def desired(self, before):
        after = dict(before, models=list(before["models"]), present=self.params["state"] != "absent")
        if not after["present"]:
            if before["entry"] is not None:
                after["models"].remove(before["entry"].get("name") or before["entry"].get("model"))
            after["entry"] = after["digest"] = None
            return after
        if before["entry"] is None:
            after["models"] = sorted(after["models"] + [self.wanted])
        if self.src is not None:
            after["blob"] = self.result["src_digest"]
            for option in ("template", "system"):
                if self.params[option] is not None:
                    after[option] = self.params[option]
        elif self.params["state"] == "latest" and before["entry"] is not None:
            after["digest"] = UNKNOWN
        return after

    def compare(self, before, after):
        if before["present"] != after["present"]:
            return True
        if not after["present"]:
            return False
        if self.src is not None:
            return any(before[key] != after[key] for key in ("blob", "template", "system"))
        if after["digest"] is UNKNOWN:
            return UNKNOWN
        return before["digest"] != after["digest"]

    def cannot_tell(self, before):
        self.module.warn(
            f"Check mode cannot tell whether the registry has a newer {self.wanted} without pulling it; "
            "reporting no change."
        )

    def write(self, before, after):
        if not after["present"]:
            self.client.delete(before["entry"].get("name") or self.name)
            return after
        if self.src is not None:
            import_file(self.module, self.client, self.name, self.src, self.result)
            verb = "creating"
        else:
            pull(self.module, self.client, self.name, self.result)
            verb = "pulling"
        models = self.client.installed_models()
        entry = self.client.find_installed(self.name, models)
        if entry is None:
            self.fail(f"Ollama reported success {verb} {self.wanted} but /api/tags does not list it.")
        return dict(after, **self._state(models, entry))

    def report(self, before, after):
        entry = after["entry"]
        described = {
            "digest": entry.get("digest") if entry else None,
            "size": entry.get("size") if entry else None,
            "details": entry.get("details") if entry else None,
        }
        if entry:
            described["name"] = entry.get("name") or self.result["name"]
        return described

    def follow_up(self, after, changed):
        """Preloading is its own change: only when the model is wanted and not in memory yet."""
        if not after["present"] or not self.params["preload"] or self.client.find_loaded(self.name) is not None:
            return changed
        if not self.check_mode:
            self.client.preload(self.name, self.keep_alive, self.params["pull_timeout"])
            self.result["preloaded"] = True
        return True

    def diff_view(self, state):
        view = {"models": state["models"]}
        if self.src is not None:
            view["model_blob"] = state["blob"]
        return view


def main():
    argument_spec = ollama_argument_spec()
    argument_spec.update(
        name={"type": "str", "required": True},
        state={"type": "str", "choices": ["present", "absent", "latest"], "default": "present"},
        insecure={"type": "bool", "default": False},
        pull_timeout={"type": "int", "default": 3600},
        retries={"type": "int", "default": 3},
        preload={"type": "bool", "default": False},
        keep_alive={"type": "str"},
        src={"type": "path"},
        template={"type": "str"},
        system={"type": "str"},
        progress_file={"type": "path"},
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[("src", "insecure")],
        required_by={"template": "src", "system": "src"},
    )
    OllamaModel(module).run()


if __name__ == "__main__":
    main()
