# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Several gateways with one address and shared state (documented in the .yml files next to this one)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from ansible_collections.llmstack.gateway.plugins.filter.fleet import fleet_address

VIP = "llmstack_gateway_vip"
PREFIX = "llmstack_gateway_vip_prefix"
ROUTER_ID = "llmstack_gateway_vrrp_router_id"


def _get(host_vars, name, default):
    value = host_vars.get(name) if isinstance(host_vars, Mapping) else None
    return default if value is None or value == "" else value


def _name(host_vars):
    return str(host_vars.get("inventory_hostname", "?")) if isinstance(host_vars, Mapping) else "?"


def _own_addresses(host_vars):
    """The addresses a host is known by in the inventory or its facts (a VIP must be none of them)."""
    found = {fleet_address(host_vars), str(_get(host_vars, "ansible_host", ""))}
    return {a for a in found if a}


def _ip(value):
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        return None


def gateway_ha_problems(members, host, gateways, defaults=None):
    """What is wrong with the VIP settings of gateway `host`, one sentence each naming the variable.

    members: every inventory host's variables (hostvars of groups.all), so that another fleet in the same
    inventory is seen; gateways: this fleet's gateways (names); defaults: the role's defaults of the three
    variables, for hosts whose inventory does not set them. A fleet is the set of hosts that name one VIP.
    """
    defaults = dict(defaults or {})
    by_name = {_name(m): m for m in members or [] if isinstance(m, Mapping)}
    mine = by_name.get(host, {})
    vip_text = str(_get(mine, VIP, defaults.get(VIP) or ""))
    if not vip_text or host not in (gateways or []):
        return []
    problems = []
    vip = _ip(vip_text)
    if vip is None:
        return [f"{VIP} must be an IP address, not {vip_text}."]
    try:
        prefix = int(_get(mine, PREFIX, defaults.get(PREFIX, 24)))
    except (TypeError, ValueError):
        prefix = -1
    if not 1 <= prefix <= vip.max_prefixlen:
        return [f"{PREFIX} must be a prefix length from 1 to {vip.max_prefixlen}, not {_get(mine, PREFIX, '')}."]
    try:
        router_id = int(_get(mine, ROUTER_ID, defaults.get(ROUTER_ID, 51)))
    except (TypeError, ValueError):
        router_id = 0
    if not 1 <= router_id <= 255:
        problems.append(f"{ROUTER_ID} must be a VRRP router id from 1 to 255, not {_get(mine, ROUTER_ID, '')}.")

    fleet = [by_name[g] for g in gateways if g in by_name]
    others_vip = sorted(
        {f"{_name(g)}: {_get(g, VIP, vip_text)}" for g in fleet if str(_get(g, VIP, vip_text)) != vip_text}
    )
    if others_vip:
        problems.append(
            f"{VIP} must be the same on every gateway of a fleet: {host} has {vip_text}, {', '.join(others_vip)}."
        )
    for gateway in fleet:
        address = _ip(fleet_address(gateway))
        if address is None or address.version != vip.version:
            continue
        network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
        if vip not in network:
            problems.append(
                f"{VIP} {vip} is outside the gateways' subnet: {_name(gateway)} is {address} in {network}"
                f" ({PREFIX} {prefix}); VRRP moves the address only within one subnet."
            )
            break
    for member in by_name.values():
        if str(vip) in {str(_ip(a)) for a in _own_addresses(member)}:
            problems.append(
                f"{VIP} {vip} is {_name(member)}'s own address; the VIP must be a free address of the gateways' subnet."
            )
            break
    # Another fleet in the inventory (hosts naming another VIP) with the same router id: both would claim it
    # on a shared segment, and VRRP drops the other's adverts as a misconfiguration.
    clash = sorted(
        {
            str(_get(m, VIP, ""))
            for m in by_name.values()
            if _name(m) not in gateways
            and _get(m, VIP, "")
            and str(_get(m, VIP, "")) != vip_text
            and str(_get(m, ROUTER_ID, defaults.get(ROUTER_ID, 51))) == str(router_id)
        }
    )
    if clash and 1 <= router_id <= 255:
        problems.append(
            f"{ROUTER_ID} {router_id} is used by two fleets: VIP {vip_text} and VIP {', '.join(clash)};"
            " give each fleet its own router id."
        )
    return problems


def gateway_ha_vrrp_peers(members, host, gateways):
    """The fleet addresses of the other gateways (keepalived's unicast_peer list), in inventory order."""
    by_name = {_name(m): m for m in members or [] if isinstance(m, Mapping)}
    return [
        fleet_address(by_name[g]) for g in gateways or [] if g != host and g in by_name and fleet_address(by_name[g])
    ]


def gateway_ha_priority(host, gateways, top=150, step=10):
    """A gateway's VRRP priority: the first gateway of the group the highest, each next one `step` lower (never
    below 1), so that the address has one preferred holder and a fixed order of successors."""
    names = list(gateways or [])
    index = names.index(host) if host in names else len(names)
    return max(int(top) - index * int(step), 1)


class FilterModule:
    def filters(self):
        return {
            "gateway_ha_problems": gateway_ha_problems,
            "gateway_ha_vrrp_peers": gateway_ha_vrrp_peers,
            "gateway_ha_priority": gateway_ha_priority,
        }
