"""The monitoring role's Grafana provisioning (tasks/grafana.yml), run on localhost into temporary directories.

No Grafana runs here: the files are checked against Grafana's documented provisioning format (apiVersion 1, a file
provider whose path is where the dashboard went; a Prometheus data source) and the dashboard is the shipped one.
"""

import json
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "roles" / "monitoring" / "files" / "llmstack-dashboard.json"
TASKS = [
    f"llmstack.gateway.monitoring : {name}"
    for name in [
        "Install the dashboard",
        "Write Grafana's provider for the dashboard",
        "Write the Prometheus data source",
    ]
]


def variables(tmp_path, url=""):
    return {
        "monitoring_grafana_provisioning_dir": str(tmp_path / "provisioning"),
        "monitoring_grafana_dashboards_dir": str(tmp_path / "dashboards"),
        "monitoring_grafana_prometheus_url": url,
    }


def changed(run):
    return [name for name in TASKS if any(r.get("changed") for r in run.results(name))]


def test_provisioning_files_follow_grafana_format_and_a_rerun_changes_nothing(run_playbook, tmp_path):
    extra = variables(tmp_path, "http://gw-01.lab.example:9090")
    first = run_playbook("monitoring_grafana", extra_vars=extra)
    assert changed(first) == TASKS
    assert json.loads((tmp_path / "dashboards" / "llmstack-dashboard.json").read_text()) == json.loads(
        DASHBOARD.read_text()
    )
    provider = yaml.safe_load((tmp_path / "provisioning" / "dashboards" / "llmstack.yaml").read_text())
    assert provider["apiVersion"] == 1
    (entry,) = provider["providers"]
    assert entry["type"] == "file" and entry["folder"] == "LLM stack"
    assert entry["options"]["path"] == str(tmp_path / "dashboards")
    source = yaml.safe_load((tmp_path / "provisioning" / "datasources" / "llmstack.yaml").read_text())
    (datasource,) = source["datasources"]
    assert source["apiVersion"] == 1
    assert (datasource["type"], datasource["url"], datasource["access"]) == (
        "prometheus",
        "http://gw-01.lab.example:9090",
        "proxy",
    )
    assert changed(run_playbook("monitoring_grafana", extra_vars=extra)) == []


def test_without_a_url_no_data_source_and_check_mode_writes_nothing(run_playbook, tmp_path):
    run_playbook("monitoring_grafana", extra_vars=variables(tmp_path), check=True)
    assert not (tmp_path / "dashboards").exists()
    run_playbook("monitoring_grafana", extra_vars=variables(tmp_path))
    assert (tmp_path / "provisioning" / "dashboards" / "llmstack.yaml").is_file()
    assert not (tmp_path / "provisioning" / "datasources").exists()


def test_a_relative_path_is_refused_naming_the_variable(run_playbook, tmp_path):
    extra = {**variables(tmp_path), "monitoring_grafana_dashboards_dir": "dashboards"}
    run = run_playbook("monitoring_grafana", extra_vars=extra, expect_rc=2)
    assert "monitoring_grafana_dashboards_dir" in run.stdout
    assert not (tmp_path / "provisioning").exists()
