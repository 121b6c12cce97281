"""Air-gapped labs, run by ansible-playbook on localhost against the Ollama double.

- ollama_model `src`: a GGUF file on the managed host imported through /api/blobs + /api/create,
  idempotent by the file's SHA-256 (blob traffic counted in the double's request log).
- ollama_models role: GGUF files from the controller (ollama_models_gguf); seeding a running Ollama
  container (the local/ollama-double image, with the compose labels the stack's container has, and a
  named volume) from a controller cache of a models directory that playbooks/models-cache.yml fills.
- litellm_stack images step: `docker save` archives loaded only when their tags are missing, on this
  machine's Docker engine, with a throwaway image.

Role targets run a check-mode play, then a real play; a second run of the same target must change nothing.
"""

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from ollama_double import VERSION as DOUBLE_VERSION  # tests/ is on sys.path (conftest)
from ollama_double import gguf
from ollama_double.testing import OllamaDouble

OLLAMA_IMAGE = os.environ.get("LLMSTACK_OLLAMA_DOUBLE_IMAGE", f"local/ollama-double:{DOUBLE_VERSION}")
# The role runs as root here already; there is no sudo on the test machines.
ROLE_VARS = {"llmstack_gpu_tier": "cpu", "ansible_become": False}


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


# -- helpers for role runs ----------------------------------------------------------------------------


def run_ok(run_playbook, name, **kwargs):
    """Run a target that must succeed; on failure, say which tasks failed and why."""
    run = run_playbook(name, expect_rc=None, **kwargs)
    if run.rc != 0:
        failed = [
            f"{task['task']['name']}: {result.get('msg')}"
            + "".join(f"\n    {item.get('msg')}" for item in result.get("results", []) if item.get("failed"))
            for play in run.data.get("plays", [])
            for task in play["tasks"]
            for result in task["hosts"].values()
            if result.get("failed")
        ]
        raise AssertionError(f"{name} exited {run.rc}:\n" + "\n".join(failed) + f"\n{run.stderr[-2000:]}")
    return run


def changes(run):
    """Names of the tasks that reported a change (role prefixes dropped)."""
    return [
        task["task"]["name"].split(" : ", 1)[-1]
        for play in run.data["plays"]
        for task in play["tasks"]
        if task["hosts"].get("localhost", {}).get("changed")
    ]


def tree(root):
    """{relative path: bytes} of every file under root."""
    root = Path(root)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def models(double):
    return sorted(m["name"] for m in double.api("GET", "/api/tags").json()["models"])


# -- ollama_models role: GGUF files ---------------------------------------------------------------------


def test_role_imports_gguf_files_never_pulls_or_prunes_them_and_converges(run_playbook, ollama, tmp_path):
    (tmp_path / "controller").mkdir()
    controller_file = write_gguf(tmp_path / "controller" / "tinyllama-lab.gguf", seed="controller", size=200_000)
    host_file = write_gguf(tmp_path / "notes.gguf", seed="on the host", size=100_000)
    cache = tmp_path / "gguf-cache"
    ollama.install("qwen2.5:0.5b")  # named by no list: pruned
    ollama.registry_offline()  # an air-gapped lab: any pull would fail
    extra = {
        **ROLE_VARS,
        "ollama_models_api_url": ollama.url,
        "ollama_models_list": ["tinyllama"],
        "ollama_models_preload": [],
        "ollama_models_prune": True,
        "ollama_models_gguf_cache_dir": str(cache),
        "ollama_models_gguf": [
            {"name": "tinyllama", "src": str(controller_file)},
            {"name": "lab/notes", "src": str(host_file), "remote_src": True},
        ],
    }
    check = run_ok(run_playbook, "ollama_models_import_role", extra_vars=extra, check=True)
    assert "Copy the controller's GGUF files to the host (only when they differ)" in changes(check)
    # The file already on the host is hashed and compared; the one still to be copied is not looked at.
    imports = check.result(
        "llmstack.gateway.ollama_models : Import the GGUF files into Ollama "
        "(nothing is sent for a model already made from its file)"
    )["results"]
    assert [r.get("skipped", False) for r in imports] == [True, False]
    assert imports[1]["changed"]
    assert not cache.exists()
    assert models(ollama) == ["qwen2.5:0.5b"]
    assert blob_requests(ollama) == []
    assert creates(ollama) == []

    real = run_ok(run_playbook, "ollama_models_import_role", extra_vars=extra)
    assert models(ollama) == ["lab/notes:latest", "tinyllama:latest"]
    copied = cache / "tinyllama_latest" / "tinyllama-lab.gguf"
    assert copied.read_bytes() == controller_file.read_bytes()
    assert copied.stat().st_mode & 0o777 == 0o640
    assert cache.stat().st_mode & 0o777 == 0o750
    assert shown_blob(ollama, "tinyllama") == sha256(controller_file)
    assert shown_blob(ollama, "lab/notes") == sha256(host_file)
    assert ollama.requests(path="/api/pull") == []
    assert len(blob_requests(ollama, "POST")) == 2
    published = real.result(
        "llmstack.gateway.ollama_models : Publish which models Ollama now has (for reports and later plays)"
    )
    assert published["ansible_facts"]["ollama_models_present"] == ["lab/notes:latest", "tinyllama:latest"]

    ollama.clear_requests()
    again = run_ok(run_playbook, "ollama_models_import_role", extra_vars=extra)
    assert changes(again) == []
    assert blob_requests(ollama) == []
    assert creates(ollama) == []
    assert ollama.requests(path="/api/pull") == []
    assert ollama.requests(path="/api/delete") == []


