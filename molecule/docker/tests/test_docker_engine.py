"""Verify the docker_engine role's default source on a systemd workstation: Docker's package names from the
stand-in repository (Debian's binaries re-packaged, see tests/images/README.md), and a real, working Docker.

side_effect.yml ran before this: the host went to Debian's docker.io and back to docker-ce through
docker_engine_remove_conflicting, so what is checked here is the end state of that swap too."""

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


DOCKER_PACKAGES = ["docker-ce", "docker-ce-cli", "containerd.io", "docker-buildx-plugin", "docker-compose-plugin"]
DEBIAN_PACKAGES = ["docker.io", "docker-cli", "docker-compose", "docker-buildx", "containerd", "runc"]
MIRROR = "http://127.0.0.1:8081/linux/debian"


@pytest.mark.parametrize("name", DOCKER_PACKAGES)
def test_dockers_packages_are_installed_from_the_stand_in_repository(host, name):
    assert host.package(name).is_installed
    policy = host.check_output(f"apt-cache policy {name}")
    # The installed version is the one the stand-in lab mirror offers (Docker's version scheme).
    installed = policy.split("Installed: ")[1].split()[0]
    assert "~debian.13~trixie" in installed, policy
    assert f"*** {installed} 500" in policy, policy
    assert f"500 {MIRROR} trixie/stable {host.check_output('dpkg --print-architecture')} Packages" in policy, policy


@pytest.mark.parametrize("name", DEBIAN_PACKAGES)
def test_no_debian_docker_package_is_left_after_the_stand_in_repository_swap(host, name):
    assert not host.package(name).is_installed


def test_the_stand_in_repository_is_a_deb822_source_signed_by_its_served_key(host):
    source = host.file("/etc/apt/sources.list.d/docker.sources").content_string.splitlines()
    assert f"URIs: {MIRROR}" in source
    assert "Suites: trixie" in source
    assert "Components: stable" in source
    assert "Signed-By: /etc/apt/keyrings/docker.asc" in source
    # The key the role fetched from docker_engine_repo_key_url's default is the one the lab mirror serves.
    served = host.file("/srv/docker-mirror/linux/debian/gpg").content_string
    assert host.file("/etc/apt/keyrings/docker.asc").content_string == served


def test_dockerd_runs_from_the_stand_in_docker_ce_package(host):
    unit = host.check_output("systemctl show -p FragmentPath --value docker.service")
    assert host.check_output(f"dpkg-query --search {unit}").startswith("docker-ce: ")
    assert host.check_output(f"dpkg-query --search {unit.replace('.service', '.socket')}").startswith("docker-ce: ")


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


def test_docker_compose_from_the_stand_in_plugin_package_is_v2_or_later(host):
    version = host.check_output("docker compose version --short").lstrip("v")
    assert int(version.split(".")[0]) >= 2, version
    plugin = "/usr/libexec/docker/cli-plugins/docker-compose"
    assert host.check_output(f"dpkg-query --search {plugin}") == f"docker-compose-plugin: {plugin}"


def test_docker_buildx_from_the_stand_in_plugin_package_works(host):
    assert "github.com/docker/buildx" in host.check_output("docker buildx version")
    plugin = "/usr/libexec/docker/cli-plugins/docker-buildx"
    assert host.check_output(f"dpkg-query --search {plugin}") == f"docker-buildx-plugin: {plugin}"


def test_docker_group_membership(host):
    assert "docker" in host.user("labuser").groups
