"""playbooks/rotate.yml -e llmstack_rotate=certificates on the converged workstation: the lab CA issues the
gateway a new key and certificate, clients that trust the same ca.crt go on verifying it, only the LiteLLM
container is recreated, and nothing else changes. Check mode says so and writes nothing; a certificate from
the inventory is refused before any change."""

import hashlib
import json
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from gateway_client import lab_ca, tls_context, workstation_address
from playbook_runs import changed_tasks, failures, playbook

STACK = "/opt/litellm-stack"
COMPOSE = f"docker compose --project-directory {STACK}"
# What a certificate rotation may change, and all it may change.
ROTATION_CHANGES = {
    "Ensure this host's private key (controller, 0600)",
    "Sign this host's certificate with the lab CA (controller)",
    "Write the gateway's certificate and the CA certificate",
    "Write the gateway's private key (0600)",
    # The certificate's checksum label, which makes compose recreate LiteLLM (it reads the file at start only).
    "Write docker-compose.yml, checked by docker compose before it replaces the old one",
    "Ensure every service of the stack is up and healthy (recreating only what changed)",
    "Record when the stack last changed",
    "Write the report in each format",
    "Keep a timestamped copy of each report whose content changed",
}


def served_certificate(address):
    """sha256 of the certificate the gateway serves, verified against the lab CA for this address."""
    raw = socket.create_connection((address, 4444), timeout=10)
    with tls_context().wrap_socket(raw, server_hostname=address) as tls:
        return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def state(host, address):
    containers = {
        service: host.check_output(
            f"docker inspect --format '{{{{.Id}}}} {{{{.State.StartedAt}}}}' $({COMPOSE} ps --quiet {service})"
        )
        for service in ("ollama", "db", "litellm")
    }
    return {
        "served": served_certificate(address),
        "containers": containers,
        "env": hashlib.sha256(host.file(f"{STACK}/.env").content).hexdigest(),
        "key": hashlib.sha256(host.file(f"{STACK}/tls/gateway.key").content).hexdigest(),
        "ca": Path(lab_ca()).read_bytes(),
    }


@pytest.fixture(scope="module")
def rotation(host, pytestconfig):
    inventory = pytestconfig.getoption("ansible_inventory")
    address = workstation_address(host)
    before = state(host, address)
    pem = Path(lab_ca()).read_text()
    given = playbook(
        host,
        inventory,
        "rotate.yml",
        "-e",
        "llmstack_rotate=certificates",
        "-e",
        json.dumps({"litellm_stack_tls_certificate": pem}),
    )
    after_refusal = state(host, address)
    check = playbook(host, inventory, "rotate.yml", "-e", "llmstack_rotate=certificates", "--check")
    after_check = state(host, address)
    rotate = playbook(host, inventory, "rotate.yml", "-e", "llmstack_rotate=certificates")
    return {
        "name": host.backend.get_hostname(),
        "before": before,
        "given": given,
        "after_refusal": after_refusal,
        "check": check,
        "after_check": after_check,
        "rotate": rotate,
        "after": state(host, address),
    }


def test_a_certificate_from_the_inventory_is_refused_before_any_change(rotation):
    rc, run, tail = rotation["given"]
    assert rc != 0, tail
    [message] = failures(run)
    assert message.startswith("litellm_stack_tls_certificate is set in the inventory"), message
    assert rotation["after_refusal"] == rotation["before"]


def test_check_mode_reports_the_rotation_and_writes_nothing(rotation):
    rc, run, tail = rotation["check"]
    assert rc == 0, tail
    assert "Ensure this host's private key (controller, 0600)" in changed_tasks(run, rotation["name"])
    assert rotation["after_check"] == rotation["before"]


def test_the_gateway_serves_a_new_key_and_certificate_from_the_same_ca(rotation):
    rc, _run, tail = rotation["rotate"]
    assert rc == 0, tail
    before, after = rotation["before"], rotation["after"]
    assert after["served"] != before["served"]  # verified by the unchanged lab CA in served_certificate()
    assert after["key"] != before["key"]
    assert after["ca"] == before["ca"]


def test_the_rotation_recreates_only_litellm_and_changes_nothing_else(rotation):
    _rc, run, _tail = rotation["rotate"]
    assert changed_tasks(run, rotation["name"]) == ROTATION_CHANGES
    before, after = rotation["before"], rotation["after"]
    assert after["containers"]["ollama"] == before["containers"]["ollama"]
    assert after["containers"]["db"] == before["containers"]["db"]
    assert after["containers"]["litellm"].split()[0] != before["containers"]["litellm"].split()[0]
    assert after["env"] == before["env"]


def test_the_host_keeps_the_new_key_root_only(host):
    key = host.file(f"{STACK}/tls/gateway.key")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)
