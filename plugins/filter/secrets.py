# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Secrets settled once per host (documented in settled_secrets.yml next to this one)."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

ALPHABET = string.ascii_letters + string.digits
# LiteLLM takes a master key only when it starts with this.
MASTER_KEY = "LITELLM_MASTER_KEY"
MASTER_KEY_PREFIX = "sk-"


def generate(name, length):
    """A new random secret: letters and digits only, so that .env and URLs carry it unquoted."""
    prefix = MASTER_KEY_PREFIX if name == MASTER_KEY else ""
    return prefix + "".join(secrets.choice(ALPHABET) for _position in range(int(length)))


def settled_secrets(lengths, given=None, kept=None):
    """Each secret named in lengths: the inventory's value, else the one kept on the host, else a new one."""
    if not isinstance(lengths, Mapping):
        raise AnsibleFilterError("settled_secrets expects a mapping of secret names to lengths")
    given = given or {}
    kept = kept or {}
    return {name: given.get(name) or kept.get(name) or generate(name, length) for name, length in lengths.items()}


class FilterModule:
    def filters(self):
        return {"settled_secrets": settled_secrets}
