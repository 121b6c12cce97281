"""A PostgreSQL major upgrade as a user meets it: a stack deployed with PostgreSQL 15 (the real Debian bookworm
server, local/postgres:15), then litellm_stack_postgres_image becomes PostgreSQL 17 (Debian trixie's,
local/postgres:17). The whole litellm_stack role runs on this host's Docker engine, in a private project with
its own volumes, directory and loopback port; everything it created is removed at the end.
"""

import json
import os
import secrets
import shutil
import subprocess

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

    def psql(self, query):
        """A query through the stack's own db service, as the database user over the container's socket."""
        argv = [
            "exec",
            "-T",
            "db",
            "psql",
            "-U",
            "llmproxy",
            "-d",
            "litellm",
            "-v",
            "ON_ERROR_STOP=1",
            "-tA",
            "-c",
            query,
        ]
        return self.compose(*argv).stdout.strip()

    def db_container(self):
        """The db service's container: its image and the volumes it mounts."""
        found = json.loads(docker("inspect", self.compose("ps", "--quiet", "db").stdout.strip()).stdout)[0]
        return (
            found["Config"]["Image"],
            [mount["Name"] for mount in found["Mounts"]],
            found["State"]["Health"]["Status"],
        )

    def volumes(self):
        """This stack's volumes (other tests share this host's engine)."""
        return {volume for volume in volumes() if volume.startswith(self.project)}

    def close(self):
        if (self.dir / "docker-compose.yml").exists():
            self.compose("down", "--volumes", "--remove-orphans", check=False)
        for volume in self.volumes():
            docker("volume", "rm", "--force", volume, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def stack(tmp_path):
    for image in (OLD_IMAGE, NEW_IMAGE):
        assert docker("image", "inspect", image, check=False).returncode == 0, f"{image} missing: run `make bed`"
    stack = Stack(tmp_path)
    try:
        yield stack
    finally:
        stack.close()


def test_major_upgrade_15_to_17_stops_or_carries_the_data_and_keeps_the_old_volume(stack, run_playbook):
    # A stack the role deployed with PostgreSQL 15, holding a marker row.
    run_playbook("litellm_stack_deploy", extra_vars={**stack.vars, "litellm_stack_postgres_image": OLD_IMAGE})
    stack.psql(f"CREATE TABLE marker (note text); INSERT INTO marker VALUES ('{MARKER}')")
    compose_file = (stack.dir / "docker-compose.yml").read_text()
    before = stack.volumes()

    # litellm_stack_postgres_image becomes 17. With `stop`: the steps, and nothing changed.
    stop = run_playbook(
        "litellm_stack_deploy",
        extra_vars={**stack.vars, "litellm_stack_postgres_major_upgrade": "stop"},
        expect_rc=2,
    )
    message = stop.result(ROLE + "Stop here with the steps, when litellm_stack_postgres_major_upgrade is stop")["msg"]
    assert f"Volume {stack.volume} holds PostgreSQL 15 data" in message
    assert "nothing was changed" in message
    assert (
        f"--env PGDATA=/var/lib/postgresql/data --volume {stack.volume}:/var/lib/postgresql/data {OLD_IMAGE}" in message
    )
    assert "pg_dump --username=llmproxy --dbname=litellm --format=custom" in message
    assert f"litellm_stack_postgres_volume: {stack.volume}-pg17" in message
    assert "pg_restore --username=llmproxy --dbname=litellm" in message
    assert stop.stats.get("changed", 0) == 0
    assert (stack.dir / "docker-compose.yml").read_text() == compose_file
    assert stack.volumes() == before
    assert stack.db_container() == (OLD_IMAGE, [stack.volume], "healthy")

    # Check mode says what it would do, and does nothing.
    new_volume = f"{stack.volume}-pg17"
    check = run_playbook("litellm_stack_deploy", extra_vars=stack.vars, check=True)
    assert check.result(ROLE + "Say what check mode would carry across")["changed"]
    assert stack.volumes() == before
    assert stack.db_container() == (OLD_IMAGE, [stack.volume], "healthy")

    # The default, migrate: the data is carried to a new volume of 17, served by the stack's db service.
    run = run_playbook("litellm_stack_deploy", extra_vars=stack.vars)
    assert (stack.dir / ".postgres-volume").read_text() == new_volume + "\n"
    assert pg_version(new_volume) == "17"
    assert stack.db_container() == (NEW_IMAGE, [new_volume], "healthy")
    assert stack.psql("SELECT current_setting('server_version_num')::int / 10000, note FROM marker") == f"17|{MARKER}"
    # The old volume is kept as it was, and named at the end of the run.
    assert pg_version(stack.volume) == "15"
    kept = run.result(ROLE + "Name the kept volumes of earlier PostgreSQL major versions")["msg"]
    assert f"Kept {stack.volume} " in kept and f"docker volume rm {stack.volume}" in kept
    assert not list(stack.dir.glob("*.dump*")), "the dump is deleted once restored"

    again = run_playbook("litellm_stack_deploy", extra_vars=stack.vars)
    assert again.stats.get("changed", 0) == 0, again.stdout[-3000:]
    assert (
        f"Kept {stack.volume} "
        in again.result(ROLE + "Name the kept volumes of earlier PostgreSQL major versions")["msg"]
    )
