# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Secrets settled once per host, and what a rotation renews (documented in settled_secrets.yml and
rotation_items.yml next to this one)."""

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


def settled_secrets(lengths, given=None, kept=None, renew=None):
    """Each secret named in lengths: the inventory's value, else the one kept on the host, else a new one.

    A secret named in renew skips the kept value, so this run generates it anew. One the inventory gives
    cannot be renewed here: silently keeping it would report a rotation that did not happen.
    """
    if not isinstance(lengths, Mapping):
        raise AnsibleFilterError("settled_secrets expects a mapping of secret names to lengths")
    given = given or {}
    kept = kept or {}
    renew = list(renew or [])
    unknown = [name for name in renew if name not in lengths]
    if unknown:
        raise AnsibleFilterError(f"settled_secrets cannot renew {', '.join(unknown)}: not a secret it settles")
    fixed = [name for name in renew if given.get(name)]
    if fixed:
        raise AnsibleFilterError(
            f"settled_secrets cannot renew {', '.join(fixed)}: the inventory gives it; change the given value instead"
        )
    return {
        name: given.get(name) or (None if name in renew else kept.get(name)) or generate(name, length)
        for name, length in lengths.items()
    }


def rotation_items(value):
    """What to rotate, as a list: a list as it is, a string split at commas (as -e passes it)."""
    if value is None:
        return []
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise AnsibleFilterError("rotation_items expects a list or a comma-separated string")
    result = []
    for item in items:
        name = str(item).strip()
        if name and name not in result:
            result.append(name)
    return result


class FilterModule:
    def filters(self):
        return {"settled_secrets": settled_secrets, "rotation_items": rotation_items}
