"""Secrets are generated once per host and then kept: the inventory's, else the host's, else a new one."""

import re

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llmstack.gateway.plugins.filter.secrets import rotation_items, settled_secrets

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


def test_a_renewed_secret_is_new_and_the_others_stay():
    kept = {"LITELLM_MASTER_KEY": "sk-kept", "LITELLM_SALT_KEY": "salt-kept", "LITELLM_DB_PASSWORD": "pw-kept"}
    settled = settled_secrets(LENGTHS, {}, kept, ["LITELLM_MASTER_KEY"])
    assert re.fullmatch(r"sk-[A-Za-z0-9]{48}", settled["LITELLM_MASTER_KEY"])
    assert settled["LITELLM_SALT_KEY"] == "salt-kept"
    assert settled["LITELLM_DB_PASSWORD"] == "pw-kept"


def test_renewing_nothing_keeps_everything():
    kept = {"LITELLM_MASTER_KEY": "sk-kept", "LITELLM_SALT_KEY": "salt-kept", "LITELLM_DB_PASSWORD": "pw-kept"}
    assert settled_secrets(LENGTHS, {"LITELLM_SALT_KEY": ""}, kept, []) == kept


def test_a_secret_the_inventory_gives_cannot_be_renewed():
    with pytest.raises(AnsibleFilterError, match="LITELLM_MASTER_KEY: the inventory gives it"):
        settled_secrets(LENGTHS, {"LITELLM_MASTER_KEY": "sk-given"}, {}, ["LITELLM_MASTER_KEY"])


def test_only_a_settled_secret_can_be_renewed():
    with pytest.raises(AnsibleFilterError, match="cannot renew DATABASE_URL"):
        settled_secrets(LENGTHS, {}, {}, ["DATABASE_URL"])


@pytest.mark.parametrize(
    ("value", "items"),
    [
        ("master_key", ["master_key"]),
        (" master_key , certificates,,master_key", ["master_key", "certificates"]),
        (["certificates", "master_key"], ["certificates", "master_key"]),
        ("", []),
        (None, []),
    ],
)
def test_rotation_items_from_a_string_or_a_list(value, items):
    assert rotation_items(value) == items


def test_rotation_items_refuses_other_types():
    with pytest.raises(AnsibleFilterError):
        rotation_items({"master_key": True})
