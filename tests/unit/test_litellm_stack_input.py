"""litellm_stack's own rules for its variables, beyond its argument spec."""

import pytest
from ansible_collections.llmstack.gateway.plugins.filter.litellm_stack_input import litellm_stack_input_problems

KNOWN = {
    "litellm_version": "1.108.7",
    "router_settings": ["num_retries", "routing_strategy"],
    "litellm_settings": ["drop_params"],
    "general_settings": ["master_key", "background_health_checks"],
}
GOOD = {
    "litellm_stack_litellm_port": 4444,
    "litellm_stack_ollama_port": "11434",
    "litellm_stack_litellm_bind_address": "0.0.0.0",
    "litellm_stack_ollama_bind_address": "::1",
    "litellm_stack_dir": "/opt/litellm-stack",
    "litellm_stack_ca_bundle": "",
    "litellm_stack_master_key": "",
    "litellm_stack_salt_key": "",
    "litellm_stack_db_password": "",
    "litellm_stack_models": [{"name": "tinyllama", "ollama": "tinyllama", "mode": "chat"}],
    "litellm_stack_providers": [{"name": "gemini", "api_key_env": "GEMINI_API_KEY", "models": []}],
    "litellm_stack_router_settings": {"num_retries": 2},
    "litellm_stack_litellm_settings": {"drop_params": True},
    "litellm_stack_general_settings": {},
    "litellm_stack_fleet_router_settings": {},
    "litellm_stack_fleet_general_settings": {"background_health_checks": True},
}


def test_the_defaults_have_no_problem():
    assert litellm_stack_input_problems(GOOD, KNOWN) == []


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("litellm_stack_litellm_port", 70000, "litellm_stack_litellm_port must be a port number from 1 to 65535"),
        ("litellm_stack_ollama_port", 0, "litellm_stack_ollama_port must be a port number"),
        ("litellm_stack_ollama_port", True, "litellm_stack_ollama_port must be a port number"),
        (
            "litellm_stack_litellm_bind_address",
            "gateway.lab",
            "litellm_stack_litellm_bind_address must be an IP address",
        ),
        ("litellm_stack_dir", "opt/stack", "litellm_stack_dir must be an absolute path"),
        ("litellm_stack_ca_bundle", "ca.pem", "litellm_stack_ca_bundle must be an absolute path"),
        ("litellm_stack_master_key", "sk-short", 'litellm_stack_master_key must start with "sk-"'),
        ("litellm_stack_master_key", "4444" * 10, 'litellm_stack_master_key must start with "sk-"'),
        ("litellm_stack_db_password", "pa$$word", "litellm_stack_db_password: no secret may contain quotes"),
        (
            "litellm_stack_models",
            [{"name": "t", "ollama": "a", "mode": "chat"}, {"name": "t", "ollama": "b", "mode": "chat"}],
            "litellm_stack_models names a model twice: t.",
        ),
        (
            "litellm_stack_providers",
            [{"name": "gemini", "api_key_env": "gemini key", "models": []}],
            "api_key_env must be an environment variable name such as GEMINI_API_KEY, not gemini key.",
        ),
        ("litellm_stack_fleet_router_settings", {"num_retires": 3}, "litellm_stack_fleet_router_settings has keys"),
    ],
)
def test_each_problem_names_its_variable(variable, value, words):
    problems = litellm_stack_input_problems({**GOOD, variable: value}, KNOWN)
    assert len(problems) == 1, problems
    assert words in problems[0]


def test_a_secret_is_never_repeated_in_a_problem():
    problems = litellm_stack_input_problems({**GOOD, "litellm_stack_salt_key": "abc'def-secret"}, KNOWN)
    assert problems and not any("abc'def-secret" in problem for problem in problems)


def test_every_problem_is_reported_at_once():
    bad = {
        **GOOD,
        "litellm_stack_litellm_port": 0,
        "litellm_stack_dir": "x",
        "litellm_stack_litellm_settings": {"x": 1},
    }
    assert len(litellm_stack_input_problems(bad, KNOWN)) == 3


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.10.5", "::", "fe80::1"])
def test_a_standalone_ollama_published_beyond_loopback_is_refused(address):
    values = {**GOOD, "litellm_stack_ollama_publish": True, "litellm_stack_ollama_bind_address": address}
    (problem,) = litellm_stack_input_problems(values, KNOWN)
    assert problem.startswith(f"litellm_stack_ollama_bind_address is {address} on a standalone host")
    assert "no authentication" in problem
    assert "moby #4737" in problem
    assert "litellm_stack_ollama_exposure_reason" in problem


@pytest.mark.parametrize(
    "overrides",
    [
        {"litellm_stack_ollama_exposure_reason": "GPU box on an isolated lab VLAN, reached by its gateway only"},
        {"litellm_stack_ollama_publish": False},
        {"llmstack_fleet_role": "worker"},
        {"llmstack_fleet_role": "gateway"},
        {"litellm_stack_ollama_bind_address": "127.0.0.1"},
        {"litellm_stack_ollama_bind_address": "127.0.0.53"},
        {"litellm_stack_ollama_bind_address": "::1"},
        {"litellm_stack_ollama_bind_address": "::ffff:127.0.0.1"},
    ],
)
def test_an_exposed_ollama_passes_with_a_reason_off_standalone_hosts_or_on_loopback(overrides):
    values = {**GOOD, "litellm_stack_ollama_publish": True, "litellm_stack_ollama_bind_address": "0.0.0.0", **overrides}
    assert litellm_stack_input_problems(values, KNOWN) == []


def test_a_blank_exposure_reason_is_no_reason():
    values = {
        **GOOD,
        "llmstack_fleet_role": "standalone",
        "litellm_stack_ollama_publish": True,
        "litellm_stack_ollama_bind_address": "0.0.0.0",
        "litellm_stack_ollama_exposure_reason": "  ",
    }
    assert len(litellm_stack_input_problems(values, KNOWN)) == 1


def test_a_bad_ollama_address_is_named_once():
    values = {**GOOD, "litellm_stack_ollama_publish": True, "litellm_stack_ollama_bind_address": "localhost"}
    assert litellm_stack_input_problems(values, KNOWN) == [
        "litellm_stack_ollama_bind_address must be an IP address (for example 127.0.0.1 or 0.0.0.0), not localhost."
    ]
