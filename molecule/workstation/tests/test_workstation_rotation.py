"""playbooks/rotate.yml on the converged workstation (SIMULATED RTX 4090): the master key is rotated and
nothing else changes. Check mode says so and writes nothing, bad requests are refused before any change,
the real rotation recreates only the LiteLLM container, the old key is refused and the new one answers, and
a later run without a rotation keeps the new key and changes nothing."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from gateway_client import call, workstation_address
from playbook_runs import changed_tasks, failures, playbook

STACK = "/opt/litellm-stack"
COMPOSE = f"docker compose --project-directory {STACK}"
SERVICES = ("ollama", "db", "litellm")
# What a rotation of the master key may change, and all it may change: .env, the LiteLLM container
# (compose recreates it) and the record of when the stack last changed.
ROTATION_CHANGES = {
    "Write the secrets file (.env, 0600)",
    "Ensure every service of the stack is up and healthy (recreating only what changed)",
    "Record when the stack last changed",
    # The fleet report on the controller, which shows that time.
    "Write the report in each format",
    "Keep a timestamped copy of each report whose content changed",
}
# LiteLLM refuses a key that is not the master key on this route whether or not it has a database.
MASTER_KEY_ONLY = "/memory-usage-in-mem-cache"


class Secret(str):
    """A secret read from .env: compared as itself, shown as a placeholder in pytest's failure reports."""

    def __repr__(self):
        return "'<secret>'"


def env_values(host):
    """.env as a dict (values unquoted); never printed by the assertions below."""
    lines = host.file(f"{STACK}/.env").content_string.splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {name: Secret(value.strip("'")) for name, value in pairs}


def containers(host):
    """Each service's container: its id, when it started, and its restart count."""
    state = {}
    for service in SERVICES:
        container = host.check_output(f"{COMPOSE} ps --quiet --no-trunc {service}")
        state[service] = host.check_output(
            f"docker inspect --format '{{{{.Id}}}} {{{{.State.StartedAt}}}} {{{{.RestartCount}}}}' {container}"
        )
    return state


def stack_state(host):
    env = host.file(f"{STACK}/.env")
    return {
        "env": env_values(host),
        "env_mode": (env.user, env.group, env.mode),
        "env_mtime": env.mtime,
        "containers": containers(host),
    }


@pytest.fixture(scope="module")
def inventory(pytestconfig):
    return pytestconfig.getoption("ansible_inventory")


@pytest.fixture(scope="module")
def rotation(host, inventory):
    """The state before, the refused requests, the check-mode run, the rotation, the state after, and a
    later run without a rotation: everything the tests below judge, run once."""
    name = host.backend.get_hostname()
    before = stack_state(host)
    unknown = playbook(host, inventory, "rotate.yml", "-e", "llmstack_rotate=master_key,salt_key")
    given = playbook(
        host,
        inventory,
        "rotate.yml",
        "-e",
        "llmstack_rotate=master_key",
        "-e",
        "litellm_stack_master_key=sk-" + "a" * 40,
    )
    after_refusals = stack_state(host)
    check = playbook(
        host, inventory, "rotate.yml", "-e", "llmstack_rotate=master_key", "--check", "--tags=litellm_stack"
    )
    after_check = stack_state(host)
    rotate = playbook(host, inventory, "rotate.yml", "-e", "llmstack_rotate=master_key")
    after = stack_state(host)
    # The steps that settle the secrets and write the stack's files: what a kept key leaves unchanged. The
    # rest of the run acts only on changed files (the idempotence step showed it unchanged without them).
    again = playbook(host, inventory, "site.yml", "--tags=litellm_stack_config")
    return {
        "name": name,
        "before": before,
        "unknown": unknown,
        "given": given,
        "after_refusals": after_refusals,
        "check": check,
        "after_check": after_check,
        "rotate": rotate,
        "after": after,
        "again": again,
        "after_again": stack_state(host),
    }


@pytest.fixture(scope="module")
def gateway(host):
    return f"https://{workstation_address(host)}:4444"


