"""The litellm_stack role's derived data, computed from the role's own defaults and the tiers' model lists."""

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.llmstack.gateway.plugins.filter.litellm_stack import (
    FilterModule,
    litellm_stack_config,
    litellm_stack_deployments,
    litellm_stack_model_list,
    litellm_stack_model_names,
    litellm_stack_ollama_env,
    litellm_stack_provider_env,
)

REPO = Path(__file__).resolve().parents[2]
STACK = yaml.safe_load((REPO / "roles" / "litellm_stack" / "defaults" / "main.yml").read_text())
TIERS = yaml.safe_load((REPO / "roles" / "gpu_tier" / "defaults" / "main.yml").read_text())
MODELS = TIERS["llmstack_models_by_tier"]
INTERNAL = "http://ollama:11434"
# Every Ollama deployment is priced at nothing (LiteLLM's cost calculation then skips its model lookups).
FREE = {"input_cost_per_token": 0, "output_cost_per_token": 0}


def chat(name, ollama, api_base, **params):
    return {
        "model_name": name,
        "litellm_params": {"model": "ollama_chat/" + ollama, "api_base": api_base, **FREE, **params},
        "model_info": {"mode": "chat"},
    }


def worker(url, models, healthy=None):
    facts = {"inventory_hostname": url, "llmstack_ollama_fleet_url": url, "llmstack_models": models}
    if healthy is not None:
        facts["llmstack_worker_health"] = {"healthy": healthy, "problems": [] if healthy else ["missing models: x"]}
    return facts


# --- deployments


def test_a_standalone_cpu_host_routes_its_one_model_to_its_own_ollama():
    assert litellm_stack_deployments(MODELS["cpu"], INTERNAL) == [chat("tinyllama", "tinyllama", INTERNAL)]


def test_a_gpu_high_host_routes_chat_and_embedding_models_each_their_way():
    assert litellm_stack_deployments(MODELS["gpu_high"], INTERNAL) == [
        chat("tinyllama", "tinyllama", INTERNAL),
        chat("gpt-oss-20b", "gpt-oss:20b", INTERNAL),
        {
            "model_name": "bge-m3",
            "litellm_params": {"model": "ollama/bge-m3", "api_base": INTERNAL, **FREE},
            "model_info": {"mode": "embedding"},
        },
    ]


def test_a_model_keeps_its_keep_alive_and_its_own_api_base():
    models = [
        {"name": "tinyllama", "ollama": "tinyllama", "mode": "chat", "keep_alive": "10m"},
        {"name": "remote", "ollama": "llama3", "mode": "chat", "api_base": "http://10.1.1.1:11434"},
    ]
    assert litellm_stack_deployments(models, INTERNAL) == [
        chat("tinyllama", "tinyllama", INTERNAL, keep_alive="10m"),
        chat("remote", "llama3", "http://10.1.1.1:11434"),
    ]


def test_a_fleet_gateway_routes_each_model_to_every_worker_that_serves_it():
    workers = [
        worker("http://10.0.0.11:11434", MODELS["gpu_high"][:2], healthy=True),
        worker("http://10.0.0.12:11434", MODELS["cpu"]),
    ]
    deployments = litellm_stack_deployments([], INTERNAL, workers)
    assert [(d["model_name"], d["litellm_params"]["api_base"]) for d in deployments] == [
        ("tinyllama", "http://10.0.0.11:11434"),
        ("gpt-oss-20b", "http://10.0.0.11:11434"),
        ("tinyllama", "http://10.0.0.12:11434"),
    ]
    assert deployments[1] == chat("gpt-oss-20b", "gpt-oss:20b", "http://10.0.0.11:11434")


