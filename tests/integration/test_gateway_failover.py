"""Two gateways' VIP held by real keepalived (Debian's, the bed's local/keepalived) with the config the role renders.

Each gateway is a network namespace on a Docker network of its own: keepalived runs there with the rendered
keepalived.conf, and the bed's nginx stands in for LiteLLM's /health/liveliness over TLS (keepalived's probe is the
rendered curl command, so only what answers it is a stand-in; keepalived's decisions are its own). The tests read
who holds the VIP from the namespaces' addresses and send client requests to the VIP from this machine, as a lab
client would: the VIP moves when the rollout drains its holder, when the holder's LiteLLM dies and when the whole
box does, and each move's time is measured against what the rendered config allows.
"""

import datetime
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_gateway_ha import playbook

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEEPALIVED_IMAGE = os.environ.get("LLMSTACK_KEEPALIVED_IMAGE", "local/keepalived:2")
NGINX_IMAGE = os.environ.get("LLMSTACK_NGINX_IMAGE", "local/nginx:1.26.3")
SUBNET = "10.231.0.0/24"
ADDRESSES = {"gw1": "10.231.0.11", "gw2": "10.231.0.12"}
VIP = "10.231.0.100"
MODELS = [{"name": "tinyllama", "ollama": "tinyllama", "mode": "chat"}]

NGINX_CONF = """
events {}
http {
    server {
        listen 4444 ssl;
        ssl_certificate /tls/server.crt;
        ssl_certificate_key /tls/server.key;
        location = /health/liveliness { return 200 "I'm alive!"; }
    }
}
"""


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=check)


def issue_tls(directory):
    """A CA, and a server certificate for loopback, both gateways and the VIP (as the lab CA issues it)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "failover test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.IPAddress(ipaddress.ip_address(a)) for a in ["127.0.0.1", VIP, *ADDRESSES.values()]]
    server = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        # Python 3.13's ssl (the gateway containers' Ansible) verifies strictly: the issuer's key id is required.
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.crt").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (directory / "server.key").chmod(0o644)  # nginx's workers read it in the container; a throwaway test key
    return directory / "ca.crt"


def render_keepalived(tmp, host):
    """The role's keepalived.conf for `host`, rendered with localhost standing for it in a two-gateway fleet."""
    hosts = {}
    for name, address in ADDRESSES.items():
        if name == host:
            hosts["localhost"] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        hosts.setdefault("localhost" if name == host else name, {})["llmstack_fleet_address"] = address
    inventory = tmp / f"{host}-inventory.json"
    inventory.write_text(json.dumps({"all": {"children": {"llmstack_gateways": {"hosts": hosts}}}}))
    dest = tmp / host
    extra = {
        "render_dest": str(dest),
        "litellm_stack_models": MODELS,
        "litellm_stack_worker_proxy": False,
        "litellm_stack_gateway_ha": True,
        "llmstack_gateway_vip": VIP,
        "litellm_stack_keepalived_interface": "eth0",
    }
    (tmp / f"{host}-vars.json").write_text(json.dumps(extra))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    run = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), "-e", f"@{tmp / (host + '-vars.json')}",
         str(REPO / "playbooks" / "render.yml")],
        capture_output=True, text=True, env=env, cwd=tmp, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return (dest / "keepalived.conf").read_text()


def setting(config, key):
    """A number from the rendered config (the tests' bounds come from what the role wrote, not from here)."""
    return int(next(line.split()[1] for line in config.splitlines() if line.strip().startswith(key + " ")))


def drain_file(config):
    return next(line.split('"')[1] for line in config.splitlines() if line.strip().startswith("file "))


def probe_ca_path(config):
    return next(line for line in config.splitlines() if "--cacert" in line).split("--cacert ")[1].split()[0]


