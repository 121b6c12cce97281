"""Verify the NVIDIA Container Toolkit role on a workstation with a simulated GPU and stand-in packages."""

import json
import os

import pytest

PACKAGES = [
    "nvidia-container-toolkit",
    "nvidia-container-toolkit-base",
    "libnvidia-container-tools",
    "libnvidia-container1",
]
PINNED = "1.17.8-1"
BASE_IMAGE = os.environ.get("LLMSTACK_BASE_IMAGE") or "local/debian-trixie:base"
SOURCES = "/etc/apt/sources.list.d/nvidia-container-toolkit.sources"
HOOK_LOG = "/var/log/stand-in-nvidia-container-runtime-hook.log"


def test_simulated_gpu_answers_the_query_nvidia_gpu_info_runs(host):
    query = "index,name,uuid,memory.total,memory.free,driver_version,compute_cap"
    fields = host.check_output(f"nvidia-smi --query-gpu={query} --format=csv,noheader,nounits").split(", ")
    assert fields[1] == "NVIDIA GeForce RTX 4090"
    assert fields[3] == "24564"


def test_deb822_source_names_the_lab_mirror_and_its_key(host):
    fields = dict(line.split(": ", 1) for line in host.file(SOURCES).content_string.splitlines() if ": " in line)
    arch = host.check_output("dpkg --print-architecture")
    assert fields["URIs"] == f"http://127.0.0.1:8080/libnvidia-container/stable/deb/{arch}"
    assert fields["Suites"] == "/"
    assert "Components" not in fields
    assert fields["Signed-By"] == "/etc/apt/keyrings/nvidia-container-toolkit.asc"
    key = host.file("/etc/apt/keyrings/nvidia-container-toolkit.asc")
    assert key.exists
    assert "BEGIN PGP PUBLIC KEY BLOCK" in key.content_string


@pytest.mark.parametrize("name", PACKAGES)
def test_stand_in_package_installed_at_the_pinned_version(host, name):
    package = host.package(name)
    assert package.is_installed
    # The repository also has 1.18.0-1; the pin keeps the older version.
    assert package.version == PINNED
    description = host.check_output(f"dpkg-query --show --showformat='${{Description}}' {name}")
    assert "STAND-IN" in description


def test_all_four_packages_are_held(host):
    held = set(host.check_output("apt-mark showhold").split())
    assert set(PACKAGES) <= held


def test_daemon_json_has_the_nvidia_runtime_merged_with_docker_engines_keys(host):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon["runtimes"]["nvidia"] == {"path": "nvidia-container-runtime", "args": []}
    assert "default-runtime" not in daemon
    # docker_engine's keys, still there.
    assert daemon["log-driver"] == "json-file"
    assert daemon["log-opts"] == {"max-size": "10m", "max-file": "3"}


def test_running_dockerd_knows_the_nvidia_runtime(host):
    runtimes = json.loads(host.check_output("docker info --format '{{json .Runtimes}}'"))
    assert "nvidia" in runtimes


def counts_since_prepare(host):
    """(dockerd starts, systemd reloads) since prepare.yml recorded them."""
    before = [int(n) for n in host.file("/var/tmp/molecule-journal-counts").content_string.split()]
    starts = host.run("journalctl --unit=docker.service --output=cat | grep -c 'Daemon has completed initialization'")
    reloads = host.run("journalctl _PID=1 --output=cat | grep -c '^Reloading finished'")
    return int(starts.stdout.strip() or 0) - before[0], int(reloads.stdout.strip() or 0) - before[1]


def test_docker_was_restarted_exactly_once_for_the_toolkit(host):
    """Converge adds one dockerd start; check mode, idempotence and the cpu-tier run add none."""
    starts, _reloads = counts_since_prepare(host)
    assert starts == 1


def test_systemd_was_never_reloaded(host):
    """No unit file changed, so no daemon-reload: on systemd-cgroup hosts it detaches running containers' GPUs."""
    _starts, reloads = counts_since_prepare(host)
    assert reloads == 0
    assert host.check_output("systemctl show -p NeedDaemonReload --value docker.service") == "no"


def test_a_container_runs_with_the_nvidia_runtime(host):
    out = host.check_output(f"docker run --rm --runtime=nvidia {BASE_IMAGE} echo stand-in runtime works")
    assert out == "stand-in runtime works"


def test_a_container_runs_with_gpus_all_through_the_stand_in_hook(host):
    """dockerd ran the (stand-in) hook for --gpus, which gave the container the simulated card's nvidia-smi."""
    command = "printenv NVIDIA_VISIBLE_DEVICES; nvidia-smi --query-gpu=name --format=csv"
    container = host.check_output(f"docker create --gpus all {BASE_IMAGE} sh -c '{command}'")
    try:
        out = host.check_output(f"docker start --attach {container}").splitlines()
    finally:
        host.run(f"docker rm --force {container}")
    assert out[0] == "all"
    assert "NVIDIA GeForce RTX 4090" in out[1]
    calls = [json.loads(line) for line in host.file(HOOK_LOG).content_string.splitlines()]
    assert [call["args"] for call in calls if call["id"] == container] == [["prestart"]]


def test_cdi_spec_was_generated(host):
    spec = host.file("/etc/cdi/nvidia.yaml")
    assert spec.exists
    assert "kind: nvidia.com/gpu" in spec.content_string
