"""Secrets are generated once per host and then kept: the inventory's, else the host's, else a new one."""

import re

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llmstack.gateway.plugins.filter.secrets import settled_secrets

LENGTHS = {"LITELLM_MASTER_KEY": 48, "LITELLM_SALT_KEY": 48, "LITELLM_DB_PASSWORD": 32}


def test_new_secrets_have_their_length_alphabet_and_the_master_key_prefix():
    settled = settled_secrets(LENGTHS)
    assert re.fullmatch(r"sk-[A-Za-z0-9]{48}", settled["LITELLM_MASTER_KEY"])
    assert re.fullmatch(r"[A-Za-z0-9]{48}", settled["LITELLM_SALT_KEY"])
    assert re.fullmatch(r"[A-Za-z0-9]{32}", settled["LITELLM_DB_PASSWORD"])
    assert settled_secrets(LENGTHS) != settled


def test_the_inventory_wins_then_the_host_keeps_its_own():
    kept = {"LITELLM_MASTER_KEY": "sk-kept", "LITELLM_SALT_KEY": "salt-kept", "OTHER": "x"}
    settled = settled_secrets(LENGTHS, {"LITELLM_MASTER_KEY": "sk-given", "LITELLM_SALT_KEY": ""}, kept)
    assert settled["LITELLM_MASTER_KEY"] == "sk-given"
    assert settled["LITELLM_SALT_KEY"] == "salt-kept"
    assert len(settled["LITELLM_DB_PASSWORD"]) == 32
    assert set(settled) == set(LENGTHS)


def test_lengths_must_be_a_mapping():
    with pytest.raises(AnsibleFilterError):
        settled_secrets(["LITELLM_MASTER_KEY"])
