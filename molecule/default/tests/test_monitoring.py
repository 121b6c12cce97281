"""The monitoring role on the converged workstation: node-exporter on loopback only, the collector's timer writing
llmstack_* series, and Prometheus (in its own hardened container) scraping every target, LiteLLM's /metrics
included, with the alert rules loaded. Prometheus is asked through its HTTP API from inside the workstation, where
it listens."""

import json
import socket
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from gateway_client import call, read_master_key, workstation_address

TEXTFILE = "/var/lib/prometheus/node-exporter/llmstack.prom"
MONITORING = "/opt/llmstack-monitoring"
PROMETHEUS = "http://127.0.0.1:9090"
# Every alert the collection ships (the rules file the role deploys), read here rather than listed again.
SHIPPED_RULES = Path(__file__).resolve().parents[3] / "roles" / "monitoring" / "files" / "llmstack-alerts.yml"
ALERTS = {rule["alert"] for group in yaml.safe_load(SHIPPED_RULES.read_text())["groups"] for rule in group["rules"]}


def fetch(host, url):
    """The body of a GET from inside the workstation (its loopback is not reachable from here)."""
    script = (
        "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"
    )
    return host.check_output(f"python3 -c '{script}' '{url}'")


def api(host, path, **params):
    answer = json.loads(fetch(host, f"{PROMETHEUS}/api/v1/{path}" + (f"?{urlencode(params)}" if params else "")))
    assert answer["status"] == "success", answer
    return answer["data"]


def query(host, expr):
    return api(host, "query", query=expr)["result"]


def eventually(probe, timeout=150, delay=5):
    """probe()'s first truthy answer; the last one when time runs out (Prometheus scrapes every 30 s)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(delay)


def test_node_exporter_listens_only_on_loopback(host):
    assert host.service("prometheus-node-exporter").is_running
    assert host.service("prometheus-node-exporter").is_enabled
    assert host.socket("tcp://127.0.0.1:9100").is_listening
    assert not host.socket("tcp://0.0.0.0:9100").is_listening
    with socket.socket() as sock:
        sock.settimeout(3)
        assert sock.connect_ex((workstation_address(host), 9100)) != 0
    # Loopback needs no firewall, so none is installed.
    assert not host.file("/etc/systemd/system/llmstack-node-exporter-firewall.service").exists


def test_the_collector_timer_ran_as_prometheus_and_wrote_the_ollama_series(host):
    assert host.service("llmstack-metrics.timer").is_enabled
    assert host.check_output("systemctl is-active llmstack-metrics.timer") == "active"
    shown = host.check_output("systemctl show llmstack-metrics.service --property=Result,User,ExecMainStatus")
    assert "Result=success" in shown and "User=prometheus" in shown and "ExecMainStatus=0" in shown, shown
    textfile = host.file(TEXTFILE)
    assert textfile.user == "prometheus"
    assert "llmstack_ollama_up 1" in textfile.content_string
    # The cpu tier's model, as the role passed it, is in Ollama's /api/tags.
    assert 'llmstack_ollama_model_present{model="tinyllama"} 1' in textfile.content_string
    assert "llmstack_ollama_gpu_expected 0" in textfile.content_string
    # node-exporter serves the file beside its own series.
    served = fetch(host, "http://127.0.0.1:9100/metrics")
    assert "llmstack_ollama_up 1" in served
    assert "node_textfile_scrape_error 0" in served


def test_prometheus_runs_hardened_on_loopback(host):
    container = json.loads(host.check_output("docker inspect llmstack-monitoring-prometheus-1"))[0]
    config = container["HostConfig"]
    group = host.group("llmstack-prometheus")
    assert container["Config"]["User"] == f"65534:{group.gid}"
    # A group of its own: no account on the host is in it.
    assert group.exists and not group.members
    assert config["ReadonlyRootfs"] is True
    assert config["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in config["SecurityOpt"]
    assert config["Memory"] > 0
    assert host.socket("tcp://127.0.0.1:9090").is_listening
    assert not host.socket("tcp://0.0.0.0:9090").is_listening
    # The token is LiteLLM's master key: root's, readable by the container's group only.
    token = host.file(f"{MONITORING}/prometheus/secrets/{host.backend.get_hostname()}.token")
    assert (token.user, token.group, token.mode) == ("root", "llmstack-prometheus", 0o640)
    assert token.content_string == read_master_key(host)
    assert (host.file(f"{MONITORING}/prometheus").mode, host.file(f"{MONITORING}/prometheus").group) == (
        0o750,
        "llmstack-prometheus",
    )


def test_every_target_is_up(host):
    def targets():
        active = api(host, "targets", state="active")["activeTargets"]
        return active if active and all(t["health"] == "up" for t in active) else None

    active = eventually(targets) or api(host, "targets", state="active")["activeTargets"]
    assert {(t["labels"]["job"], t["health"]) for t in active} == {("node", "up"), ("litellm", "up")}, active
    up = {(s["metric"]["job"], s["value"][1]) for s in query(host, "up")}
    assert up == {("node", "1"), ("litellm", "1")}


def test_litellm_metrics_are_scraped_per_model(host):
    address = workstation_address(host)
    # LiteLLM's workers (two here) keep their own counters and a scrape reads one of them: a few requests reach both.
    for _ in range(4):
        status, body = call(
            f"https://{address}:4444/v1/chat/completions",
            {"model": "tinyllama", "messages": [{"role": "user", "content": "Count this"}], "max_tokens": 5},
            key=read_master_key(host),
        )
        assert status == 200, body
    expr = 'litellm_proxy_total_requests_metric_total{job="litellm",requested_model="tinyllama"}'
    series = eventually(lambda: query(host, expr))
    assert series, f"Prometheus has no {expr}"
    assert float(series[0]["value"][1]) >= 1


def test_the_alert_rules_are_loaded_and_healthy(host):
    groups = api(host, "rules", type="alert")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {rule["name"] for rule in rules} == ALERTS
    assert all(rule["health"] in ("ok", "unknown") for rule in rules), rules
    # The collector's series are in Prometheus, from node-exporter's scrape of this host.
    expr = f'llmstack_ollama_up{{instance="{host.backend.get_hostname()}"}} == 1'
    assert eventually(lambda: query(host, expr))


@pytest.mark.parametrize("unit", ["llmstack-metrics.service", "prometheus-node-exporter.service"])
def test_the_units_run_as_prometheus(host, unit):
    assert host.check_output(f"systemctl show {unit} --property=User") == "User=prometheus"
