"""The role_argument_spec lookup reads a role's declared interface the way Ansible does at the role's start."""

import pytest
from ansible.errors import AnsibleLookupError
from ansible_collections.llmstack.gateway.plugins.lookup.role_argument_spec import argument_spec_options


def test_gives_the_options_of_the_main_entry_point():
    options = argument_spec_options("gpu_tier")
    assert options["gpu_tier_vram_basis"]["choices"] == ["max", "total"]
    assert options["llmstack_gpu_tiers"]["options"]["min_vram_gib"]["type"] == "float"


def test_gives_another_entry_point_when_named():
    options = argument_spec_options("litellm_stack", "settings")
    assert set(options) >= {"litellm_stack_dir", "litellm_stack_postgres_image"}
    assert "litellm_stack_providers" not in options


@pytest.mark.parametrize(
    ("role", "entry", "words"),
    [
        ("no_such_role", "main", "has no role 'no_such_role'"),
        ("../etc", "main", "is not a role name"),
        ("gpu_tier", "nope", "has no entry point 'nope'"),
    ],
)
def test_a_wrong_role_or_entry_point_is_named(role, entry, words):
    with pytest.raises(AnsibleLookupError, match=words):
        argument_spec_options(role, entry)
