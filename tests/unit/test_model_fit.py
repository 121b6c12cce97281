"""Models chosen by fit: the catalogue, the placement rule and the fit list, against output recorded from real
nvidia-smi (the fixtures a SIMULATED nvidia-smi replays): 8, 12, 16 and 24 GiB cards, two cards, none."""

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llmstack.gateway.plugins.filter.core import (
    model_fit,
    model_fit_problems,
    tier_models,
)
from ansible_collections.llmstack.gateway.plugins.module_utils import _fit
from ansible_collections.llmstack.gateway.plugins.module_utils._nvidia import QUERY_FIELDS, parse_query_output

FIXTURES = Path(__file__).parent / "fixtures" / "nvidia-smi"

# case -> the simulated host's llmstack_gpu (the fields the fit reads); no-driver is a host without a GPU.
CASES = ("rtx3070-8gb", "rtx3060-12gb", "rtx4060ti-16gb", "rtx4090", "two-rtx3060", "no-driver")


def simulated_gpu(case, uses_gpu=True):
    """llmstack_gpu as the role publishes it for a recorded case (no GPUs when nvidia-smi failed)."""
    text = (FIXTURES / f"{case}.query.txt").read_text(encoding="utf-8")
    failed = (FIXTURES / f"{case}.rc").exists()
    gpus = [] if failed else parse_query_output(text, QUERY_FIELDS)
    return {"gpus": gpus, "gpu_count": len(gpus), "uses_gpu": uses_gpu and bool(gpus)}


def model(ollama, mode="chat"):
    return {"name": ollama.replace(":", "-"), "ollama": ollama, "mode": mode}


DEFAULT_LIKE = [model("tinyllama"), model("gpt-oss:20b"), model("bge-m3", "embedding")]


def test_the_fixtures_are_the_card_sizes_they_are_named_for():
    sizes = {case: [gpu["memory_total_mib"] for gpu in simulated_gpu(case)["gpus"]] for case in CASES}
    assert sizes == {
        "rtx3070-8gb": [8192],
        "rtx3060-12gb": [12288],
        "rtx4060ti-16gb": [16380],
        "rtx4090": [24564],
        "two-rtx3060": [12288, 12288],
        "no-driver": [],
    }


def test_the_kept_table_gives_the_default_models_real_sizes():
    table = _fit.catalogue()
    # gpt-oss:20b's model layer is 13,780,154,624 bytes in its manifest; tinyllama and bge-m3 as /api/tags sizes them.
    assert table["gpt-oss:20b"]["weights_mib"] == 13142
    assert table["tinyllama:latest"]["weights_mib"] == 609
    assert table["bge-m3:latest"]["weights_mib"] == 1105
    # KV cache at 8192 tokens, f16: 2 x 24 layers x 8 KV heads x 64 x 2 bytes per token.
    assert table["gpt-oss:20b"]["context_mib"] == 384
    # tinyllama was trained on 2048 tokens, so its context stops there.
    assert table["tinyllama:latest"]["context_mib"] == 44
    assert table["gpt-oss:20b"]["needs_mib"] == 13142 + 384
    # Names as people write them find the entry.
    assert _fit.needs_of("tinyllama", table) == _fit.needs_of("registry.ollama.ai/library/TinyLlama:latest", table)
    assert _fit.needs_of("gpt-oss", table) == table["gpt-oss:20b"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("rtx3070-8gb", {"tinyllama": ("gpu", 1), "gpt-oss:20b": ("cpu", 0), "bge-m3": ("gpu", 1)}),
        ("rtx3060-12gb", {"tinyllama": ("gpu", 1), "gpt-oss:20b": ("cpu", 0), "bge-m3": ("gpu", 1)}),
        ("rtx4060ti-16gb", {"tinyllama": ("gpu", 1), "gpt-oss:20b": ("gpu", 1), "bge-m3": ("gpu", 1)}),
        ("rtx4090", {"tinyllama": ("gpu", 1), "gpt-oss:20b": ("gpu", 1), "bge-m3": ("gpu", 1)}),
        # Neither 12 GiB card holds gpt-oss:20b; the two together do, and Ollama spreads it over both.
        ("two-rtx3060", {"tinyllama": ("gpu", 1), "gpt-oss:20b": ("gpus", 2), "bge-m3": ("gpu", 1)}),
        ("no-driver", {"tinyllama": ("cpu", 0), "gpt-oss:20b": ("cpu", 0), "bge-m3": ("cpu", 0)}),
    ],
)
def test_simulated_cards_where_each_default_model_runs(case, expected):
    fit = model_fit(DEFAULT_LIKE, simulated_gpu(case))
    assert {entry["ollama"]: (entry["runs_on"], entry["cards"]) for entry in fit} == expected


