"""roles/fleet_report: the report ansible-playbook writes on the controller for a fake fleet.

tests/integration/targets/fleet_report.yml runs over the inventory in fixtures/fleet_report: six hosts
that all run locally, with the facts the collection's roles publish given as host variables. In its first
play gpu-box-03 fails and gpu-box-04 is unreachable (a stand-in ssh that exits 255); the second play is the
report. The Markdown and the HTML are read back and compared row by row.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TARGET = Path(__file__).parent / "targets" / "fleet_report.yml"
FIXTURE = Path(__file__).parent / "fixtures" / "fleet_report"
ROLE = REPO / "roles" / "fleet_report"
VENV_BIN = Path(sys.executable).parent

HOSTS = [
    "gw-01.lab.example",
    "gpu-box-01.lab.example",
    "gpu-box-02.lab.example",
    "gpu-box-03.lab.example",
    "gpu-box-04.lab.example",
    "ws-01.lab.example",
]
COLUMNS = ["host", "role", "tier", "GPUs", "driver", "models", "health", "stack versions", "last change"]
X = "\N{MULTIPLICATION SIGN}"  # GPU counts are written with the multiplication sign, not the letter x
WRITE = "Write the report in each format"
HISTORY = "Keep a timestamped copy of each report whose content changed"


class Run:
    def __init__(self, completed):
        self.rc = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        # The JSON document, without lines that other enabled callbacks may print around it.
        start, end = completed.stdout.find("{"), completed.stdout.rfind("}")
        try:
            self.data = json.loads(completed.stdout[start : end + 1]) if start >= 0 else {}
        except ValueError:
            self.data = {}

    def task(self, name):
        """The result of the run_once task `name` (reported under whichever host ran it)."""
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                if task["task"]["name"] in (name, f"llmstack.gateway.fleet_report : {name}"):
                    (result,) = task["hosts"].values()
                    return result
        raise KeyError(f"no task named {name!r} ran:\n{self.stdout[-3000:]}\n{self.stderr[-3000:]}")

    def ran(self, name):
        """Whether the task `name` ran rather than being skipped or never reached."""
        try:
            return not self.task(name).get("skipped", False)
        except KeyError:
            return False


def run_report(inventory, *, extra_vars=None, check=False):
    """Run the target over `inventory` (a copy of the fixture); the fleet has failures, so rc is 2."""
    vars_file = inventory.parent / "extra-vars.json"
    vars_file.write_text(json.dumps(extra_vars or {}))
    argv = [
        str(VENV_BIN / "ansible-playbook"),
        "-i",
        str(inventory),
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        "-e",
        f"@{vars_file}",
        str(TARGET),
    ]
    if check:
        argv.append("--check")
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
    )
    return Run(subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, check=False))


def fleet_inventory(directory):
    """A copy of the fixture inventory (the report goes beside it by default)."""
    shutil.copytree(FIXTURE, directory)
    return directory / "hosts.yml"


class Tables(HTMLParser):
    """Every <table> of a page as {id: [[cell text, ...], ...]}, plus every start tag seen."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self.tags, self.row, self.cell, self.table = {}, [], None, None, None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self.table = dict(attrs).get("id")
            self.tables[self.table] = []
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = []
        elif tag in ("ul", "li", "br") and self.cell is not None:
            self.cell.append(" ")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables[self.table].append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def html_tables(text):
    parser = Tables()
    parser.feed(text)
    parser.close()
    return parser


