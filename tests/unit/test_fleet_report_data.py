"""The fleet report's data (filter llmstack.gateway.fleet_report_data), from hostvars as the roles publish them."""

import copy

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llmstack.gateway.plugins.filter.fleet_report import fleet_report_data, fleet_report_digests

X = "\N{MULTIPLICATION SIGN}"

# What llmstack.gateway.nvidia_gpu_info publishes as llmstack_gpu on a host without a GPU.
NO_GPU = {"gpus": [], "gpu_count": 0, "driver_version": "", "cuda_version": "", "tier": "cpu", "nvidia_smi": None}


def card(index, name, mib):
    return {"index": index, "name": name, "uuid": f"GPU-{index}", "memory_total_mib": mib, "memory_free_mib": mib - 500}


# A standalone host with one GPU: Ollama, LiteLLM and PostgreSQL on one machine, checked by litellm_health.
STANDALONE = {
    "ansible_facts": {"hostname": "ws-07", "distribution": "Debian"},
    "llmstack_fleet_role": "standalone",
    "llmstack_gpu_tier": "gpu_mid",
    "llmstack_gpu": {
        "gpus": [card(0, "NVIDIA GeForce RTX 4070 Ti SUPER", 16376)],
        "gpu_count": 1,
        "driver_version": "550.54.14",
        "cuda_version": "12.4",
        "tier": "gpu_mid",
        "nvidia_smi": "/usr/bin/nvidia-smi",
    },
    "ollama_models_present": ["tinyllama:latest", "Qwen2.5:0.5b", "bge-m3:latest", "tinyllama:latest"],
    "litellm_stack_health": {
        "changed": False,
        "failed": False,
        "healthy": True,
        "url": "http://127.0.0.1:4000",
        "models": ["tinyllama", "bge-m3"],
        "missing_models": [],
        "probes": [{"model": "tinyllama", "mode": "chat", "ok": True, "latency_ms": 380, "error": None}],
        "problems": [],
    },
    "litellm_stack_images": {
        "ollama": "ollama/ollama:0.33.3",
        "litellm": "ghcr.io/berriai/litellm:v1.108.7",
        "db": "postgres:17.6",
    },
    "llmstack_last_change": "2026-05-11T09:12:44Z",
}

# A worker with two models of GPU, whose health gate found a problem.
WORKER = {
    "ansible_facts": {"hostname": "gpu-box-01"},
    "llmstack_fleet_role": "worker",
    "llmstack_gpu_tier": "gpu_high",
    "llmstack_gpu": {
        "gpus": [
            card(0, "NVIDIA GeForce RTX 4090", 24564),
            card(1, "NVIDIA RTX A4000", 16376),
            card(2, "NVIDIA GeForce RTX 4090", 24564),
        ],
        "gpu_count": 3,
        "driver_version": "550.54.14",
        "cuda_version": "12.4",
        "tier": "gpu_high",
        "nvidia_smi": "/usr/bin/nvidia-smi",
    },
    "ollama_models_present": ["tinyllama:latest"],
    "llmstack_worker_health": {"healthy": False, "problems": ["bge-m3:latest is missing", "tinyllama: HTTP 500"]},
    "litellm_stack_images": {
        "ollama": "registry.lab.example:5000/mirror/ollama@sha256:4bd8a9f3c1d2e5f60718293a4b5c6d7e8f9012345678"
    },
}

# A gateway: LiteLLM and PostgreSQL, no Ollama and no GPU.
GATEWAY = {
    "ansible_facts": {"hostname": "gw-01"},
    "llmstack_fleet_role": "gateway",
    "llmstack_gpu_tier": "cpu",
    "llmstack_gpu": NO_GPU,
    "litellm_stack_health": {"changed": False, "failed": False, "healthy": True, "problems": []},
    "litellm_stack_images": {"litellm": "ghcr.io/berriai/litellm:v1.108.7", "db": "postgres:16.10"},
    "llmstack_last_change": "2026-05-11T09:10:02Z",
}

# A worker that failed in an earlier play: it had gathered facts and published its tier, then was dropped.
FAILED = {
    "ansible_facts": {"hostname": "gpu-box-03"},
    "llmstack_fleet_role": "worker",
    "llmstack_gpu_tier": "gpu_low",
    "llmstack_gpu": {**NO_GPU, "gpus": [card(0, "NVIDIA GeForce RTX 3060", 12288)], "gpu_count": 1, "tier": "gpu_low"},
    "ollama_models_present": [],
    "llmstack_worker_health": {"healthy": False, "problems": ["Ollama did not answer on 10.0.0.13:11434"]},
}

