# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters of llmstack.gateway (documented in the .yml file next to this one, one per filter)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.llmstack.gateway.plugins.module_utils._ollama import (
    InvalidModelName,
    display_name,
)


def from_dotenv(text):
    """Parse KEY=VALUE lines (the .env format docker compose reads) into a dict."""
    if not isinstance(text, str):
        raise AnsibleFilterError(f"from_dotenv expects text, got {type(text).__name__}")
    values = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, separator, value = line.partition("=")
        key = key.strip()
        if not separator or not key:
            raise AnsibleFilterError(f"from_dotenv: line {number} is not KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def ollama_name(name):
    """The canonical form of an Ollama model name: Ollama's shortest form, lower-cased."""
    try:
        return display_name(name).lower()
    except InvalidModelName as exc:
        raise AnsibleFilterError(f"ollama_name: {exc}") from None


class FilterModule:
    def filters(self):
        return {"from_dotenv": from_dotenv, "ollama_name": ollama_name}