# -- playbooks/models-cache.yml ---------------------------------------------------------------------------


def cache_vars(source_dir, cache, staging, wanted):
    return {
        **ROLE_VARS,
        "llmstack_models_cache_source": "localhost",
        "ollama_models_seed_dir": str(cache),
        "ollama_models_cache_models": wanted,
        "ollama_models_models_dir": str(source_dir),
        "ollama_models_cache_staging_dir": str(staging),
    }


def test_models_cache_copies_manifests_and_blobs_byte_for_byte_once(run_playbook, tmp_path):
    cache, staging = tmp_path / "cache", tmp_path / "staging"
    with OllamaDouble(tmp_path / "source") as source:
        source.install("bge-m3")
        source.install("tinyllama")  # on the source, not asked for: not copied
        extra = cache_vars(tmp_path / "source", cache, staging, ["BGE-M3"])

        check = run_ok(run_playbook, "ollama_models_import_cache", extra_vars=extra, check=True)
        assert "Report what check mode would fetch (ansible.builtin.fetch does not run in check mode)" in changes(check)
        assert not cache.exists()

        run_ok(run_playbook, "ollama_models_import_cache", extra_vars=extra)
        manifest = json.loads((cache / "manifests/registry.ollama.ai/library/bge-m3/latest").read_text())
        digests = [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]
        expected = {"manifests/registry.ollama.ai/library/bge-m3/latest"} | {
            "blobs/" + d.replace(":", "-") for d in digests
        }
        source_files = tree(tmp_path / "source")
        cached = tree(cache)
        assert set(cached) == expected
        assert all(cached[path] == source_files[path] for path in cached)
        assert not staging.exists()
        assert list((cache / ".incoming").iterdir()) == []

        again = run_ok(run_playbook, "ollama_models_import_cache", extra_vars=extra)
        assert changes(again) == []
        again_check = run_ok(run_playbook, "ollama_models_import_cache", extra_vars=extra, check=True)
        assert changes(again_check) == []

        # A blob lost from the cache is fetched again, and only that one.
        model_blob = "blobs/" + manifest["layers"][0]["digest"].replace(":", "-")
        (cache / model_blob).unlink()
        refill = run_ok(run_playbook, "ollama_models_import_cache", extra_vars=extra)
        moved = [name for name in changes(refill) if name.startswith("Move the complete blob into the cache")]
        assert moved == [f"Move the complete blob into the cache ({model_blob.split('/')[1]})"]
        assert tree(cache) == cached


def test_models_cache_fails_naming_a_model_the_source_lacks(run_playbook, tmp_path):
    with OllamaDouble(tmp_path / "source") as source:
        source.install("bge-m3")
        extra = cache_vars(tmp_path / "source", tmp_path / "cache", tmp_path / "staging", ["bge-m3", "gpt-oss:20b"])
        run = run_playbook("ollama_models_import_cache", extra_vars=extra, expect_rc=2)
    (failure,) = [
        r for r in run.results("llmstack.gateway.ollama_models : Fail when the source host lacks a model to cache")
    ]
    assert "gpt-oss:20b" in failure["msg"]
    assert "bge-m3" not in failure["msg"].split("does not have", 1)[1].split("(", 1)[0]
    assert not (tmp_path / "cache" / "blobs").exists()


