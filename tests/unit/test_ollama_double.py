"""The Ollama double (tests/ollama_double) behaves like Ollama as described in OLLAMA_API.md.

Every test talks HTTP to a live double (in-process thread, free loopback port); the CLI tests run
`python -m ollama_double` like a compose healthcheck would run `ollama`.
"""

import hashlib
import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from ollama_double import gguf, names  # noqa: E402
from ollama_double.server import Handler  # noqa: E402
from ollama_double.testing import OllamaDouble, free_port  # noqa: E402

TINYLLAMA_BLOB = 512 * 1024  # the model layer of the built-in tinyllama


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with OllamaDouble(tmp_path_factory.mktemp("ollama-models"), chunk_size=32 * 1024) as double:
        yield double


@pytest.fixture
def double(server):
    """The module's double, reset to a clean state (no models, no faults, empty log) for each test."""
    server.reset(models=True)
    return server


def statuses(lines):
    return [line.get("status") for line in lines]


# -- basics -----------------------------------------------------------------------------------------
def test_root_version_and_head(double):
    root = double.api("GET", "/")
    assert (root.status, root.body) == (200, b"Ollama is running")
    assert double.api("HEAD", "/").status == 200
    version = double.api("GET", "/api/version")
    assert version.status == 200
    assert version.content_type.startswith("application/json")
    assert set(version.json()) == {"version"}


def test_unknown_path_and_wrong_method(double):
    assert double.api("GET", "/api/nothing").status == 404
    assert double.api("GET", "/api/pull").status == 405
    missing_body = double.api("POST", "/api/show", None)
    assert (missing_body.status, missing_body.json()) == (400, {"error": "missing request body"})


# -- names ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "display"),
    [
        ("tinyllama", "tinyllama:latest"),
        ("tinyllama:latest", "tinyllama:latest"),
        ("registry.ollama.ai/library/tinyllama", "tinyllama:latest"),
        ("registry.ollama.ai/library/tinyllama:latest", "tinyllama:latest"),
        ("library/tinyllama", "tinyllama:latest"),
        ("gpt-oss:20b", "gpt-oss:20b"),
        ("myteam/tuned", "myteam/tuned:latest"),
        ("reg.lab:5000/library/m", "reg.lab:5000/library/m:latest"),
        ("reg.lab:5000/ns/m:v1", "reg.lab:5000/ns/m:v1"),
        ("http://reg.lab:5000/ns/m:v1", "reg.lab:5000/ns/m:v1"),
    ],
)
def test_name_display_is_the_shortest_form(given, display):
    name = names.parse(given)
    assert name.is_valid()
    assert name.display() == display


@pytest.mark.parametrize("bad", ["bad name", "a/b/c/d", "model:", ":tag", "ns.dot/model", "reg.lab:5000/m", "x/y:t:u"])
def test_invalid_names(bad):
    assert not names.parse(bad).is_valid()


def test_names_match_case_insensitively(double):
    assert double.api("POST", "/api/pull", {"model": "tinyllama", "stream": False}).status == 200
    for alias in [
        "tinyllama",
        "TinyLlama:Latest",
        "registry.ollama.ai/library/tinyllama:latest",
        "REGISTRY.OLLAMA.AI/LIBRARY/TINYLLAMA",
    ]:
        shown = double.api("POST", "/api/show", {"model": alias})
        assert shown.status == 200, alias
    tags = double.api("GET", "/api/tags").json()["models"]
    assert [m["name"] for m in tags] == ["tinyllama:latest"]
    assert tags[0]["model"] == "tinyllama:latest"
    assert len(tags[0]["digest"]) == 64