def test_a_worker_behind_its_tls_proxy_gets_the_fleet_token_and_embeddings_take_the_openai_route():
    proxied = "https://10.0.0.11:11434"
    models = MODELS["gpu_high"] + [{"name": "tiny-warm", "ollama": "tinyllama", "mode": "chat", "keep_alive": "1h"}]
    deployments = litellm_stack_deployments([], INTERNAL, [worker(proxied, models, healthy=True)])
    token = "os.environ/LLMSTACK_FLEET_TOKEN"
    assert deployments == [
        chat("tinyllama", "tinyllama", proxied, api_key=token),
        chat("gpt-oss-20b", "gpt-oss:20b", proxied, api_key=token),
        {
            "model_name": "bge-m3",
            "litellm_params": {"model": "openai/bge-m3", "api_base": proxied + "/v1", "api_key": token, **FREE},
            "model_info": {"mode": "embedding"},
        },
        chat("tiny-warm", "tinyllama", proxied, api_key=token, keep_alive="1h"),
    ]
    # Nothing secret in the config itself: only the reference to the gateway's environment.
    assert all(d["litellm_params"]["api_key"] == token for d in deployments)


def test_a_worker_without_its_proxy_is_reached_in_plain_http_without_a_token():
    deployments = litellm_stack_deployments([], INTERNAL, [worker("http://10.0.0.12:11434", MODELS["gpu_high"])])
    assert all("api_key" not in d["litellm_params"] for d in deployments)
    assert deployments[2]["litellm_params"]["model"] == "ollama/bge-m3"


def test_a_gateway_skips_a_worker_that_failed_its_gate_or_missed_the_run():
    workers = [
        worker("http://10.0.0.11:11434", MODELS["cpu"], healthy=False),
        {"llmstack_models": MODELS["cpu"]},  # unreachable this run: no URL fact
        {"llmstack_ollama_fleet_url": "http://10.0.0.13:11434"},  # no model list
        worker("http://10.0.0.14:11434", MODELS["gpu_low"], healthy=True),
    ]
    assert litellm_stack_deployments([], INTERNAL, workers) == [
        chat("tinyllama", "tinyllama", "http://10.0.0.14:11434")
    ]


# --- providers and model_list

GEMINI_MODELS = [model["name"] for model in STACK["litellm_stack_providers"][0]["models"]]


def test_without_api_keys_no_provider_is_configured():
    local = litellm_stack_deployments(MODELS["cpu"], INTERNAL)
    assert litellm_stack_model_list(local, STACK["litellm_stack_providers"], {}) == local
    assert litellm_stack_provider_env({}, STACK["litellm_stack_providers"]) == {}


def test_a_provider_with_a_key_adds_its_models_referencing_the_key_by_name():
    keys = {"GEMINI_API_KEY": "gk-123", "ANTHROPIC_API_KEY": "", "UNRELATED_KEY": "x"}
    local = litellm_stack_deployments(MODELS["cpu"], INTERNAL)
    model_list = litellm_stack_model_list(local, STACK["litellm_stack_providers"], keys)
    assert [m["model_name"] for m in model_list] == ["tinyllama", *GEMINI_MODELS]
    assert model_list[1] == {
        "model_name": "gemini-2.0-flash",
        "litellm_params": {"model": "gemini/gemini-2.0-flash", "api_key": "os.environ/GEMINI_API_KEY"},
        "model_info": {"mode": "chat"},
    }
    assert "gk-123" not in repr(model_list)
    # An empty key disables its provider; a key of no provider never reaches .env.
    assert litellm_stack_provider_env(keys, STACK["litellm_stack_providers"]) == {"GEMINI_API_KEY": "gk-123"}


def test_provider_env_keeps_the_order_of_the_keys_given():
    keys = {"OPENAI_API_KEY": "sk-o", "GEMINI_API_KEY": "gk"}
    assert list(litellm_stack_provider_env(keys, STACK["litellm_stack_providers"])) == [
        "OPENAI_API_KEY",
        "GEMINI_API_KEY",
    ]


def test_a_provider_model_may_be_an_embedding_model():
    providers = [
        {
            "name": "openai",
            "api_key_env": "OPENAI_API_KEY",
            "models": [{"name": "embed", "model": "openai/text-embedding-3-small", "mode": "embedding"}],
        }
    ]
    (entry,) = litellm_stack_model_list([], providers, {"OPENAI_API_KEY": "sk-o"})
    assert entry["model_info"] == {"mode": "embedding"}


