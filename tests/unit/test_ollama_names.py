"""Ollama model names are normalised the way Ollama does (types/model/name.go, OLLAMA_API.md)."""

import pytest
from ansible_collections.llmstack.gateway.plugins.module_utils._ollama import (
    InvalidModelName,
    display_name,
    model_key,
    parse_model_name,
)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("tinyllama", "tinyllama:latest"),
        ("tinyllama:latest", "tinyllama:latest"),
        ("registry.ollama.ai/library/tinyllama", "tinyllama:latest"),
        ("registry.ollama.ai/library/tinyllama:latest", "tinyllama:latest"),
        ("library/tinyllama", "tinyllama:latest"),
        ("gpt-oss:20b", "gpt-oss:20b"),
        ("bge-m3:latest", "bge-m3:latest"),
        ("llama3.2:1b", "llama3.2:1b"),
        ("someuser/mymodel", "someuser/mymodel:latest"),
        ("reg.lab:5000/library/m", "reg.lab:5000/library/m:latest"),
        ("reg.lab:5000/library/qwen2.5:0.5b", "reg.lab:5000/library/qwen2.5:0.5b"),
        ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"),
        ("https://registry.ollama.ai/library/tinyllama", "tinyllama:latest"),
        ("tinyllama:1.1b+Q4_0", "tinyllama:1.1b"),
    ],
)
def test_display_name_is_ollamas_shortest_form(given, shown):
    assert display_name(given) == shown


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("tinyllama", "tinyllama:latest"),
        ("TinyLlama", "tinyllama:latest"),
        ("registry.ollama.ai/library/tinyllama", "TINYLLAMA"),
        ("REG.LAB:5000/Library/M", "reg.lab:5000/library/m:latest"),
    ],
)
def test_same_model_compares_equal(one, other):
    assert model_key(one) == model_key(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("gpt-oss:20b", "gpt-oss:120b"),
        ("gpt-oss", "gpt-oss:20b"),
        ("someuser/tinyllama", "tinyllama"),
        ("reg.lab:5000/library/tinyllama", "tinyllama"),
    ],
)
def test_different_models_differ(one, other):
    # The seed decided "installed" by a name prefix, so gpt-oss:120b counted as gpt-oss:20b.
    assert model_key(one) != model_key(other)


@pytest.mark.parametrize(
    "bad",
    ["", "a/b/c/d", "bad name", "tiny..llama", "name.space.with.dots/model", "model:", "x" * 129, ":tag", "m:t/ag"],
)
def test_invalid_names_are_rejected(bad):
    with pytest.raises(InvalidModelName):
        parse_model_name(bad)


def test_parse_returns_the_four_parts_with_defaults():
    assert parse_model_name("tinyllama") == ("registry.ollama.ai", "library", "tinyllama", "latest")
    assert parse_model_name("reg.lab:5000/ns/m:t") == ("reg.lab:5000", "ns", "m", "t")
