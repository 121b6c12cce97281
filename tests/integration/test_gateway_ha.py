"""Several gateways (issue 14, the role's part): what a fleet of gateways renders, checked with real software.

- One gateway renders byte for byte what it did before, whatever litellm_stack_gateway_ha says.
- Two gateways render router_settings pointing at the fleet's Redis, its password only in .env, and a keepalived
  config that Debian's keepalived (the bed's local/keepalived image) accepts with --config-test.
- The lab CA's certificate for a gateway carries the VIP and its name.
- A VIP outside the gateways' subnet, equal to a host's own address, or a router id two fleets share stops
  site.yml in its first checks, naming the variable.

Each runs a playbook of the collection on localhost against an inventory written here; the other gateways of
the inventory are never contacted (their addresses come from the inventory).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEEPALIVED_IMAGE = os.environ.get("LLMSTACK_KEEPALIVED_IMAGE", "local/keepalived:2")
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
MODELS = [{"name": "tinyllama", "ollama": "tinyllama", "mode": "chat"}]


def inventory(tmp, gateways, group_vars=None, others=None):
    """localhost is the first gateway; the others are names the run never contacts."""
    hosts = {"localhost": {**LOCAL, "llmstack_fleet_address": "10.20.0.11"}}
    hosts.update({name: {"llmstack_fleet_address": address} for name, address in gateways.items()})
    data = {"all": {"children": {"llmstack_gateways": {"hosts": hosts, "vars": group_vars or {}}}}}
    if others:
        data["all"]["children"]["other_fleet"] = {"hosts": others}
    path = tmp / "inventory.json"
    path.write_text(json.dumps(data))
    return path


def playbook(tmp, inventory_path, playbook_path, *args, expect_rc=0):
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_NOCOLOR="1",
    )
    run = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory_path), *args, str(playbook_path)],
        capture_output=True, text=True, env=env, cwd=tmp, check=False,
    )  # fmt: skip
    if expect_rc is not None:
        assert run.returncode == expect_rc, run.stdout[-4000:] + run.stderr[-3000:]
    return run


def render(tmp, name, gateways, **extra):
    dest = tmp / name
    inv = inventory(tmp, gateways)
    # No workers here, so no proxies: the render then needs no lab CA on this machine.
    extra = {"render_dest": str(dest), "litellm_stack_models": MODELS, "litellm_stack_worker_proxy": False, **extra}
    (tmp / f"{name}.json").write_text(json.dumps(extra))
    playbook(tmp, inv, REPO / "playbooks" / "render.yml", "-e", f"@{tmp / (name + '.json')}")
    return dest


def test_one_gateway_renders_what_it_did_before(tmp_path):
    before = render(tmp_path, "off", {})
    after = render(tmp_path, "on", {}, litellm_stack_gateway_ha=True)
    for name in ("docker-compose.yml", "litellm_settings.yml", ".env"):
        assert (after / name).read_bytes() == (before / name).read_bytes(), name
    assert "redis" not in (after / "litellm_settings.yml").read_text()
    assert not (after / "keepalived.conf").exists()


def test_two_gateways_share_redis_and_keep_its_password_in_env(tmp_path):
    gateways = {"gw2": "10.20.0.12"}
    before = render(tmp_path, "off", gateways)
    dest = render(
        tmp_path, "on", gateways, litellm_stack_gateway_ha=True, litellm_stack_redis_password="s3cret-in-vault"
    )
    config = yaml.safe_load((dest / "litellm_settings.yml").read_text())
    router = config["router_settings"]
    # The first gateway runs the Redis (no llmstack_redis group): localhost, at its fleet address.
    assert router["redis_host"] == "10.20.0.11"
    assert router["redis_port"] == 6379
    assert router["redis_password"] == "os.environ/LITELLM_REDIS_PASSWORD"
    assert "s3cret" not in (dest / "litellm_settings.yml").read_text()
    assert "LITELLM_REDIS_PASSWORD='<masked>'" in (dest / ".env").read_text()
    assert "s3cret" not in (dest / ".env").read_text()
    # Without the opt-in, the same two gateways render no Redis.
    assert "redis" not in (before / "litellm_settings.yml").read_text()
    assert not (before / "redis.conf").exists()
    # The first gateway runs the Redis in its stack, published on its fleet address only.
    redis = yaml.safe_load((dest / "docker-compose.yml").read_text())["services"]["redis"]
    assert redis["ports"] == ["10.20.0.11:6379:6379"]
    assert redis["user"] == "999:999" and redis["read_only"] is True and redis["cap_drop"] == ["ALL"]
    assert (dest / "redis.conf").stat().st_mode & 0o777 == 0o600


def test_the_rendered_redis_config_runs_real_redis_and_asks_for_the_password(tmp_path):
    dest = render(tmp_path, "on", {"gw2": "10.20.0.12"}, litellm_stack_gateway_ha=True)
    compose = yaml.safe_load((dest / "docker-compose.yml").read_text())["services"]["redis"]
    conf = tmp_path / "redis"
    conf.mkdir()
    (conf / "redis.conf").write_bytes((dest / "redis.conf").read_bytes())
    (conf / "redis.conf").chmod(0o644)  # the render's owner is this test's user, not the container's
    image = os.environ.get("LLMSTACK_REDIS_IMAGE", "local/redis:7.0")
    name = f"llmstack-test-redis-conf-{os.getpid()}"
    subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", name, "--user", compose["user"], "--read-only", "--tmpfs", "/tmp",
         "--cap-drop", "ALL", "-v", f"{conf}:/etc/llmstack/redis:ro", image, *compose["command"]],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        health = compose["healthcheck"]["test"][1]
        for _ in range(50):
            alive = subprocess.run(["docker", "exec", name, "sh", "-c", health], capture_output=True, check=False)
            if alive.returncode == 0:
                break
            time.sleep(0.2)
        logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True, check=False)
        assert alive.returncode == 0, logs.stdout + logs.stderr

        def cli(*args, auth=None):
            env = ["-e", f"REDISCLI_AUTH={auth}"] if auth else []
            command = ["docker", "exec", *env, name, "redis-cli", *args]
            return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()

        assert cli("GET", "x").startswith("NOAUTH")
        # The render masks the password, so "<masked>" is this file's password.
        assert cli("PING", auth="<masked>") == "PONG"
        assert cli("CONFIG", "GET", "save", auth="<masked>").split() == ["save"]
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


@pytest.fixture(scope="module")
def keepalived_image():
    found = subprocess.run(["docker", "image", "inspect", KEEPALIVED_IMAGE], capture_output=True, check=False)
    if found.returncode != 0:
        pytest.fail(f"image {KEEPALIVED_IMAGE} is missing: run `make bed` (tests/bed/build-service-images.sh)")
    return KEEPALIVED_IMAGE


def config_test(image, path):
    return subprocess.run(
        # The default bridge network, so that the container has the eth0 the config names (keepalived checks it).
        ["docker", "run", "--rm", "-v", f"{path}:/etc/keepalived/keepalived.conf:ro",
         image, "--config-test", "-f", "/etc/keepalived/keepalived.conf"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_keepalived_accepts_the_rendered_vrrp_config(tmp_path, keepalived_image):
    dest = render(
        tmp_path,
        "vip",
        {"gw2": "10.20.0.12", "gw3": "10.20.0.13"},
        litellm_stack_gateway_ha=True,
        llmstack_gateway_vip="10.20.0.100",
        llmstack_gateway_vip_name="llm.lab.example",
        litellm_stack_keepalived_interface="eth0",
    )
    text = (dest / "keepalived.conf").read_text()
    assert "virtual_router_id 51" in text
    assert "priority 150" in text  # the first gateway of the group
    assert "unicast_src_ip 10.20.0.11" in text
    peers = text.split("unicast_peer {")[1].split("}")[0].split()
    assert peers == ["10.20.0.12", "10.20.0.13"]
    assert "10.20.0.100/24 dev eth0" in text
    assert "https://127.0.0.1:4444/health/liveliness" in text
    result = config_test(keepalived_image, dest / "keepalived.conf")
    assert result.returncode == 0, result.stdout + result.stderr
    # The check can fail: a config keepalived cannot parse is refused.
    broken = tmp_path / "broken.conf"
    broken.write_text(text.replace("virtual_router_id 51", "virtual_router_id 300"))
    refused = config_test(keepalived_image, broken)
    assert refused.returncode != 0, refused.stdout + refused.stderr


TLS_PLAY = """
- name: Issue a gateway certificate from the lab CA
  hosts: localhost
  gather_facts: false
  roles:
    - role: llmstack.gateway.fleet_topology
  tasks:
    - name: Issue it
      ansible.builtin.include_role:
        name: llmstack.gateway.litellm_stack
        tasks_from: tls.yml
