# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils is PRIVATE to this collection. It can change or be removed at any time.

"""Whether a model fits a host's NVIDIA GPUs: the model catalogue and the placement rule.

The estimate follows Ollama's own (ollama/ollama, v0.33.0-rc2):
- llm/llama_server.go PredictServerVRAM: a model needs the size of its weights file plus its KV cache,
  2 (K and V) x layers x KV heads x head size x context x 2 bytes (f16).
- server/sched.go selectLlamaServerPlacement / bestSingleGPUFit: a model goes on one card when one holds
  it; otherwise it is spread over the cards of the group (llama.cpp splits its layers); what does not fit on
  the GPUs runs on the CPU (llama-server offloads only the layers that fit). The older scheduler
  (llm/memory.go pickBestFullFitByLibrary, before commit f560bd07) did the same: the fewest cards first.
- ml/device.go MinimumMemory (before f560bd07): 457 MiB set aside on every CUDA card for the runtime.
Card memory is nvidia-smi's memory.total: free memory at the time of a run also counts the models Ollama
already holds, and would make a second run see less room than the first.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.llmstack.gateway.plugins.module_utils._ollama import InvalidModelName, display_name

MIB = 1024 * 1024

# Ollama's MinimumMemory for a CUDA device (ml/device.go, before f560bd07).
DEFAULT_RESERVE_MIB = 457

# The context each model's overhead is counted at: one request of 8192 tokens (litellm_stack gives
# Ollama OLLAMA_CONTEXT_LENGTH 8192 on gpu_high, 4096 below), or the model's own trained context when
# shorter (server/sched.go effectiveModelContext). Without OLLAMA_CONTEXT_LENGTH, Ollama v0.33 picks 4096
# below 23 GiB of VRAM, 32768 below 47 GiB, else 262144 (server/routes.go); the KV cache grows with
# OLLAMA_NUM_PARALLEL (one cache per parallel request).
CONTEXT_TOKENS = 8192

# The kept table. weights_bytes: the model layer's size in the registry's manifest (gpt-oss:20b), or the
# size Ollama's /api/tags reports for the whole model, all its layers (the others; the model layer is all
# but a few KiB of it); each was found the same in several /api/tags answers recorded in public repositories.
# kv_bytes_per_token: 2 x block_count x head_count_kv x key_length x 2 (f16), from the model's GGUF
# metadata (its config.json upstream). context_length: the trained context (GGUF <arch>.context_length).
CATALOGUE = {
    "tinyllama:latest": {
        "aliases": ["tinyllama:1.1b"],
        "weights_bytes": 637_700_138,  # 1.1B Q4_0; 22 layers, 4 KV heads of 64
        "kv_bytes_per_token": 2 * 22 * 4 * 64 * 2,
        "context_length": 2048,
    },
    "llama3.2:latest": {
        "aliases": ["llama3.2:3b"],
        "weights_bytes": 2_019_393_189,  # 3.2B Q4_K_M; 28 layers, 8 KV heads of 128
        "kv_bytes_per_token": 2 * 28 * 8 * 128 * 2,
        "context_length": 131072,
    },
    "qwen2.5:7b": {
        "aliases": ["qwen2.5:latest"],
        "weights_bytes": 4_683_087_332,  # 7.6B Q4_K_M; 28 layers, 4 KV heads of 128
        "kv_bytes_per_token": 2 * 28 * 4 * 128 * 2,
        "context_length": 32768,
    },
    "llama3.1:8b": {
        "aliases": ["llama3.1:latest"],
        "weights_bytes": 4_920_753_328,  # 8.0B Q4_K_M; 32 layers, 8 KV heads of 128
        "kv_bytes_per_token": 2 * 32 * 8 * 128 * 2,
        "context_length": 131072,
    },
    "gpt-oss:20b": {
        "aliases": ["gpt-oss:latest"],
        "weights_bytes": 13_780_154_624,  # 20.9B MXFP4, the manifest's model layer; 24 layers, 8 KV heads of 64
        "kv_bytes_per_token": 2 * 24 * 8 * 64 * 2,
        "context_length": 131072,
    },
    "bge-m3:latest": {
        "aliases": ["bge-m3:567m"],
        "weights_bytes": 1_157_672_605,  # 567M F16; 24 layers, 16 heads of 64
        "kv_bytes_per_token": 2 * 24 * 16 * 64 * 2,
        "context_length": 8192,
    },
}

CATALOGUE_VARIABLE = "gpu_tier_model_catalog"


def canonical(name):
    """A model's catalogue key: Ollama's shortest name, lower-cased (`tinyllama` -> `tinyllama:latest`)."""
    return display_name(name).lower()


def _mib(value):
    return int(-(-value // MIB))  # rounded up: a need is never understated


def built_in():
    """The kept table as {name: {weights_mib, context_mib}}, aliases included."""
    table = {}
    for name, entry in CATALOGUE.items():
        context = min(CONTEXT_TOKENS, entry["context_length"])
        needs = {
            "weights_mib": _mib(entry["weights_bytes"]),
            "context_mib": _mib(entry["kv_bytes_per_token"] * context),
        }
        for key in [name, *entry.get("aliases", [])]:
            table[key] = needs
    return table


def _number(value):
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value >= 0


def catalogue_problems(extra):
    """Every way the inventory's catalogue entries are unusable, each naming the variable."""
    if extra is None:
        return []
    if not isinstance(extra, Mapping):
        return [
            f"{CATALOGUE_VARIABLE} must map Ollama model names to {{weights_mib, context_mib}}, "
            f"not {type(extra).__name__}"
        ]
    problems = []
    for name, entry in extra.items():
        where = f"{CATALOGUE_VARIABLE}[{name}]"
        try:
            canonical(str(name))
        except InvalidModelName:
            problems.append(f"{where} is not an Ollama model name")
            continue
        if not isinstance(entry, Mapping) or not _number(entry.get("weights_mib")):
            problems.append(f"{where} needs weights_mib, a number of MiB >= 0")
            continue
        if not _number(entry.get("context_mib", 0)):
            problems.append(f"{where} has context_mib {entry.get('context_mib')!r}, not a number of MiB >= 0")
        unknown = sorted(set(entry) - {"weights_mib", "context_mib"})
        if unknown:
            problems.append(f"{where} has unknown keys {', '.join(map(str, unknown))} (weights_mib, context_mib)")
    return problems


