"""The role's list of LiteLLM config keys matches what the pinned LiteLLM really reads."""

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "roles" / "litellm_stack" / "vars" / "litellm_keys.yml"


def test_committed_keys_match_the_pinned_litellm():
    generated = subprocess.run(
        [sys.executable, str(REPO / "tests" / "tools" / "litellm_config_keys.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert yaml.safe_load(generated) == yaml.safe_load(COMMITTED.read_text()), (
        "roles/litellm_stack/vars/litellm_keys.yml is stale: regenerate it with "
        "`.venv/bin/python tests/tools/litellm_config_keys.py > roles/litellm_stack/vars/litellm_keys.yml`"
    )


def test_keys_the_seed_used_but_litellm_ignores_are_not_known():
    known = yaml.safe_load(COMMITTED.read_text())["litellm_stack_known_config_keys"]
    # The seed's litellm_settings.yml had `log_payload` under general_settings; LiteLLM never reads it.
    assert "log_payload" not in known["general_settings"]
    assert "master_key" in known["general_settings"]
    assert {"num_retries", "timeout", "fallbacks", "routing_strategy"} <= set(known["router_settings"])
    assert {"drop_params", "request_timeout"} <= set(known["litellm_settings"])
