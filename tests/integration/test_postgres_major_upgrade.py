"""A PostgreSQL major upgrade as a user meets it: the volume holds PostgreSQL 15 data (the real Debian bookworm
server, local/postgres:15) and litellm_stack_postgres_image becomes PostgreSQL 17 (Debian trixie's,
local/postgres:17). The whole litellm_stack role runs on this host's Docker engine, in a private project with
its own volumes, directory and loopback port; everything it created is removed at the end.
"""

import json
import os
import secrets
import shutil
import subprocess
import time

import pytest
from conftest import free_port
from ollama_double import VERSION as DOUBLE_VERSION

OLD_IMAGE = os.environ.get("LLMSTACK_POSTGRES_15_IMAGE", "local/postgres:15")
NEW_IMAGE = os.environ.get("LLMSTACK_POSTGRES_IMAGE", "local/postgres:17")
OLLAMA_IMAGE = os.environ.get("LLMSTACK_OLLAMA_DOUBLE_IMAGE", f"local/ollama-double:{DOUBLE_VERSION}")
LITELLM_IMAGE = os.environ.get("LLMSTACK_LITELLM_IMAGE", "local/litellm:1.108.7")
MARKER = "written by PostgreSQL 15"
ROLE = "llmstack.gateway.litellm_stack : "  # how the JSON callback names the role's tasks


def docker(*args, check=True, timeout=180, **kwargs):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def volumes():
    return set(docker("volume", "ls", "--format", "{{.Name}}").stdout.split())


def pg_version(volume):
    """The major version a volume's data directory was made by (read without starting a server)."""
    mountpoint = json.loads(docker("volume", "inspect", volume).stdout)[0]["Mountpoint"]
    with open(os.path.join(mountpoint, "PG_VERSION")) as handle:
        return handle.read().strip()


