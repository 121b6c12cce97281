"""The collection builds into a tarball that installs into an empty path and documents every plugin."""

import os
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODULES = {"nvidia_gpu_info", "ollama_model", "ollama_model_info", "litellm_health", "docker_daemon_json"}
ROLES = {"gpu_tier", "docker_engine", "nvidia_container_toolkit", "litellm_stack", "ollama_models", "fleet_report"}


def run(*argv, env=None, cwd=REPO):
    completed = subprocess.run(argv, capture_output=True, text=True, check=False, env=env, cwd=cwd)
    assert completed.returncode == 0, f"{' '.join(argv)} exited {completed.returncode}:\n{completed.stderr[-3000:]}"
    return completed.stdout


def test_build_install_and_document(tmp_path):
    # Away from the checkout's ansible.cfg, which makes the checkout itself an installed collection.
    empty_config = tmp_path / "ansible.cfg"
    empty_config.write_text("[defaults]\n")
    installed = tmp_path / "installed"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed), ANSIBLE_CONFIG=str(empty_config))
    run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), str(REPO), env=env)
    (tarball,) = tmp_path.glob("llmstack-gateway-*.tar.gz")
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert "galaxy.yml" not in names  # replaced by MANIFEST.json
    assert "MANIFEST.json" in names
    for excluded in (
        "tests",
        "molecule",
        ".venv",
        "collections",
        "Makefile",
        ".ci",
        "constraints-dev.txt",
        "scripts",
        "requirements-controller.txt",
        "ansible.cfg",
    ):
        assert not any(n == excluded or n.startswith(excluded + "/") for n in names), excluded
    assert not any("__pycache__" in n for n in names)

    run(
        str(BIN / "ansible-galaxy"),
        "collection",
        "install",
        "--no-deps",
        "-p",
        str(installed),
        str(tarball),
        env=env,
        cwd=tmp_path,
    )
    listed = run(str(BIN / "ansible-doc"), "-l", "llmstack.gateway", env=env, cwd=tmp_path)
    assert {line.split()[0].rsplit(".", 1)[-1] for line in listed.splitlines() if line.strip()} >= MODULES
    for module in sorted(MODULES):
        doc = run(str(BIN / "ansible-doc"), f"llmstack.gateway.{module}", env=env, cwd=tmp_path)
        assert "EXAMPLES" in doc and "RETURN VALUES" in doc, module
    roles = run(str(BIN / "ansible-doc"), "-t", "role", "-l", "llmstack.gateway", env=env, cwd=tmp_path)
    assert {line.split()[0].rstrip(":").rsplit(".", 1)[-1] for line in roles.splitlines() if line.strip()} >= ROLES
    for plugin_type, name in (("filter", "from_dotenv"), ("filter", "ollama_name"), ("test", "ip_address")):
        assert "llmstack.gateway." + name in run(
            str(BIN / "ansible-doc"), "-t", plugin_type, f"llmstack.gateway.{name}", env=env, cwd=tmp_path
        )
    # From the installed collection, the playbook is reachable by its collection name.
    syntax = run(
        str(BIN / "ansible-playbook"),
        "--syntax-check",
        "-i",
        "localhost,",
        "llmstack.gateway.site",
        env=env,
        cwd=tmp_path,
    )
    assert "llmstack.gateway.site" in syntax or syntax == "" or "playbook" in syntax.lower()
