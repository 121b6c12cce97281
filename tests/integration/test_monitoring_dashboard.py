"""Every query of the Grafana dashboard (roles/monitoring/files/llmstack-dashboard.json) names series that our
exporters really emit, and runs on a real Prometheus.

The emitted names are not written down here: they are what Debian's Prometheus (local/prometheus) has scraped
from the real programs (tests/integration/live_prometheus.py): the REAL LiteLLM proxy with the role's config,
after successful and failed requests; Debian's REAL prometheus-node-exporter serving its own node_* series and
the collector's .prom file (the collector run as a program on the SIMULATED nvidia-smi and an Ollama double);
and Prometheus's own ALERTS from the role's rules. The selectors of each query are found by Prometheus's own
PromQL parser (promtool marks each one; Prometheus 2.53 has no /api/v1/parse_query), not by a pattern over the
query as written.
"""

import copy
import json
import re
from pathlib import Path

import pytest
from live_prometheus import docker, sample_fleet, short_rules

DASHBOARD_PATH = Path(__file__).resolve().parents[2] / "roles" / "monitoring" / "files" / "llmstack-dashboard.json"
# What Grafana puts in place of its own variables before a query reaches Prometheus: a range for the
# intervals, the "All" regex for the dashboard's multi-value variables.
GRAFANA_VARIABLES = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}


def load():
    return json.loads(DASHBOARD_PATH.read_text(encoding="utf-8"))


def queries(dashboard):
    """(where, expr) of every query: panels' targets and query variables."""
    found = []
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                found.append((f"panel {inner['id']} {inner['title']!r} {target['refId']}", target["expr"]))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            # label_values(SELECTOR, label) is Grafana's, not PromQL: its selector is.
            selector = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
            found.append((f"variable {variable['name']}", selector.group(1) if selector else query))
    return found


def as_prometheus_sees_it(expr):
    """The query with Grafana's variables replaced as Grafana would for "All" and a 1 h view."""

    def value(match):
        name = match.group(1) or match.group(2)
        return GRAFANA_VARIABLES.get(name, ".*")

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


SENTINEL = "llmstack_selector"


def parse(prometheus, expr):
    """Prometheus's own parser's view of `expr`: promtool (Debian's, in the Prometheus container) adds a matcher
    llmstack_selector="1" to every vector selector it parses and prints the query back; a query it cannot parse
    raises. So every {...} holding that matcher is a selector, whatever the query's syntax around it."""
    result = docker("exec", prometheus.container, "promtool", "--experimental", "promql", "label-matchers", "set",
                    expr, SENTINEL, "1", check=False)  # fmt: skip
    if result.returncode != 0:
        raise ValueError(f"promtool cannot parse {expr!r}: {result.stderr.strip()}")
    return result.stdout


def selector_names(printed):
    """The metric names of every vector selector of a query as parse() prints it (a matrix selector holds one)."""
    names = []
    for match in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\{([^{}]*)\}", printed):
        matchers = match.group(2)
        if f'{SENTINEL}="1"' not in matchers:
            continue
        named = re.search(r'(?:^|,)\s*__name__\s*=\s*"([^"]*)"', matchers)
        names.append(match.group(1) or (named.group(1) if named else None))
    # Every selector promtool marked was read: a mark inside something the pattern missed would fail here.
    assert len(names) == printed.count(f'{SENTINEL}="1"'), printed
    return names


def unknown_names(prometheus, dashboard, emitted):
    """'where: name' for every metric a query names that nothing emitted ([] when all are emitted)."""
    missing = []
    for where, expr in queries(dashboard):
        for name in selector_names(parse(prometheus, as_prometheus_sees_it(expr))):
            if name not in emitted:
                missing.append(f"{where}: {name}")
    return missing


@pytest.fixture(scope="module")
def fleet():
    with sample_fleet("llmstack-dashboard-", rules=short_rules) as prometheus:
        assert prometheus.wait_until('ALERTS{alertname="LLMStackOllamaDown", alertstate="firing"}', 60)
        yield prometheus


@pytest.fixture(scope="module")
def emitted(fleet):
    return set(fleet.api("label/__name__/values"))