def test_model_names_are_listed_once_in_order_of_first_appearance():
    workers = [worker("http://w1:11434", MODELS["gpu_high"]), worker("http://w2:11434", MODELS["cpu"])]
    deployments = litellm_stack_deployments([], INTERNAL, workers)
    model_list = litellm_stack_model_list(deployments, STACK["litellm_stack_providers"], {"OPENAI_API_KEY": "sk"})
    assert litellm_stack_model_names(model_list) == ["tinyllama", "gpt-oss-20b", "bge-m3", "gpt-4o-mini"]


# --- Ollama environment

TIER_SETTINGS = STACK["litellm_stack_ollama_tier_settings"]


def test_a_gpu_high_host_gets_its_tier_settings_and_the_gpu_overhead_in_bytes():
    assert litellm_stack_ollama_env(TIER_SETTINGS, "gpu_high", True) == {
        "OLLAMA_HOST": "0.0.0.0:11434",
        "OLLAMA_KEEP_ALIVE": "5m",
        "OLLAMA_NUM_PARALLEL": 4,
        "OLLAMA_MAX_LOADED_MODELS": 3,
        "OLLAMA_FLASH_ATTENTION": "1",
        "OLLAMA_CONTEXT_LENGTH": 8192,
        "OLLAMA_GPU_OVERHEAD": 2048 * 1024 * 1024,
    }


def test_a_cpu_host_gets_the_cpu_settings_without_flash_attention():
    assert litellm_stack_ollama_env(TIER_SETTINGS, "cpu", False) == {
        "OLLAMA_HOST": "0.0.0.0:11434",
        "OLLAMA_KEEP_ALIVE": "5m",
        "OLLAMA_NUM_PARALLEL": 1,
        "OLLAMA_MAX_LOADED_MODELS": 1,
        "OLLAMA_FLASH_ATTENTION": "0",
        "OLLAMA_CONTEXT_LENGTH": 4096,
    }


def test_the_gpu_overhead_only_applies_with_a_gpu():
    assert "OLLAMA_GPU_OVERHEAD" not in litellm_stack_ollama_env(TIER_SETTINGS, "gpu_low", False)
    assert litellm_stack_ollama_env(TIER_SETTINGS, "gpu_low", True)["OLLAMA_GPU_OVERHEAD"] == 512 * 1024 * 1024


def test_a_tier_without_settings_gets_the_cpu_entry():
    assert "gpu_mid" not in TIER_SETTINGS
    cpu = litellm_stack_ollama_env(TIER_SETTINGS, "cpu", True)
    assert litellm_stack_ollama_env(TIER_SETTINGS, "gpu_mid", True) == cpu
    assert litellm_stack_ollama_env({}, "gpu_high", True) == {"OLLAMA_HOST": "0.0.0.0:11434"}


def test_every_setting_in_the_order_of_the_compose_file():
    settings = {
        "max_queue": 64,
        "gpu_overhead_mib": "256",
        "context_length": 2048,
        "flash_attention": "yes",
        "max_loaded_models": 2,
        "num_parallel": 2,
        "keep_alive": "-1",
    }
    env = litellm_stack_ollama_env({"gpu_low": settings}, "gpu_low", True)
    assert list(env) == [
        "OLLAMA_HOST",
        "OLLAMA_KEEP_ALIVE",
        "OLLAMA_NUM_PARALLEL",
        "OLLAMA_MAX_LOADED_MODELS",
        "OLLAMA_FLASH_ATTENTION",
        "OLLAMA_CONTEXT_LENGTH",
        "OLLAMA_GPU_OVERHEAD",
        "OLLAMA_MAX_QUEUE",
    ]
    assert env["OLLAMA_FLASH_ATTENTION"] == "1"
    assert env["OLLAMA_GPU_OVERHEAD"] == 256 * 1024 * 1024


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("flash_attention", "sometimes", r"\[gpu_low\]\.flash_attention must be true or false, not 'sometimes'"),
        ("gpu_overhead_mib", "2GB", r"\[gpu_low\]\.gpu_overhead_mib must be a whole number, not '2GB'"),
    ],
)
def test_a_bad_setting_is_named(setting, value, message):
    with pytest.raises(AnsibleFilterError, match=r"litellm_stack_ollama_tier_settings" + message):
        litellm_stack_ollama_env({"gpu_low": {setting: value}}, "gpu_low", True)


