"""The converged workstation serves a healthy gateway, keeps secrets private and Ollama/PostgreSQL
unreachable from outside, and kept the seed stack's data."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from gateway_client import call, lab_ca, read_master_key, workstation_address

STACK = "/opt/litellm-stack"
COMPOSE = f"docker compose --project-directory {STACK}"
TIER_MODELS = {"tinyllama"}  # the cpu tier's models (roles/gpu_tier defaults)
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def address(host):
    return workstation_address(host)


@pytest.fixture(scope="module")
def master_key(host):
    return read_master_key(host, STACK)


def reachable(address, port):
    with socket.socket() as sock:
        sock.settimeout(3)
        return sock.connect_ex((address, port)) == 0


def test_every_service_runs_and_is_healthy(host):
    ps = host.check_output(f"{COMPOSE} ps --all --format json")
    services = [json.loads(line) for line in ps.splitlines() if line.strip()]
    assert {s["Service"] for s in services} == {"ollama", "litellm", "db"}
    for service in services:
        assert service["State"] == "running", service
        assert service["Health"] == "healthy", service


def test_docker_runs_under_systemd(host):
    assert host.service("docker").is_running
    assert host.service("docker").is_enabled


def test_secrets_file_is_root_only(host):
    env = host.file(f"{STACK}/.env")
    assert env.user == "root"
    assert env.group == "root"
    assert env.mode == 0o600
    assert host.file(STACK).mode == 0o750


def test_master_key_is_generated_and_long(master_key):
    assert master_key.startswith("sk-")
    assert len(master_key) >= 35


def test_ollama_and_postgres_are_not_reachable_from_outside(address):
    assert not reachable(address, 11434)
    assert not reachable(address, 5432)


def test_ollama_is_reachable_on_the_workstations_loopback(host):
    assert host.socket("tcp://127.0.0.1:11434").is_listening
    assert not host.socket("tcp://0.0.0.0:11434").is_listening


def test_gateway_is_reachable_from_outside(address):
    assert reachable(address, 4444)
    status, _ = call(f"https://{address}:4444/health/liveliness")
    assert status == 200


def test_chat_completion_with_the_master_key(address, master_key):
    status, body = call(
        f"https://{address}:4444/v1/chat/completions",
        {"model": "tinyllama", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 10},
        key=master_key,
    )
    assert status == 200, body
    assert body["choices"][0]["message"]["content"]


def test_chat_completion_without_a_key_is_refused(address):
    status, _ = call(
        f"https://{address}:4444/v1/chat/completions",
        {"model": "tinyllama", "messages": [{"role": "user", "content": "Say hello"}]},
    )
    assert status == 401


def test_gateway_lists_exactly_the_tiers_models(address, master_key, host):
    status, body = call(f"https://{address}:4444/v1/models", key=master_key)
    assert status == 200
    assert {m["id"] for m in body["data"]} == TIER_MODELS
    config = host.file(f"{STACK}/litellm_settings.yml").content_string
    assert "ollama_chat/tinyllama" in config


def test_the_tiers_models_are_in_ollama_and_the_seeds_model_was_kept(host):
    tags = json.loads(
        host.check_output(
            "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:11434/api/tags').read().decode())\""
        )
    )
    names = {m["name"] for m in tags["models"]}
    assert "tinyllama:latest" in names
    assert "qwen2.5:0.5b" in names, "the model downloaded by the seed stack was lost"


def stack_network_and_db_image(host):
    db = host.check_output(f"{COMPOSE} ps --quiet db").strip()
    networks = host.check_output(
        "docker inspect --format '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}' %s", db
    ).split()
    assert len(networks) == 1, networks
    return networks[0], host.check_output("docker inspect --format '{{.Config.Image}}' %s", db).strip()


def test_the_seeds_database_opens_with_the_env_database_url_from_another_container(host):
    # What LiteLLM does: DATABASE_URL from .env, to db:5432 over the stack's network, with scram. The seed's
    # volume was created with the seed's password, so this passes only if the takeover reset it.
    network, image = stack_network_and_db_image(host)
    out = host.check_output(
        f"set -a; . {STACK}/.env; docker run --rm --network %s --env DATABASE_URL --entrypoint sh %s -c "
        '\'exec psql "$DATABASE_URL" --no-psqlrc --tuples-only --no-align '
        '--command="SELECT note || chr(124) || coalesce(system_user, chr(45)) FROM seed_marker"\'',
        network,
        image,
    )
    assert out.strip() == "written by the seed stack|scram-sha-256:llmproxy"


def test_the_seeds_old_password_no_longer_opens_the_database_over_the_network(host):
    network, image = stack_network_and_db_image(host)
    refused = host.run(
        "docker run --rm --network %s --env PGPASSWORD=seed-era-password --entrypoint psql %s "
        "--host=db --username=llmproxy --dbname=litellm --no-password --command='SELECT 1'",
        network,
        image,
    )
    assert refused.rc != 0 and "password authentication failed" in refused.stderr


def test_compose_file_reserves_no_gpu_on_the_cpu_tier(host):
    compose = host.file(f"{STACK}/docker-compose.yml").content_string
    assert "nvidia" not in compose


def lab_ca_key():
    return Path(lab_ca()).with_name("ca.key").read_text()


def test_a_verbose_run_prints_no_secret_and_only_root_can_read_them(host):
    """Last, because it adds a provider (which reconfigures the gateway)."""
    provider_key = "AIza-provider-key-that-must-stay-secret-0123456789"
    run = subprocess.run(
        [
            "ansible-playbook",
            "-vvv",
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            str(REPO / "playbooks" / "site.yml"),
            "-e",
            json.dumps({"litellm_stack_provider_api_keys": {"GEMINI_API_KEY": provider_key}}),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    env = dict(line.split("=", 1) for line in host.file(f"{STACK}/.env").content_string.splitlines() if "=" in line)
    secrets = {name: env[name].strip("'") for name in ("LITELLM_MASTER_KEY", "LITELLM_SALT_KEY", "LITELLM_DB_PASSWORD")}
    secrets["GEMINI_API_KEY"] = provider_key
    assert env["GEMINI_API_KEY"].strip("'") == provider_key, "the provider key did not reach .env"
    for name, value in secrets.items():
        leaks = [line.replace(value, f"<{name}>")[:300] for line in output.splitlines() if value in line]
        assert not leaks, f"{name} appeared in the -vvv output: {leaks[:3]}"
    # The private keys: the gateway's (on the host and under the lab CA's issued/) and the lab CA's own.
    assert "PRIVATE KEY-----" not in output
    keys = {"gateway key": host.file(f"{STACK}/tls/gateway.key").content_string, "lab CA key": lab_ca_key()}
    for name, pem in keys.items():
        body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
        assert body, f"{name} is empty"
        assert not [line for line in body if line in output], f"the {name} appeared in the -vvv output"
    holders = host.run(
        "grep -rlF "
        + " ".join(f"-e {value}" for value in secrets.values())
        + " /opt /etc /root /home /tmp /var/backups /var/lib/docker/containers 2>/dev/null"
    ).stdout.split()
    assert f"{STACK}/.env" in holders
    for path in holders:
        held = host.file(path)
        if path.startswith("/opt/llmstack-monitoring/prometheus/secrets/"):
            # Prometheus's bearer token (the master key): its container reads it through a group of its own.
            assert (held.user, held.group, held.mode & 0o037) == ("root", "llmstack-prometheus", 0), (
                f"{path} holds a secret and is {oct(held.mode)} {held.user}:{held.group}"
            )
            continue
        assert (held.user, held.mode & 0o077) == ("root", 0), (
            f"{path} holds a secret and is {oct(held.mode)} {held.user}"
        )
