"""The fleet report's monitoring snapshot (filters llmstack.gateway.fleet_report_snapshot and
fleet_report_snapshot_urls): Prometheus's answers, in the shape its HTTP API and ansible.builtin.uri give them,
turned into one row per host and the alerts firing. A real Prometheus answers in
tests/integration/test_fleet_report_snapshot.py."""

from urllib.parse import parse_qs, urlsplit

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llmstack.gateway.plugins.filter.fleet_report import (
    SNAPSHOT_QUERIES,
    fleet_report_snapshot,
    fleet_report_snapshot_urls,
)

MIB = 1024 * 1024
HOSTVARS = {
    "gw-01": {"ansible_host": "10.0.0.5", "llmstack_fleet_role": "gateway"},
    "gpu-box-01": {"llmstack_fleet_address": "gpu-box-01.lab.example"},
    "gpu-box-02": {},
}
HOSTS = ["gw-01", "gpu-box-01", "gpu-box-02"]


def vector(*samples):
    """What ansible.builtin.uri registers for one /api/v1/query answer."""
    result = [{"metric": labels, "value": [1764650000.0, str(value)]} for labels, value in samples]
    return {"status": 200, "json": {"status": "success", "data": {"resultType": "vector", "result": result}}}


def answers(**overrides):
    card = {"instance": "gpu-box-01.lab.example:9100", "job": "node", "gpu": "0", "uuid": "GPU-a"}
    card1 = {**card, "gpu": "1", "uuid": "GPU-b"}
    base = {
        "gpu_info": vector(({**card, "name": "NVIDIA GeForce RTX 3060"}, 1),
                           ({**card1, "name": "NVIDIA GeForce RTX 3060"}, 1)),
        "gpu_used": vector((card, 11674 * MIB), (card1, 512 * MIB)),
        "gpu_total": vector((card, 12288 * MIB), (card1, 12288 * MIB)),
        "model_size": vector(
            ({"instance": "gpu-box-01.lab.example:9100", "model": "tinyllama:latest"}, 1000 * MIB),
            ({"instance": "gpu-box-01.lab.example:9100", "model": "Llama3.1:8b"}, 6000 * MIB),
        ),
        "model_vram": vector(
            ({"instance": "gpu-box-01.lab.example:9100", "model": "tinyllama:latest"}, 0),
            ({"instance": "gpu-box-01.lab.example:9100", "model": "Llama3.1:8b"}, 4500 * MIB),
        ),
        "requests": vector(
            ({"instance": "10.0.0.5:4000", "requested_model": "tinyllama"}, 3),
            ({"instance": "10.0.0.5:4000", "requested_model": "llama3.2:1b"}, 1),
        ),
        "failed": vector(({"instance": "10.0.0.5:4000", "requested_model": "llama3.2:1b"}, 1)),
        "alerts": {
            "status": 200,
            "json": {
                "status": "success",
                "data": {
                    "alerts": [
                        {
                            "labels": {"alertname": "LLMStackGPUMemoryHigh", "severity": "warning", "gpu": "0",
                                       "instance": "gpu-box-01.lab.example:9100"},
                            "annotations": {"summary": "GPU 0 on gpu-box-01.lab.example:9100 is 95% full"},
                            "state": "firing",
                            "activeAt": "2026-12-02T05:00:00Z",
                        },
                        {
                            "labels": {"alertname": "LLMStackOllamaDown", "severity": "critical",
                                       "instance": "gpu-box-02:9100"},
                            "annotations": {"summary": "Ollama on gpu-box-02:9100 does not answer"},
                            "state": "firing",
                            "activeAt": "2026-12-02T05:01:00Z",
                        },
                        {
                            "labels": {"alertname": "LLMStackModelOnCPU", "severity": "critical",
                                       "instance": "gpu-box-01.lab.example:9100"},
                            "annotations": {"summary": "pending, not yet firing"},
                            "state": "pending",
                            "activeAt": "2026-12-02T05:02:00Z",
                        },
                    ]
                },
            },
        },
    }  # fmt: skip
    base.update(overrides)
    return base


def row(snapshot, host):
    return next(r for r in snapshot["rows"] if r["host"] == host)


def test_rows_per_host_matched_by_name_address_or_fleet_address():
    snapshot = fleet_report_snapshot(answers(), HOSTVARS, HOSTS, "http://prom:9090")
    assert [r["host"] for r in snapshot["rows"]] == HOSTS
    assert snapshot["errors"] == [] and snapshot["unmatched"] == []
    gpu = row(snapshot, "gpu-box-01")
    assert gpu["gpu_text"] == "GPU 0: 11,674 / 12,288 MiB (95 %); GPU 1: 512 / 12,288 MiB (4 %)"
    assert [g["name"] for g in gpu["gpus"]] == ["NVIDIA GeForce RTX 3060"] * 2
    # Sorted without regard to case; a model with size_vram 0 runs on the CPU, a partial one says how much.
    assert gpu["models_text"] == "Llama3.1:8b (6,000 MiB, GPU 75 %, CPU the rest), tinyllama:latest (1,000 MiB, CPU)"
    gateway = row(snapshot, "gw-01")
    assert gateway["requests_text"] == "llama3.2:1b 1 (1 failed), tinyllama 3"
    assert gateway["gpu_text"] == gateway["models_text"] == ""
    assert row(snapshot, "gpu-box-02")["requests"] == []


