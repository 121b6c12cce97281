"""Callback for `make bench`: one JSON line per task and host, with its time and the evidence the bench counts.

Enabled only by the benchmarks (ANSIBLE_CALLBACK_PLUGINS + ANSIBLE_CALLBACKS_ENABLED=bench_tasks); it writes to
the file named by LLMSTACK_BENCH_TASKS_LOG. It keeps no module arguments and no result values beyond the few
fields below, so secrets never reach the log (results of no_log tasks arrive censored and add nothing).
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_tasks
type: aggregate
short_description: per-task timings and evidence of pulls and apt refreshes, for make bench
description:
  - Writes one JSON line per task result to the file in the environment variable LLMSTACK_BENCH_TASKS_LOG.
requirements:
  - enable in callbacks_enabled
"""

# Modules whose successful run is itself an image pull, and compose's own pull step.
PULL_MODULES = {"docker_image_pull", "docker_compose_v2_pull"}


def _short(action):
    return (action or "").rsplit(".", 1)[-1]


def _command_words(result):
    """The first words of a command result's argv (`docker pull`, `apt-get update`), nothing after them."""
    cmd = result.get("cmd")
    if isinstance(cmd, str):
        cmd = cmd.split()
    if not isinstance(cmd, list):
        return ""
    words = [str(word) for word in cmd[:3] if not str(word).startswith("-")]
    return " ".join(words[:2])


def _evidence(action, result):
    """apt cache refreshes and image pulls this result reports, read from its own fields."""
    results = result.get("results") if isinstance(result.get("results"), list) else [result]
    apt_refreshes = 0
    image_pulls = 0
    for one in results:
        if not isinstance(one, dict):
            continue
        if _short(action) == "apt" and one.get("cache_updated"):
            apt_refreshes += 1
        if _short(action) in PULL_MODULES and one.get("changed"):
            image_pulls += 1
        if _short(action) == "docker_image" and one.get("changed") and "pull" in json.dumps(one.get("actions", [])):
            image_pulls += 1
        for step in one.get("actions") or []:
            if isinstance(step, dict) and step.get("what") == "image" and step.get("status") == "Pulling":
                image_pulls += 1
        words = _command_words(one)
        if words in {"apt-get update", "apt update"}:
            apt_refreshes += 1
        if words == "docker pull" or "compose pull" in words:
            image_pulls += 1
    return apt_refreshes, image_pulls


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_tasks"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("LLMSTACK_BENCH_TASKS_LOG")
        self._started = {}
        self._play = ""

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._started[task._uuid] = time.monotonic()

    def v2_playbook_on_handler_task_start(self, task):
        self._started[task._uuid] = time.monotonic()

    def _write(self, result, status):
        if not self._path:
            return
        task = result._task
        action = task.action
        body = result._result if isinstance(result._result, dict) else {}
        apt_refreshes, image_pulls = _evidence(action, body)
        if status == "ok" and body.get("changed"):
            status = "changed"
        record = {
            "play": self._play,
            "host": result._host.get_name(),
            "role": task._role.get_name() if task._role else "",
            "task": task.get_name(),
            "action": action,
            "status": status,
            "seconds": round(time.monotonic() - self._started.get(task._uuid, time.monotonic()), 3),
            "apt_refreshes": apt_refreshes,
            "image_pulls": image_pulls,
        }
        with open(self._path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")

    def v2_runner_on_ok(self, result):
        self._write(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._write(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._write(result, "unreachable")
