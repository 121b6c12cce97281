# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The litellm_stack role's derived data: LiteLLM's model_list and config, Ollama's environment.

Each filter is documented in the .yml file of its name next to this one.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

MIB = 1024 * 1024

# Tier setting -> OLLAMA_* variable, in the order the compose file lists them.
OLLAMA_SETTINGS = (
    ("keep_alive", "OLLAMA_KEEP_ALIVE"),
    ("num_parallel", "OLLAMA_NUM_PARALLEL"),
    ("max_loaded_models", "OLLAMA_MAX_LOADED_MODELS"),
    ("flash_attention", "OLLAMA_FLASH_ATTENTION"),
    ("context_length", "OLLAMA_CONTEXT_LENGTH"),
    ("gpu_overhead_mib", "OLLAMA_GPU_OVERHEAD"),
    ("max_queue", "OLLAMA_MAX_QUEUE"),
)


# Where a gateway finds the fleet's token (its .env): the workers' TLS proxies admit only requests carrying it.
FLEET_TOKEN = "os.environ/LLMSTACK_FLEET_TOKEN"


def _deployment(model, api_base, token=None):
    params = {"model": "ollama_chat/" + model["ollama"], "api_base": api_base}
    if model["mode"] == "embedding" and token:
        # LiteLLM's ollama/ embedding route sends no credential: through a worker's proxy, embeddings take
        # Ollama's OpenAI-compatible /v1/embeddings, which gets the token as its API key.
        params = {"model": "openai/" + model["ollama"], "api_base": api_base.rstrip("/") + "/v1"}
    elif model["mode"] == "embedding":
        # LiteLLM's ollama_chat/ route speaks /api/chat; embeddings exist only on the ollama/ route.
        params["model"] = "ollama/" + model["ollama"]
    if token:
        params["api_key"] = token
    # A local model costs nothing, and saying so keeps LiteLLM's per-request cost calculation cheap: for an
    # Ollama model without a price, LiteLLM 1.108.7 looks it up several times a request, each lookup scanning its
    # whole cost map (over 4,000 entries); README "Performance": about half the CPU time of a request.
    params.update(input_cost_per_token=0, output_cost_per_token=0)
    if "keep_alive" in model and not params["model"].startswith("openai/"):
        params["keep_alive"] = model["keep_alive"]
    return {"model_name": model["name"], "litellm_params": params, "model_info": {"mode": model["mode"]}}


def _routable(worker):
    # A worker that did not reach this run has no facts (or no Ollama address); one that failed its health
    # gate is never routed to.
    if "llmstack_models" not in worker or not worker.get("llmstack_ollama_fleet_url"):
        return False
    health = worker.get("llmstack_worker_health")
    return not isinstance(health, Mapping) or bool(health.get("healthy", True))


def litellm_stack_deployments(local_models, api_base, workers=None):
    """The Ollama deployments LiteLLM routes to: the local models at api_base, then each routable worker's.

    A model served by several workers becomes several deployments of one model_name, which LiteLLM
    load-balances. A local model's own api_base wins over the given one. A worker behind its TLS proxy
    (an https address) is sent the fleet's token.
    """
    deployments = [_deployment(model, model.get("api_base", api_base)) for model in local_models or []]
    for worker in workers or []:
        if _routable(worker):
            url = worker["llmstack_ollama_fleet_url"]
            token = FLEET_TOKEN if url.startswith("https://") else None
            deployments.extend(_deployment(model, url, token) for model in worker["llmstack_models"])
    return deployments


def _enabled(providers, api_keys):
    # A provider is configured only when its key is set (an empty key leaves it out).
    return [provider for provider in providers or [] if (api_keys or {}).get(provider["api_key_env"])]


def litellm_stack_model_list(deployments, providers, api_keys):
    """LiteLLM's model_list: the Ollama deployments, then the models of every provider whose API key is set."""
    models = list(deployments or [])
    for provider in _enabled(providers, api_keys):
        secret = "os.environ/" + provider["api_key_env"]
        models.extend(
            {
                "model_name": remote["name"],
                "litellm_params": {"model": remote["model"], "api_key": secret},
                "model_info": {"mode": remote.get("mode", "chat")},
            }
            for remote in provider["models"]
        )
    return models


