# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: role_argument_spec
version_added: 0.2.0
short_description: The options a role of this collection declares for one of its entry points
description:
  - Returns the C(options) of an entry point in a llmstack.gateway role's C(meta/argument_specs.yml), the
    argument spec that Ansible checks when the role starts.
  - A playbook gives them to M(ansible.builtin.validate_argument_spec) to check the variables of roles that
    run later, before the first one changes anything, without running those roles or their dependencies.
author:
  - llmstack.gateway maintainers (@llmstack)
options:
  _terms:
    description: Role names of this collection, without the collection prefix (C(litellm_stack)).
    type: list
    elements: str
    required: true
  entry_point:
    description: The entry point whose options are returned.
    type: str
    default: main
"""

EXAMPLES = r"""
- name: Check the stack role's variables before any role changes the host
  ansible.builtin.validate_argument_spec:
    argument_spec: "{{ lookup('llmstack.gateway.role_argument_spec', 'litellm_stack') }}"
"""

RETURN = r"""
_raw:
  description: One dict of options (name to spec) per role named.
  type: list
  elements: dict
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.text.converters import to_native
from ansible.parsing.yaml.loader import AnsibleLoader
from ansible.plugins.lookup import LookupBase

# Roles sit beside plugins/ in every collection, installed or checked out.
ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")


def argument_spec_options(role, entry_point="main", roles_dir=ROLES_DIR):
    """The options of one entry point of one of this collection's roles."""
    if not role or os.sep in role or role.startswith("."):
        raise AnsibleLookupError(f"role_argument_spec: '{role}' is not a role name of llmstack.gateway")
    path = os.path.join(roles_dir, role, "meta", "argument_specs.yml")
    try:
        with open(path, encoding="utf-8") as stream:
            specs = AnsibleLoader(stream).get_single_data() or {}
    except OSError as exc:
        raise AnsibleLookupError(
            f"role_argument_spec: llmstack.gateway has no role '{role}' ({to_native(exc)})"
        ) from None
    entry = specs.get("argument_specs", {}).get(entry_point)
    if entry is None:
        raise AnsibleLookupError(f"role_argument_spec: role '{role}' has no entry point '{entry_point}'")
    return entry.get("options", {})


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return [argument_spec_options(term, self.get_option("entry_point")) for term in terms]