class Pair:
    """Two gateways on their own network; names are unique to this test run."""

    def __init__(self, tmp, configs, ca):
        self.tag = f"llmstack-vip-{os.getpid()}"
        self.network = self.tag
        self.configs = configs
        docker("network", "create", "--subnet", SUBNET, self.network)
        for name, address in ADDRESSES.items():
            (tmp / f"{name}.conf").write_text(configs[name])
            (tmp / f"{name}-nginx.conf").write_text(NGINX_CONF)
            docker(
                "run", "-d", "--name", self.box(name), "--network", self.network, "--ip", address,
                "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW", "--cap-add", "NET_BROADCAST",
                "-v", f"{tmp / (name + '.conf')}:/etc/keepalived/keepalived.conf:ro",
                "-v", f"{ca}:{probe_ca_path(configs[name])}:ro",
                KEEPALIVED_IMAGE,
            )  # fmt: skip
            self.start_litellm(name, tmp)

    def box(self, name):
        return f"{self.tag}-{name}"

    def start_litellm(self, name, tmp):
        docker(
            "run", "-d", "--name", self.box(name) + "-litellm", "--network", f"container:{self.box(name)}",
            "-v", f"{tmp / (name + '-nginx.conf')}:/etc/nginx/nginx.conf:ro", "-v", f"{tmp / 'tls'}:/tls:ro",
            NGINX_IMAGE,
        )  # fmt: skip

    def holders(self):
        return [
            name
            for name in ADDRESSES
            if docker("exec", self.box(name), "ip", "-o", "address", "show", "to", VIP, check=False).stdout.strip()
        ]

    def wait_for_one_holder(self, seconds, other_than=None):
        """Seconds until exactly one gateway (not `other_than`) holds the VIP."""
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            held = self.holders() if other_than is None else [h for h in self.holders() if h != other_than]
            if len(held) == 1:
                return held[0], time.monotonic() - started
            time.sleep(0.1)
        raise AssertionError(f"no single holder of {VIP} after {seconds} s: {self.holders()}")

    def remove(self):
        for name in ADDRESSES:
            docker("rm", "-f", self.box(name) + "-litellm", self.box(name), check=False)
        docker("network", "rm", self.network, check=False)


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vip-configs")
    return {name: render_keepalived(tmp, name) for name in ADDRESSES}


@pytest.fixture
def pair(tmp_path, configs):
    for image in (KEEPALIVED_IMAGE, NGINX_IMAGE):
        if docker("image", "inspect", image, check=False).returncode != 0:
            pytest.fail(f"image {image} is missing: run `make bed` (tests/bed/build-service-images.sh)")
    ca = issue_tls(tmp_path / "tls")
    gateways = Pair(tmp_path, configs, ca)
    try:
        yield gateways, ssl.create_default_context(cafile=str(ca))
    finally:
        gateways.remove()


def ask_vip(context, retries=1):
    """One client request to the VIP with one retry, as the issue allows a client; True when it got its answer."""
    for _attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(f"https://{VIP}:4444/health/liveliness", timeout=2, context=context) as r:
                if r.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    return False


def master_down_seconds(config):
    """RFC 5798's Master_Down_Interval: three adverts plus the skew (under one advert), what a backup waits."""
    return 4 * setting(config, "advert_int")


def test_the_first_gateway_holds_the_vip_and_answers_on_it(pair):
    gateways, context = pair
    holder, _seconds = gateways.wait_for_one_holder(30)
    assert holder == "gw1"  # the first gateway of the group has the highest priority
    assert setting(gateways.configs["gw1"], "priority") > setting(gateways.configs["gw2"], "priority")
    assert ask_vip(context)


def test_draining_the_holder_moves_the_vip_without_a_failed_request_and_it_stays(pair):
    gateways, context = pair
    holder, _seconds = gateways.wait_for_one_holder(30)
    other = next(name for name in ADDRESSES if name != holder)
    assert ask_vip(context)
    drain = drain_file(gateways.configs[holder])
    started = time.monotonic()
    docker("exec", gateways.box(holder), "sh", "-c", f"echo 1 > {drain}")
    answered = failed = 0
    moved_after = None
    while time.monotonic() - started < 8:
        if moved_after is None and gateways.holders() == [other]:
            moved_after = time.monotonic() - started
        if ask_vip(context):
            answered += 1
        else:
            failed += 1
        time.sleep(0.05)
    print(f"drain: the VIP moved {holder} -> {other} in {moved_after:.2f} s; {answered} answered, {failed} failed")
    assert moved_after is not None and moved_after < master_down_seconds(gateways.configs[other])
    assert failed == 0 and answered > 10
    # Back from the drain, the gateway is a backup again and does not take the VIP back (nopreempt).
    docker("exec", gateways.box(holder), "sh", "-c", f"echo 0 > {drain}")
    time.sleep(3 * master_down_seconds(gateways.configs[holder]))
    assert gateways.holders() == [other]


def test_a_dead_litellm_on_the_holder_moves_the_vip_within_the_probe_budget(pair):
    gateways, context = pair
    holder, _seconds = gateways.wait_for_one_holder(30)
    other = next(name for name in ADDRESSES if name != holder)
    config = gateways.configs[holder]
    docker("rm", "-f", gateways.box(holder) + "-litellm")
    new_holder, seconds = gateways.wait_for_one_holder(60, other_than=holder)
    # fall failed probes, each up to interval apart and timing out after `timeout`, then the FAULT hands it over.
    budget = setting(config, "fall") * setting(config, "interval") + setting(config, "timeout") + 1
    print(f"dead LiteLLM: the VIP moved {holder} -> {new_holder} in {seconds:.2f} s (budget {budget} s)")
    assert new_holder == other and seconds <= budget
    assert ask_vip(context)


