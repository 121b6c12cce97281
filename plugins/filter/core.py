# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters of llmstack.gateway (documented in the .yml file next to this one, one per filter)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


MODEL_MODES = ("chat", "embedding")


def model_list_problems(models_by_tier):
    """Every way a tier -> models mapping is unusable, one phrase each (empty when it is usable)."""
    if not isinstance(models_by_tier, Mapping):
        return [f" must map each tier name to a list of models, not {type(models_by_tier).__name__}"]
    problems = []
    for tier, models in models_by_tier.items():
        if isinstance(models, (str, bytes)) or not isinstance(models, Sequence):
            problems.append(f"[{tier}] must be a list of models")
            continue
        for position, model in enumerate(models):
            where = f"[{tier}][{position}]"
            if not isinstance(model, Mapping):
                problems.append(f"{where} must be a dict with name, ollama and mode")
                continue
            missing = [key for key in ("name", "ollama", "mode") if key not in model]
            if missing:
                problems.append(f"{where} lacks {', '.join(missing)}")
            elif model["mode"] not in MODEL_MODES:
                problems.append(f"{where} has mode '{model['mode']}', not chat or embedding")
    return problems


def tier_models(models_by_tier, tier):
    """The models a tier serves, after checking the whole mapping (a tier without an entry serves none)."""
    problems = model_list_problems(models_by_tier)
    if problems:
        raise AnsibleFilterError(
            "llmstack_models_by_tier" + "; llmstack_models_by_tier".join(problems) + ". Nothing was changed."
        )
    return list(models_by_tier.get(tier, []))


class FilterModule:
    def filters(self):
        return {"from_dotenv": from_dotenv, "ollama_name": ollama_name, "tier_models": tier_models}
