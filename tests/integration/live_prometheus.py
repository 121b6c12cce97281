"""A small monitored fleet on this machine, fed only by the real programs: for the dashboard's, the fleet report's
and the README screenshot's checks.

- LiteLLM: the REAL proxy (the pinned PyPI release, no database) with the litellm_stack role's own config
  (prometheus callback on, /metrics behind the master key), in front of an Ollama double;
- per host, the collection's collector (roles/monitoring/files/llmstack_metrics.py) run as a program against
  the SIMULATED nvidia-smi replaying recorded cards and an Ollama double, writing its .prom file into the
  textfile directory of Debian's REAL prometheus-node-exporter (from the bed's local/prometheus image), which
  serves it beside its own node_* series;
- Debian's REAL Prometheus (local/prometheus) scraping both every 2 s, with the role's alert rules.

Every container uses the host's network, on free loopback ports. Prometheus relabels each target's `instance`
to "<host>:<port>" as the monitoring role's inventory-generated targets would name a host.
"""

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(HERE))

from ansible_collections.llmstack.gateway.plugins.filter.litellm_stack import (  # noqa: E402
    litellm_stack_config,
    litellm_stack_deployments,
)
from conftest import free_port, http_json, launch_litellm_with, wait_for  # noqa: E402
from ollama_double.testing import OllamaDouble  # noqa: E402

FILES = REPO / "roles" / "monitoring" / "files"
RULES = FILES / "llmstack-alerts.yml"
COLLECTOR = FILES / "llmstack_metrics.py"
SIMULATED = REPO / "tests" / "simulated" / "nvidia-smi"
RECORDINGS = REPO / "tests" / "unit" / "fixtures" / "nvidia-smi"
PROMETHEUS_IMAGE = os.environ.get("LLMSTACK_PROMETHEUS_IMAGE", "local/prometheus:2.53.3")
STACK_DEFAULTS = yaml.safe_load((REPO / "roles" / "litellm_stack" / "defaults" / "main.yml").read_text())
MODELS_MOUNT = "/models"


def image_problem():
    """None when the bed's Prometheus image (with node-exporter) is there, else what to do."""
    found = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", "prometheus-node-exporter", PROMETHEUS_IMAGE,
         "--version"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if found.returncode != 0:
        return f"{PROMETHEUS_IMAGE} with prometheus-node-exporter is missing: run `make bed` ({found.stderr.strip()})"
    return None


def short_rules(directory, seconds=1):
    """The role's rules with every `for:` cut to `seconds`, so that a test sees alerts fire, not only pend."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = f"{seconds}s"
    path = directory / "rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=check)


class Host:
    """One monitored host: an Ollama double, the collector's textfile directory, a node-exporter container."""

    def __init__(self, name, directory, *, recording=None, models=(), loaded=(), configured=(), gpu_expected=True,
                 volume_full=False, ollama_down=False):  # fmt: skip
        self.name = name
        self.directory = directory
        self.recording = recording
        self.models = models
        self.loaded = loaded
        self.configured = configured or models
        self.gpu_expected = gpu_expected
        self.volume_full = volume_full
        self.ollama_down = ollama_down
        self.port = free_port()
        self.container = f"llmstack-test-node-{self.port}"
        self.double = None

    def start(self):
        self.textfile = self.directory / "textfile"
        self.textfile.mkdir(parents=True)
        self.textfile.chmod(0o755)
        if not self.ollama_down:
            self.double = OllamaDouble(self.directory / "ollama").__enter__()
            for model in self.models:
                self.double.install(model)
            for model in self.loaded:
                self.double.api("POST", "/api/generate", {"model": model})
        docker("run", "-d", "--name", self.container, "--network", "host",
               "-v", f"{self.textfile}:/textfile:ro", "--tmpfs", f"{MODELS_MOUNT}:size=8m,mode=1777",
               "--entrypoint", "prometheus-node-exporter", PROMETHEUS_IMAGE,
               f"--web.listen-address=127.0.0.1:{self.port}", "--collector.textfile.directory=/textfile")  # fmt: skip
        if self.volume_full:
            # 7.5 of 8 MiB: node-exporter sees the tmpfs holding "the models" 94 % full.
            docker("exec", self.container, "dd", "if=/dev/zero", f"of={MODELS_MOUNT}/blob", "bs=1M", "count=7")
            docker("exec", self.container, "dd", "if=/dev/zero", f"of={MODELS_MOUNT}/blob2", "bs=512K", "count=1")
        self.collect()
        wait_for(f"http://127.0.0.1:{self.port}/metrics", 30)
        return self

    def collect(self):
        """Run the collector as the timer would; its .prom lands in node-exporter's textfile directory."""
        bindir = self.directory / "bin"
        bindir.mkdir(exist_ok=True)
        path_dirs = ["/usr/bin", "/bin"]
        env = dict(os.environ)
        if self.recording:
            if not (bindir / "nvidia-smi").exists():
                (bindir / "nvidia-smi").symlink_to(SIMULATED)
            path_dirs.insert(0, str(bindir))
            env["SIMULATED_NVIDIA_SMI_CASE"] = str(RECORDINGS / self.recording)
        env["PATH"] = os.pathsep.join(path_dirs)
        url = self.double.url if self.double else f"http://127.0.0.1:{free_port()}"
        args = [sys.executable, str(COLLECTOR), "--output", str(self.textfile / "llmstack.prom"), "--ollama-url", url,
                "--models-mountpoint", MODELS_MOUNT]  # fmt: skip
        for model in self.configured:
            args += ["--model", model]
        if self.gpu_expected:
            args.append("--gpu-expected")
        result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        (self.textfile / "llmstack.prom").chmod(0o644)

    def stop(self):
        docker("rm", "-f", self.container, check=False)
        if self.double is not None:
            self.double.__exit__(None, None, None)