# -- pull -------------------------------------------------------------------------------------------
def test_pull_stream_shape(double):
    resp = double.api("POST", "/api/pull", {"model": "tinyllama"})
    assert resp.status == 200
    assert resp.content_type == "application/x-ndjson"
    lines = resp.lines()
    assert lines[0] == {"status": "pulling manifest"}
    assert statuses(lines)[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    layers = [line for line in lines if line.get("digest")]
    assert layers, lines
    completed = {}
    for line in layers:
        digest = line["digest"]
        assert digest.startswith("sha256:") and len(digest) == 71
        assert line["status"] == f"pulling {digest[7:19]}"
        assert line.get("completed", 0) >= completed.get(digest, 0)
        assert line.get("completed", 0) <= line["total"]
        completed[digest] = line.get("completed", 0)
    assert all(completed[d] == next(x["total"] for x in layers if x["digest"] == d) for d in completed)
    assert not any("error" in line for line in lines)
    tags = double.api("GET", "/api/tags").json()["models"]
    assert tags[0]["size"] == sum(next(x["total"] for x in layers if x["digest"] == d) for d in completed)


def test_pull_not_streamed_returns_one_object(double):
    resp = double.api("POST", "/api/pull", {"model": "qwen2.5:0.5b", "stream": False})
    assert (resp.status, resp.json()) == (200, {"status": "success"})


def test_pull_missing_model(double):
    streamed = double.api("POST", "/api/pull", {"model": "no-such-model"})
    assert streamed.status == 200
    assert streamed.lines() == [{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}]
    single = double.api("POST", "/api/pull", {"model": "no-such-model", "stream": False})
    assert (single.status, single.json()) == (500, {"error": "pull model manifest: file does not exist"})


@pytest.mark.parametrize("bad", ["bad name", "", "a/b/c/d", "model:"])
def test_pull_invalid_name_is_400(double, bad):
    resp = double.api("POST", "/api/pull", {"model": bad})
    assert (resp.status, resp.json()) == (400, {"error": "invalid model name"})


def test_pull_accepts_insecure_and_old_name_field(double):
    resp = double.api("POST", "/api/pull", {"name": "tinyllama", "insecure": True, "stream": False})
    assert resp.status == 200
    insecure_scheme = double.api("POST", "/api/pull", {"model": "http://reg.lab:5000/ns/m:v1", "stream": False})
    assert (insecure_scheme.status, insecure_scheme.json()) == (500, {"error": "insecure protocol http"})


def test_pull_of_installed_model_still_contacts_registry(double):
    double.install("tinyllama")
    double.registry_offline()
    resp = double.api("POST", "/api/pull", {"model": "tinyllama", "stream": False})
    assert resp.status == 500
    assert resp.json()["error"].startswith("pull model manifest: Get ")
    assert double.counters()["registry_manifest_requests"] == {"tinyllama:latest": 1}


def test_interrupted_pull_resumes_from_the_partial_blob(double):
    size = double.control("GET", "catalog")["models"]["tinyllama:latest"]["size"]
    double.fault_pull_drop(after_bytes=100_000)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        double.api("POST", "/api/pull", {"model": "tinyllama"})
    state = double.state()
    assert list(state["partials"].values()) == [100_000]
    assert double.counters()["registry_bytes"] == {"tinyllama:latest": 100_000}
    assert state["installed"] == []

    lines = double.api("POST", "/api/pull", {"model": "tinyllama"}).lines()
    model_layer = [line for line in lines if line.get("total") == TINYLLAMA_BLOB]
    assert model_layer[0]["completed"] == 100_000  # resumed, not restarted
    assert statuses(lines)[-1] == "success"
    counters = double.counters()
    assert counters["registry_bytes"] == {"tinyllama:latest": size}  # only the remainder was fetched
    assert counters["pull_requests"] == 2
    assert double.state()["partials"] == {}


def test_client_disconnect_leaves_a_partial_blob(double):
    double.configure(pull_delay=0.005)
    with double.stream("/api/pull", {"model": "tinyllama"}) as events:
        for event in events:
            if event.get("completed", 0) >= 64 * 1024:
                break
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and double.state()["counters"]["registry_bytes_total"] < 64 * 1024:
        time.sleep(0.02)
    time.sleep(0.05)
    partial = sum(double.state()["partials"].values())
    assert 64 * 1024 <= partial < TINYLLAMA_BLOB
    double.configure(pull_delay=0)
    assert double.api("POST", "/api/pull", {"model": "tinyllama", "stream": False}).status == 200
    assert (
        double.counters()["registry_bytes_total"]
        == double.control("GET", "catalog")["models"]["tinyllama:latest"]["size"]
    )


def test_pull_error_mid_stream(double):
    double.fault_pull_error("simulated registry failure", after_bytes=40_000)
    lines = double.api("POST", "/api/pull", {"model": "tinyllama"}).lines()
    assert lines[-1] == {"error": "simulated registry failure"}
    assert lines[-2]["completed"] == 40_000
    double.fault_pull_error("simulated registry failure", after_bytes=40_000)
    single = double.api("POST", "/api/pull", {"model": "tinyllama", "stream": False})
    assert (single.status, single.json()) == (500, {"error": "simulated registry failure"})


def test_catalog_can_grow_at_run_time(double):
    added = double.add_catalog_model({"name": "reg.lab:5000/lab/tuned:v2", "family": "qwen2", "model_bytes": 4096})
    assert added["name"] == "reg.lab:5000/lab/tuned:v2"
    resp = double.api("POST", "/api/pull", {"model": "reg.lab:5000/lab/tuned:v2", "insecure": True, "stream": False})
    assert resp.status == 200
    assert double.api("GET", "/api/tags").json()["models"][0]["name"] == "reg.lab:5000/lab/tuned:v2"


# -- delete -----------------------------------------------------------------------------------------
def test_delete(double):
    double.install("tinyllama")
    deleted = double.api("DELETE", "/api/delete", {"model": "tinyllama"})
    assert (deleted.status, deleted.body) == (200, b"")
    again = double.api("DELETE", "/api/delete", {"model": "tinyllama"})
    assert (again.status, again.json()) == (404, {"error": "model 'tinyllama' not found"})
    assert double.api("GET", "/api/tags").json() == {"models": []}


# -- show -------------------------------------------------------------------------------------------
def test_show(double):
    double.install("llama3.2:1b")
    info = double.api("POST", "/api/show", {"name": "llama3.2:1b"}).json()
    assert info["details"]["family"] == "llama"
    assert info["model_info"]["llama.context_length"] == 131072
    assert info["capabilities"] == ["completion", "tools"]
    assert "template" in info and "modelfile" in info
    missing = double.api("POST", "/api/show", {"model": "tinyllama"})
    assert (missing.status, missing.json()) == (404, {"error": "model 'tinyllama:latest' not found"})


# -- chat / generate / keep_alive / ps --------------------------------------------------------------
def test_chat_stream_and_single(double):
    double.install("tinyllama")
    body = {"model": "tinyllama", "messages": [{"role": "user", "content": "Hello there"}]}
    resp = double.api("POST", "/api/chat", body)
    assert resp.content_type == "application/x-ndjson"
    lines = resp.lines()
    assert all(line["done"] is False for line in lines[:-1])
    final = lines[-1]
    assert final["done"] is True and final["done_reason"] == "stop"
    assert final["prompt_eval_count"] > 0 and final["eval_count"] == len(lines) - 1
    assert final["total_duration"] > 0
    text = "".join(line["message"]["content"] for line in lines)
    single = double.api("POST", "/api/chat", {**body, "stream": False}).json()
    assert single["message"] == {"role": "assistant", "content": text}
    assert "Hello there" in text
    limited = double.api("POST", "/api/chat", {**body, "stream": False, "options": {"num_predict": 3}}).json()
    assert (limited["done_reason"], limited["eval_count"]) == ("length", 3)


def test_inference_on_missing_model_is_404(double):
    for path, body in [
        ("/api/chat", {"model": "tinyllama", "messages": [{"role": "user", "content": "hi"}]}),
        ("/api/generate", {"model": "tinyllama", "prompt": "hi"}),
        ("/api/embed", {"model": "tinyllama", "input": "hi"}),
    ]:
        resp = double.api("POST", path, body)
        assert (resp.status, resp.json()) == (404, {"error": "model 'tinyllama' not found"}), path


def test_embedding_model_cannot_chat(double):
    double.install("bge-m3")
    resp = double.api("POST", "/api/chat", {"model": "bge-m3", "messages": [{"role": "user", "content": "hi"}]})
    assert (resp.status, resp.json()) == (400, {"error": '"bge-m3" does not support chat'})


def test_embed_shapes(double):
    double.install("bge-m3")
    one = double.api("POST", "/api/embed", {"model": "bge-m3", "input": "hello"}).json()
    assert len(one["embeddings"]) == 1 and len(one["embeddings"][0]) == 1024
    two = double.api("POST", "/api/embed", {"model": "bge-m3", "input": ["hello", "world"]}).json()
    assert len(two["embeddings"]) == 2
    assert two["embeddings"][0] == one["embeddings"][0]  # deterministic
    assert two["embeddings"][0] != two["embeddings"][1]
    assert abs(sum(v * v for v in one["embeddings"][0]) - 1.0) < 1e-3
    assert double.api("POST", "/api/embed", {"model": "bge-m3", "input": [1, 2]}).status == 400
    legacy = double.api("POST", "/api/embeddings", {"model": "bge-m3", "prompt": "hello"}).json()
    assert len(legacy["embedding"]) == 1024


@pytest.mark.parametrize("value", ["-1", "forever", "5", "10x"])
def test_keep_alive_strings_without_unit_are_400(double, value):
    double.install("tinyllama")
    resp = double.api("POST", "/api/generate", {"model": "tinyllama", "keep_alive": value})
    assert resp.status == 400
    assert resp.json()["error"].startswith("time: ")


def test_preload_keep_alive_and_unload(double):
    double.install("tinyllama")
    assert double.api("GET", "/api/ps").json() == {"models": []}
    preload = double.api("POST", "/api/generate", {"model": "tinyllama"}).json()
    assert (preload["done"], preload["done_reason"]) == (True, "load")
    running = double.api("GET", "/api/ps").json()["models"]
    assert [m["name"] for m in running] == ["tinyllama:latest"]
    default_expiry = running[0]["expires_at"]
    double.api("POST", "/api/generate", {"model": "tinyllama", "keep_alive": -1})
    forever = double.api("GET", "/api/ps").json()["models"][0]["expires_at"]
    assert forever > default_expiry and int(forever[:4]) > 2200
    double.api("POST", "/api/generate", {"model": "tinyllama", "keep_alive": "-1m"})
    assert int(double.api("GET", "/api/ps").json()["models"][0]["expires_at"][:4]) > 2200
    unload = double.api("POST", "/api/generate", {"model": "tinyllama", "keep_alive": 0}).json()
    assert unload["done_reason"] == "unload"
    assert double.api("GET", "/api/ps").json() == {"models": []}
    double.api(
        "POST", "/api/chat", {"model": "tinyllama", "messages": [{"role": "user", "content": "x"}], "keep_alive": 0}
    )
    assert double.api("GET", "/api/ps").json() == {"models": []}


def test_ps_size_vram_with_and_without_gpu(double):
    double.install("tinyllama")
    double.api("POST", "/api/generate", {"model": "tinyllama"})
    cpu = double.api("GET", "/api/ps").json()["models"][0]
    assert cpu["size"] > 0 and cpu["size_vram"] == 0
    double.api("POST", "/api/generate", {"model": "tinyllama", "keep_alive": 0})
    double.set_gpu(True)
    double.api("POST", "/api/generate", {"model": "tinyllama"})
    gpu = double.api("GET", "/api/ps").json()["models"][0]
    assert gpu["size_vram"] == gpu["size"] == cpu["size"]
    assert gpu["size"] == double.api("GET", "/api/tags").json()["models"][0]["size"]


# -- blobs / create ---------------------------------------------------------------------------------
def test_blob_upload_and_create_from_gguf(double):
    data = gguf.encode_header(
        {"general.architecture": "llama", "general.parameter_count": 7_000_000, "general.file_type": 7}
    )
    data += b"\0" * 1000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert double.api("HEAD", f"/api/blobs/{digest}").status == 404
    wrong = double.api("POST", "/api/blobs/sha256:" + "0" * 64, data)
    assert wrong.status == 400 and wrong.json()["error"].startswith("digest mismatch")
    assert double.api("POST", f"/api/blobs/{digest}", data).status == 201
    assert double.api("HEAD", f"/api/blobs/{digest}").status == 200
    assert double.api("HEAD", "/api/blobs/sha256:nothex").status == 400
    created = double.api("POST", "/api/create", {"model": "imported", "files": {"model.gguf": digest}})
    assert statuses(created.lines())[-1] == "success"
    tag = double.api("GET", "/api/tags").json()["models"][0]
    assert tag["name"] == "imported:latest"
    assert (tag["details"]["family"], tag["details"]["quantization_level"]) == ("llama", "Q8_0")
    chat = double.api(
        "POST", "/api/chat", {"model": "imported", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    )
    assert chat.status == 200


# -- request log / faults ---------------------------------------------------------------------------
def test_request_log(double):
    double.api("GET", "/api/tags")
    double.api("POST", "/api/show", {"name": "tinyllama"}, headers={"Authorization": "Bearer sk-x"})
    log = double.requests()
    assert [(r["method"], r["path"]) for r in log] == [("GET", "/api/tags"), ("POST", "/api/show")]
    assert log[0]["authorization"] is False and log[1]["authorization"] is True
    assert log[1]["body"] == {"name": "tinyllama"}
    assert log[1]["status"] == 404
    assert double.requests(path="/api/show")[0]["body"] == {"name": "tinyllama"}
    double.clear_requests()
    assert double.requests() == []


def test_api_fault_500_then_cleared(double):
    double.fault_api("500", message="boom")
    resp = double.api("GET", "/api/tags")
    assert (resp.status, resp.json()) == (500, {"error": "boom"})
    assert double.state()["faults"]["api"]["mode"] == "500"  # control stays reachable
    double.clear_faults()
    assert double.api("GET", "/api/tags").status == 200


def test_refuse_outage_answers_its_control_request_then_refuses_then_reopens(tmp_path):
    with OllamaDouble(tmp_path / "models") as double:
        for _ in range(10):  # the outage must never swallow the answer to the request that asked for it
            double.fault_api("refuse", seconds=0.5)
            deadline = time.time() + 5
            refused = False
            while time.time() < deadline and not refused:
                try:
                    double.api("GET", "/api/version", timeout=2)
                except ConnectionRefusedError:
                    refused = True
                except (ConnectionError, http.client.HTTPException):
                    pass  # accepted while the listener was closing, then dropped
            assert refused
            deadline = time.time() + 10
            while True:
                try:
                    assert double.api("GET", "/api/version", timeout=2).status == 200
                    break
                except (ConnectionError, http.client.HTTPException):
                    assert time.time() < deadline, "the listener did not reopen"
                    time.sleep(0.05)


def test_models_survive_a_restart(tmp_path):
    models = tmp_path / "models"
    with OllamaDouble(models) as first:
        first.api("POST", "/api/pull", {"model": "tinyllama", "stream": False})
    with OllamaDouble(models) as second:
        assert [m["name"] for m in second.api("GET", "/api/tags").json()["models"]] == ["tinyllama:latest"]
    assert (models / "manifests" / "registry.ollama.ai" / "library" / "tinyllama" / "latest").is_file()


# -- the ollama CLI stand-in ------------------------------------------------------------------------
def run_cli(*args, host):
    env = dict(os.environ, OLLAMA_HOST=host, PYTHONPATH=str(TESTS))
    return subprocess.run(
        [sys.executable, "-m", "ollama_double", *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_cli_list_and_version(double):
    double.install("tinyllama")
    listed = run_cli("list", host=double.ollama_host)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split()[:4] == ["NAME", "ID", "SIZE", "MODIFIED"]
    assert "tinyllama:latest" in listed.stdout
    assert run_cli("--version", host=double.ollama_host).returncode == 0


def test_cli_list_fails_when_server_is_down():
    host = f"127.0.0.1:{free_port()}"
    down = run_cli("list", host=host)
    assert down.returncode == 1
    assert "could not connect to ollama server" in down.stderr
    version = run_cli("--version", host=host)
    assert version.returncode == 0  # like the real CLI: useless as a healthcheck
    assert "could not connect" in version.stdout


def test_json_escaping_matches_go(double):
    double.install("tinyllama")
    raw = double.api("POST", "/api/show", {"model": "tinyllama"}).body
    assert b"\\u003c|system|\\u003e" in raw
    assert json.loads(raw)["template"].startswith("<|system|>")


def test_long_answer_option_streams_that_many_chunks_and_num_predict_still_cuts_it(double):
    double.install("tinyllama")
    double.configure(answer_tokens=300)
    body = {"model": "tinyllama", "messages": [{"role": "user", "content": "Tell me a long story"}]}
    lines = double.api("POST", "/api/chat", body).lines()
    assert len(lines) == 301 and lines[-1]["done_reason"] == "stop" and lines[-1]["eval_count"] == 300
    text = "".join(line["message"]["content"] for line in lines)
    assert text.startswith("Hello from tinyllama") and text.endswith(" word299")
    single = double.api("POST", "/api/chat", {**body, "stream": False}).json()
    assert single["message"]["content"] == text
    generated = double.api("POST", "/api/generate", {"model": "tinyllama", "prompt": "go", "stream": False}).json()
    assert generated["eval_count"] == 300
    cut = double.api("POST", "/api/chat", {**body, "stream": False, "options": {"num_predict": 40}}).json()
    assert (cut["done_reason"], cut["eval_count"]) == ("length", 40)
    structured = double.api("POST", "/api/chat", {**body, "stream": False, "format": "json"}).json()
    assert json.loads(structured["message"]["content"])["model"]
    assert double.control("GET", "state")["answer_tokens"] == 300


def test_the_server_sends_without_waiting_for_acks_like_go():
    # Go sets TCP_NODELAY on every connection; without it a keep-alive client waits 40 ms per answer.
    assert Handler.disable_nagle_algorithm is True