def md_table(text, header):
    """The Markdown table whose header row starts with `header`, as lists of unescaped cells."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        rows.append([re.sub(r"\\(.)", r"\1", cell.strip()) for cell in cells])
    assert set(rows[1][0]) <= set("-: "), "the second line of a Markdown table is its delimiter row"
    return [rows[0], *rows[2:]]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """One run over the fake fleet, the report in its default place: reports/ beside the inventory."""
    inventory = fleet_inventory(tmp_path_factory.mktemp("fleet") / "inventory")
    run = run_report(inventory)
    reports = inventory.parent / "reports"
    assert (reports / "fleet-report.md").is_file(), f"no report:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    return run, reports


@pytest.fixture(scope="module")
def markdown(fleet):
    return (fleet[1] / "fleet-report.md").read_text()


@pytest.fixture(scope="module")
def page(fleet):
    return (fleet[1] / "fleet-report.html").read_text()


def test_the_run_itself_failed_for_two_hosts_and_still_wrote_the_report(fleet):
    run, reports = fleet
    assert run.rc != 0  # one host failed, one was unreachable
    stats = run.data["stats"]
    assert stats["gpu-box-03.lab.example"]["failures"] == 1
    assert stats["gpu-box-04.lab.example"]["unreachable"] == 1
    assert sorted(p.name for p in reports.iterdir()) == ["fleet-report.html", "fleet-report.md", "history"]
    assert all(result["changed"] for result in run.task(WRITE)["results"])  # first report: content is new


def test_markdown_has_one_row_per_host_with_the_right_columns(markdown):
    header, *rows = md_table(markdown, "host")
    assert header == COLUMNS
    by_host = {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in rows}
    assert [row[0] for row in rows] == HOSTS  # inventory order

    gw, box1, box2, box3, box4, ws = (by_host[h] for h in HOSTS)
    assert (gw["role"], gw["tier"], gw["GPUs"], gw["health"]) == ("gateway", "cpu", "none", "healthy")
    assert gw["models"] == "—"  # a gateway runs no Ollama: not known, not "none"
    assert gw["stack versions"] == "litellm v1.108.7, db 16.10"
    assert gw["last change"] == "2026-05-11T09:12:44Z"

    assert (box1["role"], box1["tier"], box1["health"]) == ("worker", "gpu_high", "healthy")
    assert box1["GPUs"] == f"2 {X} NVIDIA GeForce RTX 4090 (24 GiB), 1 {X} NVIDIA RTX A4000 (16 GiB)"
    assert box1["driver"] == "550.54.14 (CUDA 12.4)"
    assert box1["models"] == "bge-m3:latest, gpt-oss:20b, tinyllama:latest"
    assert box1["stack versions"] == "ollama 0.33.3"

    assert box2["GPUs"] == f"1 {X} NVIDIA GeForce RTX 3060 (12 GiB)"
    assert box2["health"] == (
        'unhealthy: model <script>alert("pwned")</script> is not answering | 500 & retrying; bge-m3:latest is missing'
    )
    assert box2["stack versions"] == "ollama sha256:4bd8a9f3c1d2"  # pinned by digest
    assert box2["last change"] == "—"

    assert box3["health"] == "failed: Ollama did not answer on 10.0.0.13:11434"
    assert box3["models"] == "none"  # known and empty

    assert (box4["tier"], box4["health"], box4["GPUs"], box4["driver"]) == ("gpu_high", "unreachable", "—", "—")
    assert (ws["role"], ws["tier"], ws["health"], ws["models"]) == ("standalone", "unknown", "not checked", "—")


def test_markdown_escapes_markup_in_data(markdown):
    line = next(line for line in markdown.splitlines() if line.startswith("| gpu-box-02"))
    assert r"\<script\>" in line and "<script>" not in line
    assert r"\| 500 \& retrying" in line
    assert "gpu_low" in line  # an underscore inside a word stays readable
    assert len(re.split(r"(?<!\\)\|", line)) == len(COLUMNS) + 2  # the | in the error text split no cell


def test_header_names_the_time_the_inventory_and_counts_per_tier(markdown, fleet):
    reports = fleet[1]
    assert re.search(r"^- Generated: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", markdown, re.M)
    assert f"- Inventory: {reports.parent / 'hosts.yml'}" in markdown
    assert "- Hosts: 6 — 2 healthy, 1 unhealthy, 1 failed, 1 unreachable, 1 not checked" in markdown
    assert "- Needs attention: gpu-box-02.lab.example (unhealthy), gpu-box-03.lab.example (failed), " in markdown
    header, *rows = md_table(markdown, "tier")
    assert header == ["tier", "hosts", "healthy", "unhealthy", "failed", "unreachable", "not checked"]
    assert rows == [
        ["cpu", "1", "1", "0", "0", "0", "0"],
        ["gpu_high", "2", "1", "0", "0", "1", "0"],
        ["gpu_low", "2", "0", "1", "1", "0", "0"],
        ["unknown", "1", "0", "0", "0", "0", "1"],
        ["all", "6", "2", "1", "1", "1", "1"],
    ]


def test_html_has_the_same_tables_as_the_markdown(page, markdown):
    tables = html_tables(page).tables
    header, *rows = tables["hosts"]
    assert header == COLUMNS
    md_rows = md_table(markdown, "host")[1:]
    assert len(rows) == len(HOSTS)
    health = COLUMNS.index("health")
    for html_row, md_row in zip(rows, md_rows, strict=True):
        assert html_row[:health] + html_row[health + 1 :] == md_row[:health] + md_row[health + 1 :]
        # The page lists problems under the status; the Markdown joins them with "; ".
        assert html_row[health].split()[0] == md_row[health].split(":")[0].split()[0]
    assert tables["tiers"] == md_table(markdown, "tier")


def test_html_escapes_the_error_text_and_shows_the_problems(page):
    parsed = html_tables(page)
    assert [tag for tag, _ in parsed.tags if tag == "script"] == []
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page
    box2 = next(row for row in parsed.tables["hosts"] if row[0] == "gpu-box-02.lab.example")
    assert box2[COLUMNS.index("health")] == (
        'unhealthy model <script>alert("pwned")</script> is not answering | 500 & retrying bge-m3:latest is missing'
    )
    rows = {attrs.get("class") for tag, attrs in parsed.tags if tag == "tr" and "status" in attrs.get("class", "")}
    assert "status-failed attention" in rows and "status-unreachable attention" in rows


def test_html_is_a_self_contained_page(page):
    parsed = html_tables(page)
    tags = {tag for tag, _ in parsed.tags}
    assert page.startswith("<!DOCTYPE html>")
    assert "style" in tags
    assert not tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert not [attrs for _, attrs in parsed.tags if any(k.startswith("on") or k == "src" for k in attrs)]
    assert "http://" not in page and "https://" not in page and "@import" not in page and "url(" not in page


def test_every_value_in_the_html_template_is_escaped():
    """Ansible's template module ignores Jinja autoescape: each {{ }} of the page must end in | e."""
    template = (ROLE / "templates" / "fleet-report.html.j2").read_text()
    expressions = re.findall(r"{{(.*?)}}", template, re.S)
    assert expressions
    assert [e for e in expressions if not re.search(r"\|\s*e\s*$", e)] == []


