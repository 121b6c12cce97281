# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What is wrong with the litellm_stack role's variables that its argument spec cannot say (documented in
litellm_stack_input_problems.yml next to this one)."""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# Written into .env and read by docker compose, which interpolates "$" and stops at quotes and line breaks.
UNSAFE_IN_SECRET = re.compile(r"['\n\r$]")
# LiteLLM's own check of a master key is only "starts with sk-"; 35 characters keeps a guessable one out.
MASTER_KEY_MIN = 35
SETTINGS = (
    ("litellm_stack_router_settings", "router_settings"),
    ("litellm_stack_litellm_settings", "litellm_settings"),
    ("litellm_stack_general_settings", "general_settings"),
    ("litellm_stack_fleet_router_settings", "router_settings"),
    ("litellm_stack_fleet_general_settings", "general_settings"),
)


def _port_problem(name, value):
    try:
        port = int(value)
    except (TypeError, ValueError):
        return f"{name} must be a port number from 1 to 65535, not {value}."
    if isinstance(value, bool) or not 1 <= port <= 65535:
        return f"{name} must be a port number from 1 to 65535, not {value}."
    return None


def _address_problem(name, value):
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return f"{name} must be an IP address (for example 127.0.0.1 or 0.0.0.0), not {value}."
    return None


def _loopback(address):
    ip = ipaddress.ip_address(str(address))
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _exposure_problem(values):
    """A standalone host's Ollama published beyond loopback, with no reason given: refused (a fleet worker's
    is bound to its fleet address behind the worker firewall, and a gateway runs none)."""
    address = values.get("litellm_stack_ollama_bind_address")
    if (values.get("llmstack_fleet_role") or "standalone") != "standalone" or not values.get(
        "litellm_stack_ollama_publish"
    ):
        return None
    if _address_problem("litellm_stack_ollama_bind_address", address) or _loopback(address):
        return None
    if str(values.get("litellm_stack_ollama_exposure_reason") or "").strip():
        return None
    return (
        f"litellm_stack_ollama_bind_address is {address} on a standalone host: Ollama has no authentication, and "
        "Docker publishes its port past ufw (moby #4737). Keep it on loopback (127.0.0.1 or ::1), set "
        "litellm_stack_ollama_publish: false, or state why it is exposed anyway in "
        "litellm_stack_ollama_exposure_reason."
    )


def _secret_problems(values):
    problems = []
    master = values.get("litellm_stack_master_key") or ""
    if master and (not master.startswith("sk-") or len(master) < MASTER_KEY_MIN):
        problems.append(f'litellm_stack_master_key must start with "sk-" and be at least {MASTER_KEY_MIN} characters.')
    secrets = ("litellm_stack_master_key", "litellm_stack_salt_key", "litellm_stack_db_password")
    unsafe = [name for name in secrets if UNSAFE_IN_SECRET.search(str(values.get(name) or ""))]
    if unsafe:
        problems.append(f'{", ".join(unsafe)}: no secret may contain quotes, "$" or line breaks.')
    return problems


def _model_problems(values):
    problems = []
    names = [model.get("name") for model in values.get("litellm_stack_models") or []]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        problems.append(f"litellm_stack_models names a model twice: {', '.join(map(str, twice))}.")
    bad_env = [
        str(provider.get("api_key_env"))
        for provider in values.get("litellm_stack_providers") or []
        if not ENV_NAME.match(str(provider.get("api_key_env") or ""))
    ]
    if bad_env:
        problems.append(
            "litellm_stack_providers: api_key_env must be an environment variable name such as GEMINI_API_KEY, not "
            + ", ".join(bad_env)
            + "."
        )
    return problems


def _settings_problems(values, known_keys):
    problems = []
    for variable, section in SETTINGS:
        unknown = sorted(set(values.get(variable) or {}) - set(known_keys.get(section) or []))
        if unknown:
            problems.append(
                f"{variable} has keys LiteLLM {known_keys.get('litellm_version', '')} ignores without a word: "
                f"{', '.join(unknown)}. Check their spelling (LiteLLM's docs list the valid ones)."
            )
    return problems


def litellm_stack_input_problems(values, known_keys):
    """One sentence per problem with the role's variables, each naming the variable; empty when all is well."""
    if not isinstance(values, Mapping) or not isinstance(known_keys, Mapping):
        raise AnsibleFilterError("litellm_stack_input_problems expects the role's variables and LiteLLM's known keys")
    problems = [
        _port_problem("litellm_stack_litellm_port", values.get("litellm_stack_litellm_port")),
        _port_problem("litellm_stack_ollama_port", values.get("litellm_stack_ollama_port")),
        _address_problem("litellm_stack_litellm_bind_address", values.get("litellm_stack_litellm_bind_address")),
        _address_problem("litellm_stack_ollama_bind_address", values.get("litellm_stack_ollama_bind_address")),
        _exposure_problem(values),
    ]
    if not posixpath.isabs(str(values.get("litellm_stack_dir") or "")):
        problems.append(f"litellm_stack_dir must be an absolute path, not {values.get('litellm_stack_dir')}.")
    bundle = str(values.get("litellm_stack_ca_bundle") or "")
    if bundle and not posixpath.isabs(bundle):
        problems.append(f"litellm_stack_ca_bundle must be an absolute path on the host, not {bundle}.")
    problems += _secret_problems(values) + _model_problems(values) + _settings_problems(values, known_keys)
    return [problem for problem in problems if problem]


class FilterModule:
    def filters(self):
        return {"litellm_stack_input_problems": litellm_stack_input_problems}