def test_an_unknown_item_is_refused_in_one_line_before_any_change(rotation):
    rc, run, tail = rotation["unknown"]
    assert rc != 0, tail
    assert failures(run) == [
        "llmstack_rotate must name one or more of master_key, certificates (got salt_key),"
        " e.g. -e llmstack_rotate=master_key. Nothing was changed."
    ]
    assert rotation["after_refusals"] == rotation["before"]


def test_a_master_key_set_in_the_inventory_is_refused_before_any_change(rotation):
    rc, run, tail = rotation["given"]
    assert rc != 0, tail
    [message] = failures(run)
    assert message.startswith("litellm_stack_master_key is set in the inventory")
    assert "put the new key in the vault" in message
    assert "sk-aaaa" not in json.dumps(run)
    assert rotation["after_refusals"] == rotation["before"]


def test_check_mode_reports_the_rotation_and_writes_nothing(rotation):
    rc, run, tail = rotation["check"]
    assert rc == 0, tail
    assert run["stats"][rotation["name"]]["changed"] > 0
    assert "Say that a real run would rotate" in changed_tasks(run, rotation["name"])
    assert rotation["after_check"] == rotation["before"]


def test_the_rotation_changes_only_env_and_the_litellm_container(rotation):
    rc, run, tail = rotation["rotate"]
    assert rc == 0, tail
    assert changed_tasks(run, rotation["name"]) == ROTATION_CHANGES
    before, after = rotation["before"], rotation["after"]
    assert after["containers"]["ollama"] == before["containers"]["ollama"]
    assert after["containers"]["db"] == before["containers"]["db"]
    assert after["containers"]["litellm"].split()[0] != before["containers"]["litellm"].split()[0]


def test_only_the_master_key_changed_in_env_which_stays_0600_root(rotation):
    before, after = rotation["before"]["env"], rotation["after"]["env"]
    assert after["LITELLM_MASTER_KEY"] != before["LITELLM_MASTER_KEY"]
    assert after["LITELLM_MASTER_KEY"].startswith("sk-")
    assert len(after["LITELLM_MASTER_KEY"]) == len(before["LITELLM_MASTER_KEY"])
    unchanged = {name for name in before if name != "LITELLM_MASTER_KEY"}
    assert {"LITELLM_SALT_KEY", "LITELLM_DB_PASSWORD", "DATABASE_URL"} <= unchanged
    assert {name: after.get(name) for name in unchanged} == {name: before[name] for name in unchanged}
    assert set(after) == set(before)
    assert rotation["after"]["env_mode"] == ("root", "root", 0o600)


def test_the_run_says_where_the_new_key_is_without_printing_it(rotation):
    _rc, run, _tail = rotation["rotate"]
    text = json.dumps(run)
    assert rotation["after"]["env"]["LITELLM_MASTER_KEY"] not in text
    assert rotation["before"]["env"]["LITELLM_MASTER_KEY"] not in text
    assert f"LITELLM_MASTER_KEY in {STACK}/.env" in text


def test_the_old_key_is_refused_and_the_new_one_answers(rotation, gateway):
    old, new = rotation["before"]["env"]["LITELLM_MASTER_KEY"], rotation["after"]["env"]["LITELLM_MASTER_KEY"]
    status, body = call(f"{gateway}{MASTER_KEY_ONLY}", key=old)
    assert (status, "only for MASTER KEY" in body) == (401, True), body
    # Any key but the master key is looked up as a virtual key: 401 where LiteLLM has its database, 400
    # no_db_connection where it has none (the stand-in; tests/images/README.md, "prisma and 401").
    status, body = call(f"{gateway}/v1/models", key=old)
    assert status == 401 or (status, "no_db_connection" in body) == (400, True), body
    status, body = call(f"{gateway}{MASTER_KEY_ONLY}", key=new)
    assert status == 200, body
    status, body = call(f"{gateway}/v1/models", key=new)
    assert status == 200, body
    assert body["data"]


def test_a_later_run_without_rotation_keeps_the_new_key_and_changes_nothing(rotation):
    rc, run, tail = rotation["again"]
    assert rc == 0, tail
    assert run["stats"][rotation["name"]]["changed"] == 0, changed_tasks(run, rotation["name"])
    assert rotation["after_again"] == rotation["after"]
