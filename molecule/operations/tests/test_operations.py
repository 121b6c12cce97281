"""What the operations scenario leaves behind: the rolled-back stack healthy with its data, backups that are
root-only, verifiable, pruned to three and carrying their versions, controller copies whose .env is only
vault-encrypted, and no secret in the output of any playbook run (side_effect.yml keeps every run's output)."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

STACK = "/opt/litellm-stack"
BACKUPS = "/var/backups/litellm-stack"
COMPOSE = f"docker compose --project-directory {STACK}"
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
LOGS = EPHEMERAL / "operations-logs"
FETCHED = EPHEMERAL / "fetched-backups"
VAULT_PASSWORD = b"operations-scenario-vault-password"  # molecule.yml's test-only stack_backup_vault_password
SECRET_NAMES = ("LITELLM_MASTER_KEY", "LITELLM_SALT_KEY", "LITELLM_DB_PASSWORD")


def dotenv(text):
    values = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip().strip("'\"")
    return values


@pytest.fixture(scope="module")
def facts():
    return json.loads((LOGS / "facts.json").read_text())


@pytest.fixture(scope="module")
def secrets(host):
    env = dotenv(host.file(f"{STACK}/.env").content_string)
    return {name: env[name] for name in SECRET_NAMES}


@pytest.fixture(scope="module")
def backups(host):
    return sorted(host.check_output(f"ls -1 {BACKUPS}").split())


def test_the_stack_runs_healthy_on_the_rolled_back_images(host, facts):
    ps = host.check_output(f"{COMPOSE} ps --all --format json")
    services = {s["Service"]: s for s in (json.loads(line) for line in ps.splitlines() if line.strip())}
    assert {name: s["Image"] for name, s in services.items()} == {
        "ollama": "local/ollama-double:0.32.15",
        "db": facts["postgres_image"],
        "litellm": "local/litellm:1.108.7",
    }
    for service in services.values():
        assert (service["State"], service["Health"]) == ("running", "healthy"), service


def test_the_marker_row_survived_volume_loss_upgrade_and_rollback(host):
    out = host.check_output(
        f"{COMPOSE} exec -T db psql --username=llmproxy --dbname=litellm --tuples-only --no-align "
        "--command='SELECT note FROM ops_marker'"
    )
    assert out.strip() == "written before the first backup"


def test_the_restored_env_database_url_opens_the_database_from_another_container(host):
    # As LiteLLM connects: DATABASE_URL from .env, to db:5432 over the stack's network (scram); 127.0.0.1
    # inside the db container is trusted whatever the password and would prove nothing.
    db = host.check_output(f"{COMPOSE} ps --quiet db").strip()
    network = host.check_output(
        "docker inspect --format '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{end}}' %s", db
    ).strip()
    image = host.check_output("docker inspect --format '{{.Config.Image}}' %s", db).strip()
    out = host.check_output(
        f"set -a; . {STACK}/.env; docker run --rm --network %s --env DATABASE_URL --entrypoint sh %s -c "
        '\'exec psql "$DATABASE_URL" --no-psqlrc --tuples-only --no-align --command="SELECT note FROM ops_marker"\'',
        network,
        image,
    )
    assert out.strip() == "written before the first backup"


def test_retention_left_the_newest_two_complete_backups(host, backups):
    # stack_backup_keep: 2; the last two are the backups taken before the two upgrades that got that far.
    assert len(backups) == 2, backups
    assert all(name.endswith("-pre-upgrade") for name in backups), backups
    for name in backups:
        assert host.file(f"{BACKUPS}/{name}/SHA256SUMS").exists, name


def test_the_backups_are_root_only(host, backups):
    root = host.file(BACKUPS)
    assert (root.user, root.group, root.mode) == ("root", "root", 0o700)
    for name in backups:
        directory = host.file(f"{BACKUPS}/{name}")
        assert (directory.user, directory.mode) == ("root", 0o700), name
        for entry in host.check_output(f"ls -1A {BACKUPS}/{name}").split():
            file = host.file(f"{BACKUPS}/{name}/{entry}")
            assert (file.user, file.group, file.mode) == ("root", "root", 0o600), f"{name}/{entry}"
        assert host.file(f"{BACKUPS}/{name}/.env").mode == 0o600


def test_every_backup_verifies_against_its_sha256sums(host, backups):
    for name in backups:
        host.run_expect([0], f"cd {BACKUPS}/{name} && sha256sum --check --strict --quiet SHA256SUMS")


def test_the_pre_upgrade_backup_records_the_previous_versions_and_the_rollback(host, facts):
    name = facts["rollback_backup"]
    versions = yaml.safe_load(host.file(f"{BACKUPS}/{name}/versions.yml").content_string)
    assert versions["reason"] == "pre-upgrade"
    assert versions["database"] == {"dumped": True, "name": "litellm", "user": "llmproxy"}
    assert versions["images"]["litellm"] == "local/litellm:1.108.7"
    assert versions["upgrade"] == [
        {
            "service": "litellm",
            "variable": "litellm_stack_litellm_image",
            "from": "local/litellm:1.108.7",
            "to": "local/litellm:1.108.8-broken",
        }
    ]
    assert f"-e backup={name} -e force=true -e stack_backup_restore_config=true" in versions["rollback"]


def test_no_secret_appears_in_the_output_of_any_run(secrets):
    logs = sorted(LOGS.glob("*.log"))
    assert {log.stem for log in logs} >= {
        "backup-1",
        "restore-1",
        "upgrade-postgres",
        "upgrade-broken-image",
        "rollback",
    }
    for log in logs:
        text = log.read_text()
        leaked = [name for name, value in secrets.items() if value in text]
        assert leaked == [], f"{log.name} shows {leaked}"


def test_the_controller_copies_hold_env_only_vault_encrypted(host, backups):
    vault = VaultLib([("stack_backup", VaultSecret(VAULT_PASSWORD))])
    copies = sorted(path for path in (FETCHED / host.backend.get_hostname()).iterdir())
    # Every backup still on the host has its copy (the controller's copies are not pruned).
    assert {path.name for path in copies} >= set(backups)
    for copy in copies:
        assert not (copy / ".env").exists(), copy
        encrypted = copy / ".env.vault"
        assert encrypted.stat().st_mode & 0o777 == 0o600
        assert copy.stat().st_mode & 0o777 == 0o700
        assert encrypted.read_bytes().startswith(b"$ANSIBLE_VAULT;1.2;AES256;stack_backup")
        if copy.name in backups:
            clear = host.file(f"{BACKUPS}/{copy.name}/.env").content_string
            assert vault.decrypt(encrypted.read_bytes()).decode() == clear
        for name in ("database.dump", "docker-compose.yml", "litellm_settings.yml", "versions.yml", "SHA256SUMS"):
            assert (copy / name).stat().st_mode & 0o777 == 0o600, copy / name
        # The clear .env is not there, so its line is skipped; every other file must match.
        subprocess.run(["sha256sum", "--check", "--ignore-missing", "--quiet", "SHA256SUMS"], cwd=copy, check=True)