class Gateway:
    """The real LiteLLM proxy with the role's config (prometheus callback on), routing to an Ollama double."""

    def __init__(self, name, directory, models, *, missing=()):
        self.name = name
        self.directory = directory
        self.models = models
        self.missing = missing

    def start(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        self.double = OllamaDouble(self.directory / "ollama").__enter__()
        for model in self.models:
            self.double.install(model)
        routed = [{"name": n, "ollama": n, "mode": "chat"} for n in (*self.models, *self.missing)]
        config = litellm_stack_config(
            litellm_stack_deployments(routed, self.double.url),
            litellm_settings={**STACK_DEFAULTS["litellm_stack_litellm_settings"], "num_retries": 0},
            prometheus_metrics=STACK_DEFAULTS["litellm_stack_prometheus_metrics"],
        )
        (self.directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        self.litellm = launch_litellm_with(self.directory / "config.yaml", self.directory)
        wait_for(self.litellm.url + "/health/liveliness", 120, self.litellm.process, self.litellm.log)
        self.port = int(self.litellm.url.rsplit(":", 1)[1])
        return self

    def chat(self, model):
        """One chat completion; True when it succeeded."""
        try:
            http_json("POST", self.litellm.url + "/v1/chat/completions",
                      {"model": model, "messages": [{"role": "user", "content": "hi"}]},
                      headers={"Authorization": f"Bearer {self.litellm.master_key}"}, timeout=120)  # fmt: skip
        except urllib.error.HTTPError:
            return False
        return True

    def stop(self):
        self.litellm.process.terminate()
        self.litellm.process.wait(timeout=20)
        self.double.__exit__(None, None, None)


class Prometheus:
    """Debian's Prometheus in a container on the host's network, scraping the gateways and hosts every 2 s
    (node-exporter's scrape takes up to a second here)."""

    def __init__(self, directory, gateways, hosts, rules=RULES, scrape_interval="2s"):
        self.directory = directory
        self.gateways = gateways
        self.hosts = hosts
        self.rules = rules
        self.scrape_interval = scrape_interval
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.container = f"llmstack-test-prometheus-{self.port}"

    def config(self):
        def job(name, targets, **extra):
            return {
                "job_name": name,
                **extra,
                "static_configs": [
                    {"targets": [f"127.0.0.1:{port}"], "labels": {"__llmstack_instance": f"{host}:{real_port}"}}
                    for host, port, real_port in targets
                ],
                "relabel_configs": [{"source_labels": ["__llmstack_instance"], "target_label": "instance"}],
            }

        jobs = []
        if self.gateways:
            # One job, one bearer token: the tests run one gateway (a fleet's gateways share one master key).
            key = self.gateways[0].litellm.master_key
            jobs.append(
                job("litellm", [(g.name, g.port, 4000) for g in self.gateways], authorization={"credentials": key})
            )
        if self.hosts:
            jobs.append(job("node", [(host.name, host.port, 9100) for host in self.hosts]))
        return {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.scrape_interval},
            "rule_files": ["/config/rules.yml"],
            "scrape_configs": jobs,
        }

    def start(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)
        (self.directory / "prometheus.yml").write_text(yaml.safe_dump(self.config(), sort_keys=False))
        shutil.copy(self.rules, self.directory / "rules.yml")
        for name in ("prometheus.yml", "rules.yml"):
            (self.directory / name).chmod(0o644)
        docker("run", "-d", "--name", self.container, "--network", "host", "-v", f"{self.directory}:/config:ro",
               PROMETHEUS_IMAGE, "--config.file=/config/prometheus.yml", "--storage.tsdb.path=/prometheus",
               f"--web.listen-address=127.0.0.1:{self.port}")  # fmt: skip
        wait_for(self.url + "/-/ready", 60)
        return self

    def api(self, path, **params):
        url = f"{self.url}/api/v1/{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=30) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr):
        return self.api("query", query=expr)["result"]

    def wait_until(self, expr, seconds=60):
        """Wait until the instant query `expr` returns something; return it."""
        deadline = time.monotonic() + seconds
        while True:
            result = self.query(expr)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.5)

    def logs(self):
        return docker("logs", self.container, check=False).stderr[-4000:]

    def stop(self):
        docker("rm", "-f", self.container, check=False)