# --- the config


def config(model_list=(), **overrides):
    settings = {
        "router_settings": STACK["litellm_stack_router_settings"],
        "litellm_settings": STACK["litellm_stack_litellm_settings"],
        "general_settings": STACK["litellm_stack_general_settings"],
        "fallbacks": STACK["litellm_stack_fallbacks"],
        "fleet_router_settings": STACK["litellm_stack_fleet_router_settings"],
        "fleet_general_settings": STACK["litellm_stack_fleet_general_settings"],
        "database": True,
        "prometheus_metrics": STACK["litellm_stack_prometheus_metrics"],
    }
    return litellm_stack_config(list(model_list), **{**settings, **overrides})


def test_a_standalone_config_reads_its_secrets_from_the_environment():
    model_list = litellm_stack_deployments(MODELS["cpu"], INTERNAL)
    assert config(model_list) == {
        "model_list": model_list,
        "router_settings": {"num_retries": 2, "timeout": 600, "routing_strategy": "simple-shuffle"},
        "litellm_settings": {
            "drop_params": True,
            "request_timeout": 600,
            "callbacks": ["prometheus"],
            "require_auth_for_metrics_endpoint": True,
        },
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY", "database_url": "os.environ/DATABASE_URL"},
    }


def test_without_prometheus_metrics_the_config_has_no_callback_and_no_metrics_setting():
    assert config(prometheus_metrics=False)["litellm_settings"] == {"drop_params": True, "request_timeout": 600}


def test_prometheus_joins_the_inventorys_callbacks_once_and_keeps_its_metrics_auth_choice():
    settings = {"callbacks": ["langfuse", "prometheus"], "require_auth_for_metrics_endpoint": False}
    result = config(litellm_settings=settings)["litellm_settings"]
    assert result == {"callbacks": ["langfuse", "prometheus"], "require_auth_for_metrics_endpoint": False}
    assert settings == {"callbacks": ["langfuse", "prometheus"], "require_auth_for_metrics_endpoint": False}
    assert config(litellm_settings={"callbacks": "langfuse"})["litellm_settings"] == {
        "callbacks": ["langfuse", "prometheus"],
        "require_auth_for_metrics_endpoint": True,
    }


def test_without_a_database_the_config_has_no_database_url():
    assert config(database=False)["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY"}


def test_a_gateway_adds_the_fleet_settings_over_the_general_ones_and_the_fallbacks_last():
    result = config(gateway=True, fallbacks=[{"gpt-oss-20b": ["tinyllama"]}])
    assert list(result["router_settings"].items()) == [
        ("num_retries", 3),
        ("timeout", 600),
        ("routing_strategy", "simple-shuffle"),
        ("enable_health_check_routing", True),
        ("fallbacks", [{"gpt-oss-20b": ["tinyllama"]}]),
    ]
    assert list(result["general_settings"]) == [
        "background_health_checks",
        "health_check_interval",
        "master_key",
        "database_url",
    ]


def test_the_master_key_always_comes_from_the_environment():
    result = config(general_settings={"master_key": "sk-written-in-the-inventory", "alerting": ["slack"]})
    assert result["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert result["general_settings"]["alerting"] == ["slack"]


def test_the_role_defaults_are_not_changed_by_a_build():
    before = yaml.safe_dump(STACK)
    config(gateway=True, fallbacks=[{"a": ["b"]}])
    assert yaml.safe_dump(STACK) == before


def test_every_filter_has_its_documentation():
    for name in FilterModule().filters():
        doc = yaml.safe_load((REPO / "plugins" / "filter" / f"{name}.yml").read_text())
        assert doc["DOCUMENTATION"]["name"] == name
