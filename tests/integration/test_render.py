"""playbooks/render.yml: the stack's files for a tier, rendered on the controller, secrets masked.
The rendered LiteLLM config is loaded by the REAL LiteLLM proxy."""

import json
import urllib.request

import yaml
from conftest import launch_litellm_with, wait_for

MODELS = [
    {"name": "tinyllama", "ollama": "tinyllama", "mode": "chat"},
    {"name": "gpt-oss-20b", "ollama": "gpt-oss:20b", "mode": "chat", "keep_alive": "-1m"},
    {"name": "bge-m3", "ollama": "bge-m3", "mode": "embedding"},
]


def render(run_playbook, dest, tier, **extra):
    run_playbook(
        "render",
        extra_vars={"llmstack_gpu_tier": tier, "render_dest": str(dest), "litellm_stack_models": MODELS, **extra},
    )
    return (
        yaml.safe_load((dest / "docker-compose.yml").read_text()),
        yaml.safe_load((dest / "litellm_settings.yml").read_text()),
        (dest / ".env").read_text(),
    )


def test_cpu_tier_reserves_no_gpu_and_keeps_ollama_and_the_db_private(run_playbook, tmp_path):
    compose, config, env = render(run_playbook, tmp_path / "cpu", "cpu")
    ollama = compose["services"]["ollama"]
    assert "deploy" not in ollama
    assert ollama["ports"] == ["127.0.0.1:11434:11434"]
    assert "ports" not in compose["services"]["db"]
    assert compose["services"]["litellm"]["ports"] == ["0.0.0.0:4444:4000"]
    assert compose["volumes"]["ollama_data"]["name"] == "litellm_ollama_data"
    assert compose["volumes"]["postgres_data"]["name"] == "litellm_postgres_data"
    # postgres:18 moved its default PGDATA off the volume's path; the stack pins it to where the volume is.
    db = compose["services"]["db"]
    assert db["volumes"] == [f"postgres_data:{db['environment']['PGDATA']}"]
    assert db["environment"]["PGDATA"] == "/var/lib/postgresql/data"
    assert "networks" not in compose or all(not n.get("external") for n in compose["networks"].values())
    assert ollama["environment"]["OLLAMA_FLASH_ATTENTION"] == "0"
    assert "OLLAMA_GPU_OVERHEAD" not in ollama["environment"]
    assert [m["model_name"] for m in config["model_list"]] == ["tinyllama", "gpt-oss-20b", "bge-m3"]
    # LiteLLM's Prometheus metrics on /metrics, behind the master key (litellm_stack_prometheus_metrics).
    assert config["litellm_settings"]["callbacks"] == ["prometheus"]
    assert config["litellm_settings"]["require_auth_for_metrics_endpoint"] is True
    assert (tmp_path / "cpu" / ".env").stat().st_mode & 0o777 == 0o600
    assert "LITELLM_MASTER_KEY='<masked>'" in env


def test_gpu_tier_reserves_the_gpu_and_tunes_ollama(run_playbook, tmp_path):
    compose, _config, _env = render(run_playbook, tmp_path / "gpu", "gpu_high")
    ollama = compose["services"]["ollama"]
    (device,) = ollama["deploy"]["resources"]["reservations"]["devices"]
    assert device == {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}
    assert ollama["environment"]["OLLAMA_NUM_PARALLEL"] == "4"
    assert ollama["environment"]["OLLAMA_GPU_OVERHEAD"] == str(2048 * 1024 * 1024)


def test_models_get_the_right_prefix_and_mode_on_every_entry(run_playbook, tmp_path):
    _compose, config, _env = render(run_playbook, tmp_path / "modes", "gpu_high")
    by_name = {m["model_name"]: m for m in config["model_list"]}
    assert by_name["tinyllama"]["litellm_params"]["model"] == "ollama_chat/tinyllama"
    assert by_name["bge-m3"]["litellm_params"]["model"] == "ollama/bge-m3"
    assert by_name["gpt-oss-20b"]["litellm_params"]["keep_alive"] == "-1m"
    assert {m["model_info"]["mode"] for m in config["model_list"]} == {"chat", "embedding"}
    assert all("mode" in m["model_info"] for m in config["model_list"])
    assert config["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"


def test_providers_appear_only_with_their_key_and_the_key_never_in_the_render(run_playbook, tmp_path):
    _c, without, _e = render(run_playbook, tmp_path / "nokey", "cpu")
    assert not [m for m in without["model_list"] if m["model_name"].startswith("gemini")]
    secret = "AIza-this-must-never-be-written-0000"
    _c, with_key, env = render(
        run_playbook, tmp_path / "key", "cpu", litellm_stack_provider_api_keys={"GEMINI_API_KEY": secret}
    )
    gemini = [m for m in with_key["model_list"] if m["model_name"].startswith("gemini")]
    assert gemini
    assert all(m["litellm_params"]["api_key"] == "os.environ/GEMINI_API_KEY" for m in gemini)
    assert "GEMINI_API_KEY='<masked>'" in env
    for path in (tmp_path / "key").iterdir():
        assert secret not in path.read_text()


def test_the_real_litellm_loads_the_rendered_config(run_playbook, tmp_path):
    dest = tmp_path / "live"
    _compose, config, _env = render(run_playbook, dest, "gpu_high", litellm_stack_database=False)
    assert "database_url" not in config["general_settings"]
    litellm = launch_litellm_with(dest / "litellm_settings.yml", tmp_path)
    try:
        wait_for(litellm.url + "/health/liveliness", 120, litellm.process, litellm.log)
        request = urllib.request.Request(
            litellm.url + "/v1/models", headers={"Authorization": f"Bearer {litellm.master_key}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            served = {m["id"] for m in json.load(response)["data"]}
        assert served == {"tinyllama", "gpt-oss-20b", "bge-m3"}
    finally:
        litellm.process.terminate()
        litellm.process.wait(timeout=20)


def test_an_extra_ca_bundle_reaches_ollama_and_litellm(run_playbook, tmp_path):
    compose, _config, _env = render(
        run_playbook, tmp_path / "ca", "cpu", litellm_stack_ca_bundle="/etc/ssl/certs/ca-certificates.crt"
    )
    for service in ("ollama", "litellm"):
        definition = compose["services"][service]
        assert "/etc/ssl/certs:/etc/llmstack/ca:ro" in definition["volumes"], service
        assert definition["environment"]["SSL_CERT_FILE"] == "/etc/llmstack/ca/ca-certificates.crt", service
    assert compose["services"]["litellm"]["environment"]["REQUESTS_CA_BUNDLE"] == "/etc/llmstack/ca/ca-certificates.crt"
