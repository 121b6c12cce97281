"""Verify the docker_engine role (distribution packages) on a systemd workstation: a real, working Docker."""

import json
import os

import pytest

BASE_IMAGE = os.environ.get("LLMSTACK_BASE_IMAGE") or "local/debian-trixie:base"


def docker_info(host, template):
    return host.check_output(f"docker info --format '{template}'")


def test_dockerd_is_active_and_enabled_under_systemd(host):
    docker = host.service("docker")
    assert docker.is_running
    assert docker.is_enabled
    assert host.check_output("systemctl show -p MainPID --value docker.service") != "0"
    assert host.check_output("systemctl show -p ExecMainStatus --value docker.service") == "0"


def test_the_distribution_packages_are_installed(host):
    assert host.package("docker.io").is_installed
    assert host.package("docker-compose").is_installed
    assert not host.package("docker-ce").is_installed


def test_daemon_json_holds_the_roles_keys_and_the_planted_ones(host):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    # Planted by prepare.yml before the role ever ran.
    assert daemon["labels"] == ["llmstack.molecule=planted-before-converge"]
    assert daemon["log-opts"]["compress"] == "true"
    # The role's keys, merged in (log-opts at depth, next to the planted compress).
    assert daemon["log-driver"] == "json-file"
    assert daemon["log-opts"]["max-size"] == "10m"
    assert daemon["log-opts"]["max-file"] == "3"
    assert daemon["registry-mirrors"] == ["https://mirror.lab.invalid"]
    assert daemon["insecure-registries"] == ["registry.lab.invalid:5000"]
    daemon_json = host.file("/etc/docker/daemon.json")
    assert daemon_json.mode == 0o644
    assert daemon_json.user == "root"


def test_the_running_dockerd_loaded_the_merged_file(host):
    assert "llmstack.molecule=planted-before-converge" in docker_info(host, "{{json .Labels}}")
    assert docker_info(host, "{{.LoggingDriver}}") == "json-file"
    assert "https://mirror.lab.invalid/" in docker_info(host, "{{json .RegistryConfig.Mirrors}}")


def test_no_proxy_drop_in_without_a_proxy(host):
    assert not host.file("/etc/systemd/system/docker.service.d/http-proxy.conf").exists


def test_a_container_runs_inside_the_workstation(host):
    out = host.check_output(f"docker run --rm {BASE_IMAGE} cat /etc/debian_version")
    assert out.split(".")[0].isdigit()


def test_docker_compose_is_v2_or_later(host):
    version = host.check_output("docker compose version --short").lstrip("v")
    assert int(version.split(".")[0]) >= 2, version


def test_docker_group_membership(host):
    assert "docker" in host.user("labuser").groups


@pytest.mark.parametrize("path", ["/etc/apt/sources.list.d/docker.sources", "/etc/apt/keyrings/docker.asc"])
def test_check_mode_of_the_docker_source_wrote_nothing(host, path):
    assert not host.file(path).exists
