"""The monitoring role's filters: Prometheus's configuration from the inventory, the rules with `for:` overrides."""

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.llmstack.gateway.plugins.filter.monitoring import (
    monitoring_alert_rules,
    monitoring_node_exporter_address,
    monitoring_prometheus_config,
)

RULES = Path(__file__).resolve().parents[2] / "roles" / "monitoring" / "files" / "llmstack-alerts.yml"
SETTINGS = {
    "monitoring_host": "gw",
    "node_exporter_port": 9100,
    "scrape_interval": "30s",
    "evaluation_interval": "15s",
    "rule_files": ["/etc/prometheus/rules/llmstack-alerts.yml"],
    "secrets_dir": "/etc/prometheus/secrets",
    "host_secrets_dir": "/opt/m/config/secrets",
}
METRICS = {
    "url": "https://10.0.0.2:4444/metrics",
    "local_url": "https://127.0.0.1:4444/metrics",
    "server_name": "",
    "ca_pem": "-----BEGIN CERTIFICATE-----\n",
    "bearer": "sk-secret",
}


def host(name, role, address, **more):
    return {"inventory_hostname": name, "llmstack_fleet_role": role, "llmstack_fleet_address": address, **more}


def test_a_fleet_scrapes_every_node_exporter_and_the_gateway_with_its_key_file():
    hosts = [
        host("w1", "worker", "10.0.0.3"),
        host("w2", "worker", "fd00::4"),
        host("gw", "gateway", "10.0.0.2", llmstack_litellm_metrics=METRICS),
    ]
    result = monitoring_prometheus_config(hosts, SETTINGS)
    config = result["config"]
    assert result["missing"] == []
    node, litellm = config["scrape_configs"]
    assert node["job_name"] == "node"
    assert [(c["targets"], c["labels"]["instance"]) for c in node["static_configs"]] == [
        (["10.0.0.3:9100"], "w1"),
        (["[fd00::4]:9100"], "w2"),
        (["10.0.0.2:9100"], "gw"),
    ]
    # The monitoring host reaches its own gateway on loopback; the job label stays the one the rules read.
    assert litellm["static_configs"] == [{"targets": ["127.0.0.1:4444"], "labels": {"instance": "gw"}}]
    assert litellm["relabel_configs"] == [{"target_label": "job", "replacement": "litellm"}]
    assert litellm["authorization"] == {"type": "Bearer", "credentials_file": "/etc/prometheus/secrets/gw.token"}
    assert litellm["tls_config"] == {"ca_file": "/etc/prometheus/secrets/gw.ca.crt"}
    assert "sk-secret" not in yaml.safe_dump(config)
    assert result["secret_files"] == [
        {"dest": "/opt/m/config/secrets/gw.token", "kind": "token", "host": "gw"},
        {"dest": "/opt/m/config/secrets/gw.ca.crt", "kind": "ca", "host": "gw"},
    ]
    assert config["global"] == {"scrape_interval": "30s", "evaluation_interval": "15s"}


def test_a_lone_workstation_scrapes_itself_on_loopback():
    result = monitoring_prometheus_config(
        [host("ws", "standalone", "192.168.1.5", llmstack_litellm_metrics=METRICS)],
        {**SETTINGS, "monitoring_host": "ws"},
    )
    node, litellm = result["config"]["scrape_configs"]
    assert node["static_configs"][0]["targets"] == ["127.0.0.1:9100"]
    assert litellm["static_configs"][0]["targets"] == ["127.0.0.1:4444"]


def test_a_gateway_outside_the_run_is_missing_and_metrics_off_is_no_job():
    outside = {"inventory_hostname": "gw2", "llmstack_fleet_role": "gateway"}
    off = host("gw3", "gateway", "10.0.0.9", llmstack_litellm_metrics=None)
    result = monitoring_prometheus_config([outside, off], SETTINGS)
    assert result["missing"] == ["gw2"]
    assert [job["job_name"] for job in result["config"]["scrape_configs"]] == ["node"]


def test_a_bad_interval_names_the_variable():
    with pytest.raises(AnsibleFilterError, match="monitoring_scrape_interval"):
        monitoring_prometheus_config([], {**SETTINGS, "scrape_interval": "30 seconds"})


def test_rules_without_overrides_are_the_shipped_file_byte_for_byte():
    text = RULES.read_text()
    assert monitoring_alert_rules(text) == text
    assert monitoring_alert_rules(text, {}) == text


def test_rules_override_one_alerts_for_and_keep_the_rest():
    text = RULES.read_text()
    shipped = yaml.safe_load(text)
    changed = yaml.safe_load(monitoring_alert_rules(text, {"LLMStackOllamaDown": "4s"}))
    for before, after in zip(shipped["groups"][0]["rules"], changed["groups"][0]["rules"], strict=True):
        if before["alert"] == "LLMStackOllamaDown":
            assert after == {**before, "for": "4s"}
        else:
            assert after == before


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"NoSuchAlert": "1m"}, "names no such alert: NoSuchAlert"), ({"LLMStackOllamaDown": "soon"}, "duration")],
)
def test_rules_refuse_an_unknown_alert_or_a_bad_duration(overrides, message):
    with pytest.raises(AnsibleFilterError, match=message):
        monitoring_alert_rules(RULES.read_text(), overrides)


def test_node_exporter_listens_where_prometheus_scrapes_it():
    workstation = host("ws", "standalone", "192.168.1.5")
    worker = host("w1", "worker", "10.0.0.3")
    gateway = host("gw", "gateway", "10.0.0.2", llmstack_litellm_metrics=METRICS)
    # A lone workstation watching itself keeps node-exporter on loopback; anything else is scraped over the fleet.
    assert monitoring_node_exporter_address(workstation, "ws") == "127.0.0.1"
    assert monitoring_node_exporter_address(workstation, "gw") == "192.168.1.5"
    assert monitoring_node_exporter_address(worker, "gw") == "10.0.0.3"
    assert monitoring_node_exporter_address(gateway, "gw") == "10.0.0.2"
    for hosts, name in (([workstation], "ws"), ([worker, gateway], "gw")):
        targets = monitoring_prometheus_config(hosts, dict(SETTINGS, monitoring_host=name))["config"]
        scraped = [c["targets"][0] for c in targets["scrape_configs"][0]["static_configs"]]
        assert scraped == [f"{monitoring_node_exporter_address(h, name)}:9100" for h in hosts]
    assert monitoring_node_exporter_address(host("x", "worker", ""), "gw") == ""
    with pytest.raises(AnsibleFilterError, match="hostvars"):
        monitoring_node_exporter_address("w1", "gw")