def litellm_stack_provider_env(api_keys, providers):
    """The API keys of the enabled providers, by environment variable name, in api_keys' order."""
    wanted = {provider["api_key_env"] for provider in _enabled(providers, api_keys)}
    return {name: value for name, value in (api_keys or {}).items() if name in wanted}


def litellm_stack_model_names(model_list):
    """Every model name a model_list serves, once each, in order of first appearance."""
    return list(dict.fromkeys(model["model_name"] for model in model_list or []))


def _bad_setting(tier, setting, wanted, value):
    return AnsibleFilterError(f"litellm_stack_ollama_tier_settings[{tier}].{setting} must be {wanted}, not {value!r}.")


def _integer(tier, setting, value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad_setting(tier, setting, "a whole number", value) from None


def _flag(tier, setting, value):
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise _bad_setting(tier, setting, "true or false", value) from None


def litellm_stack_ollama_env(tier_settings, tier, on_gpu=False):
    """OLLAMA_* environment of a tier's settings (a tier without settings gets the cpu entry's).

    The GPU overhead only means something with a GPU, so a CPU host never gets it.
    """
    tier_settings = tier_settings or {}
    if tier not in tier_settings:
        tier = "cpu"
    settings = tier_settings.get(tier) or {}
    env = {"OLLAMA_HOST": "0.0.0.0:11434"}
    for setting, name in OLLAMA_SETTINGS:
        if setting not in settings:
            continue
        value = settings[setting]
        if setting == "flash_attention":
            value = "1" if _flag(tier, setting, value) else "0"
        elif setting == "gpu_overhead_mib":
            if not on_gpu:
                continue
            value = _integer(tier, setting, value) * MIB
        env[name] = value
    return env


def litellm_stack_config(
    model_list,
    *,
    router_settings=None,
    litellm_settings=None,
    general_settings=None,
    fallbacks=None,
    gateway=False,
    fleet_router_settings=None,
    fleet_general_settings=None,
    database=False,
    prometheus_metrics=False,
    shared_state=None,
):
    """LiteLLM's proxy config: model_list and the three settings sections, as the role sets them.

    On a fleet gateway the fleet settings go over the general ones; the master key (and with a database,
    its URL) always come from the container's environment, never from the file. With prometheus_metrics,
    LiteLLM's ``prometheus`` callback is added (once) to litellm_settings.callbacks, which mounts /metrics,
    and require_auth_for_metrics_endpoint is written as true unless the settings already say otherwise:
    LiteLLM 1.108.7 defaults it to true, the file says so in case a later default differs.
    With shared_state ({host, port}: the fleet's Redis, on a fleet of two or more gateways) the router keeps its
    cooldowns and failure counts there, so every gateway sees them; its password comes from the environment
    (LITELLM_REDIS_PASSWORD, in .env), which LiteLLM's Redis client resolves from an os.environ/ reference.
    """
    router = {**(router_settings or {}), **((fleet_router_settings or {}) if gateway else {})}
    if fallbacks:
        router["fallbacks"] = fallbacks
    if shared_state:
        router["redis_host"] = str(shared_state["host"])
        router["redis_port"] = int(shared_state["port"])
        router["redis_password"] = "os.environ/LITELLM_REDIS_PASSWORD"
    general = {**(general_settings or {}), **((fleet_general_settings or {}) if gateway else {})}
    general["master_key"] = "os.environ/LITELLM_MASTER_KEY"
    if database:
        general["database_url"] = "os.environ/DATABASE_URL"
    module = dict(litellm_settings or {})
    if prometheus_metrics:
        callbacks = module.get("callbacks") or []
        if isinstance(callbacks, str):
            callbacks = [callbacks]
        module["callbacks"] = list(callbacks) + ([] if "prometheus" in callbacks else ["prometheus"])
        module.setdefault("require_auth_for_metrics_endpoint", True)
    return {
        "model_list": list(model_list or []),
        "router_settings": router,
        "litellm_settings": module,
        "general_settings": general,
    }


class FilterModule:
    def filters(self):
        return {
            "litellm_stack_config": litellm_stack_config,
            "litellm_stack_deployments": litellm_stack_deployments,
            "litellm_stack_model_list": litellm_stack_model_list,
            "litellm_stack_model_names": litellm_stack_model_names,
            "litellm_stack_ollama_env": litellm_stack_ollama_env,
            "litellm_stack_provider_env": litellm_stack_provider_env,
        }
