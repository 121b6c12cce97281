"""The README's first command gives a fresh Debian machine a working controller.

A container from the bed's debootstrap image (Debian with python3 and no Ansible, no python3-venv) gets this
checkout mounted read-only and runs scripts/install-controller.sh as a user would: against PyPI itself, with
none of this machine's pip configuration (its local index, wheel directory and constraints stay outside).
Only the CA bundle goes in, as PIP_CERT, the way the bed's image builds get it: PyPI is reached here through
a TLS-inspecting proxy, as behind a corporate one.
"""

import os
import re
import secrets
import subprocess
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = os.environ.get("LLMSTACK_BASE_IMAGE", "local/debian-trixie:base")
CA_BUNDLE = Path(os.environ.get("LLMSTACK_BUILD_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"))
CA_IN_CONTAINER = "/usr/local/share/ca-certificates/bed-ca.crt"
VENV = "/opt/llmstack-controller"


def pinned(name):
    text = (REPO / "requirements-controller.txt").read_text()
    return re.search(rf"^{re.escape(name)}==(\S+)$", text, re.MULTILINE).group(1)


def docker(*args, timeout=120):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


class Machine:
    """A running container standing for the fresh machine; `sh` runs a shell command in it."""

    def __init__(self):
        self.name = f"llmstack-controller-{secrets.token_hex(3)}"
        mounts = ["-v", f"{REPO}:/src:ro"]
        if CA_BUNDLE.is_file():
            mounts += ["-v", f"{CA_BUNDLE}:{CA_IN_CONTAINER}:ro"]
        started = docker("run", "-d", "--name", self.name, *mounts, BASE_IMAGE, "sleep", "infinity")
        assert started.returncode == 0, started.stderr

    def sh(self, script, user="root", env=None, timeout=120):
        argv = ["exec", "-u", user, "-w", "/src"]
        for key, value in (env or {}).items():
            argv += ["-e", f"{key}={value}"]
        return docker(*argv, self.name, "bash", "-c", script, timeout=timeout)

    def close(self):
        docker("rm", "-f", self.name)


@pytest.fixture
def machine():
    if docker("image", "inspect", BASE_IMAGE).returncode != 0:
        pytest.fail(f"image {BASE_IMAGE} is missing: run `make bed` (tests/bed/build-base-image.sh)")
    box = Machine()
    yield box
    box.close()


def explain(result):
    return f"rc={result.returncode}\nstdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"


def test_install_controller_on_a_fresh_debian(machine):
    pip_env = {"PIP_CERT": CA_IN_CONTAINER} if CA_BUNDLE.is_file() else {}

    # The machine the README speaks to: no Ansible at all.
    bare = machine.sh("command -v ansible-galaxy || command -v ansible-playbook || python3 -c 'import ansible'")
    assert bare.returncode != 0, f"the base image already has Ansible: {bare.stdout}"

    # A user who is not root and lacks python3-venv gets one line saying what to install, and nothing else.
    refused = machine.sh("scripts/install-controller.sh /tmp/controller", user="65534:65534")
    assert refused.returncode != 0, explain(refused)
    assert "python3-venv is missing" in refused.stderr and "apt-get install" in refused.stderr, explain(refused)
    assert machine.sh("test -e /tmp/controller").returncode != 0, "a refused run left a venv behind"

    start = time.monotonic()
    installed = machine.sh(f"scripts/install-controller.sh {VENV}", env=pip_env, timeout=900)
    seconds = time.monotonic() - start
    assert installed.returncode == 0, explain(installed)
    print(f"install-controller.sh on a fresh machine: {seconds:.0f} s")
    assert f". {VENV}/bin/activate" in installed.stdout, explain(installed)

    activate = f". {VENV}/bin/activate && "
    version = machine.sh(activate + "ansible-playbook --version")
    assert version.returncode == 0, explain(version)
    assert f"[core {pinned('ansible-core')}]" in version.stdout.splitlines()[0], explain(version)

    # Every collection galaxy.yml depends on, from the `ansible` package, at the version galaxy.yml asks for.
    for collection, wanted in yaml.safe_load((REPO / "galaxy.yml").read_text())["dependencies"].items():
        listed = machine.sh(activate + f"ansible-galaxy collection list {collection}")
        assert listed.returncode == 0, explain(listed)
        found = re.search(rf"^{re.escape(collection)}\s+(\d+)\.(\d+)\.(\d+)", listed.stdout, re.MULTILINE)
        assert found, explain(listed)
        minimum = tuple(int(part) for part in re.fullmatch(r">=(\d+)\.(\d+)\.(\d+)", wanted).groups())
        assert tuple(int(part) for part in found.groups()) >= minimum, f"{found.group(0)} does not meet {wanted}"

    # The README's commands, without touching a host: the workstation run and the fleet rollout. Listing
    # parses what --syntax-check parses (plays, roles, static imports; dynamic includes neither).
    for command in (
        "ansible-playbook site.yml --list-tasks",
        "ansible-playbook -i inventories/lab-fleet playbooks/rollout.yml --list-hosts",
    ):
        result = machine.sh(activate + command)
        assert result.returncode == 0, f"{command}: {explain(result)}"
        if "--list-tasks" in command:
            # The collection resolves from the checkout (ansible.cfg's collections path), not from an install.
            assert "llmstack.gateway.docker_engine : " in result.stdout, explain(result)
