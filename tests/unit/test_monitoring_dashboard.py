"""The Grafana dashboard the monitoring role ships (roles/monitoring/files/llmstack-dashboard.json) is well formed.

No Grafana runs here: this checks the JSON model's structure as Grafana reads it (schema 41, Grafana 12). That
every query names series our exporters really emit is checked against a real Prometheus in
tests/integration/test_monitoring_dashboard.py.
"""

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "roles" / "monitoring" / "files" / "llmstack-dashboard.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_COLUMNS = 24


def load():
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels(dashboard):
    """Every panel, those inside collapsed rows included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def problems(dashboard):
    """What is wrong with a dashboard model, one line each ([] when nothing is)."""
    found = []
    for key in ("uid", "title", "schemaVersion", "panels", "templating", "time"):
        if key not in dashboard:
            found.append(f"missing top-level key {key}")
    if dashboard.get("id") is not None:
        found.append("id must be absent or null (Grafana assigns it)")
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    source = variables.get("datasource")
    if not source or source.get("type") != "datasource" or source.get("query") != "prometheus":
        found.append("no `datasource` template variable of type datasource over prometheus")
    ids = [p.get("id") for p in panels(dashboard)]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}, key=str):
        found.append(f"panel id {duplicate} is used twice")
    boxes = []
    for panel in panels(dashboard):
        name = f"panel {panel.get('id')} ({panel.get('title')!r})"
        if not isinstance(panel.get("id"), int):
            found.append(f"{name}: id is not an integer")
        if not panel.get("title") or not panel.get("type"):
            found.append(f"{name}: no title or type")
        grid = panel.get("gridPos") or {}
        if not all(isinstance(grid.get(k), int) for k in "xywh"):
            found.append(f"{name}: gridPos needs integer x, y, w, h")
            continue
        if grid["x"] < 0 or grid["y"] < 0 or grid["w"] < 1 or grid["h"] < 1 or grid["x"] + grid["w"] > GRID_COLUMNS:
            found.append(f"{name}: gridPos {grid} is outside the 24-column grid")
        for other_name, other in boxes:
            if (
                grid["x"] < other["x"] + other["w"]
                and other["x"] < grid["x"] + grid["w"]
                and grid["y"] < other["y"] + other["h"]
                and other["y"] < grid["y"] + grid["h"]
            ):
                found.append(f"{name}: gridPos overlaps {other_name}")
        boxes.append((name, grid))
        if panel["type"] == "row":
            continue
        if panel.get("datasource") != DATASOURCE:
            found.append(f"{name}: datasource is not the $datasource variable")
        targets = panel.get("targets") or []
        if not targets:
            found.append(f"{name}: no query")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or not all(refs):
            found.append(f"{name}: refIds missing or repeated")
        for target in targets:
            if not (target.get("expr") or "").strip():
                found.append(f"{name} {target.get('refId')}: no expr")
            if target.get("datasource") != DATASOURCE:
                found.append(f"{name} {target.get('refId')}: datasource is not the $datasource variable")
    for name, variable in variables.items():
        if variable.get("type") == "query" and variable.get("datasource") != DATASOURCE:
            found.append(f"variable {name}: datasource is not the $datasource variable")
    # A $name in a query that no variable defines would reach Prometheus as text.
    builtin = {"__rate_interval", "__interval", "__range", "__all"}
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            for used in re.findall(r"\$\{?(\w+)", target.get("expr", "")):
                if used not in variables and used not in builtin:
                    found.append(f"panel {panel.get('id')} {target.get('refId')}: ${used} is not a variable")
    return found


def test_the_shipped_dashboard_has_no_problem():
    dashboard = load()
    assert problems(dashboard) == []
    assert dashboard["schemaVersion"] == 41
    assert dashboard["uid"] == "llmstack-gateway"


def test_the_dashboard_has_the_panels_the_issue_asks_for():
    titles = {p["title"] for p in panels(load())}
    for wanted in (
        "Requests per model",
        "Failures per model",
        "Latency per model (p50, p95)",
        "GPU utilisation",
        "GPU memory used",
        "GPU temperature",
        "GPU power",
        "Models loaded",
        "Ollama up",
        "Models volume used",
        "Firing alerts",
    ):
        assert wanted in titles


def edit(change):
    dashboard = load()
    change(dashboard)
    return problems(dashboard)


def first_query_panel(dashboard):
    return next(p for p in dashboard["panels"] if p["type"] != "row")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["panels"][2].update(id=d["panels"][1]["id"]), "is used twice"),
        (lambda d: first_query_panel(d)["gridPos"].update(x=20), "outside the 24-column grid"),
        (lambda d: first_query_panel(d)["gridPos"].update(y=0), "overlaps"),
        (lambda d: first_query_panel(d)["gridPos"].pop("h"), "integer x, y, w, h"),
        (lambda d: first_query_panel(d)["targets"][0].update(expr=" "), "no expr"),
        (lambda d: first_query_panel(d)["targets"][0].pop("datasource"), "is not the $datasource variable"),
        (lambda d: first_query_panel(d).update(datasource={"type": "prometheus", "uid": "abc"}), "$datasource"),
        (lambda d: first_query_panel(d)["targets"][0].update(expr="up{instance=~'$gw'}"), "$gw is not a variable"),
        (lambda d: d["templating"]["list"].pop(0), "no `datasource` template variable"),
        (lambda d: d.pop("schemaVersion"), "missing top-level key schemaVersion"),
        (lambda d: first_query_panel(d).update(targets=[]), "no query"),
    ],
)
def test_each_kind_of_mistake_is_found(change, expected):
    found = edit(change)
    assert any(expected in line for line in found), found


def test_the_mistakes_are_found_on_a_copy_not_the_file():
    before = DASHBOARD.read_bytes()
    assert edit(lambda d: d.clear())
    assert DASHBOARD.read_bytes() == before