def workdir(prefix):
    """A directory the containers' `nobody` can read (pytest's own tmp directories are 0700)."""
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    directory.chmod(0o755)
    return directory


def metric_names(text):
    """The metric names a scrape's text shows (a sample line's name)."""
    return {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.MULTILINE)}


def send_traffic(gateway, prometheus):
    """tinyllama 3 requests, qwen2.5:0.5b 2, and 1 that fails for llama3.2:1b (routed to a model Ollama lacks), in
    two rounds with a scrape between them: LiteLLM creates a counter at its first request, so only requests after
    the first scrape of it show in rate(). One failure only: after it LiteLLM's router cools the deployment down
    and answers the next request for it with 429 (RouterRateLimitError), a series of its own."""
    for model, ok in (("tinyllama", True), ("qwen2.5:0.5b", True), ("llama3.2:1b", False)):
        assert gateway.chat(model) is ok, model
    assert prometheus.wait_until('litellm_proxy_failed_requests_metric_total{requested_model="llama3.2:1b"}', 60)
    for model in ("tinyllama", "tinyllama", "qwen2.5:0.5b"):
        assert gateway.chat(model), model
    for model in ("tinyllama", "qwen2.5:0.5b"):
        query = f'increase(litellm_proxy_total_requests_metric_total{{requested_model="{model}"}}[1m]) > 0'
        assert prometheus.wait_until(query, 60), model


@contextlib.contextmanager
def sample_fleet(prefix, rules=RULES, scrape_interval="2s"):
    """The fleet the dashboard's, the report's and the screenshot's checks share, with traffic sent, as its
    Prometheus; every container is removed on the way out.

    gw-01 routes tinyllama and qwen2.5:0.5b, and llama3.2:1b to a model its Ollama lacks. gpu-box-01: two recorded
    RTX 3060s (card 0 95 % full), tinyllama loaded on the CPU although the tier uses the GPU, llama3.1:8b configured
    but not pulled, the models' volume 94 % full. gpu-box-02: a recorded RTX 4090 whose Ollama does not answer."""
    problem = image_problem()
    if problem:
        raise RuntimeError(problem)
    directory = workdir(prefix)
    started = []
    try:
        gateway = Gateway("gw-01.lab.example", directory / "gw", ["tinyllama", "qwen2.5:0.5b"], missing=["llama3.2:1b"])
        started.append(gateway.start())
        gpu = Host("gpu-box-01.lab.example", directory / "gpu", recording="two-rtx3060", models=["tinyllama"],
                   loaded=["tinyllama"], configured=["tinyllama", "llama3.1:8b"], volume_full=True)  # fmt: skip
        started.append(gpu.start())
        down = Host("gpu-box-02.lab.example", directory / "down", recording="rtx4090", ollama_down=True,
                    configured=["tinyllama"])  # fmt: skip
        started.append(down.start())
        rules = rules(directory) if callable(rules) else rules
        prometheus = Prometheus(directory / "prometheus", [gateway], [gpu, down], rules=rules,
                                scrape_interval=scrape_interval)  # fmt: skip
        started.append(prometheus.start())
        send_traffic(gateway, prometheus)
        yield prometheus
    finally:
        for thing in reversed(started):
            thing.stop()
