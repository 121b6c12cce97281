"""The collection's filter and test plugins."""

import base64

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llmstack.gateway.plugins.filter.core import (
    from_dotenv,
    ollama_name,
    slurped_files,
    tier_models,
)
from ansible_collections.llmstack.gateway.plugins.test.ip_address import ip_address


def test_from_dotenv_reads_what_the_role_writes_and_what_people_write():
    text = "\n".join(
        [
            "# Ansible managed",
            "LITELLM_MASTER_KEY='sk-abc'",
            'DATABASE_URL="postgresql://u:p%40ss@db:5432/litellm"',
            "export GEMINI_API_KEY=plain-value",
            "EMPTY=",
            "WITH_COMMENT=value # a comment",
            "",
        ]
    )
    assert from_dotenv(text) == {
        "LITELLM_MASTER_KEY": "sk-abc",
        "DATABASE_URL": "postgresql://u:p%40ss@db:5432/litellm",
        "GEMINI_API_KEY": "plain-value",
        "EMPTY": "",
        "WITH_COMMENT": "value",
    }


@pytest.mark.parametrize("bad", ["not a pair", "=value"])
def test_from_dotenv_rejects_lines_that_are_not_pairs(bad):
    with pytest.raises(AnsibleFilterError, match="line 1"):
        from_dotenv(bad)


def _slurp(item, text):
    return {"item": item, "content": base64.b64encode(text.encode()).decode(), "encoding": "base64", "changed": False}


def test_slurped_files_gives_each_read_file_by_its_item_and_leaves_out_the_absent():
    absent = {"item": ".postgres-volume", "failed": False, "msg": "file not found: /opt/litellm-stack/.postgres-volume"}
    skipped = {"item": ".last-change", "skipped": True}
    texts = slurped_files([_slurp(".env", "A=1\nB='é'\n"), absent, skipped])
    assert texts == {".env": "A=1\nB='é'\n"}
    assert ".postgres-volume" not in texts


def test_slurped_files_of_no_reads_is_empty():
    assert slurped_files([]) == {}


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"content": "QQ=="}, "a list"),
        (["text"], "each with its item"),
        ([{"item": "x", "content": "not base64!"}], "x is not base64"),
        ([{"item": "x", "content": base64.b64encode(b"\xff\xfe").decode()}], "x is not base64 of UTF-8"),
    ],
)
def test_slurped_files_refuses_what_is_not_a_looped_slurp(bad, words):
    with pytest.raises(AnsibleFilterError, match=words):
        slurped_files(bad)


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("TinyLlama", "tinyllama:latest"),
        ("registry.ollama.ai/library/tinyllama:latest", "tinyllama:latest"),
        ("gpt-oss:20b", "gpt-oss:20b"),
        ("Reg.Lab:5000/Lab/Tuned:V2", "reg.lab:5000/lab/tuned:v2"),
    ],
)
def test_ollama_name_gives_one_spelling_per_model(given, canonical):
    assert ollama_name(given) == canonical


def test_ollama_name_rejects_an_invalid_name():
    with pytest.raises(AnsibleFilterError, match="invalid model name"):
        ollama_name("two words")


@pytest.mark.parametrize(
    ("value", "is_ip"),
    [
        ("127.0.0.1", True),
        ("0.0.0.0", True),
        ("::1", True),
        ("::", True),
        ("localhost", False),
        ("10.0.0.0/8", False),
        ("300.1.1.1", False),
        (4444, False),
        ("", False),
    ],
)
def test_ip_address(value, is_ip):
    assert ip_address(value) is is_ip


MODELS_BY_TIER = {
    "gpu_high": [
        {"name": "tinyllama", "ollama": "tinyllama", "mode": "chat"},
        {"name": "bge-m3", "ollama": "bge-m3", "mode": "embedding", "preload": True},
    ],
    "cpu": [{"name": "tinyllama", "ollama": "tinyllama", "mode": "chat"}],
}


def test_tier_models_gives_the_tiers_list_with_its_extra_keys():
    assert tier_models(MODELS_BY_TIER, "gpu_high") == MODELS_BY_TIER["gpu_high"]
    assert tier_models(MODELS_BY_TIER, "gpu_low") == []


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"cpu": "tinyllama"}, "llmstack_models_by_tier[cpu] must be a list of models"),
        ({"cpu": ["tinyllama"]}, "llmstack_models_by_tier[cpu][0] must be a dict"),
        ({"cpu": [{"name": "t", "mode": "chat"}]}, "llmstack_models_by_tier[cpu][0] lacks ollama"),
        ({"cpu": [{"name": "t", "ollama": "t", "mode": "completion"}]}, "has mode 'completion', not chat or embedding"),
        (["cpu"], "llmstack_models_by_tier must map each tier name to a list of models, not list"),
    ],
)
def test_tier_models_names_every_problem_even_in_another_tier(bad, words):
    with pytest.raises(AnsibleFilterError) as raised:
        tier_models({**MODELS_BY_TIER, **bad} if isinstance(bad, dict) else bad, "gpu_high")
    assert words in str(raised.value)
    assert "\n" not in str(raised.value)
