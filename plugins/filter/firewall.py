# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The iptables chain that admits only some sources to one TCP port (documented in iptables_admit_script.yml next
to this one): the worker's Ollama, the gateways' Redis and node-exporter share it."""

from __future__ import annotations

import ipaddress
import re

from ansible.errors import AnsibleFilterError

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,27}$")


def iptables_admit_script(chain, parent, port, sources, interface=None):
    """Shell lines (for `set -eu` sh) that (re)build `chain` (each source RETURNs, the rest is dropped) and hook it
    once into `parent` for TCP `port`, optionally only for traffic entering on `interface`."""
    for what, value in (("chain", chain), ("parent chain", parent)) + (
        (("interface", interface),) if interface else ()
    ):
        if not _NAME.match(str(value)):
            raise AnsibleFilterError(f"iptables_admit_script: {what} {value!r} is not a valid name")
    port = int(port)
    if not 0 < port < 65536:
        raise AnsibleFilterError(f"iptables_admit_script: port {port} is out of range")
    if isinstance(sources, str):
        raise AnsibleFilterError("iptables_admit_script: sources must be a list of addresses")
    for source in sources:
        try:
            ipaddress.ip_network(str(source), strict=False)
        except ValueError:
            raise AnsibleFilterError(f"iptables_admit_script: {source!r} is not an address or a network") from None
    match = f'{parent} {f"-i {interface} " if interface else ""}-p tcp --dport {port} -j "$chain"'
    lines = [
        f"chain={chain}",
        'iptables -w -N "$chain" 2>/dev/null || iptables -w -F "$chain"',
        *(f'iptables -w -A "$chain" -s {source} -j RETURN' for source in sources),
        'iptables -w -A "$chain" -j DROP',
        f"if ! iptables -w -C {match} 2>/dev/null; then",
        f"  iptables -w -I {match}",
        "fi",
    ]
    return "\n".join(lines)


class FilterModule:
    def filters(self):
        return {"iptables_admit_script": iptables_admit_script}
