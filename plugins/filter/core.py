# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters of llmstack.gateway (documented in the .yml file next to this one, one per filter)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError
from ansible_collections.llmstack.gateway.plugins.module_utils import _fit
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


def slurped_files(results):
    """The text of each file a looped slurp read, by its loop item; files it could not read are left out."""
    if not isinstance(results, Sequence) or isinstance(results, str):
        raise AnsibleFilterError("slurped_files expects the results of a looped slurp (a list)")
    texts = {}
    for result in results:
        if not isinstance(result, Mapping) or "item" not in result:
            raise AnsibleFilterError("slurped_files expects loop results, each with its item")
        if result.get("content") is None:
            continue
        try:
            texts[str(result["item"])] = base64.b64decode(result["content"], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, TypeError) as exc:
            raise AnsibleFilterError(f"slurped_files: {result['item']} is not base64 of UTF-8 text ({exc})") from None
    return texts


def ollama_name(name):
    """The canonical form of an Ollama model name: Ollama's shortest form, lower-cased."""
    try:
        return display_name(name).lower()
    except InvalidModelName as exc:
        raise AnsibleFilterError(f"ollama_name: {exc}") from None


MODEL_MODES = ("chat", "embedding")

# A tier given as {largest_that_fit: N, models: [...]}: the N largest models of each mode that fit the host.
FIT_LIST_KEYS = ("largest_that_fit", "models")


def _model_problems(where, models):
    if isinstance(models, (str, bytes)) or not isinstance(models, Sequence):
        return [f"{where} must be a list of models"]
    problems = []
    for position, model in enumerate(models):
        at = f"{where}[{position}]"
        if not isinstance(model, Mapping):
            problems.append(f"{at} must be a dict with name, ollama and mode")
            continue
        missing = [key for key in ("name", "ollama", "mode") if key not in model]
        if missing:
            problems.append(f"{at} lacks {', '.join(missing)}")
        elif model["mode"] not in MODEL_MODES:
            problems.append(f"{at} has mode '{model['mode']}', not chat or embedding")
    return problems


def _fit_list_problems(tier, entry, table):
    where = f"[{tier}]"
    unknown = sorted(set(map(str, entry)) - set(FIT_LIST_KEYS))
    if unknown:
        return [f"{where} has unknown keys {', '.join(unknown)} (a fit list has largest_that_fit and models)"]
    count = entry.get("largest_that_fit")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        return [f"{where}.largest_that_fit must be a whole number >= 1, not {count!r}"]
    problems = _model_problems(f"{where}.models", entry.get("models"))
    if problems:
        return problems
    if not entry["models"]:
        return [f"{where}.models is empty"]
    return [
        f"{where}.models[{position}] ({model['ollama']}) is not in the model catalogue, so its fit cannot be "
        f"judged; give its size in {_fit.CATALOGUE_VARIABLE}"
        for position, model in enumerate(entry["models"])
        if _fit.needs_of(model["ollama"], table) is None
    ]


def model_list_problems(models_by_tier, table=None):
    """Every way a tier -> models mapping is unusable, one phrase each (empty when it is usable)."""
    if not isinstance(models_by_tier, Mapping):
        return [f" must map each tier name to a list of models, not {type(models_by_tier).__name__}"]
    problems = []
    for tier, models in models_by_tier.items():
        if isinstance(models, Mapping):
            problems.extend(_fit_list_problems(tier, models, table if table is not None else _fit.catalogue()))
        else:
            problems.extend(_model_problems(f"[{tier}]", models))
    return problems


def _catalogue(catalog):
    try:
        return _fit.catalogue(catalog)
    except ValueError as exc:
        raise AnsibleFilterError(f"{exc}. Nothing was changed.") from None


def tier_models(models_by_tier, tier, gpu=None, catalog=None, reserve_mib=_fit.DEFAULT_RESERVE_MIB):
    """The models a tier serves, after checking the whole mapping (a tier without an entry serves none).

    A tier given as {largest_that_fit: N, models: [...]} is resolved from this host's GPUs (gpu: the
    llmstack_gpu fact; none given means no GPU), with the model catalogue (the kept table and catalog).
    """
    table = _catalogue(catalog)
    problems = model_list_problems(models_by_tier, table)
    if problems:
        raise AnsibleFilterError(
            "llmstack_models_by_tier" + "; llmstack_models_by_tier".join(problems) + ". Nothing was changed."
        )
    entry = models_by_tier.get(tier, [])
    if isinstance(entry, Mapping):
        gpus = (gpu or {}).get("gpus", [])
        return _fit.largest_that_fit(entry["models"], entry["largest_that_fit"], gpus, table, _reserve(reserve_mib))
    return list(entry)


def _reserve(reserve_mib):
    if isinstance(reserve_mib, bool) or not isinstance(reserve_mib, (int, float)) or reserve_mib < 0:
        raise AnsibleFilterError(
            f"gpu_tier_fit_reserve_mib must be a number of MiB >= 0, not {reserve_mib!r}. Nothing was changed."
        )
    return reserve_mib


def model_fit(models, gpu, catalog=None, reserve_mib=_fit.DEFAULT_RESERVE_MIB):
    """Per model: what it needs (weights + context, MiB) and where Ollama would run it on this host's GPUs."""
    return _fit.fit(models, (gpu or {}).get("gpus", []), _catalogue(catalog), _reserve(reserve_mib))


def model_fit_problems(fit, gpu, reserve_mib=_fit.DEFAULT_RESERVE_MIB):
    """One line per model that would run on the CPU of a host whose tier uses the GPU (empty otherwise)."""
    if not (gpu or {}).get("uses_gpu"):
        return []
    gpus = gpu.get("gpus", [])
    return [_fit.cpu_message(entry, gpus, _reserve(reserve_mib)) for entry in fit if entry["runs_on"] == "cpu"]


class FilterModule:
    def filters(self):
        return {
            "from_dotenv": from_dotenv,
            "slurped_files": slurped_files,
            "ollama_name": ollama_name,
            "tier_models": tier_models,
            "model_fit": model_fit,
            "model_fit_problems": model_fit_problems,
        }
