"""The host roles run by ansible-playbook against this machine, in check mode, with faked facts.

Bad input must fail before anything changes, naming the variable; the gpu_tier role (read-only) must
turn simulated nvidia-smi output and inventory values into the right tier. Every run uses --check and
stops at a failing assertion or at gpu_tier, so nothing here touches this machine.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SIMULATED_NVIDIA_SMI = REPO / "tests" / "simulated" / "nvidia-smi"
RECORDED = REPO / "tests" / "unit" / "fixtures" / "nvidia-smi"

FAKE_FACTS_MODULE = textwrap.dedent(
    '''\
    #!/usr/bin/python
    """Test-only: report the facts it is given, so a play can pretend to run on another distribution."""
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(argument_spec={"facts": {"type": "dict", "required": True}}, supports_check_mode=True)
    module.exit_json(changed=False, ansible_facts=module.params["facts"])
    '''
)

TRIXIE = {
    "distribution": "Debian",
    "distribution_version": "13.1",
    "distribution_major_version": "13",
    "distribution_release": "trixie",
    "architecture": "x86_64",
    "os_family": "Debian",
}


def facts(**overrides):
    return {**TRIXIE, **overrides}


class Run:
    """The outcome of one ansible-playbook run, read from the ansible.posix.json callback."""

    def __init__(self, completed):
        self.rc = completed.returncode
        self.output = completed.stdout + completed.stderr
        self.results = []  # (task name, host result) in the order they ran
        # The JSON document, without lines other enabled callbacks (timer, profile_tasks) print around it.
        start, end = completed.stdout.find("{"), completed.stdout.rfind("}")
        data = json.loads(completed.stdout[start : end + 1]) if start >= 0 else {"plays": []}
        for play in data["plays"]:
            for task in play["tasks"]:
                for result in task["hosts"].values():
                    self.results.append((task["task"]["name"], result))
        self.facts = {}
        for _name, result in self.results:
            self.facts.update(result.get("ansible_facts", {}))

    @property
    def failure(self):
        failed = [(name, result) for name, result in self.results if result.get("failed")]
        assert failed, f"expected a failure, got rc={self.rc}\n{self.output[-3000:]}"
        return failed[0]

    def changed_before_failure(self):
        names = []
        for name, result in self.results:
            if result.get("failed"):
                break
            if result.get("changed"):
                names.append(name)
        return names


@pytest.fixture
def play(tmp_path):
    """Run a role (or several) against this machine with ansible-playbook --check."""
    library = tmp_path / "library"
    library.mkdir()
    (library / "fake_facts.py").write_text(FAKE_FACTS_MODULE)

    def _play(roles, host_vars=None, fake_facts=None, environment=None):
        inventory = {
            "all": {
                "hosts": {
                    "target": {
                        "ansible_connection": "local",
                        "ansible_python_interpreter": sys.executable,
                        **(host_vars or {}),
                    }
                }
            }
        }
        playbook = [
            {
                "name": "Run the roles under test",
                "hosts": "target",
                "gather_facts": False,
                "environment": environment or {},
                "pre_tasks": [{"name": "Pretend to be another host", "fake_facts": {"facts": fake_facts}}]
                if fake_facts
                else [],
                "roles": [{"role": f"llmstack.gateway.{role}"} for role in roles],
            }
        ]
        (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
        (tmp_path / "playbook.yml").write_text(yaml.safe_dump(playbook, sort_keys=False))
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_LIBRARY": str(library),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "0",
        }
        completed = subprocess.run(
            [
                Path(sys.executable).parent / "ansible-playbook",
                "--check",
                "--inventory",
                tmp_path / "inventory.yml",
                tmp_path / "playbook.yml",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return Run(completed)

    return _play


def simulated_gpu(case):
    """Environment that makes tests/simulated/nvidia-smi replay a recorded real nvidia-smi."""
    return {"SIMULATED_NVIDIA_SMI_CASE": str(RECORDED / case)}


# --- bad input fails before anything changes, naming the variable ---------------------------------


def test_unknown_docker_engine_source_fails_first_naming_the_variable(play):
    run = play(["docker_engine"], host_vars={"docker_engine_source": "podman"}, fake_facts=facts())
    name, result = run.failure
    assert "Validating arguments" in name
    assert "docker_engine_source" in result["msg"]
    assert "podman" in result["msg"]
    assert run.changed_before_failure() == []


@pytest.mark.parametrize(
    "host",
    [
        facts(distribution="CentOS", distribution_version="9", distribution_major_version="9", os_family="RedHat"),
        facts(distribution_version="11.11", distribution_major_version="11", distribution_release="bullseye"),
        facts(distribution="Ubuntu", distribution_version="20.04", distribution_major_version="20"),
        facts(architecture="ppc64le"),
    ],
    ids=["centos-9", "debian-11", "ubuntu-20.04", "ppc64le"],
)
def test_unsupported_platform_fails_early_naming_what_is_supported(play, host):
    run = play(["docker_engine"], fake_facts=host)
    name, result = run.failure
    assert "does not support" in name
    assert "Debian 12 (bookworm), Debian 13 (trixie), Ubuntu 22.04 (jammy), Ubuntu 24.04 (noble)" in result["msg"]
    assert f"ansible_facts.distribution={host['distribution']}" in result["msg"]
    assert run.changed_before_failure() == []


def test_distro_source_on_debian_12_fails_saying_there_is_no_compose_v2(play):
    bookworm = facts(distribution_version="12.12", distribution_major_version="12", distribution_release="bookworm")
    run = play(["docker_engine"], host_vars={"docker_engine_source": "distro"}, fake_facts=bookworm)
    name, result = run.failure
    assert "no Compose v2 package" in name
    assert "docker_engine_source" in result["msg"]
    assert "Debian 12" in result["msg"]
    assert run.changed_before_failure() == []


def test_a_tier_not_in_the_tier_list_fails_before_docker_is_touched(play):
    run = play(
        ["gpu_tier", "docker_engine", "nvidia_container_toolkit"],
        host_vars={"llmstack_gpu_tier": "gpu_huge"},
        fake_facts=facts(),
    )
    name, result = run.failure
    assert "llmstack_gpu_tier is not a known tier" in name
    assert "llmstack_gpu_tier is 'gpu_huge'" in result["msg"]
    assert "gpu_high, gpu_low" in result["msg"]
    assert run.changed_before_failure() == []
    assert not [n for n, _ in run.results if n.startswith("llmstack.gateway.docker_engine")]


def test_a_tier_list_using_the_reserved_name_cpu_fails(play):
    tiers = [{"name": "cpu", "min_vram_gib": 0}]
    run = play(["gpu_tier"], host_vars={"llmstack_gpu_tiers": tiers})
    _name, result = run.failure
    assert "llmstack_gpu_tiers" in result["msg"]


def test_a_tier_list_entry_without_min_vram_fails_naming_the_variable(play):
    run = play(["gpu_tier"], host_vars={"llmstack_gpu_tiers": [{"name": "gpu_high"}]})
    name, result = run.failure
    assert "Validating arguments" in name
    assert "llmstack_gpu_tiers" in result["msg"]
    assert "min_vram_gib" in result["msg"]


def test_a_gpu_tier_without_a_working_driver_stops_with_the_driver_problem(play):
    """The inventory says GPU, but nvidia-smi cannot reach the driver: stop before Docker is touched."""
    run = play(
        ["gpu_tier", "docker_engine", "nvidia_container_toolkit"],
        host_vars={"llmstack_gpu_tier": "gpu_high", "gpu_tier_nvidia_smi_path": str(SIMULATED_NVIDIA_SMI)},
        environment=simulated_gpu("no-driver"),
        fake_facts=facts(),
    )
    _name, result = run.failure
    assert "NVIDIA driver" in result["msg"]
    assert run.changed_before_failure() == []
    assert not [n for n, _ in run.results if n.startswith("llmstack.gateway.docker_engine")]


def test_a_gpu_tier_without_nvidia_smi_says_drivers_are_not_installed_by_the_collection(play, tmp_path):
    run = play(["gpu_tier"], host_vars={"llmstack_gpu_tier": "gpu_low"}, environment={"PATH": "/usr/bin:/bin"})
    _name, result = run.failure
    assert "does not install drivers" in result["msg"]
    assert "(llmstack_gpu_tier, to the gpu_tier role) is 'gpu_low', a GPU tier" in result["msg"]


# --- gpu_tier turns nvidia-smi output and inventory values into the tier ------------------------------


@pytest.mark.parametrize(
    ("case", "tier", "count"),
    [("rtx4090", "gpu_high", 1), ("four-mixed", "gpu_high", 4), ("laptop-not-supported", "gpu_low", 1)],
)
def test_simulated_gpus_get_their_tier(play, case, tier, count):
    run = play(
        ["gpu_tier"],
        host_vars={"gpu_tier_nvidia_smi_path": str(SIMULATED_NVIDIA_SMI)},
        environment=simulated_gpu(case),
    )
    assert run.rc == 0, run.output[-3000:]
    assert run.facts["llmstack_gpu_tier"] == tier
    assert run.facts["llmstack_gpu"]["tier"] == tier
    assert run.facts["llmstack_gpu"]["gpu_count"] == count


def test_no_nvidia_smi_is_tier_cpu(play):
    run = play(["gpu_tier"], environment={"PATH": "/usr/bin:/bin"})
    assert run.rc == 0, run.output[-3000:]
    assert run.facts["llmstack_gpu_tier"] == "cpu"
    assert run.facts["llmstack_gpu"]["gpus"] == []
    assert run.facts["llmstack_gpu"]["nvidia_smi"] is None


def test_the_inventory_tier_wins_over_detection(play):
    run = play(
        ["gpu_tier"],
        host_vars={"llmstack_gpu_tier": "cpu", "gpu_tier_nvidia_smi_path": str(SIMULATED_NVIDIA_SMI)},
        environment=simulated_gpu("rtx4090"),
    )
    assert run.rc == 0, run.output[-3000:]
    assert run.facts["llmstack_gpu_tier"] == "cpu"
    assert run.facts["llmstack_gpu"]["detected_tier"] == "gpu_high"  # what detection found, kept for the record
    assert run.facts["llmstack_gpu"]["tier"] == "cpu"  # the two tier facts agree
    assert run.facts["llmstack_gpu"]["tier_source"] == "given"


def test_a_cpu_tier_from_the_inventory_tolerates_a_broken_driver(play):
    run = play(
        ["gpu_tier"],
        host_vars={"llmstack_gpu_tier": "cpu", "gpu_tier_nvidia_smi_path": str(SIMULATED_NVIDIA_SMI)},
        environment=simulated_gpu("no-driver"),
    )
    assert run.rc == 0, run.output[-3000:]
    assert run.facts["llmstack_gpu_tier"] == "cpu"


def test_custom_tiers_decided_by_the_largest_card_or_by_all_cards(play):
    """four-mixed holds 80 + 24 + 16 + 15 GiB cards: 80 GiB by the largest card, 135 GiB in total."""
    tiers = [{"name": "gpu_farm", "min_vram_gib": 100}, {"name": "gpu_big", "min_vram_gib": 40}]
    host_vars = {"llmstack_gpu_tiers": tiers, "gpu_tier_nvidia_smi_path": str(SIMULATED_NVIDIA_SMI)}
    by_max = play(["gpu_tier"], host_vars=host_vars, environment=simulated_gpu("four-mixed"))
    by_total = play(
        ["gpu_tier"], host_vars={**host_vars, "gpu_tier_vram_basis": "total"}, environment=simulated_gpu("four-mixed")
    )
    assert by_max.rc == 0, by_max.output[-3000:]
    assert by_max.facts["llmstack_gpu_tier"] == "gpu_big"
    assert by_total.facts["llmstack_gpu_tier"] == "gpu_farm"


def test_a_role_run_without_the_tier_role_before_it_names_the_missing_fact(play):
    """No meta dependency runs gpu_tier behind the playbook's back: the toolkit's argument spec requires its fact."""
    run = play(["nvidia_container_toolkit"], fake_facts=facts())
    name, result = run.failure
    assert "Validating arguments" in name
    assert "llmstack_gpu" in result["msg"]
    assert run.changed_before_failure() == []


# --- gpu_tier: models chosen by fit, and the pre-flight that names those the GPUs cannot hold ------------


def test_simulated_12gib_gpu_high_warns_of_gpt_oss_on_the_cpu_and_carries_on(play):
    run = play(
        ["gpu_tier"],
        host_vars={"llmstack_gpu_tier": "gpu_high", "gpu_tier_nvidia_smi_path": str(SIMULATED_NVIDIA_SMI)},
        environment=simulated_gpu("rtx3060-12gb"),
    )
    assert run.rc == 0, run.output[-3000:]
    (warning,) = [
        result["msg"] for name, result in run.results if name.endswith("Warn of each model that would run on the CPU")
    ]
    assert len(warning) == 1
    assert warning[0].startswith("gpt-oss:20b needs about 13,526 MiB")
    assert "partly on the CPU" in warning[0]
    assert [model["ollama"] for model in run.facts["llmstack_models"]] == ["tinyllama", "gpt-oss:20b", "bge-m3"]
    fit = {entry["ollama"]: entry["runs_on"] for entry in run.facts["gpu_tier_model_fit"]}
    assert fit == {"tinyllama": "gpu", "gpt-oss:20b": "cpu", "bge-m3": "gpu"}


def test_simulated_12gib_gpu_high_with_fit_check_fail_stops_naming_the_model(play):
    run = play(
        ["gpu_tier", "docker_engine"],
        host_vars={
            "llmstack_gpu_tier": "gpu_high",
            "gpu_tier_fit_check": "fail",
            "gpu_tier_nvidia_smi_path": str(SIMULATED_NVIDIA_SMI),
        },
        environment=simulated_gpu("rtx3060-12gb"),
    )
    name, result = run.failure
    assert name.endswith("Stop, naming each model that would run on the CPU")
    assert result["msg"].startswith("gpt-oss:20b needs about 13,526 MiB")
    assert "gpu_tier_fit_check" in result["msg"] and "Nothing was changed." in result["msg"]
    assert run.changed_before_failure() == []


def test_simulated_16gib_gpu_high_holds_every_default_model_without_a_word(play):
    run = play(
        ["gpu_tier"],
        host_vars={"gpu_tier_fit_check": "fail", "gpu_tier_nvidia_smi_path": str(SIMULATED_NVIDIA_SMI)},
        environment=simulated_gpu("rtx4060ti-16gb"),
    )
    assert run.rc == 0, run.output[-3000:]
    assert run.facts["llmstack_gpu_tier"] == "gpu_high"
    assert {entry["runs_on"] for entry in run.facts["gpu_tier_model_fit"]} == {"gpu"}


@pytest.mark.parametrize(
    ("case", "chosen"),
    [("rtx3070-8gb", "llama3.1:8b"), ("two-rtx3060", "gpt-oss:20b"), ("rtx4090", "gpt-oss:20b")],
)
def test_simulated_gpus_a_fit_list_tier_resolves_to_the_largest_chat_model_that_fits(play, case, chosen):
    candidates = [
        {"name": "big", "ollama": "gpt-oss:20b", "mode": "chat"},
        {"name": "mid", "ollama": "llama3.1:8b", "mode": "chat"},
        {"name": "small", "ollama": "tinyllama", "mode": "chat"},
    ]
    run = play(
        ["gpu_tier"],
        host_vars={
            "llmstack_gpu_tiers": [{"name": "gpu", "min_vram_gib": 0}],
            "llmstack_models_by_tier": {"gpu": {"largest_that_fit": 1, "models": candidates}},
            "gpu_tier_nvidia_smi_path": str(SIMULATED_NVIDIA_SMI),
        },
        environment=simulated_gpu(case),
    )
    assert run.rc == 0, run.output[-3000:]
    assert [model["ollama"] for model in run.facts["llmstack_models"]] == [chosen]


def test_a_bad_model_catalogue_stops_naming_the_variable(play):
    run = play(["gpu_tier"], host_vars={"gpu_tier_model_catalog": {"m:1b": {"weights_mib": "huge"}}})
    _name, result = run.failure
    assert "gpu_tier_model_catalog[m:1b] needs weights_mib, a number of MiB >= 0" in result["msg"]