def seed_cache(source_dir, cache, manifest):
    """A seed cache as models-cache.yml writes it (see its test): one manifest and the blobs it names."""
    source_dir, cache = Path(source_dir), Path(cache)
    data = json.loads((source_dir / "manifests" / manifest).read_text())
    (cache / "blobs").mkdir(parents=True, exist_ok=True)
    for digest in [data["config"]["digest"]] + [layer["digest"] for layer in data["layers"]]:
        name = digest.replace(":", "-")
        shutil.copyfile(source_dir / "blobs" / name, cache / "blobs" / name)
    (cache / "manifests" / manifest).parent.mkdir(parents=True)
    shutil.copyfile(source_dir / "manifests" / manifest, cache / "manifests" / manifest)


# -- ollama_models role: seeding a running Ollama container from the cache --------------------------------


def docker(*args, check=True):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


class OllamaContainer:
    """The stand-in ollama/ollama image, labelled like the stack's compose service, on a named volume."""

    def __init__(self):
        self.project = f"llmstack-airgap-{secrets.token_hex(3)}"
        self.volume = self.project + "-ollama"
        self.name = self.project + "-ollama-1"
        docker(
            "run", "--detach", "--name", self.name,
            "--label", f"com.docker.compose.project={self.project}",
            "--label", "com.docker.compose.service=ollama",
            "--volume", f"{self.volume}:/root/.ollama",
            "--publish", "127.0.0.1::11434",
            OLLAMA_IMAGE,
        )  # fmt: skip
        port = docker("port", self.name, "11434/tcp").stdout.split()[0].rsplit(":", 1)[1]
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                self.api("GET", "/api/version")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        mountpoint = json.loads(docker("volume", "inspect", self.volume).stdout)[0]["Mountpoint"]
        self.models_dir = Path(mountpoint) / "models"

    def api(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw.strip() else None

    def models(self):
        return sorted(m["name"] for m in self.api("GET", "/api/tags")["models"])

    def requests(self, path):
        return self.api("GET", f"/_double/requests?path={path}")["requests"]

    def remove(self):
        docker("rm", "--force", "--volumes", self.name, check=False)
        docker("volume", "rm", "--force", self.volume, check=False)


@pytest.fixture
def ollama_container():
    if docker("image", "inspect", OLLAMA_IMAGE, check=False).returncode != 0:
        pytest.fail(f"the {OLLAMA_IMAGE} image is missing: run make bed (make integration does)")
    container = OllamaContainer()
    try:
        yield container
    finally:
        container.remove()


def test_seed_copies_only_the_missing_models_into_the_running_container(run_playbook, ollama_container, tmp_path):
    cache = tmp_path / "cache"
    with OllamaDouble(tmp_path / "source") as source:
        source.install("bge-m3")
    seed_cache(tmp_path / "source", cache, "registry.ollama.ai/library/bge-m3/latest")
    ollama_container.api("POST", "/_double/install", {"model": "tinyllama"})
    ollama_container.api("POST", "/_double/fault/registry-offline", {"offline": True})
    installed = tree(ollama_container.models_dir)
    extra = {
        **ROLE_VARS,
        "ollama_models_api_url": ollama_container.url,
        "ollama_models_list": ["tinyllama", "bge-m3"],
        "ollama_models_preload": [],
        "ollama_models_seed_dir": str(cache),
        "ollama_models_compose_project": ollama_container.project,
    }

    check = run_ok(run_playbook, "ollama_models_import_role", extra_vars=extra, check=True)
    assert "Copy the manifests of the models to seed (after their blobs)" in changes(check)
    assert ollama_container.models() == ["tinyllama:latest"]
    assert tree(ollama_container.models_dir) == installed

    real = run_ok(run_playbook, "ollama_models_import_role", extra_vars=extra)
    assert "Copy the blobs Ollama lacks into its models directory (blobs it has are kept)" in changes(real)
    assert ollama_container.models() == ["bge-m3:latest", "tinyllama:latest"]
    seeded = tree(ollama_container.models_dir)
    cached = tree(cache)
    assert {path: seeded[path] for path in cached} == cached  # byte for byte
    assert {path: seeded[path] for path in installed} == installed  # the rest untouched
    assert ollama_container.requests("/api/pull") == []  # seeded, not pulled (the registry is offline)
    published = real.result(
        "llmstack.gateway.ollama_models : Publish which models Ollama now has (for reports and later plays)"
    )
    assert published["ansible_facts"]["ollama_models_present"] == ["bge-m3:latest", "tinyllama:latest"]
    # Ollama can use the seeded model.
    embedded = ollama_container.api("POST", "/api/embed", {"model": "bge-m3", "input": "air gap"})
    assert len(embedded["embeddings"][0]) == 1024

    for in_check_mode in (True, False):
        again = run_ok(run_playbook, "ollama_models_import_role", extra_vars=extra, check=in_check_mode)
        assert changes(again) == []
        assert again.result("llmstack.gateway.ollama_models : Find the running Ollama container of the stack")[
            "skipped"
        ], "a converged host must not even look for the models directory"
    assert tree(ollama_container.models_dir) == seeded
    assert ollama_container.requests("/api/pull") == []


def test_seed_fails_before_copying_when_the_cache_lacks_a_blob(run_playbook, ollama, tmp_path):
    cache = tmp_path / "cache"
    with OllamaDouble(tmp_path / "source") as source:
        source.install("bge-m3")
    seed_cache(tmp_path / "source", cache, "registry.ollama.ai/library/bge-m3/latest")
    manifest = json.loads((cache / "manifests/registry.ollama.ai/library/bge-m3/latest").read_text())
    lost = manifest["layers"][0]["digest"].replace(":", "-")
    (cache / "blobs" / lost).unlink()
    extra = {
        **ROLE_VARS,
        "ollama_models_api_url": ollama.url,
        "ollama_models_list": ["bge-m3"],
        "ollama_models_preload": [],
        "ollama_models_seed_dir": str(cache),
        "ollama_models_models_dir": str(tmp_path / "ollama-models"),
    }
    run = run_playbook("ollama_models_import_role", extra_vars=extra, expect_rc=2)
    failure = run.result("llmstack.gateway.ollama_models : Fail early when the cache lacks a blob of a model to seed")
    assert lost in failure["msg"]
    assert changes(run) == []
    assert models(ollama) == []


# -- litellm_stack: image archives -------------------------------------------------------------------------


@pytest.fixture
def image_archive(tmp_path):
    """A `docker save` archive of a throwaway 1-file image, which is then removed from the engine."""
    tag = f"llmstack-airgap-test/tiny:{secrets.token_hex(4)}"
    root = tmp_path / "rootfs"
    root.mkdir()
    (root / "hello.txt").write_text("air gap\n")
    tarball = subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True, check=True).stdout
    subprocess.run(["docker", "import", "-", tag], input=tarball, capture_output=True, check=True, timeout=120)
    archive = tmp_path / "controller" / "tiny.tar"
    archive.parent.mkdir()
    docker("save", "--output", str(archive), tag)
    docker("image", "rm", tag)
    try:
        yield tag, archive
    finally:
        docker("image", "rm", "--force", tag, check=False)