"""


def test_the_gateways_certificate_carries_the_vip_and_its_name(tmp_path):
    (tmp_path / "tls.yml").write_text(TLS_PLAY)
    inv = inventory(
        tmp_path,
        {"gw2": "10.20.0.12"},
        {"llmstack_gateway_vip": "10.20.0.100", "llmstack_gateway_vip_name": "llm.lab.example"},
    )
    playbook(tmp_path, inv, tmp_path / "tls.yml", "-e", f"litellm_stack_tls_ca_dir={tmp_path / 'ca'}")
    certificate = x509.load_pem_x509_certificate((tmp_path / "ca" / "issued" / "localhost.crt").read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "llm.lab.example" in names.get_values_for_type(x509.DNSName)
    assert "10.20.0.100" in [str(a) for a in names.get_values_for_type(x509.IPAddress)]
    assert "10.20.0.11" in [str(a) for a in names.get_values_for_type(x509.IPAddress)]


BAD = [
    # (group vars of the fleet, another fleet's hosts, the variable named, words)
    ({"llmstack_gateway_vip": "10.30.0.100"}, None, "llmstack_gateway_vip", "outside the gateways' subnet"),
    ({"llmstack_gateway_vip": "10.20.0.12"}, None, "llmstack_gateway_vip", "gw2's own address"),
    ({"llmstack_gateway_vip": "10.20.1.100", "llmstack_gateway_vip_prefix": 16}, None, None, None),
    (
        {"llmstack_gateway_vip": "10.20.0.100"},
        {"gw9": {"llmstack_fleet_address": "10.20.0.91", "llmstack_gateway_vip": "10.20.0.200"}},
        "llmstack_gateway_vrrp_router_id",
        "used by two fleets",
    ),
    (
        {"llmstack_gateway_vip": "10.20.0.100"},
        {"gw9": {"llmstack_gateway_vip": "10.20.0.200", "llmstack_gateway_vrrp_router_id": 52}},
        None,
        None,
    ),
    ({"llmstack_gateway_vip": "llm.lab"}, None, "llmstack_gateway_vip", "must be an IP address"),
]


@pytest.mark.parametrize(("group_vars", "others", "variable", "words"), BAD)
def test_bad_vip_settings_stop_site_yml_before_anything_changes(tmp_path, group_vars, others, variable, words):
    inv = inventory(tmp_path, {"gw2": "10.20.0.12"}, group_vars, others)
    run = playbook(
        tmp_path, inv, REPO / "playbooks" / "site.yml", "--check", "--tags", "always", "--limit", "localhost",
        expect_rc=None,
    )  # fmt: skip
    data = json.loads(run.stdout[run.stdout.index("{") :])
    failures = [
        (task["task"]["name"], result.get("msg", ""))
        for play in data["plays"]
        for task in play["tasks"]
        for host, result in task["hosts"].items()
        if host == "localhost" and result.get("failed")
    ]
    if variable is None:
        # Accepted by the fleet's checks (this machine's Docker packages may stop a later check, not this one).
        assert not [name for name, _message in failures if "fleet_topology" in name], failures
        ran = [
            t
            for p in data["plays"]
            for t in p["tasks"]
            if t["task"]["name"].startswith("llmstack.gateway.fleet_topology : Fail early")
        ]
        assert ran and not ran[0]["hosts"]["localhost"].get("failed"), ran
        return
    assert run.returncode != 0
    (name, message), *_ = failures
    assert "Fail early" in name, failures
    assert variable in message and "Nothing was changed." in message, message
    if words:
        assert words in message, message
    assert "\n" not in message.strip()