@pytest.mark.parametrize(
    ("case", "named"),
    [
        ("rtx3070-8gb", ["gpt-oss:20b"]),
        ("rtx3060-12gb", ["gpt-oss:20b"]),
        ("rtx4060ti-16gb", []),
        ("rtx4090", []),
        ("two-rtx3060", []),
    ],
)
def test_simulated_cards_the_preflight_names_each_model_that_would_run_on_the_cpu(case, named):
    gpu = simulated_gpu(case)
    lines = model_fit_problems(model_fit(DEFAULT_LIKE, gpu), gpu)
    assert [line.split(" ")[0] for line in lines] == named
    for line in lines:
        assert "needs about 13,526 MiB (weights 13,142 MiB, context 384 MiB)" in line
        assert "partly on the CPU" in line


def test_simulated_12gib_card_the_line_says_what_the_card_holds():
    gpu = simulated_gpu("rtx3060-12gb")
    (line,) = model_fit_problems(model_fit(DEFAULT_LIKE, gpu), gpu)
    assert "1 card(s), the largest 12,288 MiB (11,831 MiB usable)" in line


def test_a_cpu_tier_is_not_warned_about_its_models():
    gpu = simulated_gpu("no-driver")
    assert model_fit_problems(model_fit(DEFAULT_LIKE, gpu), gpu) == []
    # A GPU host kept on tier cpu by the inventory: every model is on the CPU by choice.
    kept = simulated_gpu("rtx3060-12gb", uses_gpu=False)
    assert model_fit_problems(model_fit(DEFAULT_LIKE, kept), kept) == []


def test_the_reserve_decides_at_the_edge():
    gpu = simulated_gpu("rtx4060ti-16gb")
    needs = _fit.catalogue()["gpt-oss:20b"]["needs_mib"]
    assert _fit.placement(needs, gpu["gpus"], reserve_mib=16380 - needs) == ("gpu", 1)
    assert _fit.placement(needs, gpu["gpus"], reserve_mib=16380 - needs + 1) == ("cpu", 0)
    # With litellm_stack's gpu_high OLLAMA_GPU_OVERHEAD (2048 MiB) on top of the runtime's 457, a 16 GiB card
    # still holds gpt-oss:20b (349 MiB to spare); a 12 GiB card does not hold it even with no reserve.
    assert model_fit([model("gpt-oss:20b")], gpu, reserve_mib=457 + 2048)[0]["runs_on"] == "gpu"
    assert model_fit([model("gpt-oss:20b")], simulated_gpu("rtx3060-12gb"), reserve_mib=0)[0]["runs_on"] == "cpu"


def test_an_unknown_model_is_not_judged_and_the_catalogue_can_name_it():
    gpu = simulated_gpu("rtx3070-8gb")
    (unknown,) = model_fit([model("mistral-small:24b")], gpu)
    assert unknown["runs_on"] == "unknown" and unknown["needs_mib"] is None
    assert model_fit_problems([unknown], gpu) == []
    catalog = {"mistral-small:24b": {"weights_mib": 13_700, "context_mib": 1280}}
    (known,) = model_fit([model("mistral-small:24b")], gpu, catalog)
    assert (known["needs_mib"], known["runs_on"]) == (14_980, "cpu")


def test_the_catalogue_overrides_the_kept_table():
    (entry,) = model_fit([model("tinyllama")], simulated_gpu("rtx3070-8gb"), {"tinyllama": {"weights_mib": 9000}})
    assert (entry["weights_mib"], entry["context_mib"], entry["runs_on"]) == (9000, 0, "cpu")


@pytest.mark.parametrize(
    ("catalog", "words"),
    [
        ("big", "gpu_tier_model_catalog must map Ollama model names to {weights_mib, context_mib}, not str"),
        ({"m:1b": {"context_mib": 1}}, "gpu_tier_model_catalog[m:1b] needs weights_mib, a number of MiB >= 0"),
        ({"m:1b": {"weights_mib": "1 GB"}}, "gpu_tier_model_catalog[m:1b] needs weights_mib"),
        ({"m:1b": {"weights_mib": 1, "context_mib": -1}}, "gpu_tier_model_catalog[m:1b] has context_mib -1"),
        ({"m:1b": {"weights_mib": 1, "size": 2}}, "gpu_tier_model_catalog[m:1b] has unknown keys size"),
        ({"bad name!": {"weights_mib": 1}}, "gpu_tier_model_catalog[bad name!] is not an Ollama model name"),
    ],
)
def test_a_bad_catalogue_gives_one_line_naming_the_variable(catalog, words):
    with pytest.raises(AnsibleFilterError, match="Nothing was changed") as error:
        model_fit(DEFAULT_LIKE, simulated_gpu("rtx4090"), catalog)
    assert words in str(error.value)
    assert "\n" not in str(error.value)