def test_image_archives_are_loaded_only_when_their_tags_are_missing(run_playbook, image_archive, tmp_path):
    tag, archive = image_archive
    cache = tmp_path / "image-cache"
    extra = {
        **ROLE_VARS,
        "litellm_stack_image_archives": [str(archive)],
        "litellm_stack_image_cache_dir": str(cache),
    }

    def on_host():
        return docker("image", "inspect", tag, check=False).returncode == 0

    check = run_ok(run_playbook, "ollama_stack_images_import", extra_vars=extra, check=True)
    assert "Report the images check mode would load (the command does not run in check mode)" in changes(check)
    assert not on_host()
    assert not cache.exists()

    real = run_ok(run_playbook, "ollama_stack_images_import", extra_vars=extra)
    assert "Load the missing images into Docker" in changes(real)
    assert on_host()
    assert (cache / "tiny.tar").read_bytes() == archive.read_bytes()
    assert cache.stat().st_mode & 0o777 == 0o700
    assert (cache / "tiny.tar").stat().st_mode & 0o777 == 0o600

    # The image is there: nothing is copied (even when the cached copy was deleted) nor loaded.
    (cache / "tiny.tar").unlink()
    for in_check_mode in (True, False):
        again = run_ok(run_playbook, "ollama_stack_images_import", extra_vars=extra, check=in_check_mode)
        assert changes(again) == []
    assert not (cache / "tiny.tar").exists()


def test_an_image_archive_the_controller_lacks_fails_before_anything(run_playbook, tmp_path):
    missing = tmp_path / "nope.tar"
    run = run_playbook(
        "ollama_stack_images_import",
        extra_vars={
            **ROLE_VARS,
            "litellm_stack_image_archives": [str(missing)],
            "litellm_stack_image_cache_dir": str(tmp_path / "c"),
        },
        expect_rc=2,
    )
    failure = run.result("llmstack.gateway.litellm_stack : Fail early on an image archive the controller does not have")
    assert str(missing) in failure["msg"]
    assert changes(run) == []
