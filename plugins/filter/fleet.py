# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Where a fleet member is reached (documented in fleet_address.yml next to this one)."""

from __future__ import annotations

from collections.abc import Mapping


def url_host(address):
    """The address as a URL or a listen address writes it: an IPv6 address in brackets, anything else as it is."""
    text = "" if address is None else str(address)
    return f"[{text}]" if ":" in text else text


def fleet_address(host_vars):
    """A host's fleet address: its llmstack_fleet_address, else the address of its default IPv4 route; "" when
    neither is known (a host outside this run, whose facts were never gathered)."""
    if not isinstance(host_vars, Mapping):
        return ""
    given = host_vars.get("llmstack_fleet_address")
    if given:
        return str(given)
    facts = host_vars.get("ansible_facts")
    route = facts.get("default_ipv4") if isinstance(facts, Mapping) else None
    return str(route.get("address") or "") if isinstance(route, Mapping) else ""


class FilterModule:
    def filters(self):
        return {"fleet_address": fleet_address, "url_host": url_host}