def catalogue(extra=None):
    """The kept table with the inventory's entries over it, keyed by canonical name. Raises ValueError."""
    problems = catalogue_problems(extra)
    if problems:
        raise ValueError("; ".join(problems))
    table = {canonical(name): dict(needs) for name, needs in built_in().items()}
    for name, entry in (extra or {}).items():
        table[canonical(str(name))] = {"weights_mib": entry["weights_mib"], "context_mib": entry.get("context_mib", 0)}
    for needs in table.values():
        needs["needs_mib"] = needs["weights_mib"] + needs["context_mib"]
    return table


def needs_of(name, table):
    """A model's entry in the table, or None when the catalogue does not know it."""
    try:
        return table.get(canonical(name))
    except InvalidModelName:
        return None


def card_sizes(gpus):
    """Each card's memory.total in MiB, largest first; a card whose memory nvidia-smi does not report (some
    laptops print [Not Supported]) is left out."""
    return sorted((gpu["memory_total_mib"] for gpu in gpus or [] if gpu.get("memory_total_mib")), reverse=True)


def placement(needs_mib, gpus, reserve_mib=DEFAULT_RESERVE_MIB):
    """Where Ollama would put a model of needs_mib: ('gpu', 1), ('gpus', n) spread over n cards, or ('cpu', 0)."""
    usable = [max(0, size - reserve_mib) for size in card_sizes(gpus)]
    if usable and needs_mib <= usable[0]:
        return "gpu", 1
    if len(usable) > 1 and needs_mib <= sum(usable):
        return "gpus", len(usable)
    return "cpu", 0


def fit(models, gpus, table, reserve_mib=DEFAULT_RESERVE_MIB):
    """One entry per model: its needs, and where it would run (gpu, gpus, cpu, or unknown)."""
    entries = []
    for model in models or []:
        needs = needs_of(model["ollama"], table)
        entry = {"name": model.get("name"), "ollama": model["ollama"]}
        if gpus and not card_sizes(gpus):
            # Cards whose memory nvidia-smi does not report: nothing to judge by.
            entry.update(needs or {"needs_mib": None, "weights_mib": None, "context_mib": None})
            entry.update(runs_on="unknown", cards=0)
        elif needs is None:
            entry.update(needs_mib=None, weights_mib=None, context_mib=None, runs_on="unknown", cards=0)
        else:
            runs_on, cards = placement(needs["needs_mib"], gpus, reserve_mib)
            entry.update(needs, runs_on=runs_on, cards=cards)
        entries.append(entry)
    return entries


def _fmt(mib):
    return f"{mib:,.0f} MiB"


def cpu_message(entry, gpus, reserve_mib=DEFAULT_RESERVE_MIB):
    """One line on a model that would run on the CPU: what it needs against what the cards hold."""
    sizes = card_sizes(gpus)
    cards = (
        "no NVIDIA GPU"
        if not sizes
        else f"{len(sizes)} card(s), the largest {_fmt(sizes[0])} ({_fmt(max(0, sizes[0] - reserve_mib))} usable"
        + (f", {_fmt(sum(max(0, size - reserve_mib) for size in sizes))} usable across all" if len(sizes) > 1 else "")
        + ")"
    )
    return (
        f"{entry['ollama']} needs about {_fmt(entry['needs_mib'])} (weights {_fmt(entry['weights_mib'])}, "
        f"context {_fmt(entry['context_mib'])}) but this host has {cards}: Ollama would run it "
        f"{'partly ' if sizes else ''}on the CPU."
    )


def largest_that_fit(candidates, count, gpus, table, reserve_mib=DEFAULT_RESERVE_MIB):
    """The `count` largest candidates of each mode that fit the GPUs, in the list's order.

    A mode none of whose candidates fits keeps its smallest one: it runs on the CPU, and the fit check
    names it, rather than the tier silently losing its chat or embedding model.
    """
    chosen = []
    for mode in dict.fromkeys(model["mode"] for model in candidates):
        of_mode = [model for model in candidates if model["mode"] == mode]
        sized = [
            (needs_of(model["ollama"], table)["needs_mib"], position, model) for position, model in enumerate(of_mode)
        ]
        fitting = [item for item in sized if placement(item[0], gpus, reserve_mib)[0] != "cpu"]
        if fitting:
            picked = sorted(fitting, key=lambda item: (-item[0], item[1]))[:count]
        else:
            picked = sorted(sized, key=lambda item: (item[0], item[1]))[:1]
        chosen.extend(model for _needs, _position, model in picked)
    return [model for model in candidates if any(model is pick for pick in chosen)]
