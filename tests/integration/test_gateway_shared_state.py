"""Two gateways share their routing state through one Redis: a deployment cooled down by one is avoided by the other.

Real software throughout: two processes of the pinned LiteLLM proxy, each with the router_settings the collection
writes on a fleet of two gateways (the litellm_stack_config filter's shared_state: redis_host, redis_port and the
password as an os.environ/ reference), one Redis (Debian's redis-server, the bed's local/redis image, with
requirepass), and two Ollama doubles serving one model, as two workers would.

LiteLLM 1.108.7 keeps a cooldown in Redis under deployment:<id>:cooldown (router_utils/cooldown_cache.py,
CooldownCache.add_deployment_to_cooldown through its cooldown_store, a DualCache with the router's Redis attached),
and counts a deployment's failures under deployment:<id>:allowed_fails in the router's DualCache
(cooldown_handlers.should_cooldown_based_on_allowed_fails_policy). A router re-reads a key missing from its memory
from Redis every DEFAULT_COOLDOWN_REDIS_READ_INTERVAL_SECONDS (1 s). What the test reads is behaviour: which
double gateway B's requests reach, and the key in Redis.
"""

import os
import secrets
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))
from ansible_collections.llmstack.gateway.plugins.filter.litellm_stack import litellm_stack_config
from conftest import free_port, http_json, launch_litellm_with, wait_for
from ollama_double.testing import OllamaDouble

REDIS_IMAGE = os.environ.get("LLMSTACK_REDIS_IMAGE", "local/redis:7.0")
MODEL = "tinyllama"
COOLDOWN = 60


@pytest.fixture(scope="module")
def redis():
    """Redis with a password, on a loopback port of this machine; yields (port, password, container)."""
    found = subprocess.run(["docker", "image", "inspect", REDIS_IMAGE], capture_output=True, check=False)
    if found.returncode != 0:
        pytest.fail(f"image {REDIS_IMAGE} is missing: run `make bed` (tests/bed/build-service-images.sh)")
    port = free_port()
    password = secrets.token_urlsafe(24)
    name = f"llmstack-test-redis-{port}"
    subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:6379", REDIS_IMAGE,
         "redis-server", "--requirepass", password, "--save", "", "--appendonly", "no"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while cli(name, password, "PING").strip() != "PONG":
            assert time.monotonic() < deadline, "Redis did not answer within 30 s"
            time.sleep(0.3)
        yield port, password, name
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def cli(container, password, *command):
    result = subprocess.run(
        ["docker", "exec", "-e", f"REDISCLI_AUTH={password}", container, "redis-cli", *command],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.stdout


@pytest.fixture(scope="module")
def doubles(tmp_path_factory):
    """Two Ollama doubles, both serving the model: two workers behind the gateways."""
    with (
        OllamaDouble(tmp_path_factory.mktemp("worker-a")) as first,
        OllamaDouble(tmp_path_factory.mktemp("worker-b")) as second,
    ):
        for double in (first, second):
            double.install(MODEL)
        yield first, second


def gateway_config(doubles, redis_port, **router):
    deployments = [
        {
            "model_name": MODEL,
            "litellm_params": {"model": f"ollama_chat/{MODEL}", "api_base": double.url},
            "model_info": {"mode": "chat"},
        }
        for double in doubles
    ]
    config = litellm_stack_config(
        deployments,
        router_settings={"num_retries": 0, "routing_strategy": "simple-shuffle", **router},
        litellm_settings={"request_timeout": 30},
        gateway=True,
        shared_state={"host": "127.0.0.1", "port": redis_port},
    )
    assert config["router_settings"]["redis_password"] == "os.environ/LITELLM_REDIS_PASSWORD"
    return config


@pytest.fixture(scope="module")
def gateways(tmp_path_factory, doubles, redis):
    port, password, _name = redis
    # One failure more than allowed_fails puts a deployment in cooldown for cooldown_time seconds.
    config = gateway_config(doubles, port, allowed_fails=1, cooldown_time=COOLDOWN)
    started = []
    previous = os.environ.get("LITELLM_REDIS_PASSWORD")
    os.environ["LITELLM_REDIS_PASSWORD"] = password
    try:
        for name in ("gateway-a", "gateway-b"):
            directory = tmp_path_factory.mktemp(name)
            path = directory / "litellm_settings.yml"
            path.write_text(yaml.safe_dump(config, sort_keys=False))
            started.append(launch_litellm_with(path, directory))
    finally:
        if previous is None:
            os.environ.pop("LITELLM_REDIS_PASSWORD", None)
        else:
            os.environ["LITELLM_REDIS_PASSWORD"] = previous
    try:
        for gateway in started:
            # Two LiteLLM processes start at once; a loaded bed machine needs minutes for them.
            wait_for(gateway.url + "/health/liveliness", 600, gateway.process, gateway.log)
        yield started
    finally:
        for gateway in started:
            gateway.process.terminate()
        for gateway in started:
            gateway.process.wait(timeout=20)


def chat(gateway):
    try:
        http_json(
            "POST",
            gateway.url + "/v1/chat/completions",
            {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4},
            headers={"Authorization": f"Bearer {gateway.master_key}"},
        )
    except urllib.error.HTTPError as error:
        return error.code
    return 200


def chat_requests(double):
    return [r for r in double.requests() if r.get("path") == "/api/chat"]


def test_a_worker_cooled_down_by_one_gateway_is_avoided_by_the_other(gateways, doubles, redis):
    gateway_a, gateway_b = gateways
    healthy, failing = doubles
    _port, password, container = redis
    for double in doubles:
        double.clear_requests()

    # Before: gateway B spreads its requests over both workers (so avoiding one later is not its habit).
    for _ in range(12):
        assert chat(gateway_b) == 200
    assert len(chat_requests(failing)) > 0, "simple-shuffle sent nothing to the second worker: the test cannot tell"
    assert len(chat_requests(healthy)) > 0

    # The second worker fails every request with HTTP 500 (a connection error would not count: LiteLLM's
    # _is_cooldown_required ignores APIConnectionError). Gateway A alone sees the failures.
    failing.fault_api("500", message="worker broken")
    try:
        deadline = time.monotonic() + 60
        while not cli(container, password, "--scan", "--pattern", "*deployment:*:cooldown").strip():
            assert time.monotonic() < deadline, (
                f"no cooldown in Redis after a minute:\n{gateway_a.log.read_text()[-3000:]}"
            )
            chat(gateway_a)
        cooldown_keys = cli(container, password, "--scan", "--pattern", "*deployment:*:cooldown").split()
        assert len(cooldown_keys) == 1, cooldown_keys
        ttl = int(cli(container, password, "TTL", cooldown_keys[0]).strip())
        assert 0 < ttl <= COOLDOWN

        # Gateway B never saw a failure itself, yet it stops sending to the cooled-down worker.
        time.sleep(1.5)  # a router re-reads a key missing from its memory from Redis every second
        failing.clear_requests()
        healthy.clear_requests()
        answers = [chat(gateway_b) for _ in range(16)]
        assert answers == [200] * 16, answers
        assert chat_requests(failing) == [], "gateway B still sent requests to the worker gateway A cooled down"
        assert len(chat_requests(healthy)) == 16
    finally:
        failing.clear_faults()