def test_a_dead_holder_box_moves_the_vip_within_master_down_interval(pair):
    gateways, context = pair
    holder, _seconds = gateways.wait_for_one_holder(30)
    other = next(name for name in ADDRESSES if name != holder)
    started = time.monotonic()
    docker("rm", "-f", gateways.box(holder) + "-litellm", gateways.box(holder))
    seconds = None
    while time.monotonic() - started < 30:
        if gateways.holders() == [other]:
            seconds = time.monotonic() - started
            break
        time.sleep(0.1)
    budget = master_down_seconds(gateways.configs[other]) + 1
    print(f"dead box: the VIP moved {holder} -> {other} in {seconds or 0:.2f} s (budget {budget} s)")
    assert seconds is not None and seconds <= budget
    assert ask_vip(context)


def run_rollout(tmp, gateways, *args):
    """tests/integration/targets/vip_rollout.yml over the two gateway containers (Ansible's docker connection)."""
    hosts = {
        name: {
            "ansible_connection": "community.docker.docker",
            "ansible_host": gateways.box(name),
            "ansible_python_interpreter": "/usr/bin/python3",
            "llmstack_fleet_address": address,
            "vip_test_litellm_container": gateways.box(name) + "-litellm",
        }
        for name, address in ADDRESSES.items()
    }
    group_vars = {
        "litellm_stack_gateway_ha": True,
        "llmstack_gateway_vip": VIP,
        "litellm_stack_keepalived_interface": "eth0",
        "litellm_stack_models": MODELS,
        "litellm_stack_worker_proxy": False,
    }
    inventory = tmp / "rollout-inventory.json"
    inventory.write_text(json.dumps({"all": {"children": {"llmstack_gateways": {"hosts": hosts, "vars": group_vars}}}}))
    run = playbook(tmp, inventory, REPO / "tests" / "integration" / "targets" / "vip_rollout.yml", *args)
    data = json.loads(run.stdout[run.stdout.index("{") :])
    return {
        (host, task["task"]["name"].split(" : ")[-1]): result
        for play in data["plays"]
        for task in play["tasks"]
        for host, result in task["hosts"].items()
    }


def test_a_rolling_upgrade_of_both_gateways_keeps_the_vip_answering(pair, tmp_path):
    gateways, context = pair
    first, _seconds = gateways.wait_for_one_holder(30)
    # Both probes pass before the rollout starts (rise): a drained holder has a peer to hand the VIP to.
    time.sleep(2 * setting(gateways.configs[first], "rise") * setting(gateways.configs[first], "interval"))
    outcomes = {"answered": 0, "failed": 0}
    stop = threading.Event()

    def client():
        while not stop.is_set():
            outcomes["answered" if ask_vip(context) else "failed"] += 1
            time.sleep(0.05)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        results = run_rollout(tmp_path, gateways)
    finally:
        stop.set()
        thread.join()
    print(f"rolling upgrade of both gateways: {outcomes['answered']} requests answered, {outcomes['failed']} failed")
    drain_task = "Drain this gateway (keepalived hands the VIP to a peer)"
    drained = [h for h in ADDRESSES if results[(h, drain_task)].get("changed")]
    # The first gateway held the VIP and handed it over; the second then held it and handed it back.
    assert drained == ["gw1", "gw2"]
    returned = "Make this gateway a VIP backup again now that it passed its gate"
    assert all(results[(h, returned)]["changed"] for h in drained)
    assert outcomes["failed"] == 0 and outcomes["answered"] > 20
    holders = gateways.holders()
    assert len(holders) == 1
    # The fleet report, written after the roll, names the gateway that holds the VIP now.
    (report,) = (tmp_path / "reports").glob("*.md")
    assert f"- VIP {VIP}: held by {holders[0]}\n" in report.read_text()
    assert f"| {holders[0]} | gateway, holds the VIP |" in report.read_text()


def test_check_mode_moves_nothing(pair, tmp_path):
    gateways, _context = pair
    holder, _seconds = gateways.wait_for_one_holder(30)
    time.sleep(2 * setting(gateways.configs[holder], "rise") * setting(gateways.configs[holder], "interval"))
    results = run_rollout(tmp_path, gateways, "--check", "--skip-tags", "never")
    assert results[(holder, "Drain this gateway (keepalived hands the VIP to a peer)")]["changed"]
    assert gateways.holders() == [holder]
    drain = drain_file(gateways.configs[holder])
    assert docker("exec", gateways.box(holder), "cat", drain).stdout == "0\n"
