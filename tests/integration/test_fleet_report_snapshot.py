"""The fleet report's monitoring snapshot, read from a REAL Prometheus fed with real series.

The fleet (tests/integration/live_prometheus.py): gw-01.lab.example is the REAL LiteLLM proxy with the role's
config, which answered 3 requests for tinyllama and 2 for qwen2.5:0.5b and failed 1 for llama3.2:1b (routed to a
model Ollama lacks); gpu-box-01.lab.example runs the collector on the SIMULATED nvidia-smi replaying two recorded
RTX 3060s (card 0 at 11,690 of 12,288 MiB), tinyllama loaded on the CPU, llama3.1:8b configured but not pulled and
the models' volume 94 % full, served by Debian's REAL prometheus-node-exporter; gpu-box-02.lab.example has a
recorded RTX 4090 and an Ollama that does not answer. Debian's Prometheus scrapes them with the role's rules, each
`for:` cut to 1 s so that they fire during the test. The report runs over the fake fleet of test_fleet_report.py
(the same host names) with fleet_report_prometheus_url.
"""

import pytest
from live_prometheus import free_port, sample_fleet, short_rules
from test_fleet_report import WRITE, fleet_inventory, html_tables, md_table, run_report

FIRING = {
    ("LLMStackOllamaDown", "gpu-box-02.lab.example"),
    ("LLMStackModelOnCPU", "gpu-box-01.lab.example"),
    ("LLMStackModelMissing", "gpu-box-01.lab.example"),
    ("LLMStackGPUMemoryHigh", "gpu-box-01.lab.example"),
    ("LLMStackModelsVolumeFull", "gpu-box-01.lab.example"),
}


@pytest.fixture(scope="module")
def prometheus():
    with sample_fleet("llmstack-report-", rules=short_rules) as prometheus:
        assert prometheus.wait_until(f'count(ALERTS{{alertstate="firing"}}) >= {len(FIRING)}', 90), prometheus.logs()
        yield prometheus


@pytest.fixture(scope="module")
def report(prometheus, tmp_path_factory):
    inventory = fleet_inventory(tmp_path_factory.mktemp("snapshot") / "inventory")
    run = run_report(inventory, extra_vars={"fleet_report_prometheus_url": prometheus.url})
    reports = inventory.parent / "reports"
    assert (reports / "fleet-report.md").is_file(), f"no report:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    return run, inventory, reports


def test_the_snapshot_has_each_host_gpu_memory_models_and_requests(report):
    _, _, reports = report
    table = md_table((reports / "fleet-report.md").read_text(), "host | GPU memory used")
    assert table[0] == ["host", "GPU memory used", "models loaded", "requests per model"]
    rows = {row[0]: row[1:] for row in table[1:]}
    assert rows["gw-01.lab.example"] == ["—", "—", "llama3.2:1b 1 (1 failed), qwen2.5:0.5b 2, tinyllama 3"]
    gpu = rows["gpu-box-01.lab.example"]
    # nvidia-smi's MiB, as recorded, through the collector's bytes and back.
    assert gpu[0] == "GPU 0: 11,690 / 12,288 MiB (95 %); GPU 1: 154 / 12,288 MiB (1 %)"
    assert gpu[1].startswith("tinyllama:latest (") and gpu[1].endswith(" MiB, CPU)")
    assert gpu[2] == "—"
    assert rows["gpu-box-02.lab.example"] == ["GPU 0: 477 / 24,564 MiB (2 %)", "—", "—"]
    assert rows["ws-01.lab.example"] == ["—", "—", "—"]


def test_the_alerts_firing_at_the_time_of_the_run(report):
    _, _, reports = report
    text = (reports / "fleet-report.md").read_text()
    alerts = text.split("### Alerts firing", 1)[1].split("\n\n", 2)[1].splitlines()
    seen = {(line[2:].split(" ", 1)[0], line.split(" on ", 1)[1].split(":", 1)[0]) for line in alerts}
    assert seen == FIRING, alerts
    assert alerts[0].startswith("- LLMStack") and "(critical) on " in alerts[0]  # critical first
    assert any("GPU 0 on gpu-box-01.lab.example:9100 is 95" in line for line in alerts)


def test_the_html_has_the_same_snapshot(report):
    _, _, reports = report
    page = html_tables((reports / "fleet-report.html").read_text())
    md = md_table((reports / "fleet-report.md").read_text(), "host | GPU memory used")
    assert page.tables["snapshot"] == md


def test_the_snapshot_does_not_make_a_rerun_a_change(report, prometheus):
    _, inventory, _ = report
    rerun = run_report(inventory, extra_vars={"fleet_report_prometheus_url": prometheus.url})
    assert not any(r["changed"] for r in rerun.task(WRITE)["results"])


def test_prometheus_not_answering_is_said_and_the_report_still_written(tmp_path):
    inventory = fleet_inventory(tmp_path / "inventory")
    run = run_report(inventory, extra_vars={"fleet_report_prometheus_url": f"http://127.0.0.1:{free_port()}"})
    text = (inventory.parent / "reports" / "fleet-report.md").read_text()
    assert text.count("- Prometheus did not answer: ") == 8, run.stdout[-3000:]
    assert "| gw-01.lab.example |" in text
    assert "### Alerts firing\n\n- none" in text


def test_without_a_prometheus_the_report_is_as_before(tmp_path):
    inventory = fleet_inventory(tmp_path / "inventory")
    run_report(inventory)
    assert "Monitoring snapshot" not in (inventory.parent / "reports" / "fleet-report.md").read_text()


def test_a_url_without_a_scheme_is_refused_naming_the_variable(tmp_path):
    inventory = fleet_inventory(tmp_path / "inventory")
    run = run_report(inventory, extra_vars={"fleet_report_prometheus_url": "prom.lab.example:9090"})
    assert "fleet_report_prometheus_url must be an http:// or https:// URL" in run.stdout
    assert not (inventory.parent / "reports" / "fleet-report.md").exists()