class Stack:
    def __init__(self, tmp_path):
        token = secrets.token_hex(3)
        self.project = f"llmstack-pgmajor-{token}"
        self.volume = f"llmstack-pgmajor-{token}-db"
        self.dir = tmp_path / "stack"

        self.vars = {
            "litellm_stack_dir": str(self.dir),
            "litellm_stack_project_name": self.project,
            "litellm_stack_postgres_volume": self.volume,
            "litellm_stack_ollama_volume": f"{self.project}-ollama",
            "litellm_stack_postgres_image": NEW_IMAGE,
            "litellm_stack_ollama_image": OLLAMA_IMAGE,
            "litellm_stack_litellm_image": LITELLM_IMAGE,
            "litellm_stack_pull_policy": "never",
            "litellm_stack_ollama_publish": False,
            "litellm_stack_litellm_bind_address": "127.0.0.1",
            "litellm_stack_litellm_port": free_port(),
            "litellm_stack_models": [],
            "litellm_stack_wait_timeout": 120,
            # LiteLLM's Prisma engine cannot be downloaded here (tests/images/README.md).
            "litellm_stack_health_require_db": False,
        }

    def compose(self, *args, **kwargs):
        return docker("compose", "--project-directory", str(self.dir), *args, **kwargs)

    def seed(self):
        """The old install's volume: initialised by PostgreSQL 15, holding a marker row."""
        name = f"{self.project}-seed"
        docker("volume", "create", self.volume)
        docker(
            "run", "-d", "--name", name, "--network", "none", "-v", f"{self.volume}:/var/lib/postgresql/data",
            "-e", "POSTGRES_USER=llmproxy", "-e", "POSTGRES_DB=litellm",
            "-e", f"POSTGRES_PASSWORD={secrets.token_hex(8)}", OLD_IMAGE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while docker(
                "exec", name, "pg_isready", "-h", "127.0.0.1", "-U", "llmproxy", "-d", "litellm", check=False
            ).returncode:
                assert time.monotonic() < deadline, docker("logs", name).stderr
                time.sleep(0.5)
            sql = f"CREATE TABLE marker (note text); INSERT INTO marker VALUES ('{MARKER}');"
            docker("exec", name, "psql", "-v", "ON_ERROR_STOP=1", "-U", "llmproxy", "-d", "litellm", "-c", sql)
        finally:
            docker("stop", name)
            docker("rm", name)

    def close(self):
        if (self.dir / "docker-compose.yml").exists():
            self.compose("down", "--volumes", "--remove-orphans", check=False)
        for volume in volumes():
            if volume.startswith(self.project):
                docker("volume", "rm", "--force", volume, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def stack(tmp_path):
    for image in (OLD_IMAGE, NEW_IMAGE):
        assert docker("image", "inspect", image, check=False).returncode == 0, f"{image} missing: run `make bed`"
    stack = Stack(tmp_path)
    try:
        stack.seed()
        yield stack
    finally:
        stack.close()


def test_major_upgrade_stops_with_the_steps_before_changing_anything(stack, run_playbook):
    before = volumes()
    run = run_playbook(
        "litellm_stack_deploy",
        extra_vars={**stack.vars, "litellm_stack_postgres_major_upgrade": "stop"},
        expect_rc=2,
    )
    message = run.result(ROLE + "Stop here with the steps, when litellm_stack_postgres_major_upgrade is stop")["msg"]
    assert f"Volume {stack.volume} holds PostgreSQL 15 data" in message
    assert "nothing was changed" in message
    assert f"--volume {stack.volume}:/var/lib/postgresql/data {OLD_IMAGE}" in message
    assert "pg_dump --username=llmproxy --dbname=litellm --format=custom" in message
    assert f"litellm_stack_postgres_volume: {stack.volume}-pg17" in message
    assert "pg_restore --username=llmproxy --dbname=litellm" in message
    assert run.stats.get("changed", 0) == 0
    assert volumes() == before
    assert pg_version(stack.volume) == "15"
    assert not (stack.dir / "docker-compose.yml").exists()
    assert docker("ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={stack.project}").stdout == ""


def test_major_upgrade_carries_the_data_to_a_new_volume_and_keeps_the_old_one(stack, run_playbook):
    new_volume = f"{stack.volume}-pg17"

    check = run_playbook("litellm_stack_deploy", extra_vars=stack.vars, check=True)
    assert check.result(ROLE + "Say what check mode would carry across")["changed"]
    assert new_volume not in volumes()
    assert pg_version(stack.volume) == "15"

    run = run_playbook("litellm_stack_deploy", extra_vars=stack.vars)
    assert (stack.dir / ".postgres-volume").read_text() == new_volume + "\n"
    assert pg_version(new_volume) == "17"
    # The old volume is kept as it was, and named at the end of the run.
    assert pg_version(stack.volume) == "15"
    kept = run.result(ROLE + "Name the kept volumes of earlier PostgreSQL major versions")["msg"]
    assert f"Kept {stack.volume} " in kept and f"docker volume rm {stack.volume}" in kept
    # The stack's own db service serves the marker row from the new volume, as PostgreSQL 17.
    db = stack.compose("ps", "--quiet", "db").stdout.strip()
    assert [m["Name"] for m in json.loads(docker("inspect", "--format", "{{json .Mounts}}", db).stdout)] == [new_volume]
    assert docker("inspect", "--format", "{{.State.Health.Status}}", db).stdout.strip() == "healthy"
    query = "SELECT current_setting('server_version_num')::int / 10000, note FROM marker"
    answer = stack.compose("exec", "-T", "db", "psql", "-U", "llmproxy", "-d", "litellm", "-tA", "-c", query)
    assert answer.stdout.strip() == f"17|{MARKER}"

    again = run_playbook("litellm_stack_deploy", extra_vars=stack.vars)
    assert again.stats.get("changed", 0) == 0, again.stdout[-3000:]
    assert (
        f"Kept {stack.volume} "
        in again.result(ROLE + "Name the kept volumes of earlier PostgreSQL major versions")["msg"]
    )
