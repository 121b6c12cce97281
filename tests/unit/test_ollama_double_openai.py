"""The Ollama double's OpenAI-compatible /v1/embeddings answers like Ollama's middleware/openai.go.

A fleet gateway's LiteLLM reaches workers' embedding models through LiteLLM's `openai/` route, so the
shapes here are what that route parses: the embedding list, OpenAI's error object, and the same vectors
/api/embed gives for the same input.
"""

import base64
import struct
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from ollama_double.testing import OllamaDouble  # noqa: E402

PATH = "/v1/embeddings"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with OllamaDouble(tmp_path_factory.mktemp("ollama-models")) as double:
        double.install("bge-m3")
        yield double


@pytest.fixture
def double(server):
    server.clear_requests()
    server.control("DELETE", "counters")
    return server


def openai_error(message, kind):
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def test_embedding_list_carries_the_native_vectors(double):
    resp = double.api("POST", PATH, {"model": "bge-m3", "input": ["hello", "world"]})
    native = double.api("POST", "/api/embed", {"model": "bge-m3", "input": ["hello", "world"]}).json()
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert resp.body.endswith(b"}\n")  # json.Encoder, not c.JSON
    body = resp.json()
    assert list(body) == ["object", "data", "model", "usage"]
    assert (body["object"], body["model"]) == ("list", "bge-m3")
    assert body["data"] == [
        {"object": "embedding", "embedding": native["embeddings"][0], "index": 0},
        {"object": "embedding", "embedding": native["embeddings"][1], "index": 1},
    ]
    tokens = native["prompt_eval_count"]
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    assert len(body["data"][0]["embedding"]) == 1024


def test_a_string_input_is_one_vector_and_the_model_is_echoed_as_given(double):
    body = double.api("POST", PATH, {"model": "BGE-M3:latest", "input": "hello"}).json()
    native = double.api("POST", "/api/embed", {"model": "bge-m3", "input": "hello"}).json()
    assert body["model"] == "BGE-M3:latest"
    assert [item["embedding"] for item in body["data"]] == native["embeddings"]


def test_an_empty_string_is_embedded_not_refused(double):
    # The middleware turns "" into [""]; /api/embed with "" would answer no vectors at all.
    body = double.api("POST", PATH, {"model": "bge-m3", "input": ""}).json()
    native = double.api("POST", "/api/embed", {"model": "bge-m3", "input": [""]}).json()
    assert [item["embedding"] for item in body["data"]] == native["embeddings"]


def test_dimensions_truncate_like_the_native_endpoint(double):
    body = double.api("POST", PATH, {"model": "bge-m3", "input": "hello", "dimensions": 8}).json()
    native = double.api("POST", "/api/embed", {"model": "bge-m3", "input": "hello", "dimensions": 8}).json()
    assert body["data"][0]["embedding"] == native["embeddings"][0]
    assert len(native["embeddings"][0]) == 8


@pytest.mark.parametrize("encoding", ["base64", "BASE64"])
def test_base64_is_little_endian_float32(double, encoding):
    request = {"model": "bge-m3", "input": ["hello", "world"], "dimensions": 16}
    floats = double.api("POST", PATH, request).json()
    packed = double.api("POST", PATH, {**request, "encoding_format": encoding}).json()
    for as_float, as_base64 in zip(floats["data"], packed["data"], strict=True):
        raw = base64.b64decode(as_base64["embedding"])
        assert raw == struct.pack("<16f", *as_float["embedding"])
    assert packed["usage"] == floats["usage"]


def test_float_encoding_is_the_default(double):
    request = {"model": "bge-m3", "input": "hello"}
    assert double.api("POST", PATH, {**request, "encoding_format": "float"}).json() == (
        double.api("POST", PATH, request).json()
    )


def test_authorization_is_ignored_and_recorded_like_other_routes(double):
    request = {"model": "bge-m3", "input": "hello"}
    with_key = double.api("POST", PATH, request, headers={"Authorization": "Bearer sk-anything"})
    assert with_key.status == 200
    assert with_key.json() == double.api("POST", PATH, request).json()
    logged = double.requests(path=PATH)
    assert [(entry["authorization"], entry["status"], entry["body"]) for entry in logged] == [
        (True, 200, request),
        (False, 200, request),
    ]
    assert double.counters()["embed_requests"] == 2


def test_keep_alive_is_not_passed_to_the_native_handler(double):
    # The middleware builds the native request from model, input and dimensions alone.
    resp = double.api("POST", PATH, {"model": "bge-m3", "input": "hello", "keep_alive": 0})
    assert resp.status == 200
    assert any(m["name"] == "bge-m3:latest" for m in double.api("GET", "/api/ps").json()["models"])


# Refused by the middleware (gin's c.AbortWithStatusJSON), before the native handler runs.
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "EOF"),
        (b"{bad", "invalid character 'b' looking for beginning of object key string"),
        (b'{"model":"bge-m3"', "unexpected EOF"),
        (b"[1]", "json: cannot unmarshal array into Go value of type openai.EmbedRequest"),
        (
            {"model": 1, "input": "x"},
            "json: cannot unmarshal number into Go struct field EmbedRequest.model of type string",
        ),
        (
            {"model": "bge-m3", "input": "x", "dimensions": "8"},
            "json: cannot unmarshal string into Go struct field EmbedRequest.dimensions of type int",
        ),
        ({"model": "bge-m3"}, "invalid input"),
        ({"model": "bge-m3", "input": None}, "invalid input"),
        ({"model": "bge-m3", "input": []}, "invalid input"),
        (
            {"model": "bge-m3", "input": "x", "encoding_format": "hex"},
            "Invalid value for 'encoding_format' = hex. Supported values: ['float', 'base64'].",
        ),
    ],
)
def test_middleware_refusals(double, body, message):
    resp = double.api("POST", PATH, body)
    assert (resp.status, resp.json()) == (400, openai_error(message, "invalid_request_error"))
    assert resp.content_type == "application/json; charset=utf-8"
    assert not resp.body.endswith(b"\n")
    assert double.counters()["embed_requests"] == 0


# The native handler's errors, rewritten by the middleware's writer: same status and text as /api/embed.
@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        ({"model": "tinyllama", "input": "x"}, 404, "not_found_error"),
        ({"input": "x"}, 404, "not_found_error"),
        ({"model": "bge-m3", "input": [1, 2]}, 400, "invalid_request_error"),
        ({"model": "bge-m3", "input": [[101, 102]]}, 400, "invalid_request_error"),  # no token arrays
        ({"model": "bge-m3", "input": {"text": "x"}}, 400, "invalid_request_error"),
        ({"model": "a/b/c/d/e", "input": "x"}, 400, "invalid_request_error"),
    ],
)
def test_native_errors_in_openai_shape(double, body, status, kind):
    native = double.api("POST", "/api/embed", body)
    resp = double.api("POST", PATH, body)
    assert native.status == status
    assert (resp.status, resp.json()) == (status, openai_error(native.json()["error"], kind))
    assert resp.content_type == "application/json"
    assert resp.body.endswith(b"}\n")


def test_only_post(double):
    assert double.api("GET", PATH).status == 405
    assert double.api("GET", "/v1/nothing").status == 404
