"""ollama_model and ollama_model_info run by ansible-playbook against the Ollama API double."""

import pytest


def pulls(double):
    return double.requests(path="/api/pull", method="POST")


def test_present_check_real_idempotent_and_zero_pulls_on_a_second_run(run_playbook, ollama):
    run_playbook(
        "ollama_model_present",
        extra_vars={"ollama_url": ollama.url, "model": "tinyllama", "model_other_spelling": "TinyLlama:latest"},
    )
    # Only the real install pulled; check mode and the idempotent steps sent no pull at all.
    assert len(pulls(ollama)) == 1
    ollama.clear_requests()

    second = run_playbook("ollama_model_converged", extra_vars={"ollama_url": ollama.url, "model": "tinyllama"})
    assert second.stats["changed"] == 0
    assert pulls(ollama) == []
    assert [r["path"] for r in ollama.requests()] == ["/api/tags"]


def test_names_are_matched_the_way_ollama_matches_them(run_playbook, ollama):
    ollama.install("tinyllama")
    run = run_playbook(
        "ollama_model_converged",
        extra_vars={"ollama_url": ollama.url, "model": "registry.ollama.ai/library/TINYLLAMA"},
    )
    assert not run.result("Ensure the model is present")["changed"]
    assert run.result("Ensure the model is present")["name"] == "tinyllama:latest"
    assert pulls(ollama) == []


def test_a_different_tag_is_a_different_model(run_playbook, ollama):
    # The seed decided "installed" by a name prefix, so gpt-oss:120b passed for gpt-oss:20b.
    ollama.install("gpt-oss:120b")
    run = run_playbook("ollama_model_converged", extra_vars={"ollama_url": ollama.url, "model": "gpt-oss:20b"})
    assert run.result("Ensure the model is present")["changed"]
    assert len(pulls(ollama)) == 1


def test_absent_check_real_idempotent(run_playbook, ollama):
    ollama.install("qwen2.5:0.5b")
    run_playbook("ollama_model_absent", extra_vars={"ollama_url": ollama.url, "model": "qwen2.5:0.5b"})
    assert ollama.api("GET", "/api/tags").json()["models"] == []
    assert len(ollama.requests(path="/api/delete")) == 1


def test_latest_changes_only_when_the_digest_changes(run_playbook, ollama):
    extra = {"ollama_url": ollama.url, "model": "llama3.2:1b"}
    first = run_playbook("ollama_model_latest", extra_vars=extra)
    assert first.result("Follow the registry's newest build (check mode)")["changed"]
    installed = first.result("Follow the registry's newest build")
    assert installed["changed"]
    assert installed["previous_digest"] is None

    same = run_playbook("ollama_model_latest", extra_vars=extra)
    unchanged = same.result("Follow the registry's newest build")
    assert not unchanged["changed"]
    assert unchanged["pulled"]
    assert unchanged["digest"] == installed["digest"]
    check = same.result("Follow the registry's newest build (check mode)")
    assert not check["changed"]
    assert any("cannot tell" in str(w) for w in check.get("warnings", []))

    # The registry publishes a new build of the same tag.
    entry = ollama.control("GET", "catalog")["models"]["llama3.2:1b"]
    ollama.add_catalog_model({"name": "llama3.2:1b", "family": entry.get("family", "llama"), "revision": "2"})
    updated = run_playbook("ollama_model_latest", extra_vars=extra).result("Follow the registry's newest build")
    assert updated["changed"]
    assert updated["previous_digest"] == installed["digest"]
    assert updated["digest"] != installed["digest"]


def test_a_model_the_registry_lacks_fails_with_ollamas_words(run_playbook, ollama):
    run = run_playbook(
        "ollama_model_one", extra_vars={"ollama_url": ollama.url, "model": "no-such-model:7b"}, expect_rc=2
    )
    outcome = run.result("Run ollama_model")
    assert outcome["failed"]
    assert "pull model manifest: file does not exist" in outcome["msg"]
    assert outcome["attempts"] == 1, "a registry error must not be retried"


