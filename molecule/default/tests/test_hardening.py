"""The stack's containers run hardened, read back from `docker inspect` inside the workstation and from the
kernel's view of each container's first process: no-new-privileges, capabilities, read-only roots, memory
limits of the workstation's tier (cpu), log rotation, and PostgreSQL alone on an internal network."""

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from gateway_client import workstation_address

STACK = "/opt/litellm-stack"
COMPOSE = f"docker compose --project-directory {STACK}"
PROJECT = "litellm-stack"
REPO = Path(__file__).resolve().parents[3]
DEFAULTS = yaml.safe_load((REPO / "roles" / "litellm_stack" / "defaults" / "main.yml").read_text())
VARS = yaml.safe_load((REPO / "roles" / "litellm_stack" / "vars" / "main.yml").read_text())
TIER = "cpu"  # the workstation has no GPU
SERVICES = ("ollama", "db", "litellm")
UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
# Bit numbers of the capabilities in /proc/<pid>/status (linux/capability.h).
CAP_BITS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "SETGID": 6, "SETUID": 7}


def size_bytes(size):
    size = str(size).lower()
    return int(size[:-1]) * UNITS[size[-1]] if size[-1] in UNITS else int(size)


@pytest.fixture(scope="module")
def containers(host):
    """docker inspect of each service's container, by service."""
    ids = {service: host.check_output(f"{COMPOSE} ps --quiet {service}").strip() for service in SERVICES}
    assert all(ids.values()), ids
    inspected = json.loads(host.check_output("docker inspect " + " ".join(ids.values())))
    return {service: next(c for c in inspected if c["Id"].startswith(ids[service])) for service in SERVICES}


def first_process_status(host, container):
    """/proc/1/status of the container as the kernel sees it (NoNewPrivs, CapBnd, CapEff...)."""
    status = host.check_output("docker exec %s cat /proc/1/status", container["Id"])
    return dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)


@pytest.mark.parametrize("service", SERVICES)
def test_no_process_can_gain_privileges(host, containers, service):
    container = containers[service]
    assert "no-new-privileges:true" in container["HostConfig"]["SecurityOpt"]
    assert first_process_status(host, container)["NoNewPrivs"].strip() == "1"


@pytest.mark.parametrize("service", SERVICES)
def test_every_capability_is_dropped_but_those_the_image_needs(host, containers, service):
    container = containers[service]
    wanted = set(DEFAULTS["litellm_stack_cap_add"][service])
    assert container["HostConfig"]["CapDrop"] == ["ALL"]
    assert {cap.removeprefix("CAP_") for cap in container["HostConfig"]["CapAdd"] or []} == wanted
    # The bounding set: what any process of the container could ever hold.
    bounding = int(first_process_status(host, container)["CapBnd"], 16)
    assert bounding == sum(1 << CAP_BITS[cap] for cap in wanted), hex(bounding)


def test_postgres_runs_as_its_own_user_without_capabilities(host, containers):
    status = first_process_status(host, containers["db"])
    assert status["Name"].strip() == "postgres"
    assert status["Uid"].split()[0] != "0"
    assert int(status["CapEff"], 16) == 0


@pytest.mark.parametrize("service", SERVICES)
def test_the_root_file_system_is_read_only_where_the_image_allows_it(host, containers, service):
    container = containers[service]
    read_only = DEFAULTS["litellm_stack_read_only"][service]
    assert container["HostConfig"]["ReadonlyRootfs"] is read_only
    tmpfs = set((container["HostConfig"].get("Tmpfs") or {}).keys())
    assert tmpfs == (set(VARS["__litellm_stack_writable_paths"][service]) if read_only else set())
    probe = host.run("docker exec %s sh -c 'touch /etc/llmstack-probe && rm /etc/llmstack-probe'", container["Id"])
    if read_only:
        assert probe.rc != 0 and "Read-only file system" in probe.stderr, probe.stderr
        assert (
            host.run("docker exec %s sh -c 'touch /tmp/llmstack-probe && rm /tmp/llmstack-probe'", container["Id"]).rc
            == 0
        )
    else:
        assert probe.rc == 0, probe.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_memory_is_limited_as_the_tier_says(containers, service):
    wanted = DEFAULTS["litellm_stack_memory_limits"][TIER][service]
    assert containers[service]["HostConfig"]["Memory"] == size_bytes(wanted)


@pytest.mark.parametrize("service", SERVICES)
def test_logs_are_rotated(containers, service):
    log = containers[service]["HostConfig"]["LogConfig"]
    assert log["Type"] == DEFAULTS["litellm_stack_log_driver"]
    assert log["Config"] == {
        "max-size": DEFAULTS["litellm_stack_log_max_size"],
        "max-file": str(DEFAULTS["litellm_stack_log_max_file"]),
    }


def test_postgres_is_only_on_an_internal_network_that_only_litellm_shares(host, containers):
    networks = {service: set(c["NetworkSettings"]["Networks"]) for service, c in containers.items()}
    backend, default = f"{PROJECT}_backend", f"{PROJECT}_default"
    assert networks == {"db": {backend}, "litellm": {default, backend}, "ollama": {default}}
    inspected = json.loads(host.check_output("docker network inspect %s %s", backend, default))
    assert {n["Name"]: n["Internal"] for n in inspected} == {backend: True, default: False}


def test_postgres_cannot_reach_beyond_its_network_while_litellm_can(host, containers):
    """The targets listen (LiteLLM connects to them); from the database the same connections fail."""
    default_gateway = containers["litellm"]["NetworkSettings"]["Networks"][f"{PROJECT}_default"]["Gateway"]
    targets = [(default_gateway, DEFAULTS["litellm_stack_litellm_port"]), (workstation_address(host), 4444)]
    for address, port in targets:
        connect = f"exec 3<>/dev/tcp/{address}/{port}"
        reached = host.run("docker exec %s timeout 5 bash -c %s", containers["litellm"]["Id"], connect)
        assert reached.rc == 0, f"litellm could not reach {address}:{port}: {reached.stderr}"
        blocked = host.run("docker exec %s timeout 5 bash -c %s", containers["db"]["Id"], connect)
        assert blocked.rc != 0, f"the database reached {address}:{port}"
    # No default route at all: nothing outside the internal network's subnet is routed.
    routes = host.check_output("docker exec %s cat /proc/net/route", containers["db"]["Id"]).splitlines()[1:]
    assert routes and all(line.split()[1] != "00000000" for line in routes), routes
    # And LiteLLM still reaches the database through it.
    assert (
        host.run("docker exec %s timeout 5 bash -c %s", containers["litellm"]["Id"], "exec 3<>/dev/tcp/db/5432").rc == 0
    )