def test_a_bad_reserve_names_the_variable():
    with pytest.raises(AnsibleFilterError, match="gpu_tier_fit_reserve_mib must be a number of MiB >= 0"):
        model_fit(DEFAULT_LIKE, simulated_gpu("rtx4090"), None, -1)


CANDIDATES = [
    model("gpt-oss:20b"),
    model("llama3.1:8b"),
    model("qwen2.5:7b"),
    model("llama3.2:3b"),
    model("tinyllama"),
    model("bge-m3", "embedding"),
]


@pytest.mark.parametrize(
    ("case", "count", "chosen"),
    [
        ("rtx3070-8gb", 1, ["llama3.1:8b", "bge-m3"]),
        ("rtx3060-12gb", 1, ["llama3.1:8b", "bge-m3"]),
        ("rtx4060ti-16gb", 1, ["gpt-oss:20b", "bge-m3"]),
        ("rtx4090", 1, ["gpt-oss:20b", "bge-m3"]),
        ("two-rtx3060", 1, ["gpt-oss:20b", "bge-m3"]),
        # No GPU: the smallest of each mode, which the CPU serves best.
        ("no-driver", 1, ["tinyllama", "bge-m3"]),
        ("rtx3070-8gb", 2, ["llama3.1:8b", "qwen2.5:7b", "bge-m3"]),
        ("rtx4090", 3, ["gpt-oss:20b", "llama3.1:8b", "qwen2.5:7b", "bge-m3"]),
    ],
)
def test_simulated_cards_a_fit_list_takes_the_largest_models_that_fit(case, count, chosen):
    mapping = {"gpu_high": {"largest_that_fit": count, "models": CANDIDATES}}
    models = tier_models(mapping, "gpu_high", simulated_gpu(case))
    assert [entry["ollama"] for entry in models] == chosen
    assert all(entry in CANDIDATES for entry in models)


def test_a_fit_list_with_nothing_that_fits_keeps_the_smallest_which_the_preflight_names():
    gpu = simulated_gpu("rtx3070-8gb")
    mapping = {"gpu_low": {"largest_that_fit": 1, "models": [model("gpt-oss:20b"), model("big:70b")]}}
    catalog = {"big:70b": {"weights_mib": 40_000, "context_mib": 2_560}}
    models = tier_models(mapping, "gpu_low", gpu, catalog)
    assert [entry["ollama"] for entry in models] == ["gpt-oss:20b"]
    assert [line.split(" ")[0] for line in model_fit_problems(model_fit(models, gpu, catalog), gpu)] == ["gpt-oss:20b"]


def test_plain_lists_are_not_touched_by_the_gpus():
    mapping = {"gpu_high": DEFAULT_LIKE}
    assert tier_models(mapping, "gpu_high", simulated_gpu("rtx3070-8gb")) == DEFAULT_LIKE


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"largest_that_fit": 0, "models": CANDIDATES}, "llmstack_models_by_tier[cpu].largest_that_fit must be"),
        ({"largest_that_fit": True, "models": CANDIDATES}, "largest_that_fit must be a whole number >= 1"),
        ({"models": CANDIDATES}, "llmstack_models_by_tier[cpu].largest_that_fit must be a whole number >= 1, not None"),
        ({"largest_that_fit": 1, "models": []}, "llmstack_models_by_tier[cpu].models is empty"),
        (
            {"largest_that_fit": 1, "models": "tinyllama"},
            "llmstack_models_by_tier[cpu].models must be a list of models",
        ),
        ({"largest_that_fit": 1, "models": [{"name": "t", "mode": "chat"}]}, "[cpu].models[0] lacks ollama"),
        ({"largest_that_fit": 1, "model": CANDIDATES}, "llmstack_models_by_tier[cpu] has unknown keys model"),
        (
            {"largest_that_fit": 1, "models": [model("mystery:7b")]},
            "llmstack_models_by_tier[cpu].models[0] (mystery:7b) is not in the model catalogue, so its fit cannot be "
            "judged; give its size in gpu_tier_model_catalog",
        ),
    ],
)
def test_a_bad_fit_list_stops_every_host_naming_the_variable(entry, words):
    # The bad entry is another tier's: a mistake anywhere stops every host.
    with pytest.raises(AnsibleFilterError, match="Nothing was changed") as error:
        tier_models({"gpu_high": DEFAULT_LIKE, "cpu": entry}, "gpu_high", simulated_gpu("rtx4090"))
    assert words in str(error.value)
    assert "\n" not in str(error.value)


def test_simulated_laptop_whose_memory_nvidia_smi_does_not_report_is_not_judged():
    gpu = simulated_gpu("laptop-not-supported")
    assert gpu["gpus"][0]["memory_total_mib"] is None
    fit = model_fit(DEFAULT_LIKE, gpu)
    assert {entry["runs_on"] for entry in fit} == {"unknown"}
    assert fit[0]["needs_mib"] == 653
    assert model_fit_problems(fit, gpu) == []
