"""The collection's filter and test plugins."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llmstack.gateway.plugins.filter.core import from_dotenv, ollama_name
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
