"""The alert rules the collection ships (roles/monitoring/files) pass promtool, and their tests can fail.

promtool is Debian's, from the bed's local/prometheus image (tests/images/prometheus, `make bed`). The rule
tests (tests/integration/fixtures/prometheus/llmstack-alerts.test.yml) give input series per alert, with a
firing and a not-firing case each.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "roles" / "monitoring" / "files"
RULE_TESTS = Path(__file__).parent / "fixtures" / "prometheus"
PROMETHEUS_IMAGE = os.environ.get("LLMSTACK_PROMETHEUS_IMAGE", "local/prometheus:2.53.3")
ALERTS = {
    "LLMStackGatewayDown",
    "LLMStackOllamaDown",
    "LLMStackModelMissing",
    "LLMStackModelOnCPU",
    "LLMStackGPUMemoryHigh",
    "LLMStackModelsVolumeFull",
    "LLMStackLiteLLMErrorRate",
}


@pytest.fixture(scope="module", autouse=True)
def image():
    found = subprocess.run(["docker", "image", "inspect", PROMETHEUS_IMAGE], capture_output=True, check=False)
    if found.returncode != 0:
        pytest.fail(f"image {PROMETHEUS_IMAGE} is missing: run `make bed` (tests/bed/build-service-images.sh)")


def promtool(rules_dir, *args):
    return subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{rules_dir}:/rules:ro", "-v", f"{RULE_TESTS}:/tests:ro",
         "--entrypoint", "promtool", PROMETHEUS_IMAGE, *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_rules_pass_promtool_check():
    result = promtool(RULES, "check", "rules", "/rules/llmstack-alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_every_alert_fires_and_stays_quiet_as_its_tests_say():
    tests = (RULE_TESTS / "llmstack-alerts.test.yml").read_text()
    for alert in ALERTS:
        assert tests.count(f"alertname: {alert}\n") >= 2, f"{alert} needs a firing and a not-firing case"
    result = promtool(RULES, "test", "rules", "/tests/llmstack-alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        (("> 0.95", "> 0.98"), "LLMStackGPUMemoryHigh"),
        (('exception_status=~"5..|None"', 'exception_status=~".*"'), "LLMStackLiteLLMErrorRate"),
        (('exception_status=~"5..|None"', 'exception_status=~"5.."'), "LLMStackLiteLLMErrorRate"),
        (("(llmstack_ollama_gpu_expected == 1)", "llmstack_ollama_gpu_expected"), "LLMStackModelOnCPU"),
        (
            ("group_left() llmstack_ollama_models_mount_info", "group_left() (llmstack_ollama_models_mount_info > 2)"),
            "LLMStackModelsVolumeFull",
        ),
    ],
)
def test_the_rule_tests_catch_a_wrong_rule(tmp_path, change, failing):
    rules = (RULES / "llmstack-alerts.yml").read_text()
    assert change[0] in rules
    broken = tmp_path / "rules"
    broken.mkdir(mode=0o755)
    (broken / "llmstack-alerts.yml").write_text(rules.replace(change[0], change[1]))
    (broken / "llmstack-alerts.yml").chmod(0o644)
    tmp_path.chmod(0o755)
    result = promtool(broken, "test", "rules", "/tests/llmstack-alerts.test.yml")
    assert result.returncode != 0
    assert f"alertname: {failing}," in result.stdout + result.stderr
    shutil.rmtree(broken)
