"""LiteLLM's Prometheus metrics, as the litellm_stack role configures them, read from a REAL LiteLLM proxy
(the pinned 1.108.7, no database) in front of the Ollama double.

The config is the role's own: the litellm_stack_config filter with prometheus_metrics=true (the default of
litellm_stack_prometheus_metrics), so the test proves what the role writes, not a hand-made config.
"""

import re
import sys
import urllib.error
import urllib.request

import pytest
import yaml
from conftest import REPO, http_json, launch_litellm_with, wait_for

sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.llmstack.gateway.plugins.filter.litellm_stack import (
    litellm_stack_config,
    litellm_stack_deployments,
)
from ollama_double.testing import OllamaDouble

DEFAULTS = yaml.safe_load((REPO / "roles" / "litellm_stack" / "defaults" / "main.yml").read_text())
SAMPLE = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def samples(text, name):
    """Every sample of one metric, as (labels, value)."""
    found = []
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match and match["name"] == name:
            found.append((dict(LABEL.findall(match["labels"])), float(match["value"])))
    return found


def per_model(text, name, label="requested_model"):
    totals = {}
    for labels, value in samples(text, name):
        totals[labels.get(label)] = totals.get(labels.get(label), 0) + value
    return totals


def get(url, key=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read().decode()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    directory = tmp_path_factory.mktemp("litellm-metrics")
    with OllamaDouble(directory / "models") as double:
        double.install("tinyllama")
        double.install("qwen2.5:0.5b")
        # Two chat models that Ollama has, and one the gateway routes to a model Ollama lacks (it must fail).
        models = [{"name": n, "ollama": n, "mode": "chat"} for n in ("tinyllama", "qwen2.5:0.5b", "llama3.2:1b")]
        model_list = litellm_stack_deployments(models, double.url)
        config = litellm_stack_config(
            model_list,
            litellm_settings={**DEFAULTS["litellm_stack_litellm_settings"], "num_retries": 0},
            prometheus_metrics=DEFAULTS["litellm_stack_prometheus_metrics"],
        )
        assert config["litellm_settings"]["callbacks"] == ["prometheus"]
        (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        litellm = launch_litellm_with(directory / "config.yaml", directory)
        try:
            wait_for(litellm.url + "/health/liveliness", 120, litellm.process, litellm.log)
            yield litellm.url, litellm.master_key, model_list
        finally:
            litellm.process.terminate()
            litellm.process.wait(timeout=20)


def chat(url, key, model):
    return http_json(
        "POST",
        url + "/v1/chat/completions",
        {"model": model, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key}"},
    )


def test_metrics_without_the_master_key_are_refused(gateway):
    url, master_key, _ = gateway
    for key in (None, "sk-not-the-master-key-00000000000000"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(url + "/metrics", key)
        assert refused.value.code == 401
        body = refused.value.read().decode()
        assert "Unauthorized access to metrics endpoint" in body
        assert "litellm_proxy_total_requests_metric" not in body
    status, _ = get(url + "/metrics", master_key)
    assert status == 200


def test_per_model_request_counts_and_failures_are_what_was_sent(gateway):
    url, master_key, model_list = gateway
    assert [m["model_name"] for m in model_list] == ["tinyllama", "qwen2.5:0.5b", "llama3.2:1b"]
    sent = {"tinyllama": 3, "qwen2.5:0.5b": 2}
    for model, count in sent.items():
        for _ in range(count):
            assert chat(url, master_key, model)["choices"][0]["message"]["content"]
    with pytest.raises(urllib.error.HTTPError):
        chat(url, master_key, "llama3.2:1b")

    _, text = get(url + "/metrics", master_key)
    totals = per_model(text, "litellm_proxy_total_requests_metric_total")
    assert {model: totals.get(model) for model in [*sent, "llama3.2:1b"]} == {**sent, "llama3.2:1b": 1}
    failed = per_model(text, "litellm_proxy_failed_requests_metric_total")
    assert failed.get("llama3.2:1b") == 1
    assert not failed.get("tinyllama") and not failed.get("qwen2.5:0.5b")
    # Latency per model: one observation per successful call, in the histogram's count.
    latency = per_model(text, "litellm_request_total_latency_metric_count", label="model")
    assert latency.get("tinyllama") == 3 and latency.get("qwen2.5:0.5b") == 2
