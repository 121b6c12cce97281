"""Air-gapped labs, run by ansible-playbook on localhost against the Ollama double.

- ollama_model `src`: a GGUF file on the managed host imported through /api/blobs + /api/create,
  idempotent by the file's SHA-256 (blob traffic counted in the double's request log).
"""

import hashlib
import os

import pytest
from ollama_double import gguf  # tests/ is on sys.path (conftest)


def write_gguf(path, *, seed, architecture="llama", size=300_000):
    """A small valid GGUF file (header + padding); `seed` makes its bytes, and so its digest, differ."""
    header = gguf.encode_header(
        {
            "general.architecture": architecture,
            "general.name": f"airgap-test-{seed}",
            f"{architecture}.context_length": 4096,
            "general.parameter_count": 1_000_000,
        }
    )
    path.write_bytes(header + hashlib.sha256(seed.encode()).digest() * (size // 32))
    return path


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def blob_requests(double, method=""):
    return [r for r in double.requests(method=method) if r["path"].startswith("/api/blobs/")]


def creates(double):
    return double.requests(path="/api/create", method="POST")


def shown_blob(double, model):
    modelfile = double.api("POST", "/api/show", {"model": model}).json()["modelfile"]
    (line,) = [line for line in modelfile.splitlines() if line.startswith("FROM ")]
    return line.rsplit("sha256-", 1)[1]


# -- ollama_model src ---------------------------------------------------------------------------------


def test_src_check_real_then_idempotent_with_zero_blob_traffic(run_playbook, ollama, tmp_path):
    src = write_gguf(tmp_path / "coder-q4.gguf", seed="one")
    extra = {"ollama_url": ollama.url, "model": "lab/coder:q4", "src": str(src)}

    first = run_playbook("ollama_model_import", extra_vars=extra)
    check, real = first.result("Import the GGUF file (check mode)"), first.result("Import the GGUF file")
    assert check["changed"]
    assert real["changed"]
    assert real["imported"]
    assert real["name"] == "lab/coder:q4"
    assert real["src_digest"] == sha256(src)
    assert real["previous_blob_digest"] is None
    assert real["bytes_uploaded"] == src.stat().st_size
    # One upload and one create in all: check mode sent neither.
    (upload,) = blob_requests(ollama, "POST")
    assert upload["body_bytes"] == src.stat().st_size
    assert upload["path"] == f"/api/blobs/sha256:{sha256(src)}"
    (create,) = creates(ollama)
    assert create["body"]["files"] == {"coder-q4.gguf": f"sha256:{sha256(src)}"}
    assert create["body"]["model"] == "lab/coder:q4"
    assert shown_blob(ollama, "lab/coder:q4") == sha256(src)
    assert [m["name"] for m in ollama.api("GET", "/api/tags").json()["models"]] == ["lab/coder:q4"]

    ollama.clear_requests()
    again = run_playbook("ollama_model_import", extra_vars=extra)
    again_check, again_real = again.result("Import the GGUF file (check mode)"), again.result("Import the GGUF file")
    assert not again_check["changed"]
    assert not again_real["changed"]
    assert not again_real["imported"]
    assert again_real["bytes_uploaded"] == 0
    assert again_real["previous_blob_digest"] == sha256(src)
    assert again_real["digest"] == real["digest"]
    assert blob_requests(ollama) == [], "an idempotent run must not even ask about the blob"
    assert creates(ollama) == []


def test_a_changed_file_recreates_the_model(run_playbook, ollama, tmp_path):
    src = write_gguf(tmp_path / "model.gguf", seed="v1")
    extra = {"ollama_url": ollama.url, "model": "lab/tuned", "src": str(src)}
    first = run_playbook("ollama_model_import_one", extra_vars=extra).result("Run ollama_model with src")
    old_digest = sha256(src)

    write_gguf(src, seed="v2")
    ollama.clear_requests()
    second = run_playbook("ollama_model_import_one", extra_vars=extra).result("Run ollama_model with src")
    assert second["changed"]
    assert second["imported"]
    assert second["previous_blob_digest"] == old_digest
    assert second["src_digest"] == sha256(src) != old_digest
    assert second["digest"] != first["digest"]
    assert second["bytes_uploaded"] == src.stat().st_size
    assert len(blob_requests(ollama, "POST")) == 1
    assert shown_blob(ollama, "lab/tuned") == sha256(src)
    assert [m["name"] for m in ollama.api("GET", "/api/tags").json()["models"]] == ["lab/tuned:latest"]


def test_a_file_ollama_already_stores_is_not_uploaded_again(run_playbook, ollama, tmp_path):
    src = write_gguf(tmp_path / "shared.gguf", seed="shared")
    run_playbook("ollama_model_import_one", extra_vars={"ollama_url": ollama.url, "model": "lab/a", "src": str(src)})
    ollama.clear_requests()
    other = run_playbook(
        "ollama_model_import_one", extra_vars={"ollama_url": ollama.url, "model": "lab/b", "src": str(src)}
    ).result("Run ollama_model with src")
    assert other["changed"]
    assert other["imported"]
    assert other["bytes_uploaded"] == 0
    assert [r["method"] for r in blob_requests(ollama)] == ["HEAD"]
    assert len(creates(ollama)) == 1


def test_a_pulled_model_of_the_same_name_is_replaced_by_the_file(run_playbook, ollama, tmp_path):
    ollama.install("tinyllama")
    pulled = ollama.api("GET", "/api/tags").json()["models"][0]["digest"]
    src = write_gguf(tmp_path / "tinyllama-lab.gguf", seed="lab build")
    outcome = run_playbook(
        "ollama_model_import_one", extra_vars={"ollama_url": ollama.url, "model": "TinyLlama", "src": str(src)}
    ).result("Run ollama_model with src")
    assert outcome["changed"]
    assert outcome["previous_blob_digest"] is not None
    assert outcome["previous_blob_digest"] != sha256(src)
    assert outcome["digest"] != pulled
    assert shown_blob(ollama, "tinyllama") == sha256(src)
    assert ollama.requests(path="/api/pull") == []


@pytest.mark.parametrize(
    "case",
    [
        ("broken.gguf", b"this is not a model, it is a text file\n" * 100, "supplied file was not in GGUF format"),
        ("weights.bin", os.urandom(50_000), "unknown type"),
    ],
    ids=["gguf-name-not-gguf", "no-extension-not-gguf"],
)
def test_a_file_ollama_refuses_fails_with_ollamas_words(run_playbook, ollama, tmp_path, case):
    file_name, content, words = case
    src = tmp_path / file_name
    src.write_bytes(content)
    run = run_playbook(
        "ollama_model_import_one",
        extra_vars={"ollama_url": ollama.url, "model": "lab/broken", "src": str(src)},
        expect_rc=2,
    )
    outcome = run.result("Run ollama_model with src")
    assert outcome["failed"]
    assert words in outcome["msg"]
    assert str(src) in outcome["msg"]
    assert not outcome["imported"]
    assert ollama.api("GET", "/api/tags").json()["models"] == []


def raw(text):
    """A Go template as a playbook passes it: kept away from Jinja."""
    return "{% raw %}" + text + "{% endraw %}"


def test_a_changed_template_recreates_without_uploading(run_playbook, ollama, tmp_path):
    src = write_gguf(tmp_path / "chat.gguf", seed="chat")
    extra = {"ollama_url": ollama.url, "model": "lab/chat", "src": str(src), "template": raw("{{ .Prompt }}")}
    run_playbook("ollama_model_import", extra_vars=extra)
    assert ollama.api("POST", "/api/show", {"model": "lab/chat"}).json()["template"] == "{{ .Prompt }}"

    ollama.clear_requests()
    same = run_playbook("ollama_model_import_one", extra_vars=extra).result("Run ollama_model with src")
    assert not same["changed"]
    assert creates(ollama) == []

    template = "<|user|>{{ .Prompt }}<|assistant|>"
    extra["template"] = raw(template)
    ollama.clear_requests()
    changed = run_playbook("ollama_model_import_one", extra_vars=extra).result("Run ollama_model with src")
    assert changed["changed"]
    assert changed["bytes_uploaded"] == 0
    assert [r["method"] for r in blob_requests(ollama)] == ["HEAD"]
    (create,) = creates(ollama)
    assert create["body"]["template"] == template
    assert ollama.api("POST", "/api/show", {"model": "lab/chat"}).json()["template"] == template


def test_diff_shows_the_model_list_and_the_weights_blob(run_playbook, ollama, tmp_path):
    ollama.install("bge-m3")
    src = write_gguf(tmp_path / "m.gguf", seed="diff")
    run = run_playbook(
        "ollama_model_import_one",
        extra_vars={"ollama_url": ollama.url, "model": "lab/m", "src": str(src), "in_check_mode": True},
        diff=True,
    )
    outcome = run.result("Run ollama_model with src")
    assert outcome["changed"]
    assert outcome["diff"]["before"] == {"models": ["bge-m3:latest"], "model_blob": None}
    assert outcome["diff"]["after"] == {"models": ["bge-m3:latest", "lab/m:latest"], "model_blob": sha256(src)}
    assert blob_requests(ollama) == []
    assert creates(ollama) == []