# Never reached: only what the inventory says about it.
UNREACHABLE = {"llmstack_fleet_role": "worker", "llmstack_gpu_tier": "gpu_high", "ansible_host": "192.0.2.44"}

HOSTVARS = {
    "ws-07": STANDALONE,
    "gpu-box-01": WORKER,
    "gw-01": GATEWAY,
    "gpu-box-03": FAILED,
    "gpu-box-04": UNREACHABLE,
}
HOSTS = ["gw-01", "gpu-box-01", "gpu-box-03", "gpu-box-04", "ws-07"]
PLAY_HOSTS = ["gw-01", "gpu-box-01", "ws-07"]


@pytest.fixture(scope="module")
def data():
    return fleet_report_data(HOSTVARS, HOSTS, PLAY_HOSTS, ["/srv/ansible/inventories/lab/hosts.yml"])


def rows_by_host(data):
    return {row["host"]: row for row in data["rows"]}


def test_one_row_per_host_in_the_order_given(data):
    assert [row["host"] for row in data["rows"]] == HOSTS
    assert data["inventory"] == ["/srv/ansible/inventories/lab/hosts.yml"]
    assert data["statuses"] == ["healthy", "unhealthy", "failed", "unreachable", "not checked"]


def test_a_standalone_host_row(data):
    assert rows_by_host(data)["ws-07"] == {
        "host": "ws-07",
        "fleet_role": "standalone",
        "tier": "gpu_mid",
        "gpus": f"1 {X} NVIDIA GeForce RTX 4070 Ti SUPER (16 GiB)",
        "driver": "550.54.14 (CUDA 12.4)",
        # Sorted without regard to case, each once.
        "models": ["bge-m3:latest", "Qwen2.5:0.5b", "tinyllama:latest"],
        "health": "healthy",
        "problems": [],
        "images": [
            {"service": "ollama", "tag": "0.33.3", "ref": "ollama/ollama:0.33.3"},
            {"service": "litellm", "tag": "v1.108.7", "ref": "ghcr.io/berriai/litellm:v1.108.7"},
            {"service": "db", "tag": "17.6", "ref": "postgres:17.6"},
        ],
        "last_change": "2026-05-11T09:12:44Z",
        "vip": "",
        "holds_vip": None,
    }


def test_the_gateway_that_holds_the_vip_is_named_and_a_vip_no_one_holds_is_said():
    def gateway(vip, holds):
        return {"llmstack_fleet_role": "gateway", "llmstack_fleet_vip": {"address": vip, "router_id": 51}, **holds}

    hostvars = {
        "gw1": gateway("10.20.0.100", {"llmstack_gateway_holds_vip": False}),
        "gw2": gateway("10.20.0.100", {"llmstack_gateway_holds_vip": True}),
        # A gateway whose run stopped before the end told nothing: not counted either way.
        "gw3": gateway("10.20.0.100", {}),
        "other-gw": gateway("10.30.0.100", {"llmstack_gateway_holds_vip": "false"}),
        "ws": {"llmstack_fleet_role": "standalone", "llmstack_fleet_vip": {}},
    }
    data = fleet_report_data(hostvars, list(hostvars), list(hostvars))
    assert data["vips"] == [
        {"address": "10.20.0.100", "holders": ["gw2"]},
        {"address": "10.30.0.100", "holders": []},
    ]
    rows = rows_by_host(data)
    assert [rows[h]["holds_vip"] for h in hostvars] == [False, True, None, False, None]
    assert rows["ws"]["vip"] == ""


def test_a_worker_row_groups_its_gpus_and_lists_its_problems(data):
    row = rows_by_host(data)["gpu-box-01"]
    # Grouped by model in the order nvidia-smi first lists each; 24564 MiB is a nominal 24 GiB card.
    assert row["gpus"] == f"2 {X} NVIDIA GeForce RTX 4090 (24 GiB), 1 {X} NVIDIA RTX A4000 (16 GiB)"
    assert (row["fleet_role"], row["tier"], row["health"]) == ("worker", "gpu_high", "unhealthy")
    assert row["problems"] == ["bge-m3:latest is missing", "tinyllama: HTTP 500"]
    # Pinned by digest: shown by its first 12 hex digits, the whole reference kept.
    assert row["images"] == [
        {"service": "ollama", "tag": "sha256:4bd8a9f3c1d2", "ref": WORKER["litellm_stack_images"]["ollama"]}
    ]
    assert row["last_change"] == ""


def test_a_gateway_runs_no_ollama_and_has_no_gpu(data):
    row = rows_by_host(data)["gw-01"]
    assert row["models"] is None  # not known, which the report shows differently from an empty list
    assert (row["gpus"], row["driver"], row["tier"], row["health"]) == ("none", "", "cpu", "healthy")


