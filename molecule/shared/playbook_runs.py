"""Runs the collection's playbooks from a scenario's tests, as an admin would, and reads what they did."""

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[2]))


def playbook(host, inventory, name, *args):
    """Runs a playbook of the collection on this host as an admin would: (rc, the JSON run, output tail)."""
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        f"--inventory={inventory}",
        f"--limit={host.backend.get_hostname()}",
        *args,
        str(PROJECT / "playbooks" / name),
    ]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    out = result.stdout
    run = json.loads(out[out.find("{") : out.rfind("}") + 1]) if "{" in out else {}
    return result.returncode, run, (out + result.stderr)[-3000:]


def changed_tasks(run, hostname):
    """The names of the tasks that changed the host, without their role's prefix."""
    return {
        task["task"]["name"].split(" : ", 1)[-1]
        for play in run.get("plays", [])
        for task in play["tasks"]
        if task["hosts"].get(hostname, {}).get("changed")
    }


def failures(run):
    """The message of every failed task result, in order."""
    return [
        result.get("msg", "")
        for play in run.get("plays", [])
        for task in play["tasks"]
        for result in task["hosts"].values()
        if result.get("failed")
    ]