def test_a_dropped_pull_is_retried_and_resumed_not_restarted(run_playbook, ollama):
    size = ollama.control("GET", "catalog")["models"]["qwen2.5:0.5b"]
    ollama.fault_pull_drop(after_bytes=300_000)
    run = run_playbook("ollama_model_one", extra_vars={"ollama_url": ollama.url, "model": "qwen2.5:0.5b"})
    outcome = run.result("Run ollama_model")
    assert outcome["changed"]
    assert outcome["attempts"] == 2
    assert any("retrying" in str(w) for w in outcome.get("warnings", []))
    counters = ollama.counters()
    # The registry sent every byte once: the second attempt fetched only what the first had not.
    registry_bytes = sum(counters["registry_bytes"].values())
    assert registry_bytes == size["size"], (registry_bytes, size["size"])
    assert outcome["bytes_pulled"] == size["size"]
    assert len(pulls(ollama)) == 2


def test_ollama_down_fails_with_a_message_saying_what_to_check_and_a_rerun_recovers(run_playbook, ollama):
    # Long enough to outlast a slow ansible-playbook start on a loaded machine; the fixture stops the double.
    ollama.fault_api("refuse", seconds=300)
    run = run_playbook(
        "ollama_model_one",
        extra_vars={"ollama_url": ollama.url, "model": "tinyllama", "timeout": 5},
        expect_rc=2,
    )
    message = run.result("Run ollama_model")["msg"]
    # Refused or timed out, depending on how the listener went away: both name the server and what to check.
    assert f"Ollama at {ollama.url}" in message
    assert "Check that it is running" in message

    # Ollama is back: the same run now succeeds and pulls the model.
    ollama.end_outage()
    run_playbook("ollama_model_one", extra_vars={"ollama_url": ollama.url, "model": "tinyllama", "timeout": 5})
    assert [m["name"] for m in ollama.api("GET", "/api/tags").json()["models"]] == ["tinyllama:latest"]


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"model": "bad name!"}, "not a valid Ollama model name"),
        ({"model": "tinyllama", "keep_alive": "forever"}, "keep_alive"),
    ],
)
def test_bad_options_fail_before_any_request(run_playbook, ollama, options, words):
    run = run_playbook("ollama_model_one", extra_vars={"ollama_url": ollama.url, **options}, expect_rc=2)
    assert words in run.result("Run ollama_model")["msg"]
    assert ollama.requests() == []


def test_preload_loads_once_and_then_reports_no_change(run_playbook, ollama):
    extra = {"ollama_url": ollama.url, "model": "tinyllama", "preload": True, "keep_alive": "-1"}
    first = run_playbook("ollama_model_one", extra_vars=extra).result("Run ollama_model")
    assert first["changed"]
    assert first["preloaded"]
    loaded = ollama.api("GET", "/api/ps").json()["models"]
    assert [m["name"] for m in loaded] == ["tinyllama:latest"]
    # "-1" seconds reached Ollama as the number -1 (the string "-1" is a 400 there): loaded for ever.
    generate = ollama.requests(path="/api/generate")[-1]["body"]
    assert generate["keep_alive"] == -1
    again = run_playbook("ollama_model_one", extra_vars=extra).result("Run ollama_model")
    assert not again["changed"]
    assert not again["preloaded"]


def test_diff_shows_the_model_list_before_and_after(run_playbook, ollama):
    ollama.install("bge-m3")
    run = run_playbook(
        "ollama_model_one",
        extra_vars={"ollama_url": ollama.url, "model": "tinyllama", "in_check_mode": True},
        diff=True,
    )
    diff = run.result("Run ollama_model")["diff"]
    assert diff["before"]["models"] == ["bge-m3:latest"]
    assert diff["after"]["models"] == ["bge-m3:latest", "tinyllama:latest"]
    assert pulls(ollama) == []


@pytest.mark.parametrize(("gpu", "on_gpu"), [(True, True), (False, False)])
def test_model_info_shows_whether_a_loaded_model_is_on_the_gpu(run_playbook, ollama, gpu, on_gpu):
    ollama.set_gpu(gpu)
    ollama.install("tinyllama")
    ollama.install("bge-m3")
    ollama.api("POST", "/api/generate", {"model": "tinyllama", "stream": False})
    run = run_playbook(
        "ollama_model_info",
        extra_vars={"ollama_url": ollama.url, "names": ["tinyllama", "gpt-oss:20b"], "in_check_mode": True},
    )
    info = run.result("Read the installed and loaded models")
    assert not info["changed"]
    assert [m["name"] for m in info["models"]] == ["tinyllama:latest"]
    assert info["missing"] == ["gpt-oss:20b"]
    (loaded,) = info["loaded"]
    assert (loaded["size_vram"] > 0) is on_gpu
    assert loaded["gpu_fraction"] == (1.0 if on_gpu else 0.0)
    assert info["version"]
