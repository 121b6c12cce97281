#!/usr/bin/python
# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_daemon_json
short_description: Merge settings into Docker's daemon.json without clobbering anyone else's keys
version_added: 0.1.0
description:
  - Merges O(settings) recursively into the JSON object that Docker's C(daemon.json) already holds and
    drops the top-level keys listed in O(remove). Every other key, whether an admin set it by hand or
    another role did, stays as it is.
  - Objects merge key by key at every depth (so C(runtimes.nvidia) joins any other runtime already
    configured); strings, numbers, booleans, lists and null in O(settings) replace the value in the file.
  - The file is written, atomically, only when the merged JSON differs from what the file holds
    (formatting and key order alone do not count as a difference). A written file is mode C(0644);
    when the module runs as root it is also owned by C(root:root).
  - A missing or empty file counts as C({}); a missing file is only created when the merge leaves something
    to put in it. A file that is not valid JSON, or not a JSON object, is a
    failure that names the file and the line; nothing is changed then.
  - This module does not restart Docker. Notify a handler when it reports a change.
author:
  - llmstack.gateway maintainers (@llmstack)
extends_documentation_fragment:
  - llmstack.gateway.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the whole file before and after, as JSON.
options:
  path:
    description:
      - Path of Docker's daemon configuration file.
      - Missing parent directories are created (mode C(0755)).
    type: path
    default: /etc/docker/daemon.json
  settings:
    description:
      - Keys and values to merge into the file.
      - Docker expects strings for some values that look like numbers (for example C(log-opts.max-file));
        quote them.
    type: dict
    default: {}
  remove:
    description:
      - Top-level keys to drop from the file. Keys that are not there are ignored.
      - A key may not be both in O(settings) and in O(remove).
    type: list
    elements: str
    default: []
  backup:
    description:
      - Keep a timestamped copy of the previous file next to it whenever the file is rewritten.
    type: bool
    default: false
notes:
  - Docker reads C(daemon.json) only when it starts; restart it after a change.
  - Docker refuses to start when a setting is given both in C(daemon.json) and as a C(dockerd) flag
    (for example C(hosts) and C(-H)); this module does not know the flags, so do not set such keys twice.
seealso:
  - name: dockerd configuration file
    description: Every key daemon.json accepts.
    link: https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file
"""

EXAMPLES = r"""
- name: Rotate container logs and use a registry mirror, keeping everything else in daemon.json
  llmstack.gateway.docker_daemon_json:
    settings:
      log-driver: json-file
      log-opts:
        max-size: 10m
        max-file: "3"
      registry-mirrors:
        - https://mirror.lab.example
  notify: "llmstack.gateway : restart docker"

- name: Register the NVIDIA runtime next to any runtime already configured
  llmstack.gateway.docker_daemon_json:
    settings:
      runtimes:
        nvidia:
          path: nvidia-container-runtime
          args: []
  notify: "llmstack.gateway : restart docker"

- name: Stop making NVIDIA the default runtime, keeping a copy of the old file
  llmstack.gateway.docker_daemon_json:
    remove:
      - default-runtime
    backup: true
"""

RETURN = r"""
path:
  description: The file that was merged into.
  returned: always
  type: str
  sample: /etc/docker/daemon.json
config:
  description: The whole merged content of the file (what it holds now, or would hold in check mode).
  returned: always
  type: dict
  sample:
    log-driver: json-file
    log-opts:
      max-size: 10m
      max-file: "3"
    runtimes:
      nvidia:
        path: nvidia-container-runtime
        args: []
changed_keys:
  description: Top-level keys whose value was added, changed or removed by this run.
  returned: always
  type: list
  elements: str
  sample:
    - runtimes
backup_file:
  description: Path of the copy of the previous file.
  returned: when O(backup=true) and an existing file was rewritten
  type: str
  sample: /etc/docker/daemon.json.12345.2026-01-01@10:00:00~
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible_collections.llmstack.gateway.plugins.module_utils._daemon_json import (
    DaemonJsonError,
    apply,
    changed_keys,
    parse,
    render,
    same,
)
from ansible_collections.llmstack.gateway.plugins.module_utils._state import StateModule

FILE_MODE = 0o644
DIR_MODE = 0o755


def read_current(module, path):
    """Return (exists, data) for the file at path; fail the module when it cannot be merged into."""
    if not os.path.exists(path):
        return False, {}
    if not os.path.isfile(path):
        module.fail_json(msg=f"{path} exists but is not a regular file; nothing was changed.")
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        module.fail_json(msg=f"Cannot read {path}: {to_native(exc)}; nothing was changed.")
    try:
        return True, parse(text, path)
    except DaemonJsonError as exc:
        module.fail_json(msg=f"Cannot merge into {exc}. Fix or remove the file; nothing was changed.", path=path)
    return True, {}  # not reached: fail_json exits


def write_file(module, path, content):
    """Write content to path atomically (a temporary file in the same directory, then a rename)."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        try:
            os.makedirs(directory, DIR_MODE)
        except OSError as exc:
            module.fail_json(msg=f"Cannot create {directory}: {to_native(exc)}")
    fd, tmp = tempfile.mkstemp(prefix=".daemon.json.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(to_bytes(content))
        os.chmod(tmp, FILE_MODE)
    except OSError as exc:
        os.unlink(tmp)
        module.fail_json(msg=f"Cannot write {path}: {to_native(exc)}")
    module.atomic_move(tmp, path)


def fix_attributes(module, path, changed):
    """Mode 0644, and root:root when running as root. Honours check mode; returns changed."""
    changed = module.set_mode_if_different(path, FILE_MODE, changed)
    if os.geteuid() == 0:
        changed = module.set_owner_if_different(path, "root", changed)
        changed = module.set_group_if_different(path, "root", changed)
    return changed


class DaemonJson(StateModule):
    """daemon.json as (exists, data): a missing file is Docker's {} but is only created for content."""

    def __init__(self, module):
        super().__init__(module)
        self.path = self.diff_header = self.params["path"]
        both = sorted(set(self.params["settings"]) & set(self.params["remove"]))
        if both:
            module.fail_json(msg="These keys are both in settings and in remove: " + ", ".join(both))

    def read(self):
        exists, data = read_current(self.module, self.path)
        return {"exists": exists, "data": data}

    def desired(self, before):
        return {"exists": True, "data": apply(before["data"], self.params["settings"], self.params["remove"])}

    def compare(self, before, after):
        # A missing file is only created when there is something to put in it (Docker reads no file as {}).
        if not before["exists"]:
            return bool(after["data"])
        return not same(before["data"], after["data"])

    def write(self, before, after):
        if before["exists"] and self.params["backup"]:
            self.result["backup_file"] = self.module.backup_local(self.path)
        write_file(self.module, self.path, render(after["data"]))
        return after

    def report(self, before, after):
        return {"path": self.path, "config": after["data"], "changed_keys": changed_keys(before["data"], after["data"])}

    def follow_up(self, after, changed):
        return fix_attributes(self.module, self.path, changed) if os.path.exists(self.path) else changed

    def diff_view(self, state):
        return render(state["data"]) if state["exists"] else ""


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/etc/docker/daemon.json"},
            "settings": {"type": "dict", "default": {}},
            "remove": {"type": "list", "elements": "str", "default": []},
            "backup": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    DaemonJson(module).run()


if __name__ == "__main__":
    main()
