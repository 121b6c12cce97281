"""execution-environment.yml: `ansible-builder create` writes a build context for AWX / Automation Platform.

Building the image needs a container registry, which the test machines do not have; what can be proved
here is the context ansible-builder writes from our definition: the Containerfile (base image, pinned
ansible-core and ansible-runner), the Galaxy requirements (community.docker and this collection, from the
tarball `ansible-galaxy collection build` makes), and that the tarball lands where the requirements point.
"""

import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
BASE_IMAGE = "quay.io/centos/centos:stream10"


def pin(requirements, package):
    """The version `requirements` (lines of a pip requirements file) pins `package` to."""
    for line in requirements.splitlines():
        match = re.fullmatch(rf"{re.escape(package)}==(\S+)", line.strip())
        if match:
            return match.group(1)
    raise AssertionError(f"{package} is not pinned")


@pytest.fixture(scope="module")
def galaxy():
    return yaml.safe_load((REPO / "galaxy.yml").read_text())


@pytest.fixture(scope="module")
def context(tmp_path_factory, galaxy):
    """The collection built as users build it, then `ansible-builder create` beside it, as in the checkout."""
    work = tmp_path_factory.mktemp("ee")
    shutil.copy(REPO / "execution-environment.yml", work)
    subprocess.run(
        [str(VENV_BIN / "ansible-galaxy"), "collection", "build", str(REPO), "--output-path", str(work)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert (work / f"llmstack-gateway-{galaxy['version']}.tar.gz").is_file()
    created = subprocess.run(
        [
            str(VENV_BIN / "ansible-builder"),
            "create",
            "--file",
            str(work / "execution-environment.yml"),
            "--context",
            str(work / "context"),
            "--output-filename",
            "Containerfile",
        ],
        capture_output=True,
        text=True,
        cwd=work,
        check=False,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    assert "No matches" not in created.stdout + created.stderr  # every additional build file was found
    return work / "context"


def test_the_definition_is_version_3_with_the_community_base_image():
    definition = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    assert definition["version"] == 3
    assert definition["images"]["base_image"]["name"] == BASE_IMAGE


def test_containerfile_builds_from_the_base_image_with_the_pinned_ansible_core(context):
    containerfile = (context / "Containerfile").read_text()
    assert f'ARG EE_BASE_IMAGE="{BASE_IMAGE}"' in containerfile
    assert "FROM $EE_BASE_IMAGE AS base" in containerfile
    dev_pin = pin((REPO / "requirements-dev.txt").read_text(), "ansible-core")
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="([^"]*)"$', containerfile, re.M).group(1).split()
    assert f"ansible-core=={dev_pin}" in refs  # the EE runs the ansible-core the tests ran
    assert [ref for ref in refs if ref.startswith("ansible-runner==")]  # pinned too
    assert "ansible-galaxy collection install" in containerfile


def test_galaxy_requirements_list_community_docker_and_this_collection(context, galaxy):
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    by_name = {entry["name"]: entry for entry in requirements["collections"]}
    assert by_name["community.docker"]["version"] == ">=4.0.0"
    assert by_name["community.crypto"]["version"] == galaxy["dependencies"]["community.crypto"]
    (ours,) = [entry for entry in requirements["collections"] if entry.get("type") == "file"]
    # Galaxy installs it from /build, the context's _build directory: the tarball must be there.
    tarball = context / "_build" / ours["name"]
    assert tarball.name == f"llmstack-gateway-{galaxy['version']}.tar.gz", "bump the EE with galaxy.yml's version"
    assert tarball.is_file()
    with tarfile.open(tarball) as archive:
        manifest = json.load(archive.extractfile("MANIFEST.json"))
        names = archive.getnames()
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"]) == ("llmstack", "gateway")
    assert info["dependencies"] == {"community.docker": ">=4.0.0", "community.crypto": ">=2.22.0"}
    assert "roles/fleet_report/tasks/main.yml" in names
    assert not [n for n in names if n.split("/")[0] in {"tests", "molecule", ".venv", "context", "reports"}]


def test_the_tarball_installs_from_where_the_requirements_point(context, tmp_path):
    """What the image's galaxy stage does for our collection, offline (community.docker needs Galaxy)."""
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    (ours,) = [entry for entry in requirements["collections"] if entry.get("type") == "file"]
    installed = subprocess.run(
        [
            str(VENV_BIN / "ansible-galaxy"),
            "collection",
            "install",
            ours["name"],
            "--offline",
            "--no-deps",
            "--force",  # the checkout is a collection path here, where llmstack.gateway counts as installed
            "--collections-path",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=context / "_build",
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (tmp_path / "ansible_collections" / "llmstack" / "gateway" / "roles" / "fleet_report").is_dir()


def test_no_python_packages_and_ssh_for_the_managed_hosts(context):
    assert not (context / "_build" / "requirements.txt").exists()  # our modules need nothing on the controller
    assert "openssh-clients" in (context / "_build" / "bindep.txt").read_text()
    assert (context / "_build" / "exclude-collections.txt").read_text().split() == ["community.docker"]


def test_the_build_context_never_ships_in_the_collection(galaxy):
    assert "context" in galaxy["build_ignore"]
    assert "execution-environment.yml" not in galaxy["build_ignore"]
