"""The iptables chain script that admits only some sources to one port (Ollama, Redis, node-exporter share it)."""

import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llmstack.gateway.plugins.filter.firewall import iptables_admit_script

WORKER_OLLAMA = """\
chain=LLMSTACK-OLLAMA
iptables -w -N "$chain" 2>/dev/null || iptables -w -F "$chain"
iptables -w -A "$chain" -s 10.0.0.2 -j RETURN
iptables -w -A "$chain" -s 10.0.1.0/24 -j RETURN
iptables -w -A "$chain" -j DROP
if ! iptables -w -C DOCKER-USER -i eth0 -p tcp --dport 11434 -j "$chain" 2>/dev/null; then
  iptables -w -I DOCKER-USER -i eth0 -p tcp --dport 11434 -j "$chain"
fi"""


def test_the_workers_ollama_chain_is_the_one_the_role_always_wrote():
    script = iptables_admit_script("LLMSTACK-OLLAMA", "DOCKER-USER", 11434, ["10.0.0.2", "10.0.1.0/24"], "eth0")
    assert script == WORKER_OLLAMA


def test_a_host_process_hooks_into_input_on_every_interface():
    script = iptables_admit_script("LLMSTACK-NODE-EXPORTER", "INPUT", "9100", ["192.0.2.10"])
    assert "-C INPUT -p tcp --dport 9100 -j" in script
    assert "-I INPUT -p tcp --dport 9100 -j" in script
    assert "-s 192.0.2.10 -j RETURN" in script


def test_no_source_drops_everyone():
    lines = iptables_admit_script("C", "INPUT", 9100, []).splitlines()
    assert lines[2] == 'iptables -w -A "$chain" -j DROP'


@pytest.mark.skipif(shutil.which("sh") is None, reason="no sh")
def test_the_script_is_valid_sh():
    script = "set -eu\n" + iptables_admit_script("C", "INPUT", 9100, ["192.0.2.1"])
    assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("C; rm -rf /", "INPUT", 1, []), "chain"),
        (("C", "INPUT", 1, ["10.0.0.1; reboot"]), "not an address"),
        (("C", "INPUT", 70000, []), "out of range"),
        (("C", "INPUT", 1, "10.0.0.1"), "list"),
        (("C", "INPUT", 1, [], "eth0 -j ACCEPT"), "interface"),
    ],
)
def test_bad_input_is_refused(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        iptables_admit_script(*args)
