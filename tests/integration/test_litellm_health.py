"""litellm_health run by ansible-playbook against a REAL LiteLLM proxy (pinned, no database)
routing to the Ollama double."""

from conftest import free_port, launch_litellm


def check(run_playbook, expect_rc=0, **options):
    run = run_playbook("litellm_health", extra_vars=options, expect_rc=expect_rc)
    return run.result("Check the gateway")


def test_healthy_gateway_with_chat_and_embedding_probes(run_playbook, litellm, litellm_backend):
    litellm_backend.clear_requests()
    health = check(
        run_playbook,
        gateway_url=litellm.url,
        master_key=litellm.master_key,
        expected_models=["tinyllama", "bge-m3"],
        probe_models=["tinyllama", {"name": "bge-m3", "mode": "embedding"}],
        in_check_mode=True,
    )
    assert health["healthy"]
    assert not health["changed"]
    assert health["liveliness"] == {"ok": True, "status_code": 200}
    assert health["readiness"]["status"] == "healthy"
    assert health["readiness"]["db"] == "Not connected"
    assert set(health["models"]) == {"tinyllama", "bge-m3", "not-pulled"}
    assert health["missing_models"] == []
    assert [(p["model"], p["mode"], p["ok"]) for p in health["probes"]] == [
        ("tinyllama", "chat", True),
        ("bge-m3", "embedding", True),
    ]
    assert all(p["latency_ms"] >= 0 for p in health["probes"])
    # The probes really went through the gateway to Ollama.
    assert litellm_backend.requests(path="/api/chat")
    assert litellm_backend.requests(path="/api/embed")


def test_missing_model_and_failed_probe_are_all_reported(run_playbook, litellm):
    health = check(
        run_playbook,
        expect_rc=2,
        gateway_url=litellm.url,
        master_key=litellm.master_key,
        expected_models=["tinyllama", "gpt-oss-20b"],
        wait_timeout=0,
    )
    assert not health["healthy"]
    assert health["missing_models"] == ["gpt-oss-20b"]
    assert "does not list: gpt-oss-20b" in health["msg"]


def test_a_probe_of_a_model_ollama_lacks_carries_the_backends_error(run_playbook, litellm):
    health = check(
        run_playbook,
        expect_rc=2,
        gateway_url=litellm.url,
        master_key=litellm.master_key,
        probe_models=["tinyllama", "not-pulled"],
        wait_timeout=0,
    )
    by_model = {p["model"]: p for p in health["probes"]}
    assert by_model["tinyllama"]["ok"]
    assert not by_model["not-pulled"]["ok"]
    assert "not found" in by_model["not-pulled"]["error"]
    assert "probe of not-pulled failed" in health["msg"]


def test_a_wrong_master_key_is_reported_at_once(run_playbook, litellm):
    health = check(
        run_playbook,
        expect_rc=2,
        gateway_url=litellm.url,
        master_key="sk-this-is-not-the-master-key-0000000000",
        expected_models=["tinyllama"],
        wait_timeout=60,
    )
    assert "master key was rejected" in health["msg"]
    # Waiting cannot fix a wrong key: the module stopped at the first poll instead of using 60 s.
    assert health["elapsed_s"] < 15


def test_no_key_at_all_is_refused_by_the_gateway(run_playbook, litellm):
    health = check(
        run_playbook,
        expect_rc=2,
        gateway_url=litellm.url,
        master_key="",
        expected_models=["tinyllama"],
        wait_timeout=0,
    )
    assert "master_key is needed" in health["msg"]


def test_require_db_fails_naming_the_database(run_playbook, litellm):
    health = check(
        run_playbook,
        expect_rc=2,
        gateway_url=litellm.url,
        master_key=litellm.master_key,
        require_db=True,
        wait_timeout=0,
    )
    assert "database is not connected" in health["msg"]
    assert "Not connected" in health["msg"]


def test_a_stopped_gateway_fails_after_wait_timeout_with_a_clear_message(run_playbook):
    url = f"http://127.0.0.1:{free_port()}"
    health = check(run_playbook, expect_rc=2, gateway_url=url, master_key="sk-x", wait_timeout=4, delay=1)
    assert not health["healthy"]
    assert health["elapsed_s"] >= 3
    assert f"LiteLLM gateway at {url} is not healthy after" in health["msg"]
    assert "Check that it is running" in health["msg"]


def test_health_waits_for_a_gateway_that_is_still_starting(run_playbook, tmp_path, litellm_backend):
    # The proxy needs many seconds before it answers; the module is already polling by then.
    gateway = launch_litellm(tmp_path / "late", litellm_backend.url)
    try:
        health = check(
            run_playbook,
            gateway_url=gateway.url,
            master_key=gateway.master_key,
            expected_models=["tinyllama"],
            wait_timeout=150,
            delay=2,
        )
        assert health["healthy"]
        assert health["elapsed_s"] >= 2
    finally:
        gateway.process.terminate()
        gateway.process.wait(timeout=20)
