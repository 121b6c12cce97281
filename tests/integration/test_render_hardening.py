"""playbooks/render.yml: every service's hardening in the rendered compose file, sized by the tier; Docker's
own compose parser reads it; bad settings stop the run before anything is written, naming the variable."""

import shutil
import subprocess

import pytest
import yaml

CHECK = (
    "llmstack.gateway.litellm_stack : "
    "Check the stack's settings (ports, addresses and Ollama's exposure, paths, secrets, models, LiteLLM settings, "
    "images, TLS, hardening, sizing)"
)


def render(run_playbook, dest, tier, **extra):
    run = run_playbook("render", extra_vars={"llmstack_gpu_tier": tier, "render_dest": str(dest), **extra})
    return run, yaml.safe_load((dest / "docker-compose.yml").read_text())


@pytest.mark.parametrize(("tier", "ollama_memory"), [("cpu", "16g"), ("gpu_high", "8g"), ("gpu_low", "8g")])
def test_every_service_is_hardened_and_sized_by_the_tier(run_playbook, tmp_path, tier, ollama_memory):
    _run, compose = render(run_playbook, tmp_path / tier, tier)
    services = compose["services"]
    for name, service in services.items():
        assert service["security_opt"] == ["no-new-privileges:true"], name
        assert service["cap_drop"] == ["ALL"], name
        assert service["logging"] == {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}, name
    assert services["db"]["cap_add"] == ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]
    assert "cap_add" not in services["ollama"] and "cap_add" not in services["litellm"]
    assert (services["ollama"]["read_only"], services["ollama"]["tmpfs"]) == (True, ["/tmp"])
    assert (services["db"]["read_only"], services["db"]["tmpfs"]) == (True, ["/tmp", "/var/run/postgresql"])
    assert services["litellm"]["read_only"] is False and "tmpfs" not in services["litellm"]
    assert {name: s["mem_limit"] for name, s in services.items()} == {
        "ollama": ollama_memory,
        "db": "1g",
        "litellm": "4g",
    }
    assert services["db"]["networks"] == ["backend"]
    assert services["litellm"]["networks"] == ["default", "backend"]
    assert "networks" not in services["ollama"]
    assert compose["networks"] == {"backend": {"internal": True}}


def test_a_tier_without_limits_gets_the_cpu_entry_and_settings_reach_the_file(run_playbook, tmp_path):
    _run, compose = render(
        run_playbook,
        tmp_path / "custom",
        "gpu_mid",
        llmstack_gpu_tiers=[{"name": "gpu_mid", "min_vram_gib": 0}],
        litellm_stack_read_only={"ollama": False, "db": True},
        litellm_stack_log_driver="local",
        litellm_stack_log_max_size="50m",
        litellm_stack_log_max_file=5,
    )
    services = compose["services"]
    assert services["ollama"]["mem_limit"] == "16g"
    assert services["ollama"]["read_only"] is False and "tmpfs" not in services["ollama"]
    assert services["db"]["logging"] == {"driver": "local", "options": {"max-size": "50m", "max-file": "5"}}


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI's compose plugin")
def test_docker_compose_reads_the_rendered_file_as_meant(run_playbook, tmp_path):
    dest = tmp_path / "cpu"
    render(run_playbook, dest, "cpu")
    config = subprocess.run(
        ["docker", "compose", "--project-directory", str(dest), "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "LITELLM_DB_PASSWORD": "x"},
        check=True,
    )
    services = yaml.safe_load(config.stdout)["services"]
    assert services["db"]["security_opt"] == ["no-new-privileges:true"]
    assert services["db"]["mem_limit"] == str(1024**3)
    assert services["ollama"]["read_only"] is True
    assert services["litellm"]["logging"]["options"] == {"max-size": "10m", "max-file": "3"}


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (
            {"litellm_stack_memory_limits": {"cpu": {"ollama": "lots", "db": "1g", "litellm": "4g"}}},
            "litellm_stack_memory_limits[cpu].ollama",
        ),
        ({"litellm_stack_cap_add": {"db": ["ALL"]}}, "litellm_stack_cap_add[db]"),
        ({"litellm_stack_log_max_size": "10"}, "litellm_stack_log_max_size"),
    ],
)
def test_bad_settings_stop_before_anything_is_written(run_playbook, tmp_path, extra, words):
    dest = tmp_path / "bad"
    run = run_playbook("render", extra_vars={"render_dest": str(dest), **extra}, expect_rc=2)
    failure = run.result(CHECK)
    assert failure["failed"] and words in failure["msg"] and failure["msg"].endswith("Nothing was changed.")
    assert not dest.exists()
