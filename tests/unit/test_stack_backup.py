"""Bad input stops playbooks/backup.yml and playbooks/restore.yml before anything changes, naming the variable.

Each case is one local host of a single ansible-playbook --check run (so nothing here could change this
machine even if a check failed to stop it); the first failed task of each host must be an input check and
its message must name the variable. The backups themselves are proven by the molecule scenario operations.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

BACKUP_CASES = [
    # (variables, words the message must contain)
    ({"stack_backup_dir": "backups/litellm"}, "stack_backup_dir must be an absolute path"),
    ({"stack_backup_dir": "/"}, "stack_backup_dir must be an absolute path at least two levels deep"),
    ({"stack_backup_dir": "/backups"}, "stack_backup_dir must be an absolute path at least two levels deep"),
    ({"stack_backup_dir": "/var/backups/../../etc"}, "without . or .."),
    ({"stack_backup_dir": ["/var/backups"]}, "stack_backup_dir"),
    ({"stack_backup_keep": "seven"}, "stack_backup_keep"),
    ({"stack_backup_keep": -1}, "stack_backup_keep must be a whole number"),
    ({"stack_backup_user_data_tables": "LiteLLM_TeamTable"}, "stack_backup_user_data_tables"),
    (
        {"stack_backup_user_data_tables": ['x"; DROP TABLE y; --']},
        "stack_backup_user_data_tables must be a list of table names",
    ),
    (
        {"llmstack_backup_encrypt": True, "stack_backup_fetch_dest": "/tmp/unused-backups"},
        "llmstack_backup_encrypt is true but stack_backup_vault_password is empty",
    ),
    ({"llmstack_backup_encrypt": "sometimes"}, "llmstack_backup_encrypt"),
]

RESTORE_CASES = [
    ({"backup": "../../etc"}, "stack_backup_name (backup=) must name a backup directory"),
    ({"backup": "20260511T091403Z/../x"}, "stack_backup_name (backup=) must name a backup directory"),
    ({"stack_backup_restore_config": "perhaps"}, "stack_backup_restore_config"),
]


def run(playbook, cases, tmp_path):
    """Run playbook once in check mode over one local host per case; return each host's first failure."""
    hosts = {
        f"case{number:02d}": {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "ansible_become": False,
            **variables,
        }
        for number, (variables, _) in enumerate(cases)
    }
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_NOCOLOR": "1",
    }
    completed = subprocess.run(
        ["ansible-playbook", "--check", "-i", str(inventory), str(REPO / "playbooks" / playbook)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    start, end = completed.stdout.find("{"), completed.stdout.rfind("}")
    assert start >= 0, completed.stdout + completed.stderr
    data = json.loads(completed.stdout[start : end + 1])
    outcome = {host: None for host in hosts}
    changed = {host: [] for host in hosts}
    for play in data["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                if outcome[host] is not None:
                    continue
                if result.get("failed"):
                    outcome[host] = (task["task"]["name"], result.get("msg", ""))
                elif result.get("changed"):
                    changed[host].append(task["task"]["name"])
    return outcome, changed


@pytest.fixture(scope="module")
def backup_outcomes(tmp_path_factory):
    return run("backup.yml", BACKUP_CASES, tmp_path_factory.mktemp("backup"))


@pytest.fixture(scope="module")
def restore_outcomes(tmp_path_factory):
    return run("restore.yml", RESTORE_CASES, tmp_path_factory.mktemp("restore"))


def assert_failed_first_naming_the_variable(outcomes, cases, number):
    outcome, changed = outcomes
    host = f"case{number:02d}"
    assert outcome[host] is not None, f"{cases[number][0]} did not fail"
    _task, message = outcome[host]
    assert cases[number][1] in message, message
    assert changed[host] == []


@pytest.mark.parametrize("number", range(len(BACKUP_CASES)))
def test_bad_backup_input_fails_first_naming_the_variable(backup_outcomes, number):
    assert_failed_first_naming_the_variable(backup_outcomes, BACKUP_CASES, number)


@pytest.mark.parametrize("number", range(len(RESTORE_CASES)))
def test_bad_restore_input_fails_first_naming_the_variable(restore_outcomes, number):
    assert_failed_first_naming_the_variable(restore_outcomes, RESTORE_CASES, number)
