# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Wait for async ollama_model pulls, printing each model's progress at every poll."""

from __future__ import annotations

import base64
import json
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.llmstack.gateway.plugins.plugin_utils.pull_progress import ProgressTracker

display = Display()

ARGUMENT_SPEC = {
    "jobs": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": {
            "model": {"type": "str", "required": True},
            "jid": {"type": "str", "required": True},
            "progress_file": {"type": "path"},
        },
    },
    "delay": {"type": "int", "default": 5},
    "retries": {"type": "int", "required": True},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        # async_status's own action plugin passes the async directory to its module; so must this one.
        async_dir = self._remote_expand_user(self.get_shell_option("async_dir", default="~/.ansible_async"))
        if args["delay"] < 1:
            raise AnsibleActionFail("ollama_pull_wait: delay must be at least 1 second.")
        pending = {job["jid"]: job for job in args["jobs"]}
        finished = {}
        tracker = ProgressTracker()
        lines = []
        for attempt in range(args["retries"] + 1):
            for jid, job in list(pending.items()):
                status = self._execute_module(
                    module_name="ansible.legacy.async_status",
                    module_args={"jid": jid, "_async_dir": async_dir},
                    task_vars=task_vars,
                )
                if status.get("finished") or status.get("failed"):
                    finished[jid] = status
                    del pending[jid]
                    continue
                line = tracker.line(job["model"], self._reading(job.get("progress_file"), task_vars), time.monotonic())
                if line is not None:
                    display.display(line)
                    lines.append(line)
            if not pending:
                break
            if attempt < args["retries"]:
                time.sleep(args["delay"])
        results = [self._outcome(job, finished.get(job["jid"])) for job in args["jobs"]]
        result.update(
            results=results,
            progress=lines,
            changed=any(r.get("changed") for r in results),
            failed=any(r.get("failed") for r in results),
        )
        if result["failed"]:
            result["msg"] = "; ".join(r["msg"] for r in results if r.get("failed"))
        return result

    def _reading(self, path, task_vars):
        """The module's latest progress, or None before its first layer (or without a file)."""
        if not path:
            return None
        answer = self._execute_module(
            module_name="ansible.builtin.slurp", module_args={"src": path}, task_vars=task_vars
        )
        if answer.get("failed"):
            return None  # not written yet, or already removed at the end: nothing to print this poll
        try:
            return json.loads(base64.b64decode(answer["content"]))
        except (KeyError, ValueError):
            return None  # a torn read cannot happen (atomic replace), but a stray file must not fail the run

    @staticmethod
    def _outcome(job, status):
        if status is None:
            return {
                "item": job["model"],
                "failed": True,
                "changed": False,
                "msg": f"{job['model']}: the pull did not finish in time.",
            }
        internal = ("invocation", "_ansible")
        outcome = {key: value for key, value in status.items() if not key.startswith(internal)}
        outcome["item"] = job["model"]
        if outcome.get("failed") and not outcome.get("msg"):
            outcome["msg"] = f"{job['model']}: the pull failed."
        elif outcome.get("failed"):
            outcome["msg"] = f"{job['model']}: {outcome['msg']}"
        return outcome