def test_a_rerun_with_nothing_changed_rewrites_the_time_but_reports_no_change(tmp_path):
    inventory = fleet_inventory(tmp_path / "inventory")
    history = inventory.parent / "reports" / "history"
    first = run_report(inventory)
    assert all(r["changed"] for r in first.task(WRITE)["results"])
    assert len(list(history.iterdir())) == 2

    again = run_report(inventory)
    assert [r["changed"] for r in again.task(WRITE)["results"]] == [False, False]
    assert again.task(HISTORY)["results"] == []  # nothing changed, no copy
    assert len(list(history.iterdir())) == 2
    assert not any(host["changed"] for host in again.data["stats"].values())

    changed = run_report(inventory, extra_vars={"fleet_report_title": "Lab B fleet"})
    assert [r["changed"] for r in changed.task(WRITE)["results"]] == [True, True]
    assert sorted(p.suffix for p in history.iterdir()) == [".html", ".html", ".md", ".md"]
    assert (inventory.parent / "reports" / "fleet-report.md").read_text().startswith("# Lab B fleet\n")


def test_formats_history_and_directory_follow_the_variables(tmp_path):
    inventory = fleet_inventory(tmp_path / "inventory")
    reports = tmp_path / "elsewhere" / "reports"
    run = run_report(
        inventory,
        extra_vars={"fleet_report_dir": str(reports), "fleet_report_formats": ["html"], "fleet_report_history": False},
    )
    assert run.ran(WRITE)
    assert sorted(p.name for p in reports.iterdir()) == ["fleet-report.html"]
    assert oct((reports / "fleet-report.html").stat().st_mode & 0o777) == "0o644"
    assert not (inventory.parent / "reports").exists()


def test_disabled_or_check_mode_writes_nothing(tmp_path):
    inventory = fleet_inventory(tmp_path / "inventory")
    run = run_report(inventory, extra_vars={"fleet_report_enabled": False})
    assert not run.ran(WRITE)
    checked = run_report(inventory, check=True)
    assert checked.ran(WRITE) and not checked.task(WRITE).get("failed")
    assert [r["changed"] for r in checked.task(WRITE)["results"]] == [True, True]  # says it would write
    assert not (inventory.parent / "reports").exists()


def test_an_unknown_format_is_refused_by_the_argument_spec(tmp_path):
    inventory = fleet_inventory(tmp_path / "inventory")
    run = run_report(inventory, extra_vars={"fleet_report_formats": ["pdf"]})
    assert not run.ran(WRITE)
    assert "pdf" in run.stdout and "fleet_report_formats" in run.stdout
    assert not (inventory.parent / "reports").exists()
