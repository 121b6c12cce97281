"""The gateway_ha filters: VIP checks, keepalived's peers and priorities, from inventory-shaped host variables."""

from ansible_collections.llmstack.gateway.plugins.filter.gateway_ha import (
    gateway_ha_priority,
    gateway_ha_problems,
    gateway_ha_vrrp_peers,
)

GATEWAYS = ["gw1", "gw2"]


def members(vip="10.0.0.100", **extra):
    hosts = [
        {"inventory_hostname": "gw1", "llmstack_fleet_address": "10.0.0.11", "llmstack_gateway_vip": vip},
        {"inventory_hostname": "gw2", "llmstack_fleet_address": "10.0.0.12", "llmstack_gateway_vip": vip},
        {"inventory_hostname": "w1", "llmstack_fleet_address": "10.0.0.21"},
    ]
    for host in hosts[:2]:
        host.update(extra)
    return hosts


def test_a_free_vip_in_the_subnet_passes():
    assert gateway_ha_problems(members(), "gw1", GATEWAYS) == []


def test_no_vip_and_non_gateways_are_not_checked():
    assert gateway_ha_problems(members(vip=""), "gw1", GATEWAYS) == []
    assert gateway_ha_problems(members(vip="nonsense"), "w1", GATEWAYS) == []


def test_a_vip_outside_the_subnet_names_the_variable():
    (problem,) = gateway_ha_problems(members(vip="10.0.1.100"), "gw1", GATEWAYS)
    assert problem.startswith("llmstack_gateway_vip 10.0.1.100 is outside the gateways' subnet")
    assert gateway_ha_problems(members(vip="10.0.1.100", llmstack_gateway_vip_prefix=16), "gw1", GATEWAYS) == []


def test_a_vip_that_is_a_hosts_own_address_is_refused():
    (problem,) = gateway_ha_problems(members(vip="10.0.0.21"), "gw1", GATEWAYS)
    assert "is w1's own address" in problem and problem.startswith("llmstack_gateway_vip")


def test_gateways_of_one_fleet_must_agree():
    hosts = members()
    hosts[1]["llmstack_gateway_vip"] = "10.0.0.101"
    (problem,) = gateway_ha_problems(hosts, "gw1", GATEWAYS)
    assert "same on every gateway" in problem and "gw2: 10.0.0.101" in problem


def test_two_fleets_sharing_a_router_id_are_refused_and_distinct_ids_pass():
    other = {"inventory_hostname": "gw9", "llmstack_fleet_address": "10.0.0.91", "llmstack_gateway_vip": "10.0.0.200"}
    (problem,) = gateway_ha_problems([*members(), other], "gw1", GATEWAYS)
    assert problem.startswith("llmstack_gateway_vrrp_router_id 51 is used by two fleets")
    assert gateway_ha_problems([*members(), {**other, "llmstack_gateway_vrrp_router_id": 52}], "gw1", GATEWAYS) == []


def test_bad_values():
    assert gateway_ha_problems(members(vip="llm.lab"), "gw1", GATEWAYS) == [
        "llmstack_gateway_vip must be an IP address, not llm.lab."
    ]
    (problem,) = gateway_ha_problems(members(llmstack_gateway_vip_prefix=40), "gw1", GATEWAYS)
    assert problem.startswith("llmstack_gateway_vip_prefix must be")
    (problem,) = gateway_ha_problems(members(llmstack_gateway_vrrp_router_id=256), "gw1", GATEWAYS)
    assert problem.startswith("llmstack_gateway_vrrp_router_id must be")


def test_peers_and_priorities():
    assert gateway_ha_vrrp_peers(members(), "gw1", GATEWAYS) == ["10.0.0.12"]
    assert gateway_ha_vrrp_peers(members(), "gw2", GATEWAYS) == ["10.0.0.11"]
    assert [gateway_ha_priority(g, ["a", "b", "c"]) for g in ("a", "b", "c")] == [150, 140, 130]
    assert gateway_ha_priority("z", [str(i) for i in range(30)]) == 1
