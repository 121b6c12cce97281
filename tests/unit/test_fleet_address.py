"""A fleet member's address: the inventory's word, else its default route, else unknown (never a guess)."""

from ansible_collections.llmstack.gateway.plugins.filter.fleet import fleet_address, url_host


def test_the_inventory_address_wins_over_the_default_route():
    host = {"llmstack_fleet_address": "10.0.0.5", "ansible_facts": {"default_ipv4": {"address": "172.17.0.2"}}}
    assert fleet_address(host) == "10.0.0.5"


def test_the_default_route_when_no_address_is_given():
    assert fleet_address(
        {"llmstack_fleet_address": "", "ansible_facts": {"default_ipv4": {"address": "172.17.0.2"}}}
    ) == ("172.17.0.2")


def test_a_host_outside_the_run_has_no_known_address():
    assert fleet_address({"inventory_hostname": "gw"}) == ""
    assert fleet_address({"ansible_facts": {}}) == ""
    assert fleet_address(None) == ""


def test_url_host_brackets_ipv6_only():
    assert url_host("fd00::1") == "[fd00::1]"
    assert url_host("10.0.0.5") == "10.0.0.5"
    assert url_host("gw.lab.example") == "gw.lab.example"
    assert url_host("") == ""