def test_only_firing_alerts_critical_first_with_their_host():
    alerts = fleet_report_snapshot(answers(), HOSTVARS, HOSTS)["alerts"]
    assert [(a["alert"], a["severity"], a["host"]) for a in alerts] == [
        ("LLMStackOllamaDown", "critical", "gpu-box-02"),
        ("LLMStackGPUMemoryHigh", "warning", "gpu-box-01"),
    ]
    assert alerts[0]["since"] == "2026-12-02T05:01:00Z"


def test_a_target_of_no_reported_host_is_named_not_guessed():
    extra = vector(({"instance": "10.9.9.9:9100", "gpu": "0"}, 1 * MIB))
    snapshot = fleet_report_snapshot(answers(gpu_used=extra), HOSTVARS, HOSTS)
    assert snapshot["unmatched"] == ["10.9.9.9:9100"]
    assert row(snapshot, "gpu-box-01")["gpu_text"].startswith("GPU 0: ? / 12,288 MiB (?)")


def test_ipv6_and_portless_instances():
    hostvars = {"v6": {"ansible_host": "fd00::7"}, "bare": {}}
    used = vector(({"instance": "[fd00::7]:9100", "gpu": "0"}, 2 * MIB), ({"instance": "bare", "gpu": "0"}, 3 * MIB))
    total = vector(({"instance": "[fd00::7]:9100", "gpu": "0"}, 4 * MIB), ({"instance": "bare", "gpu": "0"}, 4 * MIB))
    snapshot = fleet_report_snapshot({"gpu_used": used, "gpu_total": total}, hostvars, ["v6", "bare"])
    assert [r["gpu_text"] for r in snapshot["rows"]] == ["GPU 0: 2 / 4 MiB (50 %)", "GPU 0: 3 / 4 MiB (75 %)"]


def test_prometheus_not_answering_is_said_once_per_request_and_the_rows_stay():
    refused = {"status": -1, "msg": "Status code was -1 and not [200]: Request failed: <urlopen error [Errno 111]>"}
    bad = {"status": 400, "json": {"status": "error", "errorType": "bad_data", "error": "parse error"}}
    snapshot = fleet_report_snapshot({"gpu_used": bad, "alerts": refused}, HOSTVARS, HOSTS)
    assert "gpu_used: parse error" in snapshot["errors"]
    assert any(e.startswith("alerts: Status code was -1") for e in snapshot["errors"])
    assert "model_size: no answer" in snapshot["errors"]
    assert [r["gpu_text"] for r in snapshot["rows"]] == ["", "", ""]
    assert snapshot["alerts"] == []


def test_malformed_samples_are_skipped():
    no_value = {"metric": {"instance": "gpu-box-02:9100", "gpu": "0"}}
    broken = {"json": {"status": "success", "data": {"result": [no_value, "text", {"metric": {}, "value": [0, "x"]}]}}}
    snapshot = fleet_report_snapshot({"gpu_used": broken}, HOSTVARS, HOSTS)
    assert row(snapshot, "gpu-box-02")["gpus"] == []


@pytest.mark.parametrize(("args", "message"), [(("x", HOSTVARS, HOSTS), "mapping of answers"),
                                               (({}, HOSTVARS, "gw-01"), "list of host names")])  # fmt: skip
def test_wrong_input_is_refused(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        fleet_report_snapshot(*args)


def test_urls_ask_each_query_and_the_alerts():
    urls = fleet_report_snapshot_urls("https://prom.lab.example:9090/")
    assert [u["key"] for u in urls] == [*SNAPSHOT_QUERIES, "alerts"]
    first = urlsplit(urls[0]["url"])
    assert (first.scheme, first.netloc, first.path) == ("https", "prom.lab.example:9090", "/api/v1/query")
    assert parse_qs(first.query) == {"query": [SNAPSHOT_QUERIES["gpu_info"]]}
    assert parse_qs(urlsplit(urls[5]["url"]).query)["query"] == [
        "sum by (instance, requested_model) (litellm_proxy_total_requests_metric_total)"
    ]
    assert urls[-1]["url"] == "https://prom.lab.example:9090/api/v1/alerts"


@pytest.mark.parametrize("url", ["", "prom:9090", "ftp://prom"])
def test_a_url_without_http_is_refused_naming_the_variable(url):
    with pytest.raises(AnsibleFilterError, match="fleet_report_prometheus_url must be an http"):
        fleet_report_snapshot_urls(url)