def test_the_parser_is_prometheus_own_and_finds_every_selector(fleet):
    expr = 'sum by (le) (rate(a_bucket{job="x"}[1m])) / on(instance) group_left b * {__name__="c"} and ALERTS'
    assert sorted(selector_names(parse(fleet, expr))) == ["ALERTS", "a_bucket", "b", "c"]
    # A name in a string, a label or a function is no selector.
    assert selector_names(parse(fleet, 'label_replace(up{job="x_total"} offset 1m, "y", "z", "", "")')) == ["up"]
    with pytest.raises(ValueError, match="parse error"):
        parse(fleet, "sum by (le (rate(x[1m]))")


def test_the_exporters_emit_what_the_test_reads(emitted):
    # Each source is there: LiteLLM's counters and histogram, node-exporter's own series, the collector's
    # series served by node-exporter's textfile collector, Prometheus's ALERTS.
    for name in (
        "litellm_proxy_total_requests_metric_total",
        "litellm_request_total_latency_metric_bucket",
        "node_filesystem_avail_bytes",
        "node_textfile_scrape_error",
        "llmstack_gpu_power_watts",
        "llmstack_ollama_model_vram_bytes",
        "ALERTS",
    ):
        assert name in emitted


def test_every_metric_the_dashboard_names_is_emitted(fleet, emitted):
    assert unknown_names(fleet, load(), emitted) == []


@pytest.mark.parametrize(
    ("wrong", "right"),
    [
        ("litellm_proxy_total_requests_metric", "litellm_proxy_total_requests_metric_total"),  # without _total
        ("llmstack_gpu_utilization_percent", "llmstack_gpu_utilization_ratio"),
        ("node_filesystem_free", "node_filesystem_avail_bytes"),
    ],
)
def test_a_dashboard_naming_a_metric_nothing_emits_fails(fleet, emitted, wrong, right):
    dashboard = copy.deepcopy(load())
    text = json.dumps(dashboard).replace(f"{right}{{", f"{wrong}{{").replace(f"{right}[", f"{wrong}[")
    assert text != json.dumps(dashboard)
    missing = unknown_names(fleet, json.loads(text), emitted)
    assert missing and all(line.endswith(f": {wrong}") for line in missing), missing


def test_every_query_runs_and_the_panels_have_data(fleet):
    empty = []
    for where, expr in queries(load()):
        # A syntax or type error is a 400 from the API; live_prometheus asserts status "success".
        if not fleet.query(as_prometheus_sees_it(expr)):
            empty.append(where)
    # This fleet has no server error (the failed request is a 404 from Ollama): the ratio of 5xx is empty.
    assert [where.split("'")[1] for where in empty] == ["Server error ratio per gateway"], empty


def test_the_panels_show_this_fleet(fleet):
    def one(expr):
        return {json.dumps(r["metric"], sort_keys=True): float(r["value"][1]) for r in fleet.query(expr)}

    dashboard = load()
    expr = {p["title"]: [t["expr"] for t in p.get("targets", [])] for p in dashboard["panels"]}
    requests = one(as_prometheus_sees_it(expr["Requests per model"][0]))
    assert {json.loads(k)["requested_model"] for k, v in requests.items() if v > 0} == {"tinyllama", "qwen2.5:0.5b"}
    # The one failure made its series (its rate is 0: a counter created at 1 has not grown since).
    failures = one(as_prometheus_sees_it(expr["Failures per model"][0]))
    assert [(json.loads(k)["requested_model"], json.loads(k)["exception_status"]) for k in failures] == [
        ("llama3.2:1b", "404")
    ]
    latency = one(as_prometheus_sees_it(expr["Latency per model (p50, p95)"][0]))
    assert {json.loads(k)["model"] for k in latency} >= {"tinyllama", "qwen2.5:0.5b"}
    loaded = fleet.query(as_prometheus_sees_it(expr["Models loaded"][2]))
    assert [(r["metric"]["model"], r["value"][1]) for r in loaded] == [("tinyllama:latest", "0")]
    memory = one(as_prometheus_sees_it(expr["GPU memory used"][0]))
    assert len(memory) == 3  # two RTX 3060s and one RTX 4090
    assert max(memory.values()) > 0.95
    assert all(json.loads(k)["name"].startswith("NVIDIA GeForce RTX") for k in memory)
    volume = one(as_prometheus_sees_it(expr["Models volume used"][0]))
    assert [json.loads(k)["mountpoint"] for k in volume] == ["/models", "/models"]
    up = one(as_prometheus_sees_it(expr["Ollama up"][0]))
    assert sorted(up.values()) == [0.0, 1.0]