def test_a_host_the_play_dropped_failed_or_was_unreachable(data):
    rows = rows_by_host(data)
    failed, unreachable = rows["gpu-box-03"], rows["gpu-box-04"]
    assert (failed["health"], failed["models"]) == ("failed", [])
    assert failed["problems"] == ["Ollama did not answer on 10.0.0.13:11434"]
    assert unreachable == {
        "host": "gpu-box-04",
        "fleet_role": "worker",
        "tier": "gpu_high",
        "gpus": "",
        "driver": "",
        "models": None,
        "health": "unreachable",
        "problems": [],
        "images": [],
        "last_change": "",
        "vip": "",
        "holds_vip": None,
    }


def test_counts_per_tier_over_the_fleet_and_attention(data):
    counts = {"healthy": 0, "unhealthy": 0, "failed": 0, "unreachable": 0, "not checked": 0}
    assert data["tiers"] == [
        {"tier": "cpu", "hosts": 1, **counts, "healthy": 1},
        {"tier": "gpu_high", "hosts": 2, **counts, "unhealthy": 1, "unreachable": 1},
        {"tier": "gpu_low", "hosts": 1, **counts, "failed": 1},
        {"tier": "gpu_mid", "hosts": 1, **counts, "healthy": 1},
    ]
    assert data["total"] == {
        "tier": "all",
        "hosts": 5,
        **counts,
        "healthy": 2,
        "unhealthy": 1,
        "failed": 1,
        "unreachable": 1,
    }
    assert [row["host"] for row in data["attention"]] == ["gpu-box-01", "gpu-box-03", "gpu-box-04"]


def test_a_host_no_role_ran_on_is_not_checked_and_unknown():
    data = fleet_report_data({"ws-01": {"ansible_facts": {"hostname": "ws-01"}}}, ["ws-01", "new-box"], ["ws-01"])
    ws, new = data["rows"]
    assert (ws["fleet_role"], ws["tier"], ws["health"], ws["models"], ws["gpus"]) == (
        "standalone",
        "unknown",
        "not checked",
        None,
        "",
    )
    # A name the inventory does not have: no facts, so never reached.
    assert (new["host"], new["health"]) == ("new-box", "unreachable")
    assert data["attention"] == [new]
    assert data["inventory"] == []


def test_a_rollout_failure_or_a_stopped_rollout_overrides_the_health_check():
    gated = {**WORKER, "llmstack_rollout_failure": "Worker gpu-box-01 failed its health gate: tinyllama: HTTP 500"}
    spared = {**GATEWAY, "llmstack_rollout_skipped": "rollout stopped after a batch failed (gpu-box-01)"}
    rows = fleet_report_data({"a": gated, "b": spared}, ["a", "b"], ["a", "b"])["rows"]
    assert (rows[0]["health"], rows[0]["problems"]) == ("failed", [gated["llmstack_rollout_failure"]])
    assert (rows[1]["health"], rows[1]["problems"]) == ("not checked", [spared["llmstack_rollout_skipped"]])


def test_each_role_reads_its_own_health_fact_first_and_skips_a_skipped_one():
    both = {
        "llmstack_worker_health": {"healthy": False, "problems": ["worker view"]},
        "litellm_stack_health": {"healthy": True, "problems": []},
    }
    hostvars = {
        "worker": {**both, "llmstack_fleet_role": "worker"},
        "gateway": {**both, "llmstack_fleet_role": "gateway"},
        "skipped": {
            "llmstack_fleet_role": "gateway",
            "litellm_stack_health": {"skipped": True, "changed": False},
            "llmstack_worker_health": {"healthy": True},
        },
    }
    rows = fleet_report_data(hostvars, list(hostvars), list(hostvars))["rows"]
    assert [row["health"] for row in rows] == ["unhealthy", "healthy", "healthy"]


@pytest.mark.parametrize(
    ("check", "health", "problems"),
    [
        # A task that failed before the module answered: its message is the problem.
        ({"failed": True, "msg": "Connection refused"}, "unhealthy", ["Connection refused"]),
        ({"failed": True, "msg": "timeout", "problems": ["db not connected"]}, "unhealthy", ["db not connected"]),
        ({"healthy": "false", "problems": "one text, not a list"}, "unhealthy", ["one text, not a list"]),
        ({"healthy": "yes", "problems": ["left over"]}, "healthy", []),
        ({"changed": False}, "not checked", []),
        ("not a result", "not checked", []),
    ],
)
def test_health_of_results_of_every_shape(check, health, problems):
    (row,) = fleet_report_data({"h": {"litellm_stack_health": check}}, ["h"], ["h"])["rows"]
    assert (row["health"], row["problems"]) == (health, problems)


