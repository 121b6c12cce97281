"""The stack's container hardening as the role derives it from its defaults, and the checks of bad settings."""

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.llmstack.gateway.plugins.filter.litellm_stack_hardening import (
    FilterModule,
    litellm_stack_container_hardening,
    litellm_stack_hardening_problems,
)

REPO = Path(__file__).resolve().parents[2]
STACK = yaml.safe_load((REPO / "roles" / "litellm_stack" / "defaults" / "main.yml").read_text())
VARS = yaml.safe_load((REPO / "roles" / "litellm_stack" / "vars" / "main.yml").read_text())
TIERS = yaml.safe_load((REPO / "roles" / "gpu_tier" / "defaults" / "main.yml").read_text())
WRITABLE = VARS["__litellm_stack_writable_paths"]


def hardening(tier, **overrides):
    settings = {key: STACK[f"litellm_stack_{key}"] for key in ("memory_limits", "cap_add", "read_only")}
    settings.update(overrides)
    return litellm_stack_container_hardening(
        settings["memory_limits"], tier, settings["cap_add"], settings["read_only"], WRITABLE
    )


def defaults_settings(**overrides):
    settings = {
        name: STACK[name]
        for name in (
            "litellm_stack_memory_limits",
            "litellm_stack_cap_add",
            "litellm_stack_read_only",
            "litellm_stack_log_max_size",
            "litellm_stack_log_max_file",
        )
    }
    settings.update(overrides)
    return settings


def test_the_filters_are_registered():
    assert set(FilterModule().filters()) == {"litellm_stack_container_hardening", "litellm_stack_hardening_problems"}


def test_the_defaults_have_no_problem():
    assert litellm_stack_hardening_problems(defaults_settings()) == []


def test_every_tier_of_the_tier_list_and_cpu_is_sized_for_every_service():
    tiers = [tier["name"] for tier in TIERS["llmstack_gpu_tiers"]] + ["cpu"]
    for tier in tiers:
        assert set(STACK["litellm_stack_memory_limits"][tier]) == {"ollama", "db", "litellm"}, tier


def test_ollama_gets_the_most_memory_on_the_cpu_tier_where_the_model_is_in_ram():
    limits = STACK["litellm_stack_memory_limits"]
    gib = {tier: int(limits[tier]["ollama"].rstrip("g")) for tier in limits}
    assert gib["cpu"] == max(gib.values())


def test_the_database_gets_back_only_what_its_entrypoint_needs_and_the_others_nothing():
    result = hardening("cpu")
    assert result["db"]["cap_add"] == ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]
    assert result["ollama"]["cap_add"] == []
    assert result["litellm"]["cap_add"] == []


def test_read_only_roots_get_their_tmpfs_and_a_writable_root_none():
    result = hardening("cpu")
    assert (result["ollama"]["read_only"], result["ollama"]["tmpfs"]) == (True, ["/tmp"])
    assert (result["db"]["read_only"], result["db"]["tmpfs"]) == (True, ["/tmp", "/var/run/postgresql"])
    assert (result["litellm"]["read_only"], result["litellm"]["tmpfs"]) == (False, [])
    made_read_only = hardening("cpu", read_only={"litellm": True})
    assert (made_read_only["litellm"]["read_only"], made_read_only["litellm"]["tmpfs"]) == (True, ["/tmp"])
    assert made_read_only["ollama"]["read_only"] is False, "a service left out of the setting keeps a writable root"


def test_memory_limits_follow_the_tier_and_fall_back_to_cpu():
    limits = {"cpu": {"ollama": "16g", "db": "1g", "litellm": "4g"}, "gpu_high": {"ollama": "8G"}}
    assert hardening("gpu_high", memory_limits=limits)["ollama"]["mem_limit"] == "8g"
    assert hardening("gpu_high", memory_limits=limits)["db"]["mem_limit"] == "1g", "a service its tier leaves out"
    assert hardening("gpu_mid", memory_limits=limits)["ollama"]["mem_limit"] == "16g", "a tier missing here"


def test_capabilities_are_written_without_their_prefix():
    assert hardening("cpu", cap_add={"db": ["cap_chown", "CAP_SETUID"]})["db"]["cap_add"] == ["CHOWN", "SETUID"]


def test_limits_without_a_cpu_entry_fail_naming_the_variable():
    with pytest.raises(AnsibleFilterError, match="litellm_stack_memory_limits"):
        hardening("cpu", memory_limits={"gpu_high": {"ollama": "8g", "db": "1g", "litellm": "4g"}})


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (
            {"litellm_stack_memory_limits": {"cpu": {"ollama": "lots", "db": "1g", "litellm": "4g"}}},
            "[cpu].ollama must be a Docker size",
        ),
        ({"litellm_stack_memory_limits": {"cpu": {"ollama": "4m", "db": "1g", "litellm": "4g"}}}, "at least 6m"),
        (
            {"litellm_stack_memory_limits": {"cpu": {"ollama": "16g", "db": "1g"}}},
            "[cpu] is every tier's fallback and must size litellm",
        ),
        ({"litellm_stack_memory_limits": {"gpu_high": {"ollama": "8g"}}}, "with a cpu entry"),
        (
            {"litellm_stack_memory_limits": {"cpu": {"ollama": "16g", "db": "1g", "litellm": "4g", "redis": "1g"}}},
            "redis is no service of the stack",
        ),
        (
            {"litellm_stack_memory_limits": {"cpu": {"ollama": True, "db": "1g", "litellm": "4g"}}},
            "must be a Docker size",
        ),
        ({"litellm_stack_cap_add": {"db": ["ALL"]}}, "litellm_stack_cap_add[db] must name capabilities one by one"),
        ({"litellm_stack_cap_add": {"db": "CHOWN"}}, "litellm_stack_cap_add[db] must be a list of capability names"),
        (
            {"litellm_stack_cap_add": {"db": ["chown; rm"]}},
            "litellm_stack_cap_add[db] must be a list of capability names",
        ),
        ({"litellm_stack_read_only": {"db": "yes"}}, "litellm_stack_read_only[db] must be true or false"),
        ({"litellm_stack_read_only": ["db"]}, "litellm_stack_read_only must be a mapping"),
        ({"litellm_stack_log_max_size": "10"}, "litellm_stack_log_max_size must be a size with its unit"),
        ({"litellm_stack_log_max_file": 0}, "litellm_stack_log_max_file must be a whole number"),
    ],
)
def test_bad_settings_are_named(overrides, words):
    problems = litellm_stack_hardening_problems(defaults_settings(**overrides))
    assert len(problems) == 1, problems
    assert words in problems[0]
    assert next(iter(overrides)) in problems[0]
