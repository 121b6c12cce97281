# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Jinja tests of llmstack.gateway (documented in the .yml file next to this one)."""

from __future__ import annotations

import ipaddress


def ip_address(value):
    """Whether value is an IPv4 or IPv6 address (no host names, no networks)."""
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


class TestModule:
    def tests(self):
        return {"ip_address": ip_address}