@pytest.mark.parametrize(
    ("ref", "tag"),
    [
        ("postgres", "latest"),
        ("registry.lab.example:5000/postgres", "latest"),  # a registry port is not a tag
        ("registry.lab.example:5000/postgres:17", "17"),
        ("postgres:17@sha256:0123456789abcdef0123", "17@sha256:0123456789ab"),
        ("postgres@sha256:0123456789abcdef0123", "sha256:0123456789ab"),
    ],
)
def test_the_tag_shown_for_an_image_reference(ref, tag):
    (row,) = fleet_report_data({"h": {"litellm_stack_images": {"db": ref}}}, ["h"], ["h"])["rows"]
    assert row["images"] == [{"service": "db", "tag": tag, "ref": ref}]


@pytest.mark.parametrize(
    ("gpu", "gpus", "driver"),
    [
        # nvidia-smi could count the cards but not name them or size them.
        ({"gpus": [], "gpu_count": "2", "driver_version": "535.183.01"}, f"2 {X} unnamed GPU", "535.183.01"),
        ({"gpus": [{"name": "", "memory_total_mib": "n/a"}, "junk"]}, f"1 {X} unnamed GPU", ""),
        ({"gpus": [{"name": " NVIDIA L4 ", "memory_total_mib": "23034"}]}, f"1 {X} NVIDIA L4 (22 GiB)", ""),
        ({"gpus": None, "gpu_count": 0, "cuda_version": "12.4"}, "none", ""),
    ],
)
def test_gpus_and_driver_from_whatever_the_gpu_fact_holds(gpu, gpus, driver):
    (row,) = fleet_report_data({"h": {"llmstack_gpu": {**gpu, "tier": "gpu_low"}}}, ["h"], ["h"])["rows"]
    assert (row["gpus"], row["driver"], row["tier"]) == (gpus, driver, "gpu_low")  # tier detected, none given


def test_malformed_facts_count_as_not_known():
    hostvars = {"h": {"llmstack_gpu": "cpu", "ollama_models_present": "tinyllama", "litellm_stack_images": ["x"]}}
    (row,) = fleet_report_data(hostvars, ["h"], ["h"])["rows"]
    assert (row["gpus"], row["models"], row["images"], row["tier"]) == ("", None, [], "unknown")


def test_the_hostvars_are_not_changed():
    before = copy.deepcopy(HOSTVARS)
    fleet_report_data(HOSTVARS, HOSTS, PLAY_HOSTS)
    assert before == HOSTVARS


@pytest.mark.parametrize(
    ("hostvars", "hosts", "play_hosts", "message"),
    [
        ("hostvars", ["a"], ["a"], "expects hostvars, got str"),
        ({}, "a,b", ["a"], "must be lists of host names"),
        ({}, ["a"], None, "must be lists of host names"),
    ],
)
def test_arguments_of_the_wrong_kind_are_refused(hostvars, hosts, play_hosts, message):
    with pytest.raises(AnsibleFilterError, match=message):
        fleet_report_data(hostvars, hosts, play_hosts)


DIGEST_A = "a" * 64
DIGEST_B = "0123456789abcdef" * 4


def test_fleet_report_digests_reads_each_formats_first_digest_and_says_none_for_the_rest():
    texts = {
        "/srv/reports/fleet-report.md": f"# Fleet\n<!-- fleet-report-digest: {DIGEST_A} -->\n",
        "/srv/reports/fleet-report.html": f'<meta content="fleet-report-digest: {DIGEST_B}">{DIGEST_A}',
        "/srv/reports/fleet-report.txt": f"fleet-report-digest: {DIGEST_A}",
    }
    assert fleet_report_digests(texts, ["md", "html", "json"]) == {"md": DIGEST_A, "html": DIGEST_B, "json": "none"}


def test_fleet_report_digests_ignores_a_report_without_a_whole_digest():
    texts = {"fleet-report.md": "fleet-report-digest: abc", "fleet-report.html": ""}
    assert fleet_report_digests(texts, ["md", "html"]) == {"md": "none", "html": "none"}
    assert fleet_report_digests({}, ["md"]) == {"md": "none"}


@pytest.mark.parametrize(("texts", "formats"), [(["fleet-report.md"], ["md"]), ({}, "md")])
def test_fleet_report_digests_refuses_what_it_cannot_read(texts, formats):
    with pytest.raises(AnsibleFilterError, match="fleet_report_digests"):
        fleet_report_digests(texts, formats)
